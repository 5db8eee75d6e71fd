// The transformer as kernels: Net<T> owns the base weights, the adapters of n_clients clients
// (leading client dimension), their gradients and the activation buffers, and runs the
// forward and backward passes. T is float at run time and double in the gradient tests.
// Model (model.cpp) wraps Net<float> behind the pimpl of model.hpp. The layers of each family
// are in net_gpt.cpp and net_llama.cpp; this header's net.cpp holds what they share, and
// net_stage.cpp the staging of batches.
//
// Host and device meet at a few places only: a run stages all its batches at once (stage:
// tokens, targets, row offsets, segment tables, one upload), each step then selects one (use)
// without any transfer, and per-segment losses stay on the device (seg_loss) until the caller
// reads them. The training loops (train.cpp) read once per client run.
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
#include "models/kernels/lora.hpp"
#include "models/kernels/rmsnorm.hpp"
#include "models/kernels/rope.hpp"
#include "models/kernels/seqrows.hpp"
#include "models/params.hpp"

namespace fedsim::models {

// Views without data, spelled out: no View here is ever default-constructed and then copied
// (Kokkos 4.5-4.6 with GCC 12.2-12.4 crash on that; README "Kokkos versions").
template <class T>
UMat<T> no_mat() {
  return UMat<T>(nullptr, 0, 0);
}
template <class T>
UVec<T> no_vec() {
  return UVec<T>(nullptr, 0);
}

// Activations of one forward pass over N rows (B*T for a padded batch, fewer when packed:
// SeqRows), all views into one allocation. Q = NH*hd, KV = NKV*hd (GPT: both C).
template <class T>
struct LayerActs {
  UMat<T> ln1 = no_mat<T>();                               // (N,C) input norm output
  UVec<T> ln1_mean = no_vec<T>(), ln1_rstd = no_vec<T>();  // (N) (RMSNorm: rstd only)
  UMat<T> qp = no_mat<T>(), kp = no_mat<T>();  // (N,Q), (N,KV) before Qwen3's q/k norms (qk_norm only)
  UVec<T> q_rstd = no_vec<T>(), k_rstd = no_vec<T>();         // (N*NH), (N*NKV) their per-head rstd
  UMat<T> q = no_mat<T>(), k = no_mat<T>(), v = no_mat<T>();  // (N,Q), (N,KV), (N,KV) as attention reads them
  UMat<T> att = no_mat<T>();       // (NH*N,Tc) attention probabilities (rows: SeqRows::att_row)
  UMat<T> atty = no_mat<T>();      // (N,Q) attention output before the o projection
  UMat<T> res2 = no_mat<T>();      // (N,C) residual after attention
  UMat<T> ln2 = no_mat<T>();       // (N,C)
  UVec<T> ln2_mean = no_vec<T>(), ln2_rstd = no_vec<T>();  // (N)
  UMat<T> gate = no_mat<T>();      // (N,F) gate projection (Llama family)
  UMat<T> fch = no_mat<T>();       // (N,F) up projection (GPT: then gelu' of it, gelu_forward_cached)
  UMat<T> fch_gelu = no_mat<T>();  // (N,F) the down projection's input: gelu(fch), or silu(gate) * fch
  UMat<T> res3 = no_mat<T>();      // (N,C) layer output
  UMat<T> xd[kNumTargets];         // (N,d_in) adapter input after dropout (dropout > 0 only)
  UMat<T> u[kNumTargets];          // (N,r) A xd
  LayerActs() {
    for (int t = 0; t < kNumTargets; ++t) xd[t] = u[t] = no_mat<T>();
  }
};
template <class T>
struct Acts {
  UMat<T> encoded = no_mat<T>();                           // (N,C) embeddings, input of layer 0
  std::vector<LayerActs<T>> layers;                        // (L)
  UMat<T> lnf = no_mat<T>();                               // (N,C)
  UVec<T> lnf_mean = no_vec<T>(), lnf_rstd = no_vec<T>();  // (N)
  UMat<T> logits = no_mat<T>();                            // (N,V)
  UMat<T> probs = no_mat<T>();                             // (N,V) softmax, then dlogits in backward
  UVec<T> losses = no_vec<T>();                            // (N) per-position loss, 0 where no target
  // Scratch shared by all layers.
  UMat<T> proj = no_mat<T>();                                        // (N,C) o / mlp_down output before the residual
  UMat<T> dres = no_mat<T>(), dln = no_mat<T>();                     // (N,C)
  UMat<T> datty = no_mat<T>(), dq = no_mat<T>(), dqn = no_mat<T>();  // (N,Q) (dqn: before the q norm)
  UMat<T> dk = no_mat<T>(), dv = no_mat<T>(), dkn = no_mat<T>();     // (N,KV)
  UMat<T> dh = no_mat<T>(), dh2 = no_mat<T>(), dh3 = no_mat<T>();    // (N,F) (dh3: d gate)
  UMat<T> dpreatt = no_mat<T>();                                     // (NH*N,Tc)
  UMat<T> du = no_mat<T>();                                          // (N,r)
  UVec<T> ws = no_vec<T>();  // column sums of the parameter gradients (full-parameter mode)
  T* dxd = nullptr;          // (N, max d_in) gradient through dropout
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
  Vec<T> base_grad = Vec<T>("fedsim::models::base_grad", 0);  // (bl.total), enable_base_grad() (full-parameter mode)

  // Random base: GPT-2 initialisation (Radford et al. 2019, sec. 2.3; as in nanoGPT) for GPT:
  // weights N(0, 0.02), residual projections (o, mlp_down) N(0, 0.02/sqrt(2L)), biases 0,
  // LayerNorm gain 1. Llama family: as transformers' _init_weights with initializer_range
  // cfg.init_std (matrices and embedding N(0, std), biases 0, RMSNorm gains 1), each tensor
  // from its own stream (init_tensor_values), so `fedsim model init` writes the same numbers.
  void init_base(uint64_t seed);
  void enable_base_grad();

  // Stages the batches of a run (net_stage.cpp): their tokens, targets, row offsets and the
  // segment tables `segs[i]` (the whole batch: one segment) in one upload, sizing every buffer
  // for the largest (buffers grow, never shrink). pack: each sequence keeps only its rows up to
  // its last target token (models/README.md "Packing"): the losses and gradients are those of
  // the padded batch, since no later row feeds an earlier one and padding carries no target;
  // per-row outputs (argmax_host, logits_host) are then unavailable. After enable_base_grad it
  // also stages the rows of each token (the embedding gradient of full-parameter training).
  void stage(const std::vector<const Batch*>& batches, const std::vector<std::vector<Segment>>& segs, bool pack);
  // Makes staged batch i the current one: no host transfer; one launch (the rows' sequence and
  // position from the offsets).
  void use(size_t i);
  // stage({&batch}, {{one segment, base only}}, pack) and use(0).
  void set_batch(const Batch& batch, bool pack = false);

  // Forward over the current batch and its segments: base products over all rows at once, each
  // segment's LoRA products with its own adapter row and dropout masks (adapters = false: base
  // only). Every row computes exactly what a forward over that segment alone computes. Each
  // segment's mean loss over its target tokens stays on the device: seg_loss().
  void forward_staged(bool adapters, bool dropout);
  UVec<double> seg_loss() { return as_vec(seg_loss_.data(), int64_t(st_.S())); }
  // Forward with the given segments (their seqs sum to B; uploaded now), the means read back.
  std::vector<double> forward_segments(const std::vector<Segment>& segs, bool dropout);
  // One segment: client < 0 is base only, masks keyed by step_key. Returns the mean loss over
  // target tokens (0 if the batch has none).
  double forward(int client, bool dropout, uint64_t step_key);
  // Backward of the last forward: adds into adapter_grads(row of each segment) and, when
  // base_grads, into base_grad. Caller zeroes. The loss differentiated is each segment's mean
  // over its target tokens, or, given seq_weights (B), sum over sequences b of seq_weights[b]
  // times the sum of b's per-token losses (DPO).
  void backward(bool base_grads, const std::vector<T>* seq_weights = nullptr);
  // The same with the per-sequence weights already on the device, in seq_weights_device().
  void backward_weighted(bool base_grads);
  UVec<T> seq_weights_device();  // (B) device buffer backward_weighted reads
  // Per-sequence sums of the last forward's per-token losses, -log p(targets of b) (B).
  std::vector<double> sequence_losses();
  // The same into out (B) on the device, each sequence's rows summed in order: no host read.
  void sequence_losses_device(UVec<double> out);

  int64_t n_targets() const { return n_targets_; }
  // Floats of activation memory a padded (B,T) batch needs (for sizing batched groups; a
  // packed one needs at most as much).
  int64_t activation_floats(int B, int Tn);
  // Host copies of the last forward's per-position argmax and loss (valid after forward()).
  const std::vector<int32_t>& argmax_host();
  std::vector<T> logits_host();  // (B*T, V) of the last forward
  std::vector<T> losses_host();  // (rows) per-row losses
  int64_t n_rows() const { return sr_.rows(); }  // activation rows of the current batch
  int n_seqs() const { return B_; }  // sequences of the current batch
  int64_t seq_rows(int b) const { return sr_.len(b); }  // rows of its sequence b
  int64_t staged_rows(size_t i) const { return staged_[i].off.back(); }  // rows of staged batch i
  const SegTable& segments() const { return st_; }  // of the current batch
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
    fence(exec, "fedsim::models::fill_tensor");  // the mirror goes out of scope
  }

  // Host access (tests, save/load, Model). Uploads are staged without a fence (the source is
  // consumed when deep_copy returns: pageable host memory); reads block.
  std::vector<T> get(const Vec<T>& v) const;
  void set(Vec<T>& v, const std::vector<T>& h);
  std::vector<T> get_row(const Mat<T>& m, int row) const;
  void set_row(Mat<T>& m, int row, const std::vector<T>& h);

  UVec<T> base_vec() { return as_vec(base.data(), bl.total); }
  UVec<T> row(Mat<T>& m, int r) { return as_vec(m.data() + int64_t(r) * m.extent(1), int64_t(m.extent(1))); }

 private:
  void backward_from_dlogits();  // the backward below the loss, dlogits in a_.probs
  // Host side of one staged batch; the device side is views into stage_i_ / stage_k_.
  struct Staged {
    int B = 0, Tpad = 0;  // sequences, padded context
    bool packed = false;
    std::vector<int64_t> off;  // (B+1)
    int Tc = 0;
    int64_t n_targets = 0;
    std::vector<int64_t> seq_targets;
    std::vector<Segment> segs;
    std::vector<int> seg_b0;
    int64_t tok = 0, tgt = 0, offs = 0, of_seq = 0, seg = 0, key = 0;  // offsets into the buffers
    int64_t csr = -1, U = 0;                                           // token rows (ids, start, rows)
  };
  int64_t build_acts(T* mem, int64_t N, int Tc);
  uint64_t target_code(int l, int t) const;
  void proj_forward(int l, int t, UMat<T> out, UMat<T> inp, const WMat<T>& wm, UVec<T> b);
  // dinp = beta * dinp + (its part of the backward): beta 0 for the first writer of a buffer,
  // so that no launch zeroes it first.
  void proj_backward(int l, int t, UMat<T> dinp, const WMat<T>& dw, UVec<T> db, UMat<T> dout, UMat<T> inp,
                     const WMat<T>& wm, T beta);
  LoraTarget<T> lora_target(int l, int t) const;
  AttnShape attn_shape() const;
  // Segment tables of `segs` for staged batch `s` into the host buffer at `at` (int32 words)
  // and keys at `kat`; returns the words written.
  int64_t write_segments(const Staged& s, const std::vector<Segment>& segs, int32_t* at, uint64_t* kat) const;
  void point_segments(const Staged& s, const IVec& ibuf, int64_t at, const Kokkos::View<uint64_t*, MemSpace>& kbuf,
                      int64_t kat);
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
  Vec<T> acts_mem_ = Vec<T>("fedsim::models::activations", 0);
  IVec argmax_ = IVec("fedsim::models::argmax", 0);
  Vec<T> seq_w_ = Vec<T>("fedsim::models::seq_w", 0);  // (B) per-sequence loss weights (DPO backward)
  Vec<double> seg_loss_ = Vec<double>("fedsim::models::seg_loss", 0);  // (S) per-segment mean loss
  // Staged batches: ints (tokens, targets, offsets, segment tables, token rows) and keys, on the
  // host (pageable staging buffers, reused) and on the device; a second pair for segment tables
  // given at forward time.
  std::vector<Staged> staged_;
  IVec stage_i_ = IVec("fedsim::models::staged", 0);
  Kokkos::View<uint64_t*, MemSpace> stage_k_ = Kokkos::View<uint64_t*, MemSpace>("fedsim::models::staged_keys", 0);
  Kokkos::View<int32_t*, Kokkos::HostSpace> stage_ih_ = Kokkos::View<int32_t*, Kokkos::HostSpace>("fedsim::host::staged", 0);
  Kokkos::View<uint64_t*, Kokkos::HostSpace> stage_kh_ =
      Kokkos::View<uint64_t*, Kokkos::HostSpace>("fedsim::host::staged_keys", 0);
  IVec seg_i_ = IVec("fedsim::models::segments", 0);
  Kokkos::View<uint64_t*, MemSpace> seg_k_ = Kokkos::View<uint64_t*, MemSpace>("fedsim::models::segment_keys", 0);
  Kokkos::View<int32_t*, Kokkos::HostSpace> seg_ih_ = Kokkos::View<int32_t*, Kokkos::HostSpace>("fedsim::host::segments", 0);
  Kokkos::View<uint64_t*, Kokkos::HostSpace> seg_kh_ =
      Kokkos::View<uint64_t*, Kokkos::HostSpace>("fedsim::host::segment_keys", 0);
  Kokkos::View<T*, Kokkos::HostSpace> seq_wh_ = Kokkos::View<T*, Kokkos::HostSpace>("fedsim::host::seq_w", 0);
  // The current batch.
  size_t cur_ = 0;
  IVec tokens_ = IVec("fedsim::models::tokens", 0), targets_ = IVec("fedsim::models::targets", 0);
  IVec tok_ids_ = IVec("fedsim::models::token_ids", 0), tok_start_ = IVec("fedsim::models::token_start", 0),
       tok_rows_ = IVec("fedsim::models::token_rows", 0);
  SeqRows sr_;   // rows of each sequence
  SegTable st_;  // its segments
  std::vector<int32_t> argmax_host_;
  std::vector<int64_t> seg_targets_;  // target tokens per segment of the current table
  int B_ = 0, T_ = 0;  // sequences, and the padded context of the batch as given
  int64_t n_targets_ = 0;
  bool dropout_ = false, adapters_on_ = true, grads_on_ = false, packed_ = false;
};

// Definitions in net.cpp, net_stage.cpp, net_pass.cpp, instantiated for float and double.
extern template class Net<float>;
extern template class Net<double>;

}  // namespace fedsim::models
