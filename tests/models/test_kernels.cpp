// Kernels against plain host references (tolerance atol + rtol*|ref|), and the device hash.
#include <doctest/doctest.h>

#include <cfenv>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common/rng.hpp"
#include "models/kernels/attention.hpp"
#include "models/kernels/gemm.hpp"
#include "models/kernels/linear.hpp"

using namespace fedsim::models;

namespace {
template <class T>
std::vector<T> random_vec(size_t n, fedsim::Rng& rng) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(2 * rng.uniform() - 1);
  return v;
}
template <class T>
Mat<T> to_dev(const std::vector<T>& v, int64_t r, int64_t c) {
  Mat<T> m("test", r, c);
  auto h = Kokkos::create_mirror_view(m);
  for (int64_t i = 0; i < r * c; ++i) h.data()[i] = v[i];
  Kokkos::deep_copy(m, h);
  return m;
}
template <class T>
std::vector<T> to_host(const Mat<T>& m) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m);
  return std::vector<T>(h.data(), h.data() + h.size());
}

// C = alpha op(A) op(B) + beta C on the host, in double, and the magnitude the rounding error
// scales with: mag = |alpha| sum_k |a_ik b_kj| + |beta c_ij|.
struct GemmRef {
  std::vector<double> value, mag;
};
template <class T>
GemmRef gemm_ref(char ta, char tb, int M, int N, int K, double alpha, const std::vector<T>& A, const std::vector<T>& B,
                 double beta, const std::vector<T>& C) {
  GemmRef r{std::vector<double>(size_t(M) * N), std::vector<double>(size_t(M) * N)};
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0, m = 0;
      for (int k = 0; k < K; ++k) {
        const double a = ta == 'N' ? A[size_t(i) * K + k] : A[size_t(k) * M + i];
        const double b = tb == 'N' ? B[size_t(k) * N + j] : B[size_t(j) * K + k];
        s += a * b;
        m += std::fabs(a * b);
      }
      const double c = C[size_t(i) * N + j];
      r.value[size_t(i) * N + j] = alpha * s + beta * c;
      r.mag[size_t(i) * N + j] = std::fabs(alpha) * m + std::fabs(beta * c);
    }
  return r;
}

// Worst-case rounding of a length-n dot product in precision u, in ANY summation order, with or
// without fused multiply-adds: |fl(x.y) - x.y| <= gamma_n sum |x_i y_i|, gamma_n = n u / (1 - n u)
// (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 3.1, eq. 3.5). gemm adds
// beta*c (one more operation; alpha = 0.5 and beta in {0, 1} scale exactly), so each element of C
// is within gamma_{K+1} * mag of the exact value, whatever kernel, blocking or thread split the
// BLAS chooses. The double reference adds its own gamma_K(2^-53) * mag. No tuned tolerance.
double gamma(int64_t n, double u) { return double(n) * u / (1.0 - double(n) * u); }
template <class T>
double unit_roundoff() {
  return std::is_same_v<T, float> ? 0x1.0p-24 : 0x1.0p-53;
}

template <class T>
void check_gemm(bool tiled) {
  ExecSpace ex;
  fedsim::Rng rng(11);
  const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {33, 17, 65}, {64, 264, 32}, {8, 3, 130}};
  for (auto& s : shapes) {
    const int M = s[0], N = s[1], K = s[2];
    for (char ta : {'N', 'T'})
      for (char tb : {'N', 'T'}) {
        const auto A = random_vec<T>(size_t(M) * K, rng), B = random_vec<T>(size_t(K) * N, rng),
                   C = random_vec<T>(size_t(M) * N, rng);
        Mat<T> dA = ta == 'N' ? to_dev(A, M, K) : to_dev(A, K, M);
        Mat<T> dB = tb == 'N' ? to_dev(B, K, N) : to_dev(B, N, K);
        for (double beta : {0.0, 1.0}) {
          Mat<T> dC = to_dev(C, M, N);
          if (tiled)
            gemm_tiled(ex, ta, tb, T(0.5), dA, dB, T(beta), dC);
          else
            gemm(ex, ta, tb, T(0.5), dA, dB, T(beta), dC);
          const auto ref = gemm_ref(ta, tb, M, N, K, 0.5, A, B, beta, C);
          const auto got = to_host(dC);
          const double g = gamma(K + 1, unit_roundoff<T>()) + gamma(K, 0x1.0p-53);
          double worst = 0;
          for (size_t i = 0; i < got.size(); ++i)
            worst = std::max(worst, std::fabs(got[i] - ref.value[i]) / (g * ref.mag[i] + 1e-300));
          INFO("M=" << M << " N=" << N << " K=" << K << " " << ta << tb << " beta=" << beta);
          CHECK(worst <= 1.0);
        }
      }
  }
}
}  // namespace

TEST_CASE("gemm_tiled (fallback kernel) is within the rounding bound of the host reference") {
  check_gemm<float>(true);
  check_gemm<double>(true);
}

// The device build's own product (one team per 32 x 32 tile, panels in team scratch) on this
// build's execution space: each element is the same k-ordered sum as gemm_tiled's, so the bits
// must match, including tiles cut by the edges of C and chunks of K cut by K's end.
TEST_CASE("gemm_team (the device kernel) gives gemm_tiled's bits") {
  ExecSpace ex;
  fedsim::Rng rng(12);
  const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {33, 17, 65}, {70, 40, 96}};
  for (auto& s : shapes) {
    const int M = s[0], N = s[1], K = s[2];
    for (char ta : {'N', 'T'})
      for (char tb : {'N', 'T'})
        for (float beta : {0.0f, 1.0f}) {
          const auto A = random_vec<float>(size_t(M) * K, rng), B = random_vec<float>(size_t(K) * N, rng),
                     C = random_vec<float>(size_t(M) * N, rng);
          Mat<float> dA = ta == 'N' ? to_dev(A, M, K) : to_dev(A, K, M);
          Mat<float> dB = tb == 'N' ? to_dev(B, K, N) : to_dev(B, N, K);
          Mat<float> c1 = to_dev(C, M, N), c2 = to_dev(C, M, N);
          gemm_tiled(ex, ta, tb, 0.5f, dA, dB, beta, c1);
          gemm_team(ex, ta, tb, 0.5f, dA, dB, beta, c2);
          INFO("M=" << M << " N=" << N << " K=" << K << " " << ta << tb << " beta=" << beta);
          CHECK(to_host(c1) == to_host(c2));
        }
  }
}

TEST_CASE("gemm (KokkosBlas when available) is within the rounding bound of the host reference") {
  for (Products p : {Products::blas, Products::portable}) {
    ProductsScope scope(p);
    check_gemm<float>(false);
    check_gemm<double>(false);
  }
}

// Why batched and sequential training agree bit for bit only with Products::portable: rows of
// a product computed as one stacked (M1+M2)-row gemm or as two separate gemms. The portable
// product computes each element the same way in both; a BLAS may take other kernels or blocking
// for the other shape (OpenBLAS does, e.g. with OPENBLAS_CORETYPE=Haswell), so there the two only
// agree within the rounding bound above (each within gamma_{K+1} mag of the exact value).
TEST_CASE("stacked and separate products: the same bits with Products::portable, within rounding with blas") {
  ExecSpace ex;
  fedsim::Rng rng(23);
  const int M1 = 37, M2 = 91, K = 200, N = 48;  // odd row counts hit edge kernels
  const auto A = random_vec<float>(size_t(M1 + M2) * K, rng), B = random_vec<float>(size_t(N) * K, rng);
  const std::vector<float> zero(size_t(M1 + M2) * N, 0.0f);
  const auto ref = gemm_ref('N', 'T', M1 + M2, N, K, 1.0, A, B, 0.0, zero);
  for (Products p : {Products::portable, Products::blas}) {
    ProductsScope scope(p);
    CAPTURE(products_identity());
    const Mat<float> dA = to_dev(A, M1 + M2, K), dB = to_dev(B, N, K);
    Mat<float> stacked("stacked", M1 + M2, N), top("top", M1, N), bottom("bottom", M2, N);
    gemm(ex, 'N', 'T', 1.0f, dA, dB, 0.0f, stacked);
    gemm(ex, 'N', 'T', 1.0f, Kokkos::subview(dA, Kokkos::make_pair(0, M1), Kokkos::ALL), dB, 0.0f, top);
    gemm(ex, 'N', 'T', 1.0f, Kokkos::subview(dA, Kokkos::make_pair(M1, M1 + M2), Kokkos::ALL), dB, 0.0f, bottom);
    const auto s = to_host(stacked), t = to_host(top), b = to_host(bottom);
    std::vector<float> separate(t);
    separate.insert(separate.end(), b.begin(), b.end());
    if (p == Products::portable) CHECK(separate == s);
    const double g = gamma(K + 1, 0x1.0p-24) + gamma(K, 0x1.0p-53);
    for (size_t i = 0; i < s.size(); ++i) {
      CHECK(std::fabs(s[i] - ref.value[i]) <= g * ref.mag[i]);
      CHECK(std::fabs(separate[i] - ref.value[i]) <= g * ref.mag[i]);
    }
  }
}

TEST_CASE("device mix64 equals fedsim::mix64; dropout keeps about 1-p") {
  static_assert(fedsim::mix64(12345) != 0);
  for (uint64_t z : {0ULL, 1ULL, 0xdeadbeefULL, ~0ULL}) CHECK(dmix64(z) == fedsim::mix64(z));
  // Over a block of rows x columns, down one column, and along one row: about 1 - p kept each.
  int kept = 0, col0 = 0, row0 = 0;
  const int rows = 400, cols = 250, n = 100000;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) kept += dropout_keep(dropout_row_key(99, r), c, 0.25f);
  for (int r = 0; r < n; ++r) col0 += dropout_keep(dropout_row_key(99, r), 0, 0.25f);
  for (int c = 0; c < n; ++c) row0 += dropout_keep(dropout_row_key(99, 0), c, 0.25f);
  CHECK(kept == doctest::Approx(0.75 * rows * cols).epsilon(0.01));
  CHECK(col0 == doctest::Approx(0.75 * n).epsilon(0.01));
  CHECK(row0 == doctest::Approx(0.75 * n).epsilon(0.01));
  // Neighbouring elements are independent: both kept about (1-p)^2 of the time.
  int both = 0;
  for (int c = 0; c + 1 < n; c += 2) both += dropout_keep(dropout_row_key(5, 3), c, 0.25f) && dropout_keep(dropout_row_key(5, 3), c + 1, 0.25f);
  CHECK(both == doctest::Approx(0.5625 * n / 2).epsilon(0.02));
  for (int i = 0; i < 1000; ++i) CHECK(dropout_keep(dropout_row_key(7, i), i, 0.0f));
}

TEST_CASE("attention forward matches a host reference (float; one block and blocks of 4 rows)") {
  for (const int block : {kAttnBlock, 4}) {
    INFO("block " << block);
    ExecSpace ex;
    fedsim::Rng rng(12);
    const int B = 2, T = 6, NH = 3, C = 12, hs = C / NH;
    const auto q = random_vec<float>(B * T * C, rng), k = random_vec<float>(B * T * C, rng),
               v = random_vec<float>(B * T * C, rng);
    Mat<float> dq = to_dev(q, B * T, C), dk = to_dev(k, B * T, C), dv = to_dev(v, B * T, C), out("out", B * T, C),
               att("att", B * NH * T, T);
    attention_forward(ex, as_mat(out.data(), B * T, C), as_mat(att.data(), B * NH * T, T), as_mat(dq.data(), B * T, C),
                      as_mat(dk.data(), B * T, C), as_mat(dv.data(), B * T, C), B, T, NH, block);
    const auto got = to_host(out);
    double worst = 0;
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < NH; ++h)
        for (int t = 0; t < T; ++t) {
          std::vector<double> s(t + 1);
          double mx = -1e300, sum = 0;
          for (int t2 = 0; t2 <= t; ++t2) {
            double d = 0;
            for (int i = 0; i < hs; ++i)
              d += double(q[(b * T + t) * C + h * hs + i]) * k[(b * T + t2) * C + h * hs + i];
            s[t2] = d / std::sqrt(double(hs));
            mx = std::max(mx, s[t2]);
          }
          for (auto& x : s) sum += (x = std::exp(x - mx));
          for (int i = 0; i < hs; ++i) {
            double o = 0;
            for (int t2 = 0; t2 <= t; ++t2) o += s[t2] / sum * v[(b * T + t2) * C + h * hs + i];
            const double g = got[(b * T + t) * C + h * hs + i];
            worst = std::max(worst, std::fabs(g - o) / (1e-6 + 1e-5 * std::fabs(o)));
          }
        }
    CHECK(worst <= 1.0);
  }
}

// kmath::fexp (float): within 2 ulp of exp (computed in double) over the whole normal range, 0
// below it, finite above it; the same values inside a kernel as on the host (up to the device
// contracting a multiply-add: 1 ulp).
TEST_CASE("fexp: float exp within 2 ulp of exp from -87.3 to 88, 0 below, finite above") {
  const int n = 2000001;
  std::vector<float> xs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) xs[size_t(i)] = -87.3f + (88.0f + 87.3f) * static_cast<float>(i) / static_cast<float>(n - 1);
  double worst = 0;
  float at = 0;
  for (const float x : xs) {
    const double ref = std::exp(static_cast<double>(x));
    const double ulp = std::ldexp(1.0, std::ilogb(ref) - 23);  // of the float nearest ref
    const double err = std::fabs(static_cast<double>(kmath::fexp(x)) - ref) / ulp;
    if (err > worst) worst = err, at = x;
  }
  INFO("worst " << worst << " ulp at x = " << at);
  CHECK(worst <= 2.0);
  CHECK(kmath::fexp(0.0f) == 1.0f);
  CHECK(kmath::fexp(-88.0f) == 0.0f);
  CHECK(kmath::fexp(-1e30f) == 0.0f);
  CHECK(std::isfinite(kmath::fexp(1e30f)));
  CHECK(kmath::fexp(1e30f) == kmath::fexp(88.0f));
  {  // NaN in, NaN out; with the test main's FE_INVALID trap off (a NaN argument is all this checks)
    const int traps = fedisableexcept(FE_ALL_EXCEPT);
    const float r = kmath::fexp(std::nanf(""));
    feclearexcept(FE_ALL_EXCEPT);
    feenableexcept(traps);
    CHECK(std::isnan(r));
  }
  CHECK(kmath::fexp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(kmath::fexp(1.0) == std::exp(1.0));  // double: the library's exp

  Vec<float> d("xs", n);
  auto h = Kokkos::create_mirror_view(d);
  for (int i = 0; i < n; ++i) h(i) = xs[size_t(i)];
  Kokkos::deep_copy(d, h);
  Kokkos::parallel_for(
      "fexp_test", Kokkos::RangePolicy<ExecSpace>(0, n), KOKKOS_LAMBDA(const int64_t i) { d(i) = kmath::fexp(d(i)); });
  Kokkos::deep_copy(h, d);
  double dev_worst = 0;
  for (int i = 0; i < n; ++i) {
    const float host = kmath::fexp(xs[size_t(i)]);
    dev_worst = std::max(dev_worst, std::fabs(static_cast<double>(h(i)) - host) / std::max(1e-38, double(host) * 0x1p-23));
  }
  CHECK(dev_worst <= 1.0);
}
