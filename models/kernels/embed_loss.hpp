// The two ends of the network: token + position embedding, and softmax cross-entropy.
#pragma once

#include <vector>

#include "models/kernels/dense.hpp"
#include "models/kernels/seqrows.hpp"

namespace fedsim::models {

// out (N,C) = wte[tok] (+ wpe[t] when wpe has data: GPT's learned positions) <- tokens (N),
// wte (V,C), wpe (maxT,C), pos (N) the position t of each row in its sequence (SeqRows::pos)
template <class T>
void embedding_forward(const ExecSpace& exec, UMat<T> out, IVec tokens, const WMat<T>& wte, const WMat<T>& wpe,
                       IVec pos) {
  const int64_t C = out.extent(1);
  const bool has_pos = wpe.present();
  Kokkos::parallel_for(
      "fedsim::models::embedding_forward", range(exec, out.extent(0) * C), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t n = i / C, c = i % C;
        out(n, c) = has_pos ? wte(tokens(n), c) + wpe(pos(n), c) : wte(tokens(n), c);
      });
}
template <class T>
void embedding_forward(const ExecSpace& exec, UMat<T> out, IVec tokens, UMat<T> wte, UMat<T> wpe, IVec pos) {
  embedding_forward(exec, out, tokens, wmat(wte), wmat(wpe), pos);
}

// The rows of each distinct token of a batch, in row order (CSR): token ids[u] sits on rows
// rows[start[u] .. start[u+1]). Built on the host from the tokens it already holds (a counting
// sort) and staged with them; only full-parameter training needs it.
inline void token_rows_host(const int32_t* tokens, int64_t N, int V, std::vector<int32_t>& ids,
                            std::vector<int32_t>& start, std::vector<int32_t>& rows) {
  std::vector<int32_t> count(static_cast<size_t>(V) + 1, 0);
  for (int64_t n = 0; n < N; ++n) ++count[static_cast<size_t>(tokens[n]) + 1];
  ids.clear();
  start.assign(1, 0);
  for (int v = 0; v < V; ++v)
    if (count[size_t(v) + 1] > 0) {
      ids.push_back(v);
      start.push_back(start.back() + count[size_t(v) + 1]);
    }
  for (int v = 0; v < V; ++v) count[size_t(v) + 1] += count[size_t(v)];  // first slot of token v
  rows.assign(static_cast<size_t>(N), 0);
  for (int64_t n = 0; n < N; ++n) rows[static_cast<size_t>(count[static_cast<size_t>(tokens[n])]++)] = int32_t(n);
}

// dwte (V,C) +=, dwpe (maxT,C) += (skipped when it has no data) <- dout (N,C), token rows
// (ids (U), start (U+1), rows (N): token_rows_host), layout sr. dwte: one team per distinct
// token, a thread per channel adding the token's rows in order (no two teams write a row of
// dwte); dwpe: one thread per (t, c) adding the sequences that reach position t, in order.
template <class T>
void embedding_backward(const ExecSpace& exec, UMat<T> dwte, UMat<T> dwpe, UMat<T> dout, IVec ids, IVec start,
                        IVec rows, int64_t U, const SeqRows& sr) {
  const int64_t C = dout.extent(1), B = sr.B();
  Kokkos::parallel_for(
      "fedsim::models::embedding_backward_wte", team_policy(exec, U, 0), KOKKOS_LAMBDA(const Member& team) {
        const int64_t u = team.league_rank(), v = ids(u), r0 = start(u), r1 = start(u + 1);
        team_for(team, C, [&](const int64_t c) {
          T s = dwte(v, c);
          for (int64_t r = r0; r < r1; ++r) s += dout(rows(r), c);
          dwte(v, c) = s;
        });
      });
  if (dwpe.data() == nullptr) return;
  const IVec off = sr.off_d;
  Kokkos::parallel_for(
      "fedsim::models::embedding_backward_wpe", range(exec, int64_t(sr.Tc) * C), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t t = i / C, c = i % C;
        T s = 0;
        for (int64_t b = 0; b < B; ++b)
          if (off(b) + t < off(b + 1)) s += dout(off(b) + t, c);
        dwpe(t, c) += s;
      });
}

// Softmax cross-entropy per row, one team per row. probs (N,V), losses (N) (0 where target < 0),
// argmax (N) (lowest index among ties) <- logits (N,V), targets (N).
// loss = logsumexp(logits) - logits[target], which never takes log(0).
template <class T>
void crossentropy_forward(const ExecSpace& exec, UMat<T> probs, UVec<T> losses, IVec argmax, UMat<T> logits,
                          IVec targets) {
  const int64_t V = logits.extent(1);
  const size_t scratch = lanes_bytes<T>() + Scratch<int32_t>::shmem_size(kLanes);
  Kokkos::parallel_for(
      "fedsim::models::crossentropy_forward", team_policy(exec, logits.extent(0), scratch),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const Scratch<T> part(team.team_scratch(0), kLanes);
        const Scratch<int32_t> at(team.team_scratch(0), kLanes);
        // Each lane's first maximum, then the lanes combined: the largest value, lowest index.
        team_for(team, kLanes, [&](const int lane) {
          T m = logits(n, lane < V ? lane : 0);
          int32_t a = lane < V ? lane : 0;
          for (int64_t j = lane + kLanes; j < V; j += kLanes)
            if (logits(n, j) > m) {
              m = logits(n, j);
              a = int32_t(j);
            }
          part(lane) = m;
          at(lane) = a;
        });
        team.team_barrier();
        T maxv = part(0);
        int32_t am = at(0);
        for (int j = 1; j < kLanes; ++j)
          if (part(j) > maxv || (part(j) == maxv && at(j) < am)) {
            maxv = part(j);
            am = at(j);
          }
        team.team_barrier();
        const T sum = team_sum(team, part, V, [&](const int64_t j) {  // >= 1
          const T e = kmath::fexp(logits(n, j) - maxv);
          probs(n, j) = e;
          return e;
        });
        const T inv = T(1) / sum;
        team_for(team, V, [&](const int64_t j) { probs(n, j) *= inv; });
        Kokkos::single(Kokkos::PerTeam(team), [&]() {
          const int32_t tg = targets(n);
          losses(n) = tg >= 0 ? kmath::log(sum) + maxv - logits(n, tg) : T(0);
          argmax(n) = am;
        });
      });
}

// dlogits (N,V) = (probs - onehot(target)) * dloss for rows with target >= 0, else 0.
// Overwrites (it is the top of the graph). dloss = 1 / (number of target tokens) for a mean.
// dlogits may alias probs.
template <class T>
void crossentropy_backward(const ExecSpace& exec, UMat<T> dlogits, UMat<T> probs, IVec targets, T dloss) {
  const int64_t V = probs.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::crossentropy_backward", team_policy(exec, probs.extent(0), 0),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const int32_t tg = targets(n);
        team_for(team, V, [&](const int64_t j) {
          dlogits(n, j) = tg >= 0 ? (probs(n, j) - (j == tg ? T(1) : T(0))) * dloss : T(0);
        });
      });
}

// As crossentropy_backward with one weight per sequence: dlogits(n) = (probs - onehot) *
// seq_w(seq(n)), seq (N) the sequence of each row (SeqRows::seq). Used by DPO, whose loss
// weights each sequence's log-probability differently, and by batched training (each
// client's own mean).
template <class T>
void crossentropy_backward_rows(const ExecSpace& exec, UMat<T> dlogits, UMat<T> probs, IVec targets, UVec<T> seq_w,
                                IVec seq) {
  const int64_t V = probs.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::crossentropy_backward_rows", team_policy(exec, probs.extent(0), 0),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const int32_t tg = targets(n);
        const T w = seq_w(seq(n));
        team_for(team, V, [&](const int64_t j) {
          dlogits(n, j) = tg >= 0 ? (probs(n, j) - (j == tg ? T(1) : T(0))) * w : T(0);
        });
      });
}

// As crossentropy_backward with each segment's own mean: weight 1 / (its target tokens) on
// its rows (0 when it has none), the float the one-segment case uses as dloss.
// seq, of_seq, seg_targets: SeqRows::seq, SegTable::of_seq, SegTable::targets.
template <class T>
void crossentropy_backward_segments(const ExecSpace& exec, UMat<T> dlogits, UMat<T> probs, IVec targets, IVec seq,
                                    IVec of_seq, IVec seg_targets) {
  const int64_t V = probs.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::crossentropy_backward_segments", team_policy(exec, probs.extent(0), 0),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const int32_t tg = targets(n), count = seg_targets(of_seq(seq(n)));
        const T w = count > 0 ? T(1) / T(count) : T(0);
        team_for(team, V, [&](const int64_t j) {
          dlogits(n, j) = tg >= 0 ? (probs(n, j) - (j == tg ? T(1) : T(0))) * w : T(0);
        });
      });
}

// mean (S) = each segment's mean loss over its target tokens (0 when it has none): its rows'
// losses added in row order in double, one thread per segment (the order the host used).
template <class T>
void segment_losses(const ExecSpace& exec, UVec<double> mean, UVec<T> losses, IVec off, IVec seg_b0, IVec seg_seqs,
                    IVec seg_targets) {
  Kokkos::parallel_for(
      "fedsim::models::segment_losses", range(exec, mean.extent(0)), KOKKOS_LAMBDA(const int64_t s) {
        double sum = 0;
        for (int64_t n = off(seg_b0(s)); n < off(seg_b0(s) + seg_seqs(s)); ++n) sum += double(losses(n));
        mean(s) = seg_targets(s) == 0 ? 0.0 : sum / double(seg_targets(s));
      });
}

}  // namespace fedsim::models
