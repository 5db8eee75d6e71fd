// Multi-head causal self-attention core (Vaswani et al. 2017, eq. 1): softmax(q k^T / sqrt(hd)) v
// per head, position t attending to t2 <= t (and, with a sliding window W as Mistral's
// (Jiang et al. 2023, sec. 2), only to t2 > t - W). The q/k/v/o projections are linear layers
// (kernels/linear.hpp). Query head h owns columns [h*hd, (h+1)*hd) of q and out; with
// grouped-query attention (Ainslie et al. 2023, "GQA") it reads key/value head h / (NH/NKV),
// columns [g*hd, (g+1)*hd) of k and v, so dk and dv of a shared head add the contributions of
// its query heads in head order.
//
// Sequences sit where SeqRows says: sequence b on rows [off_b, off_b + len_b) (off_b = b*T and
// len_b = T for a padded batch; packed batches have no padding rows). The products go through
// gemm on per-(sequence, head) subviews: those rows and columns [h*hs, (h+1)*hs) of a row-major
// (N,C) matrix are again row-major with leading dimension C, so BLAS takes them without copies. Query rows are cut into blocks of `block`; block i only
// needs keys [0, (i+1)*block), which skips most of the masked upper triangle. The softmax and
// its backward are row kernels (one thread per query row). Each gemm writes its own outputs
// in a fixed order, so results do not depend on the backend's scheduling.
#pragma once

#include "models/kernels/gemm.hpp"
#include "models/kernels/seqrows.hpp"

namespace fedsim::models {

inline constexpr int kAttnBlock = 64;

// Heads and their width; window 0 = every earlier position.
struct AttnShape {
  int n_heads = 1, n_kv_heads = 1, head_dim = 1;
  int window = 0;
  int kv_head(int h) const { return h / (n_heads / n_kv_heads); }
  // Plain multi-head attention over (N,C) matrices (GPT): NH heads of C/NH.
  static AttnShape mha(int C, int NH) { return AttnShape{NH, NH, C / NH, 0}; }
};

namespace detail {
// Rows [r0, r1) x columns [c0, c1) of a row-major matrix (keeps LayoutRight, leading dim kept).
template <class T>
auto sub(const UMat<T>& m, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  return Kokkos::subview(m, std::make_pair(r0, r1), std::make_pair(c0, c1));
}
}  // namespace detail

// out (N,NH*hd), att (NH*N,Tc) softmax probabilities (0 above the diagonal and outside the
// window) <- q (N,NH*hd), k, v (N,NKV*hd), with the sequences where `sr` says (rows off_b ..
// off_b + len_b; attention rows SeqRows::att_row).
template <class T>
void attention_forward(const ExecSpace& exec, UMat<T> out, UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v,
                       const SeqRows& sr, const AttnShape& sh, int block = kAttnBlock) {
  using detail::sub;
  FEDSIM_ASSERT(block >= 1 && sh.n_heads % sh.n_kv_heads == 0);
  const int NH = sh.n_heads, hs = sh.head_dim, B = sr.B();
  const T scale = T(1) / kmath::sqrt(T(hs));
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = sr.off[size_t(b)], a = sr.att_row(b, h, NH), c = int64_t(h) * hs, Tn = sr.len(b);
      const int64_t ck = int64_t(sh.kv_head(h)) * hs;
      for (int64_t i0 = 0; i0 < Tn; i0 += block) {  // scores of query block [i0, i1) against keys [0, i1)
        const int64_t i1 = i0 + block < Tn ? i0 + block : Tn;
        gemm(exec, 'N', 'T', scale, sub(q, r + i0, r + i1, c, c + hs), sub(k, r, r + i1, ck, ck + hs), T(0),
             sub(att, a + i0, a + i1, 0, i1));
      }
    }
  const IVec att_t = sr.att_t;
  const int64_t Tc = sr.Tc;
  const int W = sh.window;
  Kokkos::parallel_for(
      "fedsim::models::attn_softmax", range(exec, int64_t(NH) * sr.rows()), KOKKOS_LAMBDA(const int64_t row) {
        const int t = att_t(row), lo = (W > 0 && t - W + 1 > 0) ? t - W + 1 : 0;
        T maxv = att(row, lo);
        for (int t2 = lo + 1; t2 <= t; ++t2) maxv = att(row, t2) > maxv ? att(row, t2) : maxv;
        T sum = 0;  // >= 1: the maximum contributes exp(0)
        for (int t2 = lo; t2 <= t; ++t2) {
          const T e = kmath::exp(att(row, t2) - maxv);
          att(row, t2) = e;
          sum += e;
        }
        const T inv = T(1) / sum;
        for (int64_t t2 = 0; t2 < Tc; ++t2) att(row, t2) = (t2 >= lo && t2 <= t) ? att(row, t2) * inv : T(0);
      });
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = sr.off[size_t(b)], a = sr.att_row(b, h, NH), c = int64_t(h) * hs, Tn = sr.len(b);
      const int64_t ck = int64_t(sh.kv_head(h)) * hs;
      for (int64_t i0 = 0; i0 < Tn; i0 += block) {
        const int64_t i1 = i0 + block < Tn ? i0 + block : Tn;
        gemm(exec, 'N', 'N', T(1), sub(att, a + i0, a + i1, 0, i1), sub(v, r, r + i1, ck, ck + hs), T(0),
             sub(out, r + i0, r + i1, c, c + hs));
      }
    }
}

// dq (N,NH*hd) +=, dk, dv (N,NKV*hd) +=, dpreatt (NH*N,Tc) scratch (overwritten)
// <- dout (N,NH*hd), att (NH*N,Tc), q, k, v, layout sr
template <class T>
void attention_backward(const ExecSpace& exec, UMat<T> dq, UMat<T> dk, UMat<T> dv, UMat<T> dpreatt, UMat<T> dout,
                        UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, const SeqRows& sr, const AttnShape& sh,
                        int block = kAttnBlock) {
  using detail::sub;
  FEDSIM_ASSERT(block >= 1 && sh.n_heads % sh.n_kv_heads == 0);
  const int NH = sh.n_heads, hs = sh.head_dim, B = sr.B();
  const T scale = T(1) / kmath::sqrt(T(hs));
  // d att = dout v^T on the computed blocks.
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = sr.off[size_t(b)], a = sr.att_row(b, h, NH), c = int64_t(h) * hs, Tn = sr.len(b);
      const int64_t ck = int64_t(sh.kv_head(h)) * hs;
      for (int64_t i0 = 0; i0 < Tn; i0 += block) {
        const int64_t i1 = i0 + block < Tn ? i0 + block : Tn;
        gemm(exec, 'N', 'T', T(1), sub(dout, r + i0, r + i1, c, c + hs), sub(v, r, r + i1, ck, ck + hs), T(0),
             sub(dpreatt, a + i0, a + i1, 0, i1));
      }
    }
  // Softmax backward per query row, scale folded in: dpre = scale * att * (datt - sum(att * datt))
  // (att is 0 outside the window, so those entries get 0).
  const IVec att_t = sr.att_t;
  const int64_t Tc = sr.Tc;
  Kokkos::parallel_for(
      "fedsim::models::attn_softmax_backward", range(exec, int64_t(NH) * sr.rows()), KOKKOS_LAMBDA(const int64_t row) {
        const int t = att_t(row);
        T dot = 0;
        for (int t2 = 0; t2 <= t; ++t2) dot += dpreatt(row, t2) * att(row, t2);
        for (int64_t t2 = 0; t2 < Tc; ++t2)
          dpreatt(row, t2) = t2 <= t ? scale * att(row, t2) * (dpreatt(row, t2) - dot) : T(0);
      });
  // dq = dpre k, dk = dpre^T q, dv = att^T dout, block by block.
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int64_t r = sr.off[size_t(b)], a = sr.att_row(b, h, NH), c = int64_t(h) * hs, Tn = sr.len(b);
      const int64_t ck = int64_t(sh.kv_head(h)) * hs;
      for (int64_t i0 = 0; i0 < Tn; i0 += block) {
        const int64_t i1 = i0 + block < Tn ? i0 + block : Tn;
        const auto dpre = sub(dpreatt, a + i0, a + i1, 0, i1), p = sub(att, a + i0, a + i1, 0, i1);
        gemm(exec, 'N', 'N', T(1), dpre, sub(k, r, r + i1, ck, ck + hs), T(1), sub(dq, r + i0, r + i1, c, c + hs));
        gemm(exec, 'T', 'N', T(1), dpre, sub(q, r + i0, r + i1, c, c + hs), T(1), sub(dk, r, r + i1, ck, ck + hs));
        gemm(exec, 'T', 'N', T(1), p, sub(dout, r + i0, r + i1, c, c + hs), T(1), sub(dv, r, r + i1, ck, ck + hs));
      }
    }
}

// Padded batches of B sequences of Tn rows (the kernel tests' entry points).
template <class T>
void attention_forward(const ExecSpace& exec, UMat<T> out, UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, int B, int Tn,
                       int NH, int block = kAttnBlock) {
  SeqRows sr;
  sr.set_uniform(exec, B, Tn, NH);
  attention_forward(exec, out, att, q, k, v, sr, AttnShape::mha(int(q.extent(1)), NH), block);
}
template <class T>
void attention_backward(const ExecSpace& exec, UMat<T> dq, UMat<T> dk, UMat<T> dv, UMat<T> dpreatt, UMat<T> dout,
                        UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, int B, int Tn, int NH, int block = kAttnBlock) {
  SeqRows sr;
  sr.set_uniform(exec, B, Tn, NH);
  attention_backward(exec, dq, dk, dv, dpreatt, dout, att, q, k, v, sr, AttnShape::mha(int(q.extent(1)), NH), block);
}

}  // namespace fedsim::models
