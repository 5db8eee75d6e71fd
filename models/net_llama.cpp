// One Llama-family layer (Touvron et al. 2023, "LLaMA", sec. 2.2; as transformers'
// LlamaDecoderLayer, MistralDecoderLayer, Qwen2DecoderLayer, Qwen3DecoderLayer), forward and
// backward:
//   h = RMSNorm1(res);  q = h Wq^T (+bq), k = h Wk^T (+bk), v = h Wv^T (+bv)     (+ LoRA)
//   [Qwen3] q, k = per-head RMSNorm(q; q_norm), (k; k_norm)
//   q, k = RoPE(q), RoPE(k)  at each row's position
//   res2 = res + attn(q, k, v) Wo^T (+bo)                    (GQA, sliding window) (+ LoRA)
//   res3 = res2 + (silu(h2 Wg^T) * (h2 Wu^T)) Wd^T,  h2 = RMSNorm2(res2)          (+ LoRA)
#include "models/net.hpp"

namespace fedsim::models {

// res (N,C) -> a_.layers[l] (res3 the output)
template <class T>
void Net<T>::llama_layer_forward(int l, UMat<T> res) {
  LayerActs<T>& la = a_.layers[l];
  const LayerParams<T>& p = w.layer(l);
  const int hd = cfg.hd();
  rmsnorm_forward(exec, la.ln1, la.ln1_rstd, res, p.ln1w, cfg.norm_eps);
  if (cfg.qk_norm) {  // projections into qp/kp, then each head normalised into q/k
    proj_forward(l, kQ, la.qp, la.ln1, p.q, p.qb);
    proj_forward(l, kK, la.kp, la.ln1, p.k, p.kb);
    rmsnorm_forward(exec, per_head(la.q, hd), la.q_rstd, per_head(la.qp, hd), p.q_norm, cfg.norm_eps);
    rmsnorm_forward(exec, per_head(la.k, hd), la.k_rstd, per_head(la.kp, hd), p.k_norm, cfg.norm_eps);
  } else {
    proj_forward(l, kQ, la.q, la.ln1, p.q, p.qb);
    proj_forward(l, kK, la.k, la.ln1, p.k, p.kb);
  }
  proj_forward(l, kV, la.v, la.ln1, p.v, p.vb);
  rope_apply(exec, la.q, sr_.pos, rope_, hd, false);
  rope_apply(exec, la.k, sr_.pos, rope_, hd, false);
  attention_block_forward(l, res);
  rmsnorm_forward(exec, la.ln2, la.ln2_rstd, la.res2, p.ln2w, cfg.norm_eps);
  proj_forward(l, kGate, la.gate, la.ln2, p.gate, p.gateb);
  proj_forward(l, kUp, la.fch, la.ln2, p.up, p.upb);
  swiglu_forward(exec, la.fch_gelu, la.gate, la.fch);
  proj_forward(l, kDown, a_.proj, la.fch_gelu, p.down, p.downb);
  residual_forward(exec, la.res3, la.res2, a_.proj);
}

// a_.dres: d res3 in, d res out (res the layer's input)
template <class T>
void Net<T>::llama_layer_backward(int l, UMat<T> res) {
  Acts<T>& a = a_;
  LayerActs<T>& la = a.layers[l];
  const LayerParams<T>& p = w.layer(l);
  const LayerParams<T>& g = grads().layer(l);
  const int hd = cfg.hd();
  // MLP; a.dres holds d res3.
  proj_backward(l, kDown, a.dh, g.down, g.downb, a.dres, la.fch_gelu, p.down, T(0));
  swiglu_backward(exec, a.dh3, a.dh2, a.dh, la.gate, la.fch);  // d gate, d up
  proj_backward(l, kGate, a.dln, g.gate, g.gateb, a.dh3, la.ln2, p.gate, T(0));
  proj_backward(l, kUp, a.dln, g.up, g.upb, a.dh2, la.ln2, p.up, T(1));
  rmsnorm_backward(exec, a.dres, g.ln2w, a.dln, la.res2, p.ln2w, la.ln2_rstd, a.ws);
  // Attention; a.dres holds d res2.
  attention_block_backward(l);
  rope_apply(exec, a.dq, sr_.pos, rope_, hd, true);  // the transposed turn
  rope_apply(exec, a.dk, sr_.pos, rope_, hd, true);
  UMat<T> dq = a.dq, dk = a.dk;
  if (cfg.qk_norm) {
    zero(exec, a.dqn);
    zero(exec, a.dkn);
    rmsnorm_backward(exec, per_head(a.dqn, hd), g.q_norm, per_head(a.dq, hd), per_head(la.qp, hd), p.q_norm, la.q_rstd, a.ws);
    rmsnorm_backward(exec, per_head(a.dkn, hd), g.k_norm, per_head(a.dk, hd), per_head(la.kp, hd), p.k_norm, la.k_rstd, a.ws);
    dq = a.dqn;
    dk = a.dkn;
  }
  proj_backward(l, kQ, a.dln, g.q, g.qb, dq, la.ln1, p.q, T(0));
  proj_backward(l, kK, a.dln, g.k, g.kb, dk, la.ln1, p.k, T(1));
  proj_backward(l, kV, a.dln, g.v, g.vb, a.dv, la.ln1, p.v, T(1));
  rmsnorm_backward(exec, a.dres, g.ln1w, a.dln, res, p.ln1w, la.ln1_rstd, a.ws);
}

template void Net<float>::llama_layer_forward(int, UMat<float>);
template void Net<double>::llama_layer_forward(int, UMat<double>);
template void Net<float>::llama_layer_backward(int, UMat<float>);
template void Net<double>::llama_layer_backward(int, UMat<double>);

}  // namespace fedsim::models
