// The transformer as kernels: Net<T> owns the base weights, the adapters of n_clients clients
// (leading client dimension), their gradients and the activation buffers, and runs the
// forward and backward passes. T is float at run time and double in the gradient tests.
// Model (model.cpp) wraps Net<float> behind the pimpl of model.hpp. The layers of each family
// are in net_gpt.cpp and net_llama.cpp; this header's net.cpp holds what they share.
#pragma once

#include <cmath>
#include <vector>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "models/kernels/attention.hpp"
#include "models/kernels/elementwise.hpp"
#include "models/kernels/embed_loss.hpp"
#include "models/kernels/layernorm.hpp"
#include "models/kernels/linear.hpp"
#include "models/kernels/rmsnorm.hpp"
#include "models/kernels/rope.hpp"
#include "models/kernels/seqrows.hpp"
#include "models/params.hpp"

namespace fedsim::models {

// Activations of one forward pass over N rows (B*T for a padded batch, fewer when packed:
// SeqRows), all views into one allocation. Q = NH*hd, KV = NKV*hd (GPT: both C).
template <class T>
struct LayerActs {
  UMat<T> ln1;                 // (N,C) input norm output
  UVec<T> ln1_mean, ln1_rstd;  // (N) (RMSNorm: rstd only)
  UMat<T> qp, kp;              // (N,Q), (N,KV) projections before Qwen3's q/k norms (qk_norm only)
  UVec<T> q_rstd, k_rstd;      // (N*NH), (N*NKV) their per-head rstd
  UMat<T> q, k, v;             // (N,Q), (N,KV), (N,KV) as attention reads them (after norm and RoPE)
  UMat<T> att;                 // (NH*N,Tc) attention probabilities (rows: SeqRows::att_row)
  UMat<T> atty;                // (N,Q) attention output before the o projection
  UMat<T> res2;                // (N,C) residual after attention
  UMat<T> ln2;                 // (N,C)
  UVec<T> ln2_mean, ln2_rstd;  // (N)
  UMat<T> gate;                // (N,F) gate projection (Llama family)
  UMat<T> fch;                 // (N,F) up projection
  UMat<T> fch_gelu;            // (N,F) the down projection's input: gelu(fch), or silu(gate) * fch
  UMat<T> res3;                // (N,C) layer output
  UMat<T> xd[kNumTargets];     // (N,d_in) adapter input after dropout (dropout > 0 only)
  UMat<T> u[kNumTargets];      // (N,r) A xd
};
template <class T>
struct Acts {
  UMat<T> encoded;                   // (N,C) embeddings, input of layer 0
  std::vector<LayerActs<T>> layers;  // (L)
  UMat<T> lnf;                       // (N,C)
  UVec<T> lnf_mean, lnf_rstd;        // (N)
  UMat<T> logits;                    // (N,V)
  UMat<T> probs;                     // (N,V) softmax, then dlogits in backward
  UVec<T> losses;                    // (N) per-position loss, 0 where no target
  // Scratch shared by all layers.
  UMat<T> proj;                      // (N,C) o / mlp_down output before the residual add
  UMat<T> dres, dln;                 // (N,C)
  UMat<T> datty, dq, dqn;            // (N,Q) (dqn: before the q norm)
  UMat<T> dk, dv, dkn;               // (N,KV)
  UMat<T> dh, dh2, dh3;              // (N,F) (dh3: d gate)
  UMat<T> dpreatt;                   // (NH*N,Tc)
  UMat<T> du;                        // (N,r)
  T* dxd = nullptr;                  // (N, max d_in) gradient through dropout
};

// One client's share of a stacked batch (batched local training, models/README.md): `seqs`
// consecutive sequences that run with adapter row `row` (-1: base only) and dropout masks keyed
// by `step_key`. A plain forward is one segment over the whole batch.
struct Segment {
  int row = -1;
  int seqs = 0;
  uint64_t step_key = 0;
};

template <class T>
class Net {
 public:
  Net(const ModelConfig& cfg, const LoraConfig& lora, int n_clients = 1);

  ModelConfig cfg;
  BaseLayout bl;
  AdapterLayout al;
  ExecSpace exec;
  Vec<T> base;                              // (bl.total) float tensors (all, unless bf16)
  Kokkos::View<Bf16*, MemSpace> base_half;  // (bl.total_half) matrices of a bf16 base
  Vec<T> panel;          // (bl.largest_matrix) bf16 widening scratch (bf16 base only, else empty)
  Mat<T> adapters;       // (n_clients, P)
  Mat<T> adapter_grads;  // (n_clients, P)
  Params<T> w;           // named views of the base
  Params<T> gw;          // of base_grad (without data until enable_base_grad)
  Vec<T> base_grad;      // (bl.total), allocated by enable_base_grad() (full-parameter mode)

  // Random base: GPT-2 initialisation (Radford et al. 2019, sec. 2.3; as in nanoGPT) for GPT:
  // weights N(0, 0.02), residual projections (o, mlp_down) N(0, 0.02/sqrt(2L)), biases 0,
  // LayerNorm gain 1. Llama family: as transformers' _init_weights with initializer_range
  // cfg.init_std (matrices and embedding N(0, std), biases 0, RMSNorm gains 1), each tensor
  // from its own stream (init_tensor_values), so `fedsim model init` writes the same numbers.
  void init_base(uint64_t seed);
  void enable_base_grad();
  // Uploads a batch and sizes the buffers (they grow to the largest batch seen, never shrink).
  // pack: each sequence keeps only its rows up to its last target token (models/README.md
  // "Packing"): the losses and gradients are those of the padded batch, since no later row
  // feeds an earlier one and padding carries no target; per-row outputs (argmax_host,
  // logits_host) are then unavailable.
  void set_batch(const Batch& batch, bool pack = false);
  // Forward over the current batch. client < 0: base only. Dropout on the adapter inputs when
  // `dropout` is true, with masks keyed by step_key. Returns the mean loss over target tokens
  // (0 if the batch has none).
  double forward(int client, bool dropout, uint64_t step_key);
  // Forward over the current batch cut into consecutive segments (their seqs sum to B): base
  // products over all rows at once, each segment's LoRA products with its own adapter row and
  // masks. Every row computes exactly what a forward over that segment alone computes. Returns
  // each segment's mean loss over its target tokens.
  std::vector<double> forward_segments(const std::vector<Segment>& segs, bool dropout);
  // Backward of the last forward: adds into adapter_grads(client) (client >= 0) and, when
  // base_grads, into base_grad. Caller zeroes. The loss differentiated is the forward's mean
  // over target tokens (with segments: each segment's own mean, into its own row), or, given
  // seq_weights (B), sum over sequences b of seq_weights[b] times the sum of b's per-token
  // losses (DPO).
  void backward(bool base_grads, const std::vector<T>* seq_weights = nullptr);
  // Per-sequence sums of the last forward's per-token losses, -log p(targets of b) (B).
  std::vector<double> sequence_losses();

  int64_t n_targets() const { return n_targets_; }
  // Floats of activation memory a padded (B,T) batch needs (for sizing batched groups; a
  // packed one needs at most as much).
  int64_t activation_floats(int B, int Tn);
  // Host copies of the last forward's per-position argmax and loss (valid after forward()).
  const std::vector<int32_t>& argmax_host();
  std::vector<T> logits_host();  // (B*T, V) of the last forward
  std::vector<T> losses_host();  // (rows) per-row losses
  int64_t n_rows() const { return sr_.rows(); }  // activation rows of the current batch
  int64_t seq_rows(int b) const { return sr_.len(b); }  // rows of its sequence b
  UMat<T> final_hidden() { return a_.lnf; }  // (rows,C) of the last forward (Model::embed)
  const RopeTable<T>& rope() const { return rope_; }  // Llama family (KvDecoder)

  // One base tensor on the host, in T (bf16 slots widened), and back (bf16 slots rounded to
  // nearest even). For tests and tools; loading fills tensors in place with fill_tensor.
  std::vector<T> get_tensor(const Slot& s) const;
  void set_tensor(const Slot& s, const std::vector<T>& h);
  // The whole base on the host as T, in slot order (fp32: the flat buffer itself).
  std::vector<T> base_host() const;
  // Writes tensor s through fill(dst), dst a host pointer to its s.size() elements: T* for a
  // float slot, Bf16* for a bf16 one (fill takes `auto*`). On host memory spaces dst is the
  // tensor itself (no copy of the base is ever made); on a device, a one-tensor staging buffer.
  template <class Fill>
  void fill_tensor(const Slot& s, Fill fill) {
    const std::pair<int64_t, int64_t> r(s.off, s.off + s.size());
    if (s.half) {
      auto d = Kokkos::subview(base_half, r);
      auto h = Kokkos::create_mirror_view(d);
      fill(h.data());
      Kokkos::deep_copy(exec, d, h);
    } else {
      auto d = Kokkos::subview(base, r);
      auto h = Kokkos::create_mirror_view(d);
      fill(h.data());
      Kokkos::deep_copy(exec, d, h);
    }
    exec.fence();
  }

  // Host access (tests, save/load, Model).
  std::vector<T> get(const Vec<T>& v) const;
  void set(Vec<T>& v, const std::vector<T>& h);
  std::vector<T> get_row(const Mat<T>& m, int row) const;
  void set_row(Mat<T>& m, int row, const std::vector<T>& h);

  UVec<T> base_vec() { return as_vec(base.data(), bl.total); }
  UVec<T> row(Mat<T>& m, int r) { return as_vec(m.data() + int64_t(r) * m.extent(1), int64_t(m.extent(1))); }

 private:
  int64_t build_acts(T* mem, int64_t N, int Tc);
  uint64_t target_key(uint64_t step_key, int l, int t) const;
  DropIndex drop_index(size_t segment) const;
  std::pair<int64_t, int64_t> seg_rows(size_t segment) const;
  void proj_forward(int l, int t, UMat<T> out, UMat<T> inp, const WMat<T>& wm, UVec<T> b);
  void proj_backward(int l, int t, UMat<T> dinp, const WMat<T>& dw, UVec<T> db, UMat<T> dout, UMat<T> inp,
                     const WMat<T>& wm);
  AttnShape attn_shape() const;
  // One layer each way (net_gpt.cpp, net_llama.cpp): res (N,C) is the layer's input; the
  // backward's a_.dres holds d(output) on entry and d(input) on return.
  void gpt_layer_forward(int l, UMat<T> res);
  void gpt_layer_backward(int l, UMat<T> res);
  void llama_layer_forward(int l, UMat<T> res);
  void llama_layer_backward(int l, UMat<T> res);
  void attention_block_forward(int l, UMat<T> res);  // attention + o + residual (net_gpt.cpp)
  void attention_block_backward(int l);

  // The gradient views a backward writes: gw in full-parameter mode, else views without data.
  const Params<T>& grads() const { return grads_on_ ? gw : no_grads_; }

  Params<T> no_grads_;
  RopeTable<T> rope_;  // (maxT, hd/2) Llama family
  Acts<T> a_;
  Vec<T> acts_mem_;
  IVec tokens_, targets_, argmax_;
  Vec<T> seq_w_;  // (B) per-sequence loss weights for backward
  typename IVec::HostMirror tokens_h_, targets_h_;
  std::vector<int32_t> argmax_host_;
  std::vector<int64_t> seq_targets_;  // (B) target tokens per sequence
  std::vector<Segment> segs_;         // of the last forward
  std::vector<int> seg_b0_;           // first sequence of each segment
  SeqRows sr_;                        // rows of each sequence
  std::vector<int64_t> seg_targets_;  // target tokens per segment
  std::vector<T> seg_w_host_;         // (B) per-sequence weights of a segmented backward
  int B_ = 0, T_ = 0;  // sequences, and the padded context of the batch as given
  int64_t n_targets_ = 0;
  bool dropout_ = false, grads_on_ = false, packed_ = false;
};

// Definitions in net.cpp, instantiated for float and double.
extern template class Net<float>;
extern template class Net<double>;

}  // namespace fedsim::models
