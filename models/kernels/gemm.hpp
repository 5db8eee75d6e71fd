// Dense products C = alpha * op(A) * op(B) + beta * C on row-major matrices. Which code runs
// (models/products.hpp):
//
//   products   memory   code
//   portable   host     gemm_tiled: fedsim's k-ordered kernel
//   portable   device   gemm_team: the same sums, tiles staged in team scratch
//   blas       host     cblas_?gemm of the host BLAS, threaded by it (FEDSIM_HAVE_CBLAS; the
//                       OpenMP-threaded OpenBLAS in the default build), else as portable
//   blas       device   KokkosBlas::gemm (cuBLAS / rocBLAS) with Kokkos Kernels, else gemm_team
//
// gemm_tiled and gemm_team give the same bits (every element is one sum over k in order, then
// alpha * sum + beta * c); both are compiled on every build and tested against each other and
// against a host reference (tests/models/test_kernels.cpp).
#pragma once

#include "common/error.hpp"
#include "models/kernels/team.hpp"
#include "models/products.hpp"

#ifdef FEDSIM_HAVE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif
#ifdef FEDSIM_HAVE_CBLAS
#include <cblas.h>
#endif

namespace fedsim::models {

// Own kernel for host spaces: each work item owns a kTile x kTile block of C and walks K in
// order. Every element is the same sequence of operations (one product sum over k = 0..K-1 in
// order, the same code for edge tiles, which clamp their loads), so its bits depend on neither
// M, N, the tile it falls in, nor the backend's scheduling: Products::portable rests on this.
// op(A) (M,K), op(B) (K,N), C (M,N).
// One kTile x kTile tile of C = alpha op(A) op(B) + beta C (tile index `tile` of a row of tn
// tiles), shared by gemm_tiled and the team products of attention (kernels/attention.hpp).
inline constexpr int kTile = 4;
template <class T, class AV, class BV, class CV>
KOKKOS_INLINE_FUNCTION void gemm_tile(bool at, bool bt, T alpha, const AV& A, const BV& B, T beta, const CV& C,
                                      int64_t M, int64_t N, int64_t K, int64_t tn, int64_t tile) {
  const int64_t i0 = (tile / tn) * kTile, j0 = (tile % tn) * kTile;
  T acc[kTile][kTile];
  for (int a = 0; a < kTile; ++a)
    for (int b = 0; b < kTile; ++b) acc[a][b] = T(0);
  for (int64_t k = 0; k < K; ++k) {
    T av[kTile], bv[kTile];
    for (int a = 0; a < kTile; ++a) {
      const int64_t i = i0 + a < M ? i0 + a : M - 1;
      av[a] = at ? A(k, i) : A(i, k);
    }
    for (int b = 0; b < kTile; ++b) {
      const int64_t j = j0 + b < N ? j0 + b : N - 1;
      bv[b] = bt ? B(j, k) : B(k, j);
    }
    for (int a = 0; a < kTile; ++a)
      for (int b = 0; b < kTile; ++b) acc[a][b] += av[a] * bv[b];
  }
  for (int a = 0; a < kTile && i0 + a < M; ++a)
    for (int b = 0; b < kTile && j0 + b < N; ++b) {
      auto& c = C(i0 + a, j0 + b);
      // beta == 0 must not read C (it may hold anything), as in BLAS.
      c = (beta == T(0)) ? alpha * acc[a][b] : alpha * acc[a][b] + beta * c;
    }
}

template <class T, class AV, class BV, class CV>
void gemm_tiled(const ExecSpace& exec, char ta, char tb, T alpha, const AV& A, const BV& B, T beta, const CV& C) {
  const int64_t M = C.extent(0), N = C.extent(1);
  const int64_t K = (ta == 'N') ? A.extent(1) : A.extent(0);
  const bool at = (ta == 'T'), bt = (tb == 'T');
  const int64_t tm = (M + kTile - 1) / kTile, tn = (N + kTile - 1) / kTile;
  Kokkos::parallel_for(
      "fedsim::models::gemm_tiled", range(exec, tm * tn),
      KOKKOS_LAMBDA(const int64_t tile) { gemm_tile(at, bt, alpha, A, B, beta, C, M, N, K, tn, tile); });
}

// The same product by one team (its threads share the tiles): a building block of batched
// kernels. Callers put a team_barrier between two products into overlapping parts of C.
template <class T, class AV, class BV, class CV>
KOKKOS_INLINE_FUNCTION void team_gemm(const Member& team, bool at, bool bt, T alpha, const AV& A, const BV& B, T beta,
                                      const CV& C) {
  const int64_t M = C.extent(0), N = C.extent(1), K = at ? A.extent(0) : A.extent(1);
  const int64_t tn = (N + kTile - 1) / kTile, tiles = ((M + kTile - 1) / kTile) * tn;
  team_for(team, tiles,
                       [&](const int64_t tile) { gemm_tile(at, bt, alpha, A, B, beta, C, M, N, K, tn, tile); });
}

// Own kernel for devices: one team per kGT x kGT tile of C; K is walked in chunks of kGT whose
// A and B panels are staged in team scratch, and each element's running sum lives in scratch
// too, so a team of any size (64 threads on a GPU, 1 on the host) owns whole elements and adds
// k in order: the sums of gemm_tiled, bit for bit. Scratch: 3 kGT^2 T (12 KiB in float).
template <class T, class AV, class BV, class CV>
void gemm_team(const ExecSpace& exec, char ta, char tb, T alpha, const AV& A, const BV& B, T beta, const CV& C) {
  constexpr int kGT = 32;
  const int64_t M = C.extent(0), N = C.extent(1);
  const int64_t K = (ta == 'N') ? A.extent(1) : A.extent(0);
  const bool at = (ta == 'T'), bt = (tb == 'T');
  const int64_t tm = (M + kGT - 1) / kGT, tn = (N + kGT - 1) / kGT;
  Kokkos::parallel_for(
      "fedsim::models::gemm_team", team_policy(exec, tm * tn, 3 * Scratch<T>::shmem_size(kGT * kGT)),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t i0 = (team.league_rank() / tn) * kGT, j0 = (team.league_rank() % tn) * kGT;
        const Scratch<T> as(team.team_scratch(0), kGT * kGT), bs(team.team_scratch(0), kGT * kGT),
            acc(team.team_scratch(0), kGT * kGT);
        team_for(team, kGT * kGT, [&](const int e) { acc(e) = T(0); });
        for (int64_t k0 = 0; k0 < K; k0 += kGT) {
          const int64_t kn = K - k0 < kGT ? K - k0 : kGT;
          team.team_barrier();  // the previous chunk's panels are no longer read
          team_for(team, kGT * kGT, [&](const int e) {
            const int64_t r = e / kGT, k = e % kGT;  // as(r, k) = op(A)(i0 + r, k0 + k)
            const int64_t i = i0 + r, kk = k0 + k;
            as(e) = (i < M && k < kn) ? (at ? A(kk, i) : A(i, kk)) : T(0);
            const int64_t k2 = e / kGT, c = e % kGT;  // bs(k, c) = op(B)(k0 + k, j0 + c)
            const int64_t j = j0 + c, kk2 = k0 + k2;
            bs(e) = (j < N && k2 < kn) ? (bt ? B(j, kk2) : B(kk2, j)) : T(0);
          });
          team.team_barrier();
          team_for(team, kGT * kGT, [&](const int e) {
            const int r = e / kGT, c = e % kGT;
            T s = acc(e);
            for (int k = 0; k < kn; ++k) s += as(r * kGT + k) * bs(k * kGT + c);
            acc(e) = s;
          });
        }
        team.team_barrier();
        team_for(team, kGT * kGT, [&](const int e) {
          const int64_t i = i0 + e / kGT, j = j0 + e % kGT;
          if (i >= M || j >= N) return;
          T& c = C(i, j);
          c = (beta == T(0)) ? alpha * acc(e) : alpha * acc(e) + beta * c;
        });
      });
}

// fedsim's own product for this build's memory: gemm_tiled on host spaces, gemm_team on devices
// (and on the host with FEDSIM_HOST_TEAMS, kernels/team.hpp).
template <class T, class AV, class BV, class CV>
void gemm_own(const ExecSpace& exec, char ta, char tb, T alpha, const AV& A, const BV& B, T beta, const CV& C) {
  if constexpr (kTeamLoops)
    gemm_tiled(exec, ta, tb, alpha, A, B, beta, C);
  else
    gemm_team(exec, ta, tb, alpha, A, B, beta, C);
}

#ifdef FEDSIM_HAVE_CBLAS
namespace detail {
// One cblas call on host memory (row-major, leading dimensions from the views' row strides).
// No fence: Serial and OpenMP have finished every earlier kernel when their dispatch returns.
inline void cblas_gemm(char ta, char tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                       int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta == 'T' ? CblasTrans : CblasNoTrans, tb == 'T' ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void cblas_gemm(char ta, char tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B,
                       int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta == 'T' ? CblasTrans : CblasNoTrans, tb == 'T' ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
}
// f(i) for i in [0, n) in parallel on the host execution space (one launch): the batched
// products, whose items are single-threaded BLAS calls (inside a parallel region the
// OpenMP-threaded OpenBLAS runs one thread per call).
template <class F>
void host_parallel(const ExecSpace& exec, const char* name, int64_t n, const F& f) {
  Kokkos::parallel_for(name, Kokkos::RangePolicy<ExecSpace>(exec, 0, n), f);
}
// The BLAS takes a view as is when its rows are contiguous.
template <class V>
bool blas_ok(const V& v) {
  return v.stride(1) == 1 || v.extent(1) <= 1;
}
template <class V>
int ld_of(const V& v) {
  return static_cast<int>(v.stride(0) > 1 ? v.stride(0) : (v.extent(1) > 1 ? v.extent(1) : 1));
}
}  // namespace detail
#endif

// True when products of T on this build's memory go to the host BLAS.
template <class T>
bool host_blas() {
#ifdef FEDSIM_HAVE_CBLAS
  return kHostSpace && (std::is_same<T, float>::value || std::is_same<T, double>::value) &&
         products() == Products::blas;
#else
  return false;
#endif
}

// A BLAS call as one launch for the profiling counters (models/bench.hpp): a region, since a
// TPL BLAS runs no Kokkos kernel.
struct BlasRegion {
  BlasRegion() { Kokkos::Profiling::pushRegion("fedsim::blas"); }
  ~BlasRegion() { Kokkos::Profiling::popRegion(); }
  BlasRegion(const BlasRegion&) = delete;
  BlasRegion& operator=(const BlasRegion&) = delete;
};

template <class T, class AV, class BV, class CV>
void gemm(const ExecSpace& exec, char ta, char tb, T alpha, const AV& A, const BV& B, T beta, const CV& C) {
  const int64_t K = (ta == 'N') ? A.extent(1) : A.extent(0);
  FEDSIM_ASSERT(((ta == 'N') ? A.extent(0) : A.extent(1)) == C.extent(0));
  FEDSIM_ASSERT(((tb == 'N') ? B.extent(1) : B.extent(0)) == C.extent(1));
  FEDSIM_ASSERT(((tb == 'N') ? B.extent(0) : B.extent(1)) == static_cast<size_t>(K));
  if (C.extent(0) == 0 || C.extent(1) == 0) return;
  if (K == 0 || products() == Products::portable) {  // K == 0: op(A) op(B) is zero; only scale C
    gemm_own(exec, ta, tb, alpha, A, B, beta, C);
    return;
  }
#ifdef FEDSIM_HAVE_CBLAS
  if constexpr (kHostSpace && (std::is_same<T, float>::value || std::is_same<T, double>::value)) {
    if (detail::blas_ok(A) && detail::blas_ok(B) && detail::blas_ok(C)) {
      const BlasRegion region;
      detail::cblas_gemm(ta, tb, int(C.extent(0)), int(C.extent(1)), int(K), alpha, A.data(), detail::ld_of(A),
                         B.data(), detail::ld_of(B), beta, C.data(), detail::ld_of(C));
      return;
    }
  }
#endif
#ifdef FEDSIM_HAVE_KOKKOSKERNELS
  const BlasRegion region;
  const char sa[2] = {ta, 0}, sb[2] = {tb, 0};
#if defined(KOKKOSKERNELS_VERSION) && KOKKOSKERNELS_VERSION >= 40100
  KokkosBlas::gemm(exec, sa, sb, alpha, A, B, beta, C);
#else
  KokkosBlas::gemm(sa, sb, alpha, A, B, beta, C);  // 3.x: default instance only
#endif
#else
  gemm_own(exec, ta, tb, alpha, A, B, beta, C);
#endif
}

}  // namespace fedsim::models
