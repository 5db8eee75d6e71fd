// Net<T>'s forward and backward passes: embedding, the layers (net_gpt.cpp / net_llama.cpp),
// final norm, head and loss; and the segmented LoRA products every projection goes through.
#include "models/net.hpp"

namespace fedsim::models {

// Dropout stream of (layer, target). The GPT targets keep their historical numbering
// (l * 6 + t + 1), so GPT runs draw the masks they always drew; mlp_gate (Llama family only)
// gets codes of its own above 2^40.
template <class T>
uint64_t Net<T>::target_key(uint64_t step_key, int l, int t) const {
  constexpr int kGptTargets = 6;
  const uint64_t code = t < kGptTargets ? static_cast<uint64_t>(l) * kGptTargets + t + 1
                                        : (uint64_t(1) << 40) + static_cast<uint64_t>(l) * kNumTargets + t;
  return mix64(step_key ^ mix64(code));
}

namespace {
// Rows [n0, n0 + n) of a contiguous row-major matrix, again contiguous: flat indices inside the
// segment start at 0, as in a forward over the segment alone (dropout masks hash them).
template <class T>
UMat<T> rows(const UMat<T>& m, int64_t n0, int64_t n) {
  return as_mat(m.data() + n0 * int64_t(m.extent(1)), n, int64_t(m.extent(1)));
}
}  // namespace

// Base product over every row, then each segment's LoRA branch (shrink to rank r, expand) with
// its own adapter row: the segmented products of batched training.
template <class T>
void Net<T>::proj_forward(int l, int t, UMat<T> out, UMat<T> inp, const WMat<T>& wm, UVec<T> b) {
  linear_forward(exec, out, inp, wm, b);
  if (!al.enabled[t]) return;
  const int64_t r = al.rank;
  LayerActs<T>& la = a_.layers[l];
  for (size_t i = 0; i < segs_.size(); ++i) {
    const Segment& s = segs_[i];
    const auto [n0, n1] = seg_rows(i);
    const int64_t n = n1 - n0;
    if (s.row >= 0) {
      T* ad = adapters.data() + int64_t(s.row) * al.total;
      UMat<T> A = as_mat(ad + al.a(l, t), r, al.d_in[t]), Bm = as_mat(ad + al.b(l, t), al.d_out[t], r);
      UMat<T> xd = rows(inp, n0, n);
      if (dropout_ && al.dropout > 0) {
        dropout_forward(exec, rows(la.xd[t], n0, n), xd, al.dropout, target_key(s.step_key, l, t), drop_index(i));
        xd = rows(la.xd[t], n0, n);
      }
      lora_forward(exec, rows(out, n0, n), rows(la.u[t], n0, n), xd, A, Bm, T(al.scale));
    }
  }
}

template <class T>
void Net<T>::proj_backward(int l, int t, UMat<T> dinp, const WMat<T>& dw, UVec<T> db, UMat<T> dout, UMat<T> inp,
                           const WMat<T>& wm) {
  linear_backward(exec, dinp, dw.f, db, dout, inp, wm);
  if (!al.enabled[t]) return;
  const int64_t r = al.rank, din = al.d_in[t];
  LayerActs<T>& la = a_.layers[l];
  for (size_t i = 0; i < segs_.size(); ++i) {
    const Segment& s = segs_[i];
    const auto [n0, n1] = seg_rows(i);
    const int64_t n = n1 - n0;
    const int64_t off = int64_t(s.row) * al.total;
    if (s.row >= 0) {
      UMat<T> A = as_mat(adapters.data() + off + al.a(l, t), r, din);
      UMat<T> Bm = as_mat(adapters.data() + off + al.b(l, t), al.d_out[t], r);
      UMat<T> dA = as_mat(adapter_grads.data() + off + al.a(l, t), r, din);
      UMat<T> dB = as_mat(adapter_grads.data() + off + al.b(l, t), al.d_out[t], r);
      UMat<T> du = rows(a_.du, n0, n), dout_s = rows(dout, n0, n), u = rows(la.u[t], n0, n);
      if (dropout_ && al.dropout > 0) {
        UMat<T> dxd = as_mat(a_.dxd + n0 * din, n, din);
        zero(exec, dxd);
        lora_backward(exec, dxd, dA, dB, du, dout_s, u, rows(la.xd[t], n0, n), A, Bm, T(al.scale));
        dropout_backward(exec, rows(dinp, n0, n), dxd, al.dropout, target_key(s.step_key, l, t), drop_index(i));
      } else {
        lora_backward(exec, rows(dinp, n0, n), dA, dB, du, dout_s, u, rows(inp, n0, n), A, Bm, T(al.scale));
      }
    }
  }
}

// Dropout indices of segment i: flat within the segment when padded (the segment's rows are
// its sequences x T), through the rows' (sequence, position) when packed; the same masks.
template <class T>
DropIndex Net<T>::drop_index(size_t i) const {
  if (!packed_) return {};
  const auto r = seg_rows(i);
  return DropIndex{Kokkos::subview(sr_.seq, r), Kokkos::subview(sr_.pos, r), seg_b0_[i], T_};
}

// Rows [first, end) of segment i: its sequences' rows, consecutive.
template <class T>
std::pair<int64_t, int64_t> Net<T>::seg_rows(size_t i) const {
  return {sr_.off[size_t(seg_b0_[i])], sr_.off[size_t(seg_b0_[i] + segs_[i].seqs)]};
}

template <class T>
double Net<T>::forward(int client, bool dropout, uint64_t step_key) {
  FEDSIM_ASSERT(B_ > 0);
  return forward_segments({Segment{client, B_, step_key}}, dropout)[0];
}

template <class T>
std::vector<double> Net<T>::forward_segments(const std::vector<Segment>& segs, bool dropout) {
  FEDSIM_ASSERT(B_ > 0 && !segs.empty());
  int total = 0;
  seg_targets_.assign(segs.size(), 0);
  for (size_t i = 0; i < segs.size(); ++i) {
    FEDSIM_ASSERT(segs[i].seqs >= 1 && segs[i].row < static_cast<int>(adapters.extent(0)));
    for (int b = total; b < total + segs[i].seqs; ++b) seg_targets_[i] += seq_targets_[static_cast<size_t>(b)];
    total += segs[i].seqs;
  }
  FEDSIM_ASSERT_MSG(total == B_, "segments cover " << total << " of " << B_ << " sequences");
  segs_ = segs;
  seg_b0_.assign(segs.size(), 0);
  for (size_t i = 1; i < segs.size(); ++i) seg_b0_[i] = seg_b0_[i - 1] + segs[i - 1].seqs;
  dropout_ = dropout;
  Acts<T>& a = a_;
  embedding_forward(exec, a.encoded, tokens_, w.wte, w.wpe, sr_.pos);
  UMat<T> res = a.encoded;
  for (int l = 0; l < cfg.n_layers; ++l) {
    if (cfg.llama())
      llama_layer_forward(l, res);
    else
      gpt_layer_forward(l, res);
    res = a.layers[l].res3;
  }
  if (cfg.llama())
    rmsnorm_forward(exec, a.lnf, a.lnf_rstd, res, w.lnfw, cfg.norm_eps);
  else
    layernorm_forward(exec, a.lnf, a.lnf_mean, a.lnf_rstd, res, w.lnfw, w.lnfb);
  dense_nt(exec, a.logits, a.lnf, w.head);  // tied (wte) or lm_head
  crossentropy_forward(exec, a.probs, a.losses, argmax_, a.logits, targets_);
  // Sums in position order on the host: deterministic on any backend and segment split.
  const std::vector<T> losses = losses_host();
  std::vector<double> out(segs_.size(), 0.0);
  int64_t pos = 0;
  for (size_t i = 0; i < segs_.size(); ++i) {
    double sum = 0;
    const int64_t end = seg_rows(i).second;
    for (; pos < end; ++pos) sum += static_cast<double>(losses[static_cast<size_t>(pos)]);
    out[i] = seg_targets_[i] == 0 ? 0.0 : sum / static_cast<double>(seg_targets_[i]);
  }
  return out;
}

template <class T>
void Net<T>::backward(bool base_grads, const std::vector<T>* seq_weights) {
  FEDSIM_ASSERT(!base_grads || base_grad.extent(0) > 0);
  grads_on_ = base_grads;
  Acts<T>& a = a_;
  std::vector<T>& seg_w = seg_w_host_;  // a member: the copy below may still read it
  if (seq_weights == nullptr && segs_.size() > 1) {
    // Each segment's own mean: weight 1/(its target tokens) on its sequences, the same float
    // the one-segment path uses as dloss.
    seg_w.assign(static_cast<size_t>(B_), T(0));
    int b = 0;
    for (size_t i = 0; i < segs_.size(); ++i)
      for (int k = 0; k < segs_[i].seqs; ++k, ++b)
        seg_w[static_cast<size_t>(b)] = seg_targets_[i] > 0 ? T(1) / T(seg_targets_[i]) : T(0);
    seq_weights = &seg_w;
  }
  if (seq_weights != nullptr) {
    FEDSIM_ASSERT(static_cast<int>(seq_weights->size()) == B_);
    if (static_cast<int>(seq_w_.extent(0)) < B_) seq_w_ = Vec<T>(Kokkos::view_alloc(exec, "fedsim::models::seq_w"), B_);
    Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> hw(seq_weights->data(), B_);
    Kokkos::deep_copy(exec, Kokkos::subview(seq_w_, std::make_pair(0, B_)), hw);
    crossentropy_backward_rows(exec, a.probs, a.probs, targets_, as_vec(seq_w_.data(), B_), sr_.seq);
  } else {
    const T dloss = n_targets_ > 0 ? T(1) / T(n_targets_) : T(0);
    crossentropy_backward(exec, a.probs, a.probs, targets_, dloss);
  }
  const Params<T>& g = grads();
  const UMat<T> dlogits = a.probs;
  dense_nn(exec, a.dln, dlogits, w.head, T(0));  // dlnf
  if (grads_on_) gemm(exec, 'T', 'N', T(1), dlogits, a.lnf, T(1), g.head.f);
  zero(exec, a.dres);
  const int L = cfg.n_layers;
  const UMat<T> last = a.layers[L - 1].res3;
  if (cfg.llama())
    rmsnorm_backward(exec, a.dres, g.lnfw, a.dln, last, w.lnfw, a.lnf_rstd);
  else
    layernorm_backward(exec, a.dres, g.lnfw, g.lnfb, a.dln, last, w.lnfw, a.lnf_mean, a.lnf_rstd);
  for (int l = L - 1; l >= 0; --l) {
    const UMat<T> res_in = l == 0 ? a.encoded : a.layers[l - 1].res3;
    if (cfg.llama())
      llama_layer_backward(l, res_in);
    else
      gpt_layer_backward(l, res_in);
  }
  if (grads_on_) embedding_backward(exec, g.wte.f, g.wpe.f, a.dres, tokens_, sr_);
}

#define FEDSIM_NET_PASS(T)                                                                                        \
  template uint64_t Net<T>::target_key(uint64_t, int, int) const;                                                 \
  template void Net<T>::proj_forward(int, int, UMat<T>, UMat<T>, const WMat<T>&, UVec<T>);                       \
  template void Net<T>::proj_backward(int, int, UMat<T>, const WMat<T>&, UVec<T>, UMat<T>, UMat<T>, const WMat<T>&); \
  template DropIndex Net<T>::drop_index(size_t) const;                                                            \
  template std::pair<int64_t, int64_t> Net<T>::seg_rows(size_t) const;                                           \
  template double Net<T>::forward(int, bool, uint64_t);                                                           \
  template std::vector<double> Net<T>::forward_segments(const std::vector<Segment>&, bool);                       \
  template void Net<T>::backward(bool, const std::vector<T>*);
FEDSIM_NET_PASS(float)
FEDSIM_NET_PASS(double)
#undef FEDSIM_NET_PASS

}  // namespace fedsim::models
