// Net<T>: buffers, initialisation and the forward/backward passes (kernels in models/kernels/).
#include "models/net.hpp"

namespace fedsim::models {

template <class T>
Net<T>::Net(const ModelConfig& c, const LoraConfig& lora, int n_clients)
    : cfg(c), bl(make_base_layout(c)), al(make_adapter_layout(c, lora)) {
  FEDSIM_ASSERT(n_clients >= 1);
  base = Vec<T>(Kokkos::view_alloc(exec, "fedsim::models::base"), bl.total);
  adapters = Mat<T>(Kokkos::view_alloc(exec, "fedsim::models::adapters"), n_clients, al.total);
  adapter_grads = Mat<T>(Kokkos::view_alloc(exec, "fedsim::models::adapter_grads"), n_clients, al.total);
}

template <class T>
void Net<T>::init_base(uint64_t seed) {
  std::vector<T> h(bl.total, T(0));
  Rng rng(seed, 0, 0, Purpose::model_init);
  const int64_t V = cfg.vocab_size, C = cfg.d_model, L = cfg.n_layers, F = cfg.d_ff;
  const double std_res = 0.02 / std::sqrt(2.0 * L);
  auto normal = [&](int64_t off, int64_t n, double sd) {
    for (int64_t i = 0; i < n; ++i) h[off + i] = static_cast<T>(sd * rng.normal());
  };
  auto fill = [&](int64_t off, int64_t n, T v) {
    for (int64_t i = 0; i < n; ++i) h[off + i] = v;
  };
  normal(bl.wte, V * C, 0.02);
  normal(bl.wpe, int64_t(cfg.max_seq) * C, 0.02);
  fill(bl.ln1w, L * C, T(1));
  normal(bl.qw, L * C * C, 0.02);
  normal(bl.kw, L * C * C, 0.02);
  normal(bl.vw, L * C * C, 0.02);
  normal(bl.ow, L * C * C, std_res);
  fill(bl.ln2w, L * C, T(1));
  normal(bl.upw, L * F * C, 0.02);
  normal(bl.downw, L * C * F, std_res);
  fill(bl.lnfw, C, T(1));
  set(base, h);
}

template <class T>
void Net<T>::enable_base_grad() {
  if (base_grad.extent(0) == 0) base_grad = Vec<T>(Kokkos::view_alloc(exec, "fedsim::models::base_grad"), bl.total);
}

// Lays out the activations of N rows whose longest sequence has Tc over `mem` (or only counts
// when mem is null).
template <class T>
int64_t Net<T>::build_acts(T* mem, int64_t N, int Tn) {
  const int64_t C = cfg.d_model, F = cfg.d_ff, V = cfg.vocab_size, L = cfg.n_layers;
  const int64_t AT = N * cfg.n_heads;
  int64_t off = 0;
  auto take = [&](int64_t n) {
    T* p = mem ? mem + off : nullptr;
    off += n;
    return p;
  };
  auto mat = [&](int64_t r, int64_t c) { return as_mat(take(r * c), r, c); };
  auto vec = [&](int64_t n) { return as_vec(take(n), n); };
  Acts<T>& a = a_;
  a.encoded = mat(N, C);
  a.layers.resize(L);
  for (auto& la : a.layers) {
    la.ln1 = mat(N, C);
    la.ln1_mean = vec(N);
    la.ln1_rstd = vec(N);
    la.q = mat(N, C);
    la.k = mat(N, C);
    la.v = mat(N, C);
    la.att = mat(AT, Tn);
    la.atty = mat(N, C);
    la.res2 = mat(N, C);
    la.ln2 = mat(N, C);
    la.ln2_mean = vec(N);
    la.ln2_rstd = vec(N);
    la.fch = mat(N, F);
    la.fch_gelu = mat(N, F);
    la.res3 = mat(N, C);
    for (int t = 0; t < kNumTargets; ++t) {
      if (!al.enabled[t]) continue;
      if (al.dropout > 0) la.xd[t] = mat(N, al.d_in[t]);
      la.u[t] = mat(N, al.rank);
    }
  }
  a.lnf = mat(N, C);
  a.lnf_mean = vec(N);
  a.lnf_rstd = vec(N);
  a.logits = mat(N, V);
  a.probs = mat(N, V);
  a.losses = vec(N);
  a.proj = mat(N, C);
  a.dres = mat(N, C);
  a.dln = mat(N, C);
  a.datty = mat(N, C);
  a.dq = mat(N, C);
  a.dk = mat(N, C);
  a.dv = mat(N, C);
  a.dh = mat(N, F);
  a.dh2 = mat(N, F);
  a.dpreatt = mat(AT, Tn);
  a.du = mat(N, al.rank);
  a.dxd = take(N * (C > F ? C : F));
  return off;
}

template <class T>
void Net<T>::set_batch(const Batch& batch, bool pack) {
  FEDSIM_ASSERT_MSG(batch.B >= 1 && batch.T >= 1 && batch.T <= cfg.max_seq,
                    "batch (B=" << batch.B << ", T=" << batch.T << ") does not fit max_seq " << cfg.max_seq);
  const int64_t padded = int64_t(batch.B) * batch.T;
  FEDSIM_ASSERT(static_cast<int64_t>(batch.inputs.size()) == padded &&
                static_cast<int64_t>(batch.targets.size()) == padded);
  // Rows per sequence: all T, or (packed) up to the last target token, at least one.
  std::vector<int> lens(static_cast<size_t>(batch.B), batch.T);
  if (pack)
    for (int b = 0; b < batch.B; ++b) {
      int len = 1;
      for (int t = 0; t < batch.T; ++t)
        if (batch.targets[size_t(b) * batch.T + t] >= 0) len = t + 1;
      lens[size_t(b)] = len;
    }
  sr_.set(exec, lens, cfg.n_heads);
  const int64_t N = sr_.rows();
  const int64_t need = build_acts(nullptr, N, sr_.Tc);
  if (static_cast<int64_t>(acts_mem_.extent(0)) < need)
    acts_mem_ = Vec<T>(Kokkos::view_alloc(exec, "fedsim::models::activations"), need);
  build_acts(acts_mem_.data(), N, sr_.Tc);
  if (static_cast<int64_t>(tokens_.extent(0)) < N) {
    tokens_ = IVec(Kokkos::view_alloc(exec, "fedsim::models::tokens"), N);
    targets_ = IVec(Kokkos::view_alloc(exec, "fedsim::models::targets"), N);
    argmax_ = IVec(Kokkos::view_alloc(exec, "fedsim::models::argmax"), N);
    tokens_h_ = Kokkos::create_mirror_view(tokens_);
    targets_h_ = Kokkos::create_mirror_view(targets_);
  }
  n_targets_ = 0;
  seq_targets_.assign(static_cast<size_t>(batch.B), 0);
  for (int64_t i = 0; i < padded; ++i) {
    const int32_t tok = batch.inputs[i], tg = batch.targets[i];
    FEDSIM_ASSERT_MSG(tok >= 0 && tok < cfg.vocab_size, "input token " << tok << " at " << i);
    FEDSIM_ASSERT_MSG(tg >= -1 && tg < cfg.vocab_size, "target " << tg << " at " << i);
    n_targets_ += tg >= 0;
    seq_targets_[static_cast<size_t>(i / batch.T)] += tg >= 0;
  }
  for (int b = 0; b < batch.B; ++b)
    for (int64_t t = 0; t < sr_.len(b); ++t) {
      const size_t from = size_t(b) * batch.T + size_t(t);
      tokens_h_(sr_.off[size_t(b)] + t) = batch.inputs[from];
      targets_h_(sr_.off[size_t(b)] + t) = batch.targets[from];
    }
  Kokkos::deep_copy(exec, tokens_, tokens_h_);
  Kokkos::deep_copy(exec, targets_, targets_h_);
  B_ = batch.B;
  T_ = batch.T;
  packed_ = pack;
}

template <class T>
int64_t Net<T>::activation_floats(int B, int Tn) {
  const Acts<T> keep = a_;  // build_acts(nullptr) only counts, but it repoints the views
  const int64_t n = build_acts(nullptr, int64_t(B) * Tn, Tn);
  a_ = keep;
  return n;
}

template <class T>
uint64_t Net<T>::target_key(uint64_t step_key, int l, int t) const {
  return mix64(step_key ^ mix64(static_cast<uint64_t>(l) * kNumTargets + t + 1));
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
void Net<T>::proj_forward(int l, int t, UMat<T> out, UMat<T> inp, UMat<T> wm, UVec<T> b) {
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
void Net<T>::proj_backward(int l, int t, UMat<T> dinp, UMat<T> dw, UVec<T> db, UMat<T> dout, UMat<T> inp, UMat<T> wm) {
  linear_backward(exec, dinp, dw, db, dout, inp, wm);
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
  const int64_t C = cfg.d_model, F = cfg.d_ff, V = cfg.vocab_size;
  Acts<T>& a = a_;
  embedding_forward(exec, a.encoded, tokens_, w(bl.wte, V, C), w(bl.wpe, cfg.max_seq, C), sr_.pos);
  UMat<T> res = a.encoded;
  for (int l = 0; l < cfg.n_layers; ++l) {
    LayerActs<T>& la = a.layers[l];
    layernorm_forward(exec, la.ln1, la.ln1_mean, la.ln1_rstd, res, wv(bl.ln1w + l * C, C), wv(bl.ln1b + l * C, C));
    proj_forward(l, kQ, la.q, la.ln1, w(bl.qw + l * C * C, C, C), wv(bl.qb + l * C, C));
    proj_forward(l, kK, la.k, la.ln1, w(bl.kw + l * C * C, C, C), wv(bl.kb + l * C, C));
    proj_forward(l, kV, la.v, la.ln1, w(bl.vw + l * C * C, C, C), wv(bl.vb + l * C, C));
    attention_forward(exec, la.atty, la.att, la.q, la.k, la.v, sr_, cfg.n_heads);
    proj_forward(l, kO, a.proj, la.atty, w(bl.ow + l * C * C, C, C), wv(bl.ob + l * C, C));
    residual_forward(exec, la.res2, res, a.proj);
    layernorm_forward(exec, la.ln2, la.ln2_mean, la.ln2_rstd, la.res2, wv(bl.ln2w + l * C, C), wv(bl.ln2b + l * C, C));
    proj_forward(l, kUp, la.fch, la.ln2, w(bl.upw + l * F * C, F, C), wv(bl.upb + l * F, F));
    gelu_forward(exec, la.fch_gelu, la.fch);
    proj_forward(l, kDown, a.proj, la.fch_gelu, w(bl.downw + l * C * F, C, F), wv(bl.downb + l * C, C));
    residual_forward(exec, la.res3, la.res2, a.proj);
    res = la.res3;
  }
  layernorm_forward(exec, a.lnf, a.lnf_mean, a.lnf_rstd, res, wv(bl.lnfw, C), wv(bl.lnfb, C));
  gemm(exec, 'N', 'T', T(1), a.lnf, w(bl.wte, V, C), T(0), a.logits);  // tied head
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
  const int64_t C = cfg.d_model, F = cfg.d_ff, V = cfg.vocab_size;
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
  const UMat<T> dlogits = a.probs;
  gemm(exec, 'N', 'N', T(1), dlogits, w(bl.wte, V, C), T(0), a.dln);  // dlnf
  if (grads_on_) gemm(exec, 'T', 'N', T(1), dlogits, a.lnf, T(1), g(bl.wte, V, C));
  zero(exec, a.dres);
  const int L = cfg.n_layers;
  layernorm_backward(exec, a.dres, gv(bl.lnfw, C), gv(bl.lnfb, C), a.dln, a.layers[L - 1].res3, wv(bl.lnfw, C),
                     a.lnf_mean, a.lnf_rstd);
  for (int l = L - 1; l >= 0; --l) {
    LayerActs<T>& la = a.layers[l];
    const UMat<T> res_in = l == 0 ? a.encoded : a.layers[l - 1].res3;
    // MLP: res3 = res2 + down(gelu(up(ln2(res2)))); a.dres holds d res3.
    zero(exec, a.dh);
    proj_backward(l, kDown, a.dh, g(bl.downw + l * C * F, C, F), gv(bl.downb + l * C, C), a.dres, la.fch_gelu,
                  w(bl.downw + l * C * F, C, F));
    zero(exec, a.dh2);
    gelu_backward(exec, a.dh2, a.dh, la.fch);
    zero(exec, a.dln);
    proj_backward(l, kUp, a.dln, g(bl.upw + l * F * C, F, C), gv(bl.upb + l * F, F), a.dh2, la.ln2,
                  w(bl.upw + l * F * C, F, C));
    layernorm_backward(exec, a.dres, gv(bl.ln2w + l * C, C), gv(bl.ln2b + l * C, C), a.dln, la.res2,
                       wv(bl.ln2w + l * C, C), la.ln2_mean, la.ln2_rstd);
    // Attention: res2 = res_in + o(attn(q, k, v)(ln1(res_in))); a.dres holds d res2.
    zero(exec, a.datty);
    proj_backward(l, kO, a.datty, g(bl.ow + l * C * C, C, C), gv(bl.ob + l * C, C), a.dres, la.atty,
                  w(bl.ow + l * C * C, C, C));
    zero(exec, a.dq);
    zero(exec, a.dk);
    zero(exec, a.dv);
    attention_backward(exec, a.dq, a.dk, a.dv, a.dpreatt, a.datty, la.att, la.q, la.k, la.v, sr_, cfg.n_heads);
    zero(exec, a.dln);
    proj_backward(l, kQ, a.dln, g(bl.qw + l * C * C, C, C), gv(bl.qb + l * C, C), a.dq, la.ln1,
                  w(bl.qw + l * C * C, C, C));
    proj_backward(l, kK, a.dln, g(bl.kw + l * C * C, C, C), gv(bl.kb + l * C, C), a.dk, la.ln1,
                  w(bl.kw + l * C * C, C, C));
    proj_backward(l, kV, a.dln, g(bl.vw + l * C * C, C, C), gv(bl.vb + l * C, C), a.dv, la.ln1,
                  w(bl.vw + l * C * C, C, C));
    layernorm_backward(exec, a.dres, gv(bl.ln1w + l * C, C), gv(bl.ln1b + l * C, C), a.dln, res_in,
                       wv(bl.ln1w + l * C, C), la.ln1_mean, la.ln1_rstd);
  }
  if (grads_on_) embedding_backward(exec, g(bl.wte, V, C), g(bl.wpe, cfg.max_seq, C), a.dres, tokens_, sr_);
}

template <class T>
const std::vector<int32_t>& Net<T>::argmax_host() {
  FEDSIM_ASSERT_MSG(!packed_, "argmax_host: the batch is packed (per-position outputs need a padded batch)");
  const int64_t N = int64_t(B_) * T_;
  auto h =
      Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), Kokkos::subview(argmax_, std::make_pair(int64_t(0), N)));
  argmax_host_.assign(h.data(), h.data() + N);
  return argmax_host_;
}

template <class T>
std::vector<double> Net<T>::sequence_losses() {
  const std::vector<T> l = losses_host();
  std::vector<double> out(B_, 0.0);
  for (int b = 0; b < B_; ++b)  // in position order: deterministic on any backend
    for (int64_t n = sr_.off[size_t(b)]; n < sr_.off[size_t(b) + 1]; ++n) out[b] += static_cast<double>(l[size_t(n)]);
  return out;
}

template <class T>
std::vector<T> Net<T>::logits_host() {
  FEDSIM_ASSERT_MSG(!packed_, "logits_host: the batch is packed (per-position outputs need a padded batch)");
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a_.logits);
  return std::vector<T>(h.data(), h.data() + h.size());
}

template <class T>
std::vector<T> Net<T>::losses_host() {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a_.losses);
  return std::vector<T>(h.data(), h.data() + h.extent(0));
}

template <class T>
std::vector<T> Net<T>::get(const Vec<T>& v) const {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  return std::vector<T>(h.data(), h.data() + h.extent(0));
}

template <class T>
void Net<T>::set(Vec<T>& v, const std::vector<T>& h) {
  FEDSIM_ASSERT(h.size() == v.extent(0));
  Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> hv(h.data(), h.size());
  Kokkos::deep_copy(exec, v, hv);
  exec.fence();
}

template <class T>
std::vector<T> Net<T>::get_row(const Mat<T>& m, int r) const {
  auto s = Kokkos::subview(m, r, Kokkos::ALL);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), s);
  std::vector<T> out(h.extent(0));
  for (size_t i = 0; i < out.size(); ++i) out[i] = h(i);
  return out;
}

template <class T>
void Net<T>::set_row(Mat<T>& m, int r, const std::vector<T>& h) {
  FEDSIM_ASSERT(h.size() == m.extent(1));
  Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> hv(h.data(), h.size());
  Kokkos::deep_copy(exec, Kokkos::subview(m, r, Kokkos::ALL), hv);
  exec.fence();
}

template class Net<float>;
template class Net<double>;

}  // namespace fedsim::models
