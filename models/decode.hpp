// Incremental decoding with a KV cache (generation). KvDecoder<T> runs one position for B
// sequences at a time: each layer's k and v of that position are appended to a cache of
// (B, max_seq, KV) per layer, and attention reads the cache instead of recomputing the prefix.
// Both families: the same kernels as Net's layers, one row per sequence.
// All sequences advance in lock step (position s at step s), so prompts are fed token by token
// and generated tokens follow. Templated so tests compare it with Net<double>::forward.
#pragma once

#include <vector>

#include "models/net.hpp"

namespace fedsim::models {

template <class T>
class KvDecoder {
 public:
  // client < 0: base only; else adapter row `client` of net.adapters (no dropout).
  KvDecoder(Net<T>& net, int B, int client);
  int position() const { return pos_; }
  // Feeds tokens (B) at position(), returns the logits (B,V) of the next token (host,
  // row-major) and advances. Requires position() < max_seq.
  const std::vector<T>& step(const std::vector<int32_t>& tokens);

 private:
  void proj(int l, int t, UMat<T> out, UMat<T> inp, const WMat<T>& w, UVec<T> b);
  void attend(int l);  // y_ <- attention of q_ over the caches of layer l (positions 0..pos_)

  Net<T>& net_;
  int B_, client_, pos_ = 0;
  Vec<T> mem_;                      // all buffers below
  std::vector<UMat<T>> kc_, vc_;    // (L) caches (B*maxT, KV): row b*maxT + t
  UMat<T> x_, ln_, proj_;           // (B,C)
  UMat<T> q_, qp_, y_;              // (B,Q) (qp_: before Qwen3's q norm)
  UMat<T> k_, kp_, v_;              // (B,KV)
  UVec<T> mean_, rstd_;             // (B)
  UVec<T> head_rstd_;               // (B*NH) per-head norms
  UMat<T> h_, hg_, gate_;           // (B,F)
  UMat<T> u_;                       // (B,r)
  UMat<T> att_;                     // (B*NH, maxT) scores
  UMat<T> logits_;                  // (B,V)
  IVec tok_, pos_d_;                // (B) tokens, and the position of every row (all pos_)
  typename IVec::HostMirror tok_h_;
  std::vector<T> logits_h_;
};

extern template class KvDecoder<float>;
extern template class KvDecoder<double>;

}  // namespace fedsim::models
