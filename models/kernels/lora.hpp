// Grouped LoRA products (Hu et al. 2021, "LoRA", eq. 3) of a stacked batch: each segment (one
// client's sequences) runs the branch with its own adapter row, and each product of the branch
// is ONE launch over all segments, whatever their number. For segment s (rows [n0, n1), adapter
// row a_s; A (r,I), B (O,r) of that row, scale = alpha / r):
//
//   shrink   u[n0:n1]  = xd[n0:n1] A^T                      forward
//   expand   out[n0:n1] += scale u[n0:n1] B^T
//   du       du[n0:n1] = scale dout[n0:n1] B                 backward
//   dB       dB_s     += scale dout[n0:n1]^T u[n0:n1]
//   dA       dA_s     += du[n0:n1]^T xd[n0:n1]
//   dx       dx[n0:n1] = (or +=) du[n0:n1] A
//
// Items split a product along the segment's rows (shrink, expand, du, dx) or along the result's
// rows / columns (dB, dA, which sum over the segment's rows), so no two items write one element.
// On host spaces with Products::blas an item is a single-threaded BLAS call and the items run in
// parallel; otherwise an item is a team running gemm_tile: each element one sum in k order, the
// bits of gemm_tiled on the same operands, whatever the stacking.
#pragma once

#include <algorithm>
#include <vector>

#include "models/kernels/gemm.hpp"
#include "models/kernels/linear.hpp"
#include "models/kernels/seqrows.hpp"

namespace fedsim::models {

// One client's share of a stacked batch (batched local training, models/README.md): `seqs`
// consecutive sequences that run with adapter row `row` (-1: base only) and dropout masks keyed
// by `step_key`. A plain forward is one segment over the whole batch.
struct Segment {
  int row = -1;
  int seqs = 0;
  uint64_t step_key = 0;
};

// The segments of the current batch on the device (views into the staged buffers of Net) and
// on the host. Never default-constructed views (README "Kokkos versions").
struct SegTable {
  IVec row = IVec("fedsim::models::seg_row", 0);          // (S) adapter row, -1 none
  IVec b0 = IVec("fedsim::models::seg_b0", 0);            // (S) first sequence
  IVec seqs = IVec("fedsim::models::seg_seqs", 0);        // (S)
  IVec targets = IVec("fedsim::models::seg_targets", 0);  // (S) target tokens
  IVec of_seq = IVec("fedsim::models::seq_seg", 0);       // (B) segment of each sequence
  Kokkos::View<uint64_t*, MemSpace> key = Kokkos::View<uint64_t*, MemSpace>("fedsim::models::seg_key", 0);  // (S)
  std::vector<Segment> host;                              // (S)
  std::vector<int> host_b0;                               // (S)
  int S() const { return static_cast<int>(host.size()); }
};

// Rows of each item of a grouped product.
inline constexpr int64_t kLoraChunk = 128;

// One LoRA target of layer l over the adapter matrix (rows, P) and its gradient.
template <class T>
struct LoraTarget {
  T* ad;   // adapters.data()
  T* gad;  // adapter_grads.data()
  int64_t P, a_off, b_off;
  int r, din, dout;
  T scale;
  KOKKOS_INLINE_FUNCTION UMat<T> A(int a) const { return UMat<T>(ad + a * P + a_off, r, din); }
  KOKKOS_INLINE_FUNCTION UMat<T> B(int a) const { return UMat<T>(ad + a * P + b_off, dout, r); }
  KOKKOS_INLINE_FUNCTION UMat<T> dA(int a) const { return UMat<T>(gad + a * P + a_off, r, din); }
  KOKKOS_INLINE_FUNCTION UMat<T> dB(int a) const { return UMat<T>(gad + a * P + b_off, dout, r); }
};

enum class LoraOp { shrink, expand, du, dB, dA, dx };

namespace detail {
// The operands of one item of `op` (segment rows [n0, n1), item range [lo, hi) of the split
// dimension), handed to a gemm: the BLAS on the host, a team on devices.
template <class T>
struct LoraItem {
  LoraOp op;
  LoraTarget<T> t;
  UMat<T> x, u;  // shrink: xd, u; expand: u, out; du: dout, du; dB: dout, u; dA: du, xd; dx: du, dx
  T beta;           // dx: 0 (into scratch) or 1 (into dinp)
  template <class G>
  KOKKOS_INLINE_FUNCTION void operator()(const G& gemm, int a, int64_t n0, int64_t n1, int64_t lo, int64_t hi) const {
    const int64_t r = t.r;
    switch (op) {
      case LoraOp::shrink:
        gemm(false, true, T(1), sub(x, n0 + lo, n0 + hi, 0, t.din), t.A(a), T(0), sub(u, n0 + lo, n0 + hi, 0, r));
        break;
      case LoraOp::expand:
        gemm(false, true, t.scale, sub(x, n0 + lo, n0 + hi, 0, r), t.B(a), T(1), sub(u, n0 + lo, n0 + hi, 0, t.dout));
        break;
      case LoraOp::du:
        gemm(false, false, t.scale, sub(x, n0 + lo, n0 + hi, 0, t.dout), t.B(a), T(0), sub(u, n0 + lo, n0 + hi, 0, r));
        break;
      case LoraOp::dB:
        gemm(true, false, t.scale, sub(x, n0, n1, lo, hi), sub(u, n0, n1, 0, r), T(1), sub(t.dB(a), lo, hi, 0, r));
        break;
      case LoraOp::dA:
        gemm(true, false, T(1), sub(x, n0, n1, 0, r), sub(u, n0, n1, lo, hi), T(1), sub(t.dA(a), 0, r, lo, hi));
        break;
      case LoraOp::dx:
        gemm(false, false, T(1), sub(x, n0 + lo, n0 + hi, 0, r), t.A(a), beta, sub(u, n0 + lo, n0 + hi, 0, t.din));
        break;
    }
  }
  template <class V>
  KOKKOS_INLINE_FUNCTION static auto sub(const V& m, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    return Kokkos::subview(m, Kokkos::make_pair(r0, r1), Kokkos::make_pair(c0, c1));
  }
  // The split dimension: the segment's rows, or dB's rows (O), or dA's columns (I).
  KOKKOS_INLINE_FUNCTION int64_t extent(int64_t n0, int64_t n1) const {
    return op == LoraOp::dB ? t.dout : op == LoraOp::dA ? t.din : n1 - n0;
  }
};

struct TeamGemm {
  const Member& team;
  template <class T, class AV, class BV, class CV>
  KOKKOS_INLINE_FUNCTION void operator()(bool at, bool bt, T alpha, const AV& A, const BV& B, T beta, const CV& C) const {
    team_gemm(team, at, bt, alpha, A, B, beta, C);
  }
};
#ifdef FEDSIM_HAVE_CBLAS
struct HostGemm {
  template <class T, class AV, class BV, class CV>
  void operator()(bool at, bool bt, T alpha, const AV& A, const BV& B, T beta, const CV& C) const {
    const int K = int(at ? A.extent(0) : A.extent(1));
    cblas_gemm(at ? 'T' : 'N', bt ? 'T' : 'N', int(C.extent(0)), int(C.extent(1)), K, alpha, A.data(),
               int(A.stride(0)), B.data(), int(B.stride(0)), beta, C.data(), int(C.stride(0)));
  }
};
#endif
}  // namespace detail

// One grouped product over every segment with an adapter: one launch.
template <class T>
void lora_grouped(const ExecSpace& exec, const char* name, const detail::LoraItem<T>& item, const SegTable& st,
                  const SeqRows& sr) {
  // Items per segment: the largest split extent over the segments, in chunks.
  int64_t most = 0;
  for (int s = 0; s < st.S(); ++s) {
    const int b0 = st.host_b0[size_t(s)];
    const int64_t n0 = sr.off[size_t(b0)], n1 = sr.off[size_t(b0 + st.host[size_t(s)].seqs)];
    if (st.host[size_t(s)].row >= 0) most = std::max(most, item.extent(n0, n1));
  }
  if (most == 0) return;
  const int64_t chunks = (most + kLoraChunk - 1) / kLoraChunk;
#ifdef FEDSIM_HAVE_CBLAS
  if constexpr (kHostSpace) {
    if (host_blas<T>()) {
      struct It {
        int a;
        int64_t n0, n1, lo, hi;
      };
      std::vector<It> its;
      for (int s = 0; s < st.S(); ++s) {
        const int a = st.host[size_t(s)].row, b0 = st.host_b0[size_t(s)];
        const int64_t n0 = sr.off[size_t(b0)], n1 = sr.off[size_t(b0 + st.host[size_t(s)].seqs)];
        if (a < 0) continue;
        for (int64_t lo = 0, e = item.extent(n0, n1); lo < e; lo += kLoraChunk)
          its.push_back({a, n0, n1, lo, std::min(e, lo + kLoraChunk)});
      }
      detail::host_parallel(exec, name, int64_t(its.size()), [&](const int64_t i) {
        const It& x = its[size_t(i)];
        item(detail::HostGemm{}, x.a, x.n0, x.n1, x.lo, x.hi);
      });
      return;
    }
  }
#endif
  const IVec row = st.row, b0 = st.b0, seqs = st.seqs, off = sr.off_d;
  Kokkos::parallel_for(
      name, team_policy(exec, int64_t(st.S()) * chunks, 0), KOKKOS_LAMBDA(const Member& team) {
        const int s = int(team.league_rank() / chunks);
        const int64_t lo = (team.league_rank() % chunks) * kLoraChunk;
        const int a = row(s);
        const int64_t n0 = off(b0(s)), n1 = off(b0(s) + seqs(s)), e = item.extent(n0, n1);
        if (a < 0 || lo >= e) return;
        item(detail::TeamGemm{team}, a, n0, n1, lo, lo + kLoraChunk < e ? lo + kLoraChunk : e);
      });
}

// Dropout of every row with an adapter, keyed per segment (one launch). Forward: xd = dropout(inp);
// backward (dinp += dropout'(dxd)): the same masks. Row n's index in the mask stream
// (kernels/linear.hpp dropout_keep) is the one it has in its segment laid out padded,
// (seq - b0) * Tpad + pos, so a packed batch draws the masks of the same sequences padded, and
// of a forward over the segment alone.
// code_mix: mix64 of the (layer, target) code (Net::target_key).
template <class T>
void lora_dropout(const ExecSpace& exec, UMat<T> y, UMat<T> x, const SegTable& st, const SeqRows& sr, float p,
                  uint64_t code_mix, int64_t Tpad, bool backward) {
  const int64_t I = x.extent(1);
  const IVec row = st.row, b0 = st.b0, of_seq = st.of_seq, seq = sr.seq, pos = sr.pos;
  const auto key = st.key;
  const T keep_scale = T(1) / T(1.0f - p);
  Kokkos::parallel_for(
      backward ? "fedsim::models::lora_dropout_backward" : "fedsim::models::lora_dropout",
      team_policy(exec, x.extent(0), 0), KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const int b = seq(n), s = of_seq(b);
        if (row(s) < 0) return;
        // the row's index in the segment laid out padded
        const uint32_t rk = dropout_row_key(dmix64(key(s) ^ code_mix), (b - b0(s)) * Tpad + pos(n));
        // One thread: plain loops over raw rows. team_for over the Views does not vectorize
        // here (measured: 3.5% slower small-preset steps).
        if constexpr (kTeamLoops) {
          T* yr = &y(n, 0);
          const T* xr = &x(n, 0);
          if (backward)
            for (int64_t c = 0; c < I; ++c) yr[c] += dropout_keep(rk, c, p) ? xr[c] * keep_scale : T(0);
          else
            for (int64_t c = 0; c < I; ++c) yr[c] = dropout_keep(rk, c, p) ? xr[c] * keep_scale : T(0);
        } else if (backward) {
          team_for(team, I, [&](const int64_t c) { y(n, c) += dropout_keep(rk, c, p) ? x(n, c) * keep_scale : T(0); });
        } else {
          team_for(team, I, [&](const int64_t c) { y(n, c) = dropout_keep(rk, c, p) ? x(n, c) * keep_scale : T(0); });
        }
      });
}

}  // namespace fedsim::models
