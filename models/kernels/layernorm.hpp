// LayerNorm (Ba, Kiros & Hinton 2016), eps 1e-5 as in GPT-2. Forward/backward as in llm.c.
// Row kernels own one row; parameter gradients are column kernels that own one channel and
// walk the rows in order, so no two threads write the same element (deterministic, race-free).
#pragma once

#include "models/kokkos_compat.hpp"

namespace fedsim::models {

// out (N,C), mean (N), rstd (N) <- inp (N,C), weight (C), bias (C)
template <class T>
void layernorm_forward(const ExecSpace& exec, UMat<T> out, UVec<T> mean, UVec<T> rstd, UMat<T> inp, UVec<T> weight,
                       UVec<T> bias) {
  const int64_t N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::layernorm_forward", range(exec, N), KOKKOS_LAMBDA(const int64_t n) {
        T m = 0;
        for (int64_t c = 0; c < C; ++c) m += inp(n, c);
        m /= T(C);
        T v = 0;
        for (int64_t c = 0; c < C; ++c) {
          const T d = inp(n, c) - m;
          v += d * d;
        }
        v /= T(C);
        const T s = T(1) / kmath::sqrt(v + T(1e-5));
        for (int64_t c = 0; c < C; ++c) out(n, c) = (inp(n, c) - m) * s * weight(c) + bias(c);
        mean(n) = m;
        rstd(n) = s;
      });
}

// dinp (N,C) +=, dweight (C) +=, dbias (C) += (both skipped when empty) <- dout (N,C), inp (N,C),
// weight (C), mean (N), rstd (N)
template <class T>
void layernorm_backward(const ExecSpace& exec, UMat<T> dinp, UVec<T> dweight, UVec<T> dbias, UMat<T> dout, UMat<T> inp,
                        UVec<T> weight, UVec<T> mean, UVec<T> rstd) {
  const int64_t N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::layernorm_backward_input", range(exec, N), KOKKOS_LAMBDA(const int64_t n) {
        // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight
        T dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int64_t c = 0; c < C; ++c) {
          const T xhat = (inp(n, c) - mean(n)) * rstd(n);
          const T g = weight(c) * dout(n, c);
          dnorm_mean += g;
          dnorm_norm_mean += g * xhat;
        }
        dnorm_mean /= T(C);
        dnorm_norm_mean /= T(C);
        for (int64_t c = 0; c < C; ++c) {
          const T xhat = (inp(n, c) - mean(n)) * rstd(n);
          const T g = weight(c) * dout(n, c);
          dinp(n, c) += (g - dnorm_mean - xhat * dnorm_norm_mean) * rstd(n);
        }
      });
  if (dweight.data() == nullptr) return;
  Kokkos::parallel_for(
      "fedsim::models::layernorm_backward_params", range(exec, C), KOKKOS_LAMBDA(const int64_t c) {
        T dw = 0, db = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T xhat = (inp(n, c) - mean(n)) * rstd(n);
          dw += xhat * dout(n, c);
          db += dout(n, c);
        }
        dweight(c) += dw;
        dbias(c) += db;
      });
}

}  // namespace fedsim::models
