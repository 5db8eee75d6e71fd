// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Alg. 2) with
// Adam's bias correction (Kingma & Ba 2015, Alg. 1), in the form torch.optim.AdamW uses:
//   p <- p (1 - lr wd);  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   p <- p - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// with g already multiplied by the clipping factor min(1, clip / (||g|| + 1e-6))
// (torch.nn.utils.clip_grad_norm_).
#pragma once

#include <vector>

#include "models/kokkos_compat.hpp"

namespace fedsim::models {

// Sum of squares of x (P), deterministic for any backend: fixed chunks, each owned by one
// thread, then the chunk sums are added on the host in order. partial (>= chunks) is scratch.
template <class T>
double sum_squares(const ExecSpace& exec, UVec<T> x, Vec<double>& partial) {
  constexpr int64_t kChunk = 4096;
  const int64_t P = x.extent(0), nchunks = (P + kChunk - 1) / kChunk;
  if (static_cast<int64_t>(partial.extent(0)) < nchunks)
    partial = Vec<double>(Kokkos::view_alloc(exec, "fedsim::models::sumsq_partial"), nchunks);
  Vec<double> part = partial;
  Kokkos::parallel_for(
      "fedsim::models::sum_squares", range(exec, nchunks), KOKKOS_LAMBDA(const int64_t c) {
        double s = 0;
        const int64_t end = (c + 1) * kChunk < P ? (c + 1) * kChunk : P;
        for (int64_t i = c * kChunk; i < end; ++i) s += double(x(i)) * double(x(i));
        part(c) = s;
      });
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), part);
  double total = 0;
  for (int64_t c = 0; c < nchunks; ++c) total += h(c);
  return total;
}

struct AdamWStep {
  double lr, beta1, beta2, eps, weight_decay;
  double bias1, bias2;  // 1 - beta^t
  double grad_scale;    // clipping factor
};

// param, m, v (P) updated <- grad (P)
template <class T>
void adamw_update(const ExecSpace& exec, UVec<T> param, UVec<T> m, UVec<T> v, UVec<T> grad, const AdamWStep& s) {
  const T lr = T(s.lr), b1 = T(s.beta1), b2 = T(s.beta2), eps = T(s.eps), decay = T(1.0 - s.lr * s.weight_decay);
  const T inv_bias1 = T(1.0 / s.bias1), inv_bias2 = T(1.0 / s.bias2), gs = T(s.grad_scale);
  Kokkos::parallel_for(
      "fedsim::models::adamw_update", range(exec, param.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T g = grad(i) * gs;
        const T mi = b1 * m(i) + (T(1) - b1) * g;
        const T vi = b2 * v(i) + (T(1) - b2) * g * g;
        m(i) = mi;
        v(i) = vi;
        param(i) = param(i) * decay - lr * (mi * inv_bias1) / (kmath::sqrt(vi * inv_bias2) + eps);
      });
}

// FedProx (Li et al., MLSys 2020, eq. 2): the gradient of (mu/2) ||w - anchor||^2.
// grad (P) += mu * (param - anchor)
template <class T>
void prox_gradient(const ExecSpace& exec, UVec<T> grad, UVec<T> param, UVec<T> anchor, T mu) {
  Kokkos::parallel_for(
      "fedsim::models::prox_gradient", range(exec, grad.extent(0)),
      KOKKOS_LAMBDA(const int64_t i) { grad(i) += mu * (param(i) - anchor(i)); });
}

// SCAFFOLD (Karimireddy et al., ICML 2020, Alg. 1 line 10, as OpenFedLLM applies it after the
// optimizer step): param (P) -= lr * correction (P)
template <class T>
void scaffold_correct(const ExecSpace& exec, UVec<T> param, UVec<T> correction, T lr) {
  Kokkos::parallel_for(
      "fedsim::models::scaffold_correct", range(exec, param.extent(0)),
      KOKKOS_LAMBDA(const int64_t i) { param(i) -= lr * correction(i); });
}

}  // namespace fedsim::models
