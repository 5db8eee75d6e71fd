// One GPT-2 layer (Radford et al. 2019; pre-LayerNorm), forward and backward, and the
// attention block both families share:
//   res2 = res + o(attn(q, k, v)(LN1(res)))       (+ LoRA on q, k, v, o)
//   res3 = res2 + down(gelu(up(LN2(res2))))       (+ LoRA on mlp_up, mlp_down)
#include "models/net.hpp"

namespace fedsim::models {

// res (N,C) -> a_.layers[l] (res3 the output)
template <class T>
void Net<T>::gpt_layer_forward(int l, UMat<T> res) {
  LayerActs<T>& la = a_.layers[l];
  const LayerParams<T>& p = w.layer(l);
  layernorm_forward(exec, la.ln1, la.ln1_mean, la.ln1_rstd, res, p.ln1w, p.ln1b);
  proj_forward(l, kQ, la.q, la.ln1, p.q, p.qb);
  proj_forward(l, kK, la.k, la.ln1, p.k, p.kb);
  proj_forward(l, kV, la.v, la.ln1, p.v, p.vb);
  attention_block_forward(l, res);
  layernorm_forward(exec, la.ln2, la.ln2_mean, la.ln2_rstd, la.res2, p.ln2w, p.ln2b);
  proj_forward(l, kUp, la.fch, la.ln2, p.up, p.upb);
  gelu_forward_cached(exec, la.fch_gelu, la.fch);  // fch now holds gelu'(fch)
  proj_forward(l, kDown, a_.proj, la.fch_gelu, p.down, p.downb);
  residual_forward(exec, la.res3, la.res2, a_.proj);
}

// a_.dres: d res3 in, d res out (res the layer's input)
template <class T>
void Net<T>::gpt_layer_backward(int l, UMat<T> res) {
  Acts<T>& a = a_;
  LayerActs<T>& la = a.layers[l];
  const LayerParams<T>& p = w.layer(l);
  const LayerParams<T>& g = grads().layer(l);
  // MLP: res3 = res2 + down(gelu(up(ln2(res2)))); a.dres holds d res3.
  proj_backward(l, kDown, a.dh, g.down, g.downb, a.dres, la.fch_gelu, p.down, T(0));
  gelu_backward_cached(exec, a.dh2, a.dh, la.fch);
  proj_backward(l, kUp, a.dln, g.up, g.upb, a.dh2, la.ln2, p.up, T(0));
  layernorm_backward(exec, a.dres, g.ln2w, g.ln2b, a.dln, la.res2, p.ln2w, la.ln2_mean, la.ln2_rstd, a.ws);
  // Attention: res2 = res + o(attn(q, k, v)(ln1(res))); a.dres holds d res2.
  attention_block_backward(l);
  proj_backward(l, kQ, a.dln, g.q, g.qb, a.dq, la.ln1, p.q, T(0));
  proj_backward(l, kK, a.dln, g.k, g.kb, a.dk, la.ln1, p.k, T(1));
  proj_backward(l, kV, a.dln, g.v, g.vb, a.dv, la.ln1, p.v, T(1));
  layernorm_backward(exec, a.dres, g.ln1w, g.ln1b, a.dln, res, p.ln1w, la.ln1_mean, la.ln1_rstd, a.ws);
}

// Both families: res2 = res + attn(q, k, v) Wo^T (+bo) (+ LoRA on o), from la.q, la.k, la.v.
template <class T>
void Net<T>::attention_block_forward(int l, UMat<T> res) {
  LayerActs<T>& la = a_.layers[l];
  const LayerParams<T>& p = w.layer(l);
  attention_forward(exec, la.atty, la.att, la.q, la.k, la.v, sr_, attn_shape());
  proj_forward(l, kO, a_.proj, la.atty, p.o, p.ob);
  residual_forward(exec, la.res2, res, a_.proj);
}

// Its backward: a_.dres (d res2) -> a_.dq, a_.dk, a_.dv (overwritten), o's gradients.
template <class T>
void Net<T>::attention_block_backward(int l) {
  Acts<T>& a = a_;
  LayerActs<T>& la = a.layers[l];
  const LayerParams<T>& g = grads().layer(l);
  proj_backward(l, kO, a.datty, g.o, g.ob, a.dres, la.atty, w.layer(l).o, T(0));
  attention_backward(exec, a.dq, a.dk, a.dv, a.dpreatt, a.datty, la.att, la.q, la.k, la.v, sr_, attn_shape());
}

template void Net<float>::attention_block_forward(int, UMat<float>);
template void Net<double>::attention_block_forward(int, UMat<double>);
template void Net<float>::attention_block_backward(int);
template void Net<double>::attention_block_backward(int);
template void Net<float>::gpt_layer_forward(int, UMat<float>);
template void Net<double>::gpt_layer_forward(int, UMat<double>);
template void Net<float>::gpt_layer_backward(int, UMat<float>);
template void Net<double>::gpt_layer_backward(int, UMat<double>);

}  // namespace fedsim::models
