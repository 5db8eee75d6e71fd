// The two ends of the network: token + position embedding, and softmax cross-entropy.
#pragma once

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

// dwte (V,C) +=, dwpe (maxT,C) += (skipped when it has no data) <- dout (N,C), tokens (N),
// layout sr. dwte: one thread per channel walks all positions in order (a token may repeat, so
// a per-position scatter would race); dwpe: one thread per (t, c) sums over the sequences that
// reach position t, in order.
template <class T>
void embedding_backward(const ExecSpace& exec, UMat<T> dwte, UMat<T> dwpe, UMat<T> dout, IVec tokens,
                        const SeqRows& sr) {
  const int64_t N = dout.extent(0), C = dout.extent(1), B = sr.B();
  Kokkos::parallel_for(
      "fedsim::models::embedding_backward_wte", range(exec, C), KOKKOS_LAMBDA(const int64_t c) {
        for (int64_t n = 0; n < N; ++n) dwte(tokens(n), c) += dout(n, c);
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

// Softmax cross-entropy per row. probs (N,V), losses (N) (0 where target < 0), argmax (N)
// (lowest index among ties) <- logits (N,V), targets (N).
// loss = logsumexp(logits) - logits[target], which never takes log(0).
template <class T>
void crossentropy_forward(const ExecSpace& exec, UMat<T> probs, UVec<T> losses, IVec argmax, UMat<T> logits,
                          IVec targets) {
  const int64_t V = logits.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::crossentropy_forward", range(exec, logits.extent(0)), KOKKOS_LAMBDA(const int64_t n) {
        T maxv = logits(n, 0);
        int32_t am = 0;
        for (int64_t j = 1; j < V; ++j)
          if (logits(n, j) > maxv) {
            maxv = logits(n, j);
            am = static_cast<int32_t>(j);
          }
        T sum = 0;  // >= 1
        for (int64_t j = 0; j < V; ++j) {
          const T e = kmath::exp(logits(n, j) - maxv);
          probs(n, j) = e;
          sum += e;
        }
        const T inv = T(1) / sum;
        for (int64_t j = 0; j < V; ++j) probs(n, j) *= inv;
        const int32_t tg = targets(n);
        losses(n) = tg >= 0 ? kmath::log(sum) + maxv - logits(n, tg) : T(0);
        argmax(n) = am;
      });
}

// dlogits (N,V) = (probs - onehot(target)) * dloss for rows with target >= 0, else 0.
// Overwrites (it is the top of the graph). dloss = 1 / (number of target tokens) for a mean.
// dlogits may alias probs.
template <class T>
void crossentropy_backward(const ExecSpace& exec, UMat<T> dlogits, UMat<T> probs, IVec targets, T dloss) {
  const int64_t V = probs.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::crossentropy_backward", range(exec, probs.extent(0)), KOKKOS_LAMBDA(const int64_t n) {
        const int32_t tg = targets(n);
        for (int64_t j = 0; j < V; ++j)
          dlogits(n, j) = tg >= 0 ? (probs(n, j) - (j == tg ? T(1) : T(0))) * dloss : T(0);
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
      "fedsim::models::crossentropy_backward_rows", range(exec, probs.extent(0)), KOKKOS_LAMBDA(const int64_t n) {
        const int32_t tg = targets(n);
        const T w = seq_w(seq(n));
        for (int64_t j = 0; j < V; ++j) dlogits(n, j) = tg >= 0 ? (probs(n, j) - (j == tg ? T(1) : T(0))) * w : T(0);
      });
}

}  // namespace fedsim::models
