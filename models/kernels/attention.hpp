// Multi-head causal self-attention core (Vaswani et al. 2017, eq. 1): softmax(q k^T / sqrt(hs)) v
// per head, position t attending to t2 <= t. The q/k/v/o projections are linear layers
// (kernels/linear.hpp). Head h owns columns [h*hs, (h+1)*hs) of q, k, v and out.
//
// The products go through gemm on per-(sequence, head) subviews: rows [b*T, b*T+T) and columns
// [h*hs, (h+1)*hs) of a row-major (B*T,C) matrix are again row-major with leading dimension C,
// so BLAS takes them without copies. Query rows are cut into blocks of `block`; block i only
// needs keys [0, (i+1)*block), which skips most of the masked upper triangle. The softmax and
// its backward are row kernels (one thread per query row). Each gemm writes its own outputs
// in a fixed order, so results do not depend on the backend's scheduling.
#pragma once

#include "models/kernels/gemm.hpp"

namespace fedsim::models {

inline constexpr int kAttnBlock = 64;

namespace detail {
// Rows [r0, r1) x columns [c0, c1) of a row-major matrix (keeps LayoutRight, leading dim kept).
template <class T>
auto sub(const UMat<T>& m, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  return Kokkos::subview(m, std::make_pair(r0, r1), std::make_pair(c0, c1));
}
}  // namespace detail

// out (B*T,C), att (B*NH*T,T) softmax probabilities (0 above the diagonal)
// <- q, k, v (B*T,C)
template <class T>
void attention_forward(const ExecSpace& exec, UMat<T> out, UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, int B, int Tn,
                       int NH, int block = kAttnBlock) {
  using detail::sub;
  FEDSIM_ASSERT(block >= 1);
  const int C = static_cast<int>(q.extent(1)), hs = C / NH;
  const T scale = T(1) / kmath::sqrt(T(hs));
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = int64_t(b) * Tn, a = (int64_t(b) * NH + h) * Tn, c = int64_t(h) * hs;
      for (int i0 = 0; i0 < Tn; i0 += block) {  // scores of query block [i0, i1) against keys [0, i1)
        const int i1 = i0 + block < Tn ? i0 + block : Tn;
        gemm(exec, 'N', 'T', scale, sub(q, r + i0, r + i1, c, c + hs), sub(k, r, r + i1, c, c + hs), T(0),
             sub(att, a + i0, a + i1, 0, i1));
      }
    }
  Kokkos::parallel_for(
      "fedsim::models::attn_softmax", range(exec, int64_t(B) * NH * Tn), KOKKOS_LAMBDA(const int64_t row) {
        const int t = static_cast<int>(row % Tn);
        T maxv = att(row, 0);
        for (int t2 = 1; t2 <= t; ++t2) maxv = att(row, t2) > maxv ? att(row, t2) : maxv;
        T sum = 0;  // >= 1: the maximum contributes exp(0)
        for (int t2 = 0; t2 <= t; ++t2) {
          const T e = kmath::exp(att(row, t2) - maxv);
          att(row, t2) = e;
          sum += e;
        }
        const T inv = T(1) / sum;
        for (int t2 = 0; t2 < Tn; ++t2) att(row, t2) = t2 <= t ? att(row, t2) * inv : T(0);
      });
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = int64_t(b) * Tn, a = (int64_t(b) * NH + h) * Tn, c = int64_t(h) * hs;
      for (int i0 = 0; i0 < Tn; i0 += block) {
        const int i1 = i0 + block < Tn ? i0 + block : Tn;
        gemm(exec, 'N', 'N', T(1), sub(att, a + i0, a + i1, 0, i1), sub(v, r, r + i1, c, c + hs), T(0),
             sub(out, r + i0, r + i1, c, c + hs));
      }
    }
}

// dq, dk, dv (B*T,C) +=, dpreatt (B*NH*T,T) scratch (overwritten)
// <- dout (B*T,C), att (B*NH*T,T), q, k, v (B*T,C)
template <class T>
void attention_backward(const ExecSpace& exec, UMat<T> dq, UMat<T> dk, UMat<T> dv, UMat<T> dpreatt, UMat<T> dout,
                        UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, int B, int Tn, int NH, int block = kAttnBlock) {
  using detail::sub;
  FEDSIM_ASSERT(block >= 1);
  const int C = static_cast<int>(q.extent(1)), hs = C / NH;
  const T scale = T(1) / kmath::sqrt(T(hs));
  // d att = dout v^T on the computed blocks.
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = int64_t(b) * Tn, a = (int64_t(b) * NH + h) * Tn, c = int64_t(h) * hs;
      for (int i0 = 0; i0 < Tn; i0 += block) {
        const int i1 = i0 + block < Tn ? i0 + block : Tn;
        gemm(exec, 'N', 'T', T(1), sub(dout, r + i0, r + i1, c, c + hs), sub(v, r, r + i1, c, c + hs), T(0),
             sub(dpreatt, a + i0, a + i1, 0, i1));
      }
    }
  // Softmax backward per query row, scale folded in: dpre = scale * att * (datt - sum(att * datt)).
  Kokkos::parallel_for(
      "fedsim::models::attn_softmax_backward", range(exec, int64_t(B) * NH * Tn), KOKKOS_LAMBDA(const int64_t row) {
        const int t = static_cast<int>(row % Tn);
        T dot = 0;
        for (int t2 = 0; t2 <= t; ++t2) dot += dpreatt(row, t2) * att(row, t2);
        for (int t2 = 0; t2 < Tn; ++t2)
          dpreatt(row, t2) = t2 <= t ? scale * att(row, t2) * (dpreatt(row, t2) - dot) : T(0);
      });
  // dq = dpre k, dk = dpre^T q, dv = att^T dout, block by block.
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = int64_t(b) * Tn, a = (int64_t(b) * NH + h) * Tn, c = int64_t(h) * hs;
      for (int i0 = 0; i0 < Tn; i0 += block) {
        const int i1 = i0 + block < Tn ? i0 + block : Tn;
        const auto dpre = sub(dpreatt, a + i0, a + i1, 0, i1), p = sub(att, a + i0, a + i1, 0, i1);
        gemm(exec, 'N', 'N', T(1), dpre, sub(k, r, r + i1, c, c + hs), T(1), sub(dq, r + i0, r + i1, c, c + hs));
        gemm(exec, 'T', 'N', T(1), dpre, sub(q, r + i0, r + i1, c, c + hs), T(1), sub(dk, r, r + i1, c, c + hs));
        gemm(exec, 'T', 'N', T(1), p, sub(dout, r + i0, r + i1, c, c + hs), T(1), sub(dv, r, r + i1, c, c + hs));
      }
    }
}

}  // namespace fedsim::models
