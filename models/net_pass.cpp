// Net<T>'s forward and backward passes: embedding, the layers (net_gpt.cpp / net_llama.cpp),
// final norm, head and loss; and the segmented LoRA products every projection goes through.
// No host transfer and no fence in here: the launches of a pass depend on the model's shape
// only, not on the number of sequences, heads or stacked clients.
#include "models/net.hpp"

namespace fedsim::models {

// mix64 of the dropout stream code of (layer, target); a segment's key is mix64(step_key ^ it)
// (computed on the device, dmix64). The GPT targets keep their historical numbering
// (l * 6 + t + 1), so GPT runs draw the masks they always drew; mlp_gate (Llama family only)
// gets codes of its own above 2^40.
template <class T>
uint64_t Net<T>::target_code(int l, int t) const {
  constexpr int kGptTargets = 6;
  const uint64_t code = t < kGptTargets ? static_cast<uint64_t>(l) * kGptTargets + t + 1
                                        : (uint64_t(1) << 40) + static_cast<uint64_t>(l) * kNumTargets + t;
  return mix64(code);
}

template <class T>
LoraTarget<T> Net<T>::lora_target(int l, int t) const {
  return LoraTarget<T>{adapters.data(), adapter_grads.data(), al.total, al.a(l, t), al.b(l, t),
                       al.rank,         al.d_in[t],           al.d_out[t], T(al.scale)};
}

// Base product over every row, then the LoRA branch of every segment (dropout, shrink to rank r,
// expand), each a grouped product over all segments (kernels/lora.hpp).
template <class T>
void Net<T>::proj_forward(int l, int t, UMat<T> out, UMat<T> inp, const WMat<T>& wm, UVec<T> b) {
  linear_forward(exec, out, inp, wm, b);
  if (!al.enabled[t] || !adapters_on_) return;
  LayerActs<T>& la = a_.layers[l];
  UMat<T> xd = inp;
  if (dropout_ && al.dropout > 0) {
    lora_dropout(exec, la.xd[t], inp, st_, sr_, al.dropout, target_code(l, t), T_, false);
    xd = la.xd[t];
  }
  const LoraTarget<T> tg = lora_target(l, t);
  lora_grouped(exec, "fedsim::models::lora_shrink", detail::LoraItem<T>{LoraOp::shrink, tg, xd, la.u[t], T(0)}, st_,
               sr_);
  lora_grouped(exec, "fedsim::models::lora_expand", detail::LoraItem<T>{LoraOp::expand, tg, la.u[t], out, T(1)}, st_,
               sr_);
}

template <class T>
void Net<T>::proj_backward(int l, int t, UMat<T> dinp, const WMat<T>& dw, UVec<T> db, UMat<T> dout, UMat<T> inp,
                           const WMat<T>& wm, T beta) {
  linear_backward(exec, dinp, dw.f, db, dout, inp, wm, a_.ws, beta);
  if (!al.enabled[t] || !adapters_on_) return;
  LayerActs<T>& la = a_.layers[l];
  const bool drop = dropout_ && al.dropout > 0;
  const UMat<T> xd = drop ? la.xd[t] : inp;
  const LoraTarget<T> tg = lora_target(l, t);
  using Item = detail::LoraItem<T>;
  lora_grouped(exec, "fedsim::models::lora_du", Item{LoraOp::du, tg, dout, a_.du, T(0)}, st_, sr_);
  lora_grouped(exec, "fedsim::models::lora_dB", Item{LoraOp::dB, tg, dout, la.u[t], T(0)}, st_, sr_);
  lora_grouped(exec, "fedsim::models::lora_dA", Item{LoraOp::dA, tg, a_.du, xd, T(0)}, st_, sr_);
  if (drop) {  // dxd = du A into scratch, then through the masks into dinp
    const UMat<T> dxd = as_mat(a_.dxd, int64_t(inp.extent(0)), int64_t(al.d_in[t]));
    lora_grouped(exec, "fedsim::models::lora_dx", Item{LoraOp::dx, tg, a_.du, dxd, T(0)}, st_, sr_);
    lora_dropout(exec, dinp, dxd, st_, sr_, al.dropout, target_code(l, t), T_, true);
  } else {
    lora_grouped(exec, "fedsim::models::lora_dx", Item{LoraOp::dx, tg, a_.du, dinp, T(1)}, st_, sr_);
  }
}

template <class T>
void Net<T>::forward_staged(bool adapters, bool dropout) {
  FEDSIM_ASSERT(B_ > 0);
  adapters_on_ = adapters;
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
  segment_losses(exec, seg_loss(), a.losses, sr_.off_d, st_.b0, st_.seqs, st_.targets);
}

template <class T>
void Net<T>::backward(bool base_grads, const std::vector<T>* seq_weights) {
  FEDSIM_ASSERT(!base_grads || base_grad.extent(0) > 0);
  if (seq_weights != nullptr) {  // staged from a member buffer, no fence
    FEDSIM_ASSERT(static_cast<int>(seq_weights->size()) == B_);
    if (static_cast<int>(seq_wh_.extent(0)) < B_) seq_wh_ = decltype(seq_wh_)("fedsim::host::seq_w", B_);
    const UVec<T> w = seq_weights_device();
    for (int b = 0; b < B_; ++b) seq_wh_(b) = (*seq_weights)[size_t(b)];
    Kokkos::deep_copy(exec, w, Kokkos::subview(seq_wh_, std::make_pair(0, B_)));
    backward_weighted(base_grads);
    return;
  }
  grads_on_ = base_grads;
  crossentropy_backward_segments(exec, a_.probs, a_.probs, targets_, sr_.seq, st_.of_seq, st_.targets);
  backward_from_dlogits();
}

template <class T>
UVec<T> Net<T>::seq_weights_device() {
  if (static_cast<int>(seq_w_.extent(0)) < B_) seq_w_ = Vec<T>(Kokkos::view_alloc(exec, "fedsim::models::seq_w"), B_);
  return as_vec(seq_w_.data(), B_);
}

template <class T>
void Net<T>::backward_weighted(bool base_grads) {
  FEDSIM_ASSERT(!base_grads || base_grad.extent(0) > 0);
  grads_on_ = base_grads;
  crossentropy_backward_rows(exec, a_.probs, a_.probs, targets_, seq_weights_device(), sr_.seq);
  backward_from_dlogits();
}

template <class T>
void Net<T>::backward_from_dlogits() {
  Acts<T>& a = a_;
  const Params<T>& g = grads();
  const UMat<T> dlogits = a.probs;
  dense_nn(exec, a.dln, dlogits, w.head, T(0));  // dlnf
  if (grads_on_) gemm(exec, 'T', 'N', T(1), dlogits, a.lnf, T(1), g.head.f);
  zero(exec, a.dres);
  const int L = cfg.n_layers;
  const UMat<T> last = a.layers[L - 1].res3;
  if (cfg.llama())
    rmsnorm_backward(exec, a.dres, g.lnfw, a.dln, last, w.lnfw, a.lnf_rstd, a.ws);
  else
    layernorm_backward(exec, a.dres, g.lnfw, g.lnfb, a.dln, last, w.lnfw, a.lnf_mean, a.lnf_rstd, a.ws);
  for (int l = L - 1; l >= 0; --l) {
    const UMat<T> res_in = l == 0 ? a.encoded : a.layers[l - 1].res3;
    if (cfg.llama())
      llama_layer_backward(l, res_in);
    else
      gpt_layer_backward(l, res_in);
  }
  if (grads_on_) {
    const Staged& s = staged_[cur_];
    FEDSIM_ASSERT_MSG(s.csr >= 0, "full-parameter backward: enable_base_grad before staging the batch");
    embedding_backward(exec, g.wte.f, g.wpe.f, a.dres, tok_ids_, tok_start_, tok_rows_, s.U, sr_);
  }
}

#define FEDSIM_NET_PASS(T)                                                                                        \
  template uint64_t Net<T>::target_code(int, int) const;                                                          \
  template LoraTarget<T> Net<T>::lora_target(int, int) const;                                                     \
  template void Net<T>::proj_forward(int, int, UMat<T>, UMat<T>, const WMat<T>&, UVec<T>);                       \
  template void Net<T>::proj_backward(int, int, UMat<T>, const WMat<T>&, UVec<T>, UMat<T>, UMat<T>, const WMat<T>&, T); \
  template void Net<T>::forward_staged(bool, bool);                                                               \
  template void Net<T>::backward(bool, const std::vector<T>*);                                                   \
  template UVec<T> Net<T>::seq_weights_device();                                                                  \
  template void Net<T>::backward_weighted(bool);                                                                  \
  template void Net<T>::backward_from_dlogits();
FEDSIM_NET_PASS(float)
FEDSIM_NET_PASS(double)
#undef FEDSIM_NET_PASS

}  // namespace fedsim::models
