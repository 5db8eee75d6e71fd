// The Llama family's kernels: finite-difference gradients in double and plain host references
// for RMSNorm, RoPE (and transformers' llama3 frequency rule), SwiGLU, grouped-query attention
// with a sliding window on a packed layout; bf16 rounding and the panel-wise bf16 products.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "grad_util.hpp"
#include "models/kernels/attention.hpp"
#include "models/kernels/elementwise.hpp"
#include "models/kernels/embed_loss.hpp"
#include "models/kernels/linear.hpp"
#include "models/kernels/rmsnorm.hpp"
#include "models/kernels/rope.hpp"

using namespace fedsim::models;
using namespace fedsim::models::testing;


TEST_CASE("RMSNorm: host reference and finite differences (rows and per-head view)") {
  ExecSpace ex;
  fedsim::Rng rng(21);
  const int N = 4, C = 6;
  const double eps = 1e-6;
  Mat<D> x = dmat(N, C), w = dmat(1, C), R = dmat(N, C), out = dmat(N, C), rstd = dmat(1, N), dx = dmat(N, C),
         dw = dmat(1, C);
  fill_random(x, rng, 2);
  fill_random(w, rng);
  fill_random(R, rng);
  auto loss = [&] {
    rmsnorm_forward(ex, um(out), uv(rstd), um(x), uv(w), eps);
    return dot(out, R);
  };
  loss();
  const auto xv = host(x), wv = host(w), ov = host(out);
  for (int n = 0; n < N; ++n) {
    double ms = 0;
    for (int c = 0; c < C; ++c) ms += xv[n * C + c] * xv[n * C + c] / C;
    for (int c = 0; c < C; ++c) CHECK(ov[n * C + c] == doctest::Approx(xv[n * C + c] / std::sqrt(ms + eps) * wv[c]).epsilon(1e-13));
  }
  Mat<D> ws = dmat(1, column_sums_ws(N, C, 1));
  rmsnorm_backward(ex, um(dx), uv(dw), um(R), um(x), uv(w), uv(rstd), uv(ws));
  check_grad("rmsnorm dx", x, dx, loss);
  check_grad("rmsnorm dw", w, dw, loss);
  // Per-head: a (N, 2*3) matrix normalised over each head of 3 equals two (N,3) row norms.
  Mat<D> wh = dmat(1, 3), out2 = dmat(N, C), r2 = dmat(1, 2 * N);
  fill_random(wh, rng);
  rmsnorm_forward(ex, per_head(um(out2), 3), uv(r2), per_head(um(x), 3), uv(wh), eps);
  const auto o2 = host(out2), whv = host(wh);
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < 2; ++h) {
      double ms = 0;
      for (int i = 0; i < 3; ++i) ms += xv[n * C + h * 3 + i] * xv[n * C + h * 3 + i] / 3;
      for (int i = 0; i < 3; ++i)
        CHECK(o2[n * C + h * 3 + i] == doctest::Approx(xv[n * C + h * 3 + i] / std::sqrt(ms + eps) * whv[i]).epsilon(1e-13));
    }
}

TEST_CASE("RoPE frequencies: default, linear and transformers' llama3 rule by hand") {
  RopeConfig r;
  r.theta = 500000;
  const std::vector<double> f = rope_inv_freq(r, 8);
  REQUIRE(f.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(f[i] == doctest::Approx(std::pow(500000.0, -i / 4.0)).epsilon(1e-15));
  r.type = "linear";
  r.factor = 4;
  CHECK(rope_inv_freq(r, 8)[1] == doctest::Approx(std::pow(500000.0, -0.25) / 4).epsilon(1e-15));
  // llama3 with factor 8, low 1, high 4, original 8192: wavelengths 2 pi / f are 6.28, 167,
  // 4443 and 118145; 2048 = 8192/4 and 8192 = 8192/1 are the band edges.
  r.type = "llama3";
  r.factor = 8;
  r.low_freq_factor = 1;
  r.high_freq_factor = 4;
  r.original_max_positions = 8192;
  const std::vector<double> g = rope_inv_freq(r, 8);
  CHECK(g[0] == 1.0);                                                    // short wavelength: kept
  CHECK(g[1] == doctest::Approx(std::pow(500000.0, -0.25)).epsilon(1e-15));  // 167 < 2048: kept
  const double f2 = std::pow(500000.0, -0.5), wl2 = 2 * 3.14159265358979323846 / f2, s = (8192 / wl2 - 1) / 3;
  CHECK(s == doctest::Approx(0.28127).epsilon(1e-4));                         // 4443: between the edges
  CHECK(g[2] == doctest::Approx((1 - s) * f2 / 8 + s * f2).epsilon(1e-14));
  CHECK(g[3] == doctest::Approx(std::pow(500000.0, -0.75) / 8).epsilon(1e-15));  // 118145 > 8192: / factor
}

TEST_CASE("RoPE: host reference of the rotate_half pairing, and the backward is the gradient") {
  ExecSpace ex;
  fedsim::Rng rng(22);
  const int N = 5, H = 2, hd = 4, maxT = 8;
  RopeConfig r;
  r.theta = 100;
  RopeTable<D> tab;
  tab.set(ex, r, hd, maxT);
  IVec pos("pos", N);
  auto ph = Kokkos::create_mirror_view(pos);
  const int p[N] = {0, 3, 7, 1, 5};
  for (int n = 0; n < N; ++n) ph(n) = p[n];
  Kokkos::deep_copy(pos, ph);
  Mat<D> x = dmat(N, H * hd), y = dmat(N, H * hd), R = dmat(N, H * hd), g = dmat(N, H * hd);
  fill_random(x, rng);
  fill_random(R, rng);
  auto loss = [&] {
    upload(y, host(x));
    rope_apply(ex, um(y), pos, tab, hd, false);
    return dot(y, R);
  };
  loss();
  const auto xv = host(x), yv = host(y);
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double a = p[n] * std::pow(100.0, -2.0 * i / hd), x1 = xv[n * H * hd + h * hd + i],
                     x2 = xv[n * H * hd + h * hd + i + hd / 2];
        CHECK(yv[n * H * hd + h * hd + i] == doctest::Approx(x1 * std::cos(a) - x2 * std::sin(a)).epsilon(1e-14));
        CHECK(yv[n * H * hd + h * hd + i + hd / 2] == doctest::Approx(x2 * std::cos(a) + x1 * std::sin(a)).epsilon(1e-14));
      }
  upload(g, host(R));
  rope_apply(ex, um(g), pos, tab, hd, true);
  check_grad("rope dx", x, g, loss);
}

TEST_CASE("SwiGLU: host reference and finite differences") {
  ExecSpace ex;
  fedsim::Rng rng(23);
  Mat<D> gt = dmat(3, 7), up = dmat(3, 7), R = dmat(3, 7), out = dmat(3, 7), dg = dmat(3, 7), du = dmat(3, 7);
  fill_random(gt, rng, 4);
  fill_random(up, rng, 2);
  fill_random(R, rng);
  auto loss = [&] {
    swiglu_forward(ex, um(out), um(gt), um(up));
    return dot(out, R);
  };
  loss();
  const auto gv = host(gt), uv_ = host(up), ov = host(out);
  for (size_t i = 0; i < gv.size(); ++i) CHECK(ov[i] == doctest::Approx(gv[i] / (1 + std::exp(-gv[i])) * uv_[i]).epsilon(1e-14));
  swiglu_backward(ex, um(dg), um(du), um(R), um(gt), um(up));
  check_grad("swiglu dgate", gt, dg, loss);
  check_grad("swiglu dup", up, du, loss);
}

TEST_CASE("grouped-query attention with a sliding window, packed rows: host reference and gradients") {
  ExecSpace ex;
  fedsim::Rng rng(24);
  const int NH = 4, NKV = 2, hd = 3, W = 3, Q = NH * hd, KV = NKV * hd;
  SeqRows sr;
  sr.set(ex, {5, 2, 6}, NH);  // three sequences of unequal length, packed back to back
  const int64_t N = sr.rows(), Tc = sr.Tc;
  const AttnShape sh{NH, NKV, hd, W};
  for (const int block : {kAttnBlock, 2}) {
    INFO("block " << block);
    Mat<D> q = dmat(N, Q), k = dmat(N, KV), v = dmat(N, KV), R = dmat(N, Q), out = dmat(N, Q), att = dmat(NH * N, Tc),
           pre = dmat(NH * N, Tc), dq = dmat(N, Q), dk = dmat(N, KV), dv = dmat(N, KV);
    for (Mat<D>* m : {&q, &k, &v, &R}) fill_random(*m, rng, 1.5);
    auto loss = [&] {
      attention_forward(ex, um(out), um(att), um(q), um(k), um(v), sr, sh, block);
      return dot(out, R);
    };
    loss();
    // Host reference: head h reads kv head h / 2; keys t2 in (t - W, t] of its own sequence.
    const auto qv = host(q), kv = host(k), vv = host(v), ov = host(out);
    double worst = 0;
    for (int b = 0; b < sr.B(); ++b)
      for (int h = 0; h < NH; ++h)
        for (int64_t t = 0; t < sr.len(b); ++t) {
          const int64_t n = sr.off[b] + t, g = h / (NH / NKV);
          std::vector<double> s;
          double mx = -1e300, sum = 0;
          for (int64_t t2 = std::max<int64_t>(0, t - W + 1); t2 <= t; ++t2) {
            double d = 0;
            for (int i = 0; i < hd; ++i) d += qv[n * Q + h * hd + i] * kv[(sr.off[b] + t2) * KV + g * hd + i];
            s.push_back(d / std::sqrt(double(hd)));
            mx = std::max(mx, s.back());
          }
          for (double& e : s) sum += (e = std::exp(e - mx));
          for (int i = 0; i < hd; ++i) {
            double y = 0;
            int64_t t2 = std::max<int64_t>(0, t - W + 1);
            for (double e : s) y += e / sum * vv[(sr.off[b] + t2++) * KV + g * hd + i];
            worst = std::max(worst, std::fabs(y - ov[n * Q + h * hd + i]));
          }
        }
    CHECK(worst < 1e-13);
    attention_backward(ex, um(dq), um(dk), um(dv), um(pre), um(R), um(att), um(q), um(k), um(v), sr, sh, block);
    check_grad("gqa dq", q, dq, loss);
    check_grad("gqa dk", k, dk, loss);
    check_grad("gqa dv", v, dv, loss);
  }
}

TEST_CASE("bf16: round to nearest even, specials kept, widening exact") {
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  auto from = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  CHECK(float_to_bf16(1.0f) == 0x3f80);
  CHECK(float_to_bf16(from(0x3f808000u)) == 0x3f80);  // halfway, even below: down
  CHECK(float_to_bf16(from(0x3f818000u)) == 0x3f82);  // halfway, odd below: up
  CHECK(float_to_bf16(from(0x3f808001u)) == 0x3f81);  // above halfway: up
  CHECK(float_to_bf16(-2.5f) == 0xc020);
  CHECK(float_to_bf16(from(0x7f800000u)) == 0x7f80);  // inf
  CHECK((float_to_bf16(from(0x7fc00001u)) & 0x7f) != 0);  // NaN stays NaN
  CHECK(bits(bf16_to_float(0x4049)) == 0x40490000u);
  CHECK(bf16_to_float(float_to_bf16(3.140625f)) == 3.140625f);  // representable: exact
}

TEST_CASE("bf16 matrices: panel-wise products equal fp32 products of the same values") {
  ExecSpace ex;
  fedsim::Rng rng(25);
  const int N = 9, O = 11, I = 7;
  // W rounded to bf16; the same values as fp32, so only the panel split can change the sums.
  std::vector<float> wf(O * I), x(N * I), dy(N * O);
  std::vector<Bf16> wh(O * I);
  for (size_t i = 0; i < wf.size(); ++i) {
    wh[i] = float_to_bf16(static_cast<float>(2 * rng.uniform() - 1));
    wf[i] = bf16_to_float(wh[i]);
  }
  for (auto& v : x) v = static_cast<float>(2 * rng.uniform() - 1);
  for (auto& v : dy) v = static_cast<float>(2 * rng.uniform() - 1);
  auto dev = [](const auto& h, int64_t r, int64_t c) {
    using E = std::decay_t<decltype(h[0])>;
    Kokkos::View<E**, Kokkos::LayoutRight, MemSpace> m("test", r, c);
    auto hm = Kokkos::create_mirror_view(m);
    for (int64_t i = 0; i < r * c; ++i) hm.data()[i] = h[size_t(i)];
    Kokkos::deep_copy(m, hm);
    return m;
  };
  auto Wf = dev(wf, O, I), X = dev(x, N, I), DY = dev(dy, N, O);
  auto Wh = dev(wh, O, I);
  Kokkos::View<float*, MemSpace> panel("panel", 3 * I);  // 3 rows per panel: 4 panels of W
  const WMat<float> whalf{as_mat<float>(nullptr, 0, 0), UMat16<Bf16>(Wh.data(), O, I), as_vec(panel.data(), 3 * I)};
  const WMat<float> wfull = wmat(as_mat(Wf.data(), O, I));
  Kokkos::View<float**, Kokkos::LayoutRight, MemSpace> y1("y1", N, O), y2("y2", N, O), d1("d1", N, I), d2("d2", N, I);
  dense_nt(ex, as_mat(y1.data(), N, O), as_mat(X.data(), N, I), wfull);
  dense_nt(ex, as_mat(y2.data(), N, O), as_mat(X.data(), N, I), whalf);
  dense_nn(ex, as_mat(d1.data(), N, I), as_mat(DY.data(), N, O), wfull, 0.0f);
  dense_nn(ex, as_mat(d2.data(), N, I), as_mat(DY.data(), N, O), whalf, 0.0f);
  auto h1 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), y1);
  auto h2 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), y2);
  auto g1 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), d1);
  auto g2 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), d2);
  for (int64_t i = 0; i < N * O; ++i) CHECK(h2.data()[i] == h1.data()[i]);  // each output column from one panel
  for (int64_t i = 0; i < N * I; ++i) CHECK(g2.data()[i] == doctest::Approx(g1.data()[i]).epsilon(1e-6));
  // The embedding lookup reads the bf16 table as its widened values.
  IVec tok("tok", 2), pos("pos", 2);
  auto th = Kokkos::create_mirror_view(tok);
  th(0) = 4;
  th(1) = 10;
  Kokkos::deep_copy(tok, th);
  Kokkos::View<float**, Kokkos::LayoutRight, MemSpace> e("e", 2, I);
  embedding_forward(ex, as_mat(e.data(), 2, I), tok, whalf, wmat(as_mat<float>(nullptr, 0, 0)), pos);
  auto eh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), e);
  for (int i = 0; i < I; ++i) {
    CHECK(eh(0, i) == wf[4 * I + i]);
    CHECK(eh(1, i) == wf[10 * I + i]);
  }
}
