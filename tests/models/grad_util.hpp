// Helpers of the finite-difference and reference tests in double (test_gradcheck.cpp,
// test_llama_kernels.cpp, test_llama.cpp, test_generate.cpp): device matrices to and from the
// host, random fills, central-difference checks, perturbed bases, and the KV-cache comparison.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "models/decode.hpp"

namespace fedsim::models::testing {

using D = double;

inline Mat<D> dmat(int64_t r, int64_t c) { return Mat<D>("test", r, c); }
inline UMat<D> um(Mat<D>& m) { return as_mat(m.data(), m.extent(0), m.extent(1)); }
inline UVec<D> uv(Mat<D>& m) { return as_vec(m.data(), m.extent(0) * m.extent(1)); }
inline std::vector<D> host(const Mat<D>& m) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), m);
  return std::vector<D>(h.data(), h.data() + h.size());
}
inline void upload(Mat<D>& m, const std::vector<D>& v) {
  auto h = Kokkos::create_mirror_view(m);
  for (size_t i = 0; i < v.size(); ++i) h.data()[i] = v[i];
  Kokkos::deep_copy(m, h);
}
inline void fill_random(Mat<D>& m, fedsim::Rng& rng, double scale = 1.0) {
  std::vector<D> v(m.size());
  for (auto& x : v) x = scale * (2 * rng.uniform() - 1);
  upload(m, v);
}
// Relative error |a-n| / max(|a|+|n|, floor).
inline double rel_err(double a, double n, double floor = 1e-6) {
  return std::fabs(a - n) / std::max(std::fabs(a) + std::fabs(n), floor);
}
inline double dot(const Mat<D>& a, const Mat<D>& b) {
  const auto x = host(a), y = host(b);
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

// Checks d loss / d x for every element of x against central differences, where
// loss() = sum(out * R) is evaluated by `fwd` and the analytic gradient is `grad` (same shape as x).
inline void check_grad(const std::string& what, Mat<D>& x, const Mat<D>& grad, const std::function<double()>& loss,
                       double tol = 1e-6, double eps = 1e-5) {
  const std::vector<D> g = host(grad);
  std::vector<D> xv = host(x);
  double worst = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const D orig = xv[i];
    xv[i] = orig + eps;
    upload(x, xv);
    const double lp = loss();
    xv[i] = orig - eps;
    upload(x, xv);
    const double lm = loss();
    xv[i] = orig;
    upload(x, xv);
    worst = std::max(worst, rel_err(g[i], (lp - lm) / (2 * eps)));
  }
  INFO(what << ": worst relative error " << worst);
  CHECK(worst < tol);
}

// Worst relative error (rel_err with `floor`) of g[i] against the central difference of
// loss() in x[i] (step 1e-5), for every i in `idx`; set(x) uploads x before each loss().
inline double fd_worst(std::vector<D>& x, const std::vector<size_t>& idx, const std::vector<D>& g,
                       const std::function<void(const std::vector<D>&)>& set, const std::function<double()>& loss,
                       double floor) {
  const double eps = 1e-5;
  double worst = 0;
  for (size_t i : idx) {
    const D orig = x[i];
    x[i] = orig + eps;
    set(x);
    const double lp = loss();
    x[i] = orig - eps;
    set(x);
    const double lm = loss();
    x[i] = orig;
    worst = std::max(worst, rel_err(g[i], (lp - lm) / (2 * eps), floor));
  }
  set(x);
  return worst;
}
inline std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// Random init plus uniform noise of `noise`: larger weights (gains and biases away from 1 and
// 0), gradients well above rounding noise.
inline void perturb_base(Net<D>& net, uint64_t init_seed, fedsim::Rng& rng, double noise = 0.2) {
  net.init_base(init_seed);
  std::vector<D> base = net.get(net.base);
  for (auto& x : base) x += noise * (2 * rng.uniform() - 1);
  net.set(net.base, base);
}
// A random adapter (B nonzero, so dA is nonzero too) in row `row`.
inline std::vector<D> random_adapter(Net<D>& net, int row, fedsim::Rng& rng, double scale = 0.3) {
  std::vector<D> ad(net.al.total);
  for (auto& x : ad) x = scale * (2 * rng.uniform() - 1);
  net.set_row(net.adapters, row, ad);
  return ad;
}

// The whole model w.r.t. every entry of a random adapter in row 0 (dropout off) on `batch`,
// after perturb_base(net, init_seed, rng): the worst relative error (rel_err with `floor`) of
// the backward's gradient against central differences, and how many gradient entries are
// nonzero (above 1e-8).
struct LoraGradcheck {
  double worst = 0;
  int nonzero = 0, entries = 0;
};
inline LoraGradcheck lora_gradcheck(Net<D>& net, const Batch& batch, uint64_t init_seed, fedsim::Rng& rng,
                                    double floor) {
  perturb_base(net, init_seed, rng);
  std::vector<D> ad = random_adapter(net, 0, rng);
  net.set_batch(batch);
  net.forward(0, false, 0);
  net.backward(false);
  const std::vector<D> g = net.get_row(net.adapter_grads, 0);
  LoraGradcheck r;
  r.worst = fd_worst(
      ad, all_indices(ad.size()), g, [&](const std::vector<D>& x) { net.set_row(net.adapters, 0, x); },
      [&] { return net.forward(0, false, 0); }, floor);
  for (D x : g) r.nonzero += std::fabs(x) > 1e-8;
  r.entries = static_cast<int>(g.size());
  return r;
}

// Worst |KV-cache logits - full-forward logits| / (1e-12 + 1e-9 |ref|) over every position of
// B random sequences of max_seq tokens, adapter row 0; the decoder ends at position max_seq.
inline double kv_cache_error(Net<D>& net, int B, fedsim::Rng& rng) {
  const int T = net.cfg.max_seq, V = net.cfg.vocab_size;
  std::vector<std::vector<int32_t>> seqs(B);
  for (auto& s : seqs)
    for (int t = 0; t < T; ++t) s.push_back(static_cast<int32_t>(rng.next_u64() % V));
  KvDecoder<D> dec(net, B, 0);
  double worst = 0;
  for (int s = 0; s < T; ++s) {
    std::vector<int32_t> tok(B);
    for (int b = 0; b < B; ++b) tok[b] = seqs[b][s];
    const std::vector<D> kv = dec.step(tok);
    Batch full;  // the prefix [0, s] recomputed from scratch
    full.B = B;
    full.T = s + 1;
    for (int b = 0; b < B; ++b)
      for (int t = 0; t <= s; ++t) {
        full.inputs.push_back(seqs[b][t]);
        full.targets.push_back(-1);
      }
    net.set_batch(full);
    net.forward(0, false, 0);
    const std::vector<D> lg = net.logits_host();
    for (int b = 0; b < B; ++b)
      for (int v = 0; v < V; ++v) {
        const double ref = lg[(size_t(b) * (s + 1) + s) * V + v], got = kv[size_t(b) * V + v];
        worst = std::max(worst, std::fabs(got - ref) / (1e-12 + 1e-9 * std::fabs(ref)));
      }
  }
  CHECK(dec.position() == T);
  return worst;
}

}  // namespace fedsim::models::testing
