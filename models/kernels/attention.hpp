// Multi-head causal self-attention core (Vaswani et al. 2017, eq. 1): softmax(q k^T / sqrt(hs)) v
// per head, position t attending to t2 <= t. The q/k/v/o projections are linear layers
// (kernels/linear.hpp). Head h owns columns [h*hs, (h+1)*hs) of q, k, v and out.
//
// The backward is split in two kernels so that each output element has one owner:
// one thread per query row writes dq, one thread per key row writes dk and dv
// (llm.c's single loop scatters into dk/dv and would race on a parallel backend).
#pragma once

#include "models/kokkos_compat.hpp"

namespace fedsim::models {

// out (B*T,C), att (B*NH*T,T) softmax probabilities (0 above the diagonal)
// <- q, k, v (B*T,C)
template <class T>
void attention_forward(const ExecSpace& exec, UMat<T> out, UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, int B, int Tn,
                       int NH) {
  const int C = static_cast<int>(q.extent(1)), hs = C / NH;
  const T scale = T(1) / kmath::sqrt(T(hs));
  Kokkos::parallel_for(
      "fedsim::models::attn_forward", range(exec, int64_t(B) * NH * Tn), KOKKOS_LAMBDA(const int64_t row) {
        const int t = static_cast<int>(row % Tn), h = static_cast<int>((row / Tn) % NH);
        const int64_t b = row / (int64_t(Tn) * NH), qi = b * Tn + t;
        T maxv = T(0);
        for (int t2 = 0; t2 <= t; ++t2) {
          T s = 0;
          for (int i = 0; i < hs; ++i) s += q(qi, h * hs + i) * k(b * Tn + t2, h * hs + i);
          s *= scale;
          att(row, t2) = s;
          if (t2 == 0 || s > maxv) maxv = s;
        }
        T sum = 0;  // >= 1: the maximum contributes exp(0)
        for (int t2 = 0; t2 <= t; ++t2) {
          const T e = kmath::exp(att(row, t2) - maxv);
          att(row, t2) = e;
          sum += e;
        }
        const T inv = T(1) / sum;
        for (int t2 = 0; t2 < Tn; ++t2) att(row, t2) = t2 <= t ? att(row, t2) * inv : T(0);
        for (int i = 0; i < hs; ++i) {
          T acc = 0;
          for (int t2 = 0; t2 <= t; ++t2) acc += att(row, t2) * v(b * Tn + t2, h * hs + i);
          out(qi, h * hs + i) = acc;
        }
      });
}

// dq, dk, dv (B*T,C) +=, dpreatt (B*NH*T,T) scratch (overwritten)
// <- dout (B*T,C), att (B*NH*T,T), q, k, v (B*T,C)
template <class T>
void attention_backward(const ExecSpace& exec, UMat<T> dq, UMat<T> dk, UMat<T> dv, UMat<T> dpreatt, UMat<T> dout,
                        UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, int B, int Tn, int NH) {
  const int C = static_cast<int>(q.extent(1)), hs = C / NH;
  const T scale = T(1) / kmath::sqrt(T(hs));
  // Query rows: softmax backward dpre = att * (datt - sum(att * datt)), then dq.
  Kokkos::parallel_for(
      "fedsim::models::attn_backward_query", range(exec, int64_t(B) * NH * Tn), KOKKOS_LAMBDA(const int64_t row) {
        const int t = static_cast<int>(row % Tn), h = static_cast<int>((row / Tn) % NH);
        const int64_t b = row / (int64_t(Tn) * NH), qi = b * Tn + t;
        T dot = 0;
        for (int t2 = 0; t2 <= t; ++t2) {
          T d = 0;
          for (int i = 0; i < hs; ++i) d += dout(qi, h * hs + i) * v(b * Tn + t2, h * hs + i);
          dpreatt(row, t2) = d;
          dot += d * att(row, t2);
        }
        for (int t2 = 0; t2 < Tn; ++t2) dpreatt(row, t2) = t2 <= t ? att(row, t2) * (dpreatt(row, t2) - dot) : T(0);
        for (int i = 0; i < hs; ++i) {
          T acc = 0;
          for (int t2 = 0; t2 <= t; ++t2) acc += dpreatt(row, t2) * k(b * Tn + t2, h * hs + i);
          dq(qi, h * hs + i) += scale * acc;
        }
      });
  // Key rows: gather over the queries t >= t2 that attended to this key.
  Kokkos::parallel_for(
      "fedsim::models::attn_backward_key", range(exec, int64_t(B) * NH * Tn), KOKKOS_LAMBDA(const int64_t krow) {
        const int t2 = static_cast<int>(krow % Tn), h = static_cast<int>((krow / Tn) % NH);
        const int64_t b = krow / (int64_t(Tn) * NH), ki = b * Tn + t2;
        const int64_t row0 = (b * NH + h) * Tn;  // att row of query t = row0 + t
        for (int i = 0; i < hs; ++i) {
          T ak = 0, av = 0;
          for (int t = t2; t < Tn; ++t) {
            ak += dpreatt(row0 + t, t2) * q(b * Tn + t, h * hs + i);
            av += att(row0 + t, t2) * dout(b * Tn + t, h * hs + i);
          }
          dk(ki, h * hs + i) += scale * ak;
          dv(ki, h * hs + i) += av;
        }
      });
}

}  // namespace fedsim::models
