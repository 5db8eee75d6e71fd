// RMSNorm (Zhang & Sennrich 2019, "Root Mean Square Layer Normalization", eq. 4), as
// transformers' LlamaRMSNorm computes it: y = w * x / sqrt(mean(x^2) + eps), no bias, no mean
// subtraction. Qwen3's q_norm / k_norm are the same over each head's hd channels: a (N, H*hd)
// matrix viewed as (N*H, hd) rows. Row kernels own one row; the gain gradient is a column
// kernel that owns one channel and walks the rows in order (deterministic, race-free).
#pragma once

#include "models/kokkos_compat.hpp"

namespace fedsim::models {

// out (N,C), rstd (N) <- inp (N,C), weight (C), eps
template <class T>
void rmsnorm_forward(const ExecSpace& exec, UMat<T> out, UVec<T> rstd, UMat<T> inp, UVec<T> weight, double eps) {
  const int64_t C = inp.extent(1);
  const T e = T(eps);
  Kokkos::parallel_for(
      "fedsim::models::rmsnorm_forward", range(exec, inp.extent(0)), KOKKOS_LAMBDA(const int64_t n) {
        T ss = 0;
        for (int64_t c = 0; c < C; ++c) ss += inp(n, c) * inp(n, c);
        const T s = T(1) / kmath::sqrt(ss / T(C) + e);
        for (int64_t c = 0; c < C; ++c) out(n, c) = inp(n, c) * s * weight(c);
        rstd(n) = s;
      });
}

// dinp (N,C) +=, dweight (C) += (skipped when it has no data) <- dout (N,C), inp (N,C),
// weight (C), rstd (N). With xhat = x * rstd and g = dout * w:
// dx = rstd * (g - xhat * mean(g * xhat)),  dw = sum over rows of dout * xhat.
template <class T>
void rmsnorm_backward(const ExecSpace& exec, UMat<T> dinp, UVec<T> dweight, UMat<T> dout, UMat<T> inp, UVec<T> weight,
                      UVec<T> rstd) {
  const int64_t N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::rmsnorm_backward_input", range(exec, N), KOKKOS_LAMBDA(const int64_t n) {
        const T s = rstd(n);
        T dot = 0;
        for (int64_t c = 0; c < C; ++c) dot += weight(c) * dout(n, c) * inp(n, c) * s;
        dot /= T(C);
        for (int64_t c = 0; c < C; ++c) dinp(n, c) += s * (weight(c) * dout(n, c) - inp(n, c) * s * dot);
      });
  if (dweight.data() == nullptr) return;
  Kokkos::parallel_for(
      "fedsim::models::rmsnorm_backward_weight", range(exec, C), KOKKOS_LAMBDA(const int64_t c) {
        T dw = 0;
        for (int64_t n = 0; n < N; ++n) dw += dout(n, c) * inp(n, c) * rstd(n);
        dweight(c) += dw;
      });
}

// The (N, H*hd) matrix m as (N*H, hd) rows: the per-head view of q or k.
template <class T>
UMat<T> per_head(const UMat<T>& m, int64_t hd) {
  return as_mat(m.data(), int64_t(m.extent(0) * m.extent(1)) / hd, hd);
}

}  // namespace fedsim::models
