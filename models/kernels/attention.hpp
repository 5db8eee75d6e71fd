// Multi-head causal self-attention core (Vaswani et al. 2017, eq. 1): softmax(q k^T / sqrt(hd)) v
// per head, position t attending to t2 <= t (and, with a sliding window W as Mistral's
// (Jiang et al. 2023, sec. 2), only to t2 > t - W). The q/k/v/o projections are linear layers
// (kernels/linear.hpp). Query head h owns columns [h*hd, (h+1)*hd) of q and out; with
// grouped-query attention (Ainslie et al. 2023, "GQA") it reads key/value head h / (NH/NKV),
// columns [g*hd, (g+1)*hd) of k and v, so dk and dv of a shared head add the contributions of
// its query heads in head order.
//
// Sequences sit where SeqRows says: sequence b on rows [off_b, off_b + len_b). Every product is
// ONE launch over all (sequence, head, query block) items, whatever the batch and the heads:
// query rows are cut into blocks of `block`, and block i only needs keys [0, (i+1)*block), which
// skips most of the masked upper triangle. On host spaces with Products::blas each item is a
// single-threaded BLAS call on row-major subviews (rows of q, k, v, out are row-major with
// leading dimension C, so BLAS takes them without copies) and the items run in parallel; on
// devices, or with Products::portable, each item is a team running gemm_tile (the sums of
// gemm_tiled, bit for bit). dk and dv are items of (sequence, key/value head), each adding its
// query heads' blocks in (head, block) order, so no two items write the same rows (no atomics).
// The softmax and its backward are team kernels over (row, head) with fixed-order sums; with host
// BLAS they run inside the items instead, on each block's rows right after its scores product
// (the same per-row arithmetic, detail::softmax_row), so the block is still in cache.
#pragma once

#include <vector>

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
KOKKOS_INLINE_FUNCTION auto sub(const UMat<T>& m, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  return Kokkos::subview(m, Kokkos::make_pair(r0, r1), Kokkos::make_pair(c0, c1));
}

// The index arithmetic of one item, the same on host and device. Items (b, h, blk) are numbered
// (b * NH + h) * nblk + blk; an item past its sequence's end does nothing.
struct AttnGeom {
  IVec off;  // (B+1) row offsets on the device
  int NH, group, hs, block;
  int64_t nblk;
  KOKKOS_INLINE_FUNCTION int64_t row0(int b) const { return off(b); }
  KOKKOS_INLINE_FUNCTION int64_t len(int b) const { return off(b + 1) - off(b); }
  KOKKOS_INLINE_FUNCTION int64_t att0(int b, int h) const { return int64_t(NH) * off(b) + int64_t(h) * len(b); }
};

#ifdef FEDSIM_HAVE_CBLAS
// Host items: (b, h, i0, i1) for every query block of every sequence and head.
struct HostItem {
  int b, h;
  int64_t i0, i1;
};
inline std::vector<HostItem> host_items(const SeqRows& sr, int NH, int block) {
  std::vector<HostItem> it;
  for (int b = 0; b < sr.B(); ++b)
    for (int h = 0; h < NH; ++h)
      for (int64_t i0 = 0; i0 < sr.len(b); i0 += block)
        it.push_back({b, h, i0, i0 + block < sr.len(b) ? i0 + block : sr.len(b)});
  return it;
}
// C = alpha op(A) op(B) + beta C on host subviews, one thread.
template <class T, class AV, class BV, class CV>
void item_gemm(char ta, char tb, T alpha, const AV& A, const BV& B, T beta, const CV& C) {
  const int K = int(ta == 'N' ? A.extent(1) : A.extent(0));
  cblas_gemm(ta, tb, int(C.extent(0)), int(C.extent(1)), K, alpha, A.data(), int(A.stride(0)), B.data(),
             int(B.stride(0)), beta, C.data(), int(C.stride(0)));
}
#endif
}  // namespace detail

namespace detail {
// One attention row r (its keys t2 < end) by one thread: softmax over [lo, t] in place, zero on
// [0, lo) and (t, end): the host-BLAS items' softmax. The order of the sums is team_sum's, so the
// team kernels below (devices, portable products) compute the same values.
template <class T>
KOKKOS_INLINE_FUNCTION void softmax_row(T* r, int lo, int t, int64_t end) {
  const T maxv = lanes_max<T>(lo, t + 1, [&](const int64_t i) { return r[i]; });
  T* w = r + lo;
  const T sum = lanes_sum<T>(t - lo + 1, [&](const int64_t i) {  // >= 1: exp(0) is in it
    const T e = kmath::fexp(w[i] - maxv);
    w[i] = e;
    return e;
  });
  const T inv = T(1) / sum;
  for (int64_t i = 0; i < lo; ++i) r[i] = T(0);
  for (int64_t i = lo; i <= t; ++i) r[i] *= inv;
  for (int64_t i = t + 1; i < end; ++i) r[i] = T(0);
}
// Its backward on one row: d (holding datt) <- scale * p * (d - sum(p * d)) on [0, t], zero on (t, end).
template <class T>
KOKKOS_INLINE_FUNCTION void softmax_row_backward(T* d, const T* p, int t, int64_t end, T scale) {
  const T dot = lanes_sum<T>(t + 1, [&](const int64_t i) { return d[i] * p[i]; });
  for (int64_t i = 0; i <= t; ++i) d[i] = scale * p[i] * (d[i] - dot);
  for (int64_t i = t + 1; i < end; ++i) d[i] = T(0);
}
// First key of position t's window (0 without a window).
KOKKOS_INLINE_FUNCTION int window_lo(int t, int window) { return (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0; }
// End of the query block of position t: the columns the products read.
KOKKOS_INLINE_FUNCTION int64_t block_end(int t, int block, int64_t len) {
  return (t / block + 1) * int64_t(block) < len ? (t / block + 1) * int64_t(block) : len;
}
}  // namespace detail

// Softmax of each attention row over its keys [lo, t] (the window), zero up to the end of its
// query block (the columns the products read; later ones are never written): one team per
// position, its NH heads in turn; in place on att (NH*N,Tc) holding the scaled scores.
template <class T>
void attention_softmax(const ExecSpace& exec, UMat<T> att, const SeqRows& sr, int NH, int window, int block) {
  const IVec off = sr.off_d, seq = sr.seq, pos = sr.pos;
  Kokkos::parallel_for(
      "fedsim::models::attn_softmax", team_policy(exec, sr.rows(), lanes_bytes<T>()), KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const int b = seq(n), t = pos(n);
        const int64_t len = off(b + 1) - off(b), end = detail::block_end(t, block, len);
        const int lo = detail::window_lo(t, window);
        const Scratch<T> part(team.team_scratch(0), kLanes);
        for (int h = 0; h < NH; ++h) {
          const int64_t row = int64_t(NH) * off(b) + h * len + t;
          const T maxv = team_max<T>(team, lo, t + 1, [&](const int64_t t2) { return att(row, t2); });
          const T sum = team_sum(team, part, t - lo + 1, [&](const int64_t i) {  // >= 1: exp(0) is in it
            const T e = kmath::fexp(att(row, lo + i) - maxv);
            att(row, lo + i) = e;
            return e;
          });
          const T inv = T(1) / sum;
          team_for(team, end, [&](const int64_t t2) { att(row, t2) = (t2 >= lo && t2 <= t) ? att(row, t2) * inv : T(0); });
          team.team_barrier();
        }
      });
}

// Its backward with the score scale folded in: dpre = scale * att * (datt - sum(att * datt)),
// in place on dpre (NH*N,Tc) holding datt, up to the end of the query block (att is 0 outside
// the window, so those entries get 0).
template <class T>
void attention_softmax_backward(const ExecSpace& exec, UMat<T> dpre, UMat<T> att, const SeqRows& sr, int NH, T scale,
                                int block) {
  const IVec off = sr.off_d, seq = sr.seq, pos = sr.pos;
  Kokkos::parallel_for(
      "fedsim::models::attn_softmax_backward", team_policy(exec, sr.rows(), lanes_bytes<T>()),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const int b = seq(n), t = pos(n);
        const int64_t len = off(b + 1) - off(b), end = detail::block_end(t, block, len);
        const Scratch<T> part(team.team_scratch(0), kLanes);
        for (int h = 0; h < NH; ++h) {
          const int64_t row = int64_t(NH) * off(b) + h * len + t;
          const T dot = team_sum(team, part, t + 1, [&](const int64_t t2) { return dpre(row, t2) * att(row, t2); });
          team_for(team, end, [&](const int64_t t2) {
            dpre(row, t2) = t2 <= t ? scale * att(row, t2) * (dpre(row, t2) - dot) : T(0);
          });
          team.team_barrier();
        }
      });
}

// One launch of `product(team, geom, b, h, i0, i1)` over every (sequence, head, query block).
template <class F>
void attention_items(const ExecSpace& exec, const char* name, const detail::AttnGeom& g, int B, const F& product) {
  Kokkos::parallel_for(
      name, team_policy(exec, int64_t(B) * g.NH * g.nblk, 0), KOKKOS_LAMBDA(const Member& team) {
        const int64_t item = team.league_rank(), blk = item % g.nblk;
        const int b = int(item / g.nblk / g.NH), h = int((item / g.nblk) % g.NH);
        const int64_t i0 = blk * g.block, len = g.len(b);
        if (i0 >= len) return;
        product(team, b, h, i0, i0 + g.block < len ? i0 + g.block : len);
      });
}

// out (N,NH*hd), att (NH*N,Tc) softmax probabilities (0 above the diagonal and outside the
// window, up to the end of each row's query block; later columns are not written) <- q (N,NH*hd), k, v (N,NKV*hd), with the sequences where `sr` says (rows off_b ..
// off_b + len_b; attention rows SeqRows::att_row). Three launches (one with host BLAS: fused items).
template <class T>
void attention_forward(const ExecSpace& exec, UMat<T> out, UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v,
                       const SeqRows& sr, const AttnShape& sh, int block = kAttnBlock) {
  using detail::sub;
  FEDSIM_ASSERT(block >= 1 && sh.n_heads % sh.n_kv_heads == 0);
  const int NH = sh.n_heads, hs = sh.head_dim, B = sr.B();
  const T scale = T(1) / kmath::sqrt(T(hs));
  const detail::AttnGeom g{sr.off_d, NH, NH / sh.n_kv_heads, hs, block, (sr.Tc + block - 1) / block};
#ifdef FEDSIM_HAVE_CBLAS
  if constexpr (kHostSpace) {
    if (host_blas<T>()) {
      // Fused: each item's scores, softmax and values one after another while its block of
      // the attention matrix is in cache (one launch; the device path's three give the same
      // softmax, detail::softmax_row).
      const std::vector<detail::HostItem> it = detail::host_items(sr, NH, block);
      const int window = sh.window;
      detail::host_parallel(exec, "fedsim::models::attn_forward", int64_t(it.size()), [&](const int64_t i) {
        const auto& [b, h, i0, i1] = it[size_t(i)];
        const int64_t r = sr.off[size_t(b)], a = sr.att_row(b, h, NH), c = int64_t(h) * hs, ck = int64_t(h / g.group) * hs;
        detail::item_gemm('N', 'T', scale, sub(q, r + i0, r + i1, c, c + hs), sub(k, r, r + i1, ck, ck + hs), T(0),
                          sub(att, a + i0, a + i1, 0, i1));
        for (int64_t t = i0; t < i1; ++t) detail::softmax_row(&att(a + t, 0), detail::window_lo(int(t), window), int(t), i1);
        detail::item_gemm('N', 'N', T(1), sub(att, a + i0, a + i1, 0, i1), sub(v, r, r + i1, ck, ck + hs), T(0),
                          sub(out, r + i0, r + i1, c, c + hs));
      });
      return;
    }
  }
#endif
  attention_items(exec, "fedsim::models::attn_scores", g, B,
                  KOKKOS_LAMBDA(const Member& team, int b, int h, int64_t i0, int64_t i1) {
                    const int64_t r = g.row0(b), a = g.att0(b, h), c = int64_t(h) * g.hs, ck = int64_t(h / g.group) * g.hs;
                    team_gemm(team, false, true, scale, sub(q, r + i0, r + i1, c, c + g.hs),
                              sub(k, r, r + i1, ck, ck + g.hs), T(0), sub(att, a + i0, a + i1, 0, i1));
                  });
  attention_softmax(exec, att, sr, NH, sh.window, block);
  attention_items(exec, "fedsim::models::attn_values", g, B,
                  KOKKOS_LAMBDA(const Member& team, int b, int h, int64_t i0, int64_t i1) {
                    const int64_t r = g.row0(b), a = g.att0(b, h), c = int64_t(h) * g.hs, ck = int64_t(h / g.group) * g.hs;
                    team_gemm(team, false, false, T(1), sub(att, a + i0, a + i1, 0, i1),
                              sub(v, r, r + i1, ck, ck + g.hs), T(0), sub(out, r + i0, r + i1, c, c + g.hs));
                  });
}

// dq (N,NH*hd) =, dk, dv (N,NKV*hd) = (overwritten: no zeroing launches), dpreatt (NH*N,Tc)
// scratch <- dout (N,NH*hd), att (NH*N,Tc), q, k, v, layout sr. Four launches (two with host BLAS).
template <class T>
void attention_backward(const ExecSpace& exec, UMat<T> dq, UMat<T> dk, UMat<T> dv, UMat<T> dpreatt, UMat<T> dout,
                        UMat<T> att, UMat<T> q, UMat<T> k, UMat<T> v, const SeqRows& sr, const AttnShape& sh,
                        int block = kAttnBlock) {
  using detail::sub;
  FEDSIM_ASSERT(block >= 1 && sh.n_heads % sh.n_kv_heads == 0);
  const int NH = sh.n_heads, NKV = sh.n_kv_heads, hs = sh.head_dim, B = sr.B();
  const T scale = T(1) / kmath::sqrt(T(hs));
  const detail::AttnGeom g{sr.off_d, NH, NH / NKV, hs, block, (sr.Tc + block - 1) / block};
#ifdef FEDSIM_HAVE_CBLAS
  if constexpr (kHostSpace) {
    if (host_blas<T>()) {
      const std::vector<detail::HostItem> it = detail::host_items(sr, NH, block);
      auto geo = [&](const detail::HostItem& x, int64_t& r, int64_t& a, int64_t& c, int64_t& ck) {
        r = sr.off[size_t(x.b)], a = sr.att_row(x.b, x.h, NH), c = int64_t(x.h) * hs, ck = int64_t(x.h / g.group) * hs;
      };
      // Fused as the forward: each item's d scores, softmax backward and dq in one launch.
      detail::host_parallel(exec, "fedsim::models::attn_dscores_dq", int64_t(it.size()), [&](const int64_t i) {
        int64_t r, a, c, ck;
        geo(it[size_t(i)], r, a, c, ck);
        const int64_t i0 = it[size_t(i)].i0, i1 = it[size_t(i)].i1;
        detail::item_gemm('N', 'T', T(1), sub(dout, r + i0, r + i1, c, c + hs), sub(v, r, r + i1, ck, ck + hs), T(0),
                          sub(dpreatt, a + i0, a + i1, 0, i1));
        for (int64_t t = i0; t < i1; ++t) detail::softmax_row_backward(&dpreatt(a + t, 0), &att(a + t, 0), int(t), i1, scale);
        detail::item_gemm('N', 'N', T(1), sub(dpreatt, a + i0, a + i1, 0, i1), sub(k, r, r + i1, ck, ck + hs), T(0),
                          sub(dq, r + i0, r + i1, c, c + hs));
      });
      // dk, dv: one item per (sequence, key/value head), its query heads' blocks in order.
      detail::host_parallel(exec, "fedsim::models::attn_dkv", int64_t(B) * NKV, [&](const int64_t i) {
        const int b = int(i / NKV), kh = int(i % NKV);
        const int64_t r = sr.off[size_t(b)], ck = int64_t(kh) * hs, len = sr.len(b);
        for (int64_t n = r; n < r + len; ++n)
          for (int64_t j = ck; j < ck + hs; ++j) dk(n, j) = dv(n, j) = T(0);
        for (int h = kh * g.group; h < (kh + 1) * g.group; ++h) {
          const int64_t a = sr.att_row(b, h, NH), c = int64_t(h) * hs;
          for (int64_t i0 = 0; i0 < len; i0 += block) {
            const int64_t i1 = i0 + block < len ? i0 + block : len;
            detail::item_gemm('T', 'N', T(1), sub(dpreatt, a + i0, a + i1, 0, i1), sub(q, r + i0, r + i1, c, c + hs),
                              T(1), sub(dk, r, r + i1, ck, ck + hs));
            detail::item_gemm('T', 'N', T(1), sub(att, a + i0, a + i1, 0, i1), sub(dout, r + i0, r + i1, c, c + hs),
                              T(1), sub(dv, r, r + i1, ck, ck + hs));
          }
        }
      });
      return;
    }
  }
#endif
  attention_items(exec, "fedsim::models::attn_dscores", g, B,
                  KOKKOS_LAMBDA(const Member& team, int b, int h, int64_t i0, int64_t i1) {
                    const int64_t r = g.row0(b), a = g.att0(b, h), c = int64_t(h) * g.hs, ck = int64_t(h / g.group) * g.hs;
                    team_gemm(team, false, true, T(1), sub(dout, r + i0, r + i1, c, c + g.hs),
                              sub(v, r, r + i1, ck, ck + g.hs), T(0), sub(dpreatt, a + i0, a + i1, 0, i1));
                  });
  attention_softmax_backward(exec, dpreatt, att, sr, NH, scale, block);
  attention_items(exec, "fedsim::models::attn_dq", g, B,
                  KOKKOS_LAMBDA(const Member& team, int b, int h, int64_t i0, int64_t i1) {
                    const int64_t r = g.row0(b), a = g.att0(b, h), c = int64_t(h) * g.hs, ck = int64_t(h / g.group) * g.hs;
                    team_gemm(team, false, false, T(1), sub(dpreatt, a + i0, a + i1, 0, i1),
                              sub(k, r, r + i1, ck, ck + g.hs), T(0), sub(dq, r + i0, r + i1, c, c + g.hs));
                  });
  Kokkos::parallel_for(
      "fedsim::models::attn_dkv", team_policy(exec, int64_t(B) * NKV, 0), KOKKOS_LAMBDA(const Member& team) {
        const int b = team.league_rank() / NKV, kh = team.league_rank() % NKV;
        const int64_t r = g.row0(b), ck = int64_t(kh) * g.hs, len = g.len(b);
        team_for(team, len * g.hs, [&](const int64_t e) { dk(r + e / g.hs, ck + e % g.hs) = dv(r + e / g.hs, ck + e % g.hs) = T(0); });
        team.team_barrier();
        for (int h = kh * g.group; h < (kh + 1) * g.group; ++h) {
          const int64_t a = g.att0(b, h), c = int64_t(h) * g.hs;
          for (int64_t i0 = 0; i0 < len; i0 += g.block) {
            const int64_t i1 = i0 + g.block < len ? i0 + g.block : len;
            team_gemm(team, true, false, T(1), sub(dpreatt, a + i0, a + i1, 0, i1), sub(q, r + i0, r + i1, c, c + g.hs),
                      T(1), sub(dk, r, r + i1, ck, ck + g.hs));
            team_gemm(team, true, false, T(1), sub(att, a + i0, a + i1, 0, i1), sub(dout, r + i0, r + i1, c, c + g.hs),
                      T(1), sub(dv, r, r + i1, ck, ck + g.hs));
            team.team_barrier();  // the next block adds into rows these tiles covered
          }
        }
      });
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
