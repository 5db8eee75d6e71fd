// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Alg. 2) with
// Adam's bias correction (Kingma & Ba 2015, Alg. 1), in the form torch.optim.AdamW uses:
//   p <- p (1 - lr wd);  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   p <- p - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// with g already multiplied by the clipping factor min(1, clip / (||g|| + 1e-6))
// (torch.nn.utils.clip_grad_norm_). FedProx adds mu (p - anchor) to g before clipping (Li et
// al., MLSys 2020, eq. 2); SCAFFOLD then moves p by -lr * correction (Karimireddy et al., ICML
// 2020, Alg. 1 line 10, as OpenFedLLM applies it after the optimizer step).
//
// Every kernel works on G rows at once (the clients of a stacked step, or the base as one row),
// each with its own lr, mu, correction and number of steps: the launches of an optimizer step
// do not depend on G, and nothing is read back to the host (the norm stays on the device).
#pragma once

#include "models/kokkos_compat.hpp"

namespace fedsim::models {

// Elements per partial sum of squares: fixed, so the norm depends on no thread count.
inline constexpr int64_t kNormChunk = 4096;

// What is the same for every row of an optimizer step.
struct AdamWStep {
  double beta1, beta2, eps, weight_decay;
  double bias1, bias2;  // 1 - beta^t
  double clip;          // global-norm clipping threshold; <= 0: none
};

// Per-row settings (device views; a view without data means: the same for all rows). Views
// start as explicit empty views, never default-constructed (README "Kokkos versions").
template <class T>
struct RowSettings {
  UVec<float> lr = UVec<float>(nullptr, 0);  // (G) learning rate; none: lr_all
  float lr_all = 0;
  UVec<float> mu = UVec<float>(nullptr, 0);  // (G) FedProx mu; none: no proximal term
  UMat<T> anchor = UMat<T>(nullptr, 0, 0);   // (G,P) FedProx anchors (read only where mu != 0)
  UMat<T> corr = UMat<T>(nullptr, 0, 0);     // (G,P) SCAFFOLD corrections; none: no correction
  UVec<int32_t> corr_on = UVec<int32_t>(nullptr, 0);  // (G) 1 where row g has a correction
  UVec<int32_t> steps = UVec<int32_t>(nullptr, 0);    // (G) a row with steps <= s sits step s out; none: all active
};

// scale (G) = the clipping factor of each active row's gradient (after adding the FedProx term
// to grads in place). Sums of squares in double over fixed chunks, then the chunks in order:
// partial (G * chunks) is scratch. Two launches.
template <class T>
void clip_scales(const ExecSpace& exec, UMat<T> grads, UMat<T> params, const RowSettings<T>& rs, int64_t s, double clip,
                 Vec<double>& partial, UVec<double> scale) {
  const int64_t G = grads.extent(0), P = grads.extent(1), chunks = (P + kNormChunk - 1) / kNormChunk;
  if (static_cast<int64_t>(partial.extent(0)) < G * chunks)
    partial = Vec<double>(Kokkos::view_alloc(exec, "fedsim::models::sumsq_partial"), G * chunks);
  const Vec<double> part = partial;
  const UVec<float> mu = rs.mu;
  const UVec<int32_t> steps = rs.steps;
  const UMat<T> anchor = rs.anchor;
  const bool has_mu = mu.data() != nullptr, has_steps = steps.data() != nullptr;
  Kokkos::parallel_for(
      "fedsim::models::grad_sumsq", range(exec, G * chunks), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t g = i / chunks, c = i % chunks;
        if (has_steps && steps(g) <= s) return;
        const T m = has_mu ? T(mu(g)) : T(0);
        const int64_t end = (c + 1) * kNormChunk < P ? (c + 1) * kNormChunk : P;
        double acc = 0;
        for (int64_t j = c * kNormChunk; j < end; ++j) {
          if (m != T(0)) grads(g, j) += m * (params(g, j) - anchor(g, j));
          acc += double(grads(g, j)) * double(grads(g, j));
        }
        part(i) = acc;
      });
  Kokkos::parallel_for(
      "fedsim::models::grad_clip_scale", range(exec, G), KOKKOS_LAMBDA(const int64_t g) {
        double total = 0;
        for (int64_t c = 0; c < chunks; ++c) total += part(g * chunks + c);
        const double f = clip / (kmath::sqrt(total) + 1e-6);
        scale(g) = clip > 0 && f < 1.0 ? f : 1.0;
      });
}

// params, m, v (G,P) updated <- grads (G,P), scale (G) (clip_scales), t the step number
// (1-based, the same for every active row), rows settings; SCAFFOLD's correction applied after.
template <class T>
void adamw_rows(const ExecSpace& exec, UMat<T> params, UMat<T> m, UMat<T> v, UMat<T> grads, UVec<double> scale,
                const RowSettings<T>& rs, int64_t s, const AdamWStep& st) {
  const int64_t G = grads.extent(0), P = grads.extent(1);
  const T b1 = T(st.beta1), b2 = T(st.beta2), eps = T(st.eps);
  const T inv_bias1 = T(1.0 / st.bias1), inv_bias2 = T(1.0 / st.bias2);
  const double wd = st.weight_decay;
  const UVec<float> lr = rs.lr;
  const float lr_all = rs.lr_all;
  const UVec<int32_t> steps = rs.steps, corr_on = rs.corr_on;
  const UMat<T> corr = rs.corr;
  const bool has_lr = lr.data() != nullptr, has_steps = steps.data() != nullptr, has_corr = corr.data() != nullptr;
  Kokkos::parallel_for(
      "fedsim::models::adamw_update", range(exec, G * P), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t g = i / P, j = i % P;
        if (has_steps && steps(g) <= s) return;
        const double lrd = has_lr ? double(lr(g)) : double(lr_all);
        const T lrt = T(lrd), decay = T(1.0 - lrd * wd), gs = T(scale(g));
        const T gr = grads(g, j) * gs;
        const T mi = b1 * m(g, j) + (T(1) - b1) * gr;
        const T vi = b2 * v(g, j) + (T(1) - b2) * gr * gr;
        m(g, j) = mi;
        v(g, j) = vi;
        T p = params(g, j) * decay - lrt * (mi * inv_bias1) / (kmath::sqrt(vi * inv_bias2) + eps);
        if (has_corr && corr_on(g)) p -= lrt * corr(g, j);
        params(g, j) = p;
      });
}

}  // namespace fedsim::models
