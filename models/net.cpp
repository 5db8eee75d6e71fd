// Net<T>: buffers, initialisation, batches, and the parts of the forward/backward passes both
// families share (embedding, segmented LoRA products, head, loss); the layers are in
// net_gpt.cpp and net_llama.cpp.
#include "models/net.hpp"

#include <algorithm>

namespace fedsim::models {

namespace {
// A host value into a float/double slot, or rounded into a bf16 one.
template <class D>
void store(D* dst, double x) {
  *dst = static_cast<D>(x);
}
void store(Bf16* dst, double x) { *dst = float_to_bf16(static_cast<float>(x)); }
}  // namespace

template <class T>
Net<T>::Net(const ModelConfig& c, const LoraConfig& lora, int n_clients)
    : cfg(c),
      bl(make_base_layout(c)),
      al(make_adapter_layout(c, lora)),
      base(Kokkos::view_alloc(exec, "fedsim::models::base"), bl.total),
      base_half(Kokkos::view_alloc(exec, "fedsim::models::base_bf16"), bl.total_half),
      panel(Kokkos::view_alloc(exec, "fedsim::models::bf16_panel"), bl.total_half > 0 ? bl.largest_matrix : 0),
      adapters(Kokkos::view_alloc(exec, "fedsim::models::adapters"), n_clients, al.total),
      adapter_grads(Kokkos::view_alloc(exec, "fedsim::models::adapter_grads"), n_clients, al.total),
      w(make_params<T>(bl, base.data(), base_half.data(), as_vec(panel.data(), int64_t(panel.extent(0))))),
      gw(make_params<T>(bl, nullptr, nullptr, as_vec<T>(nullptr, 0))),
      no_grads_(gw) {
  FEDSIM_ASSERT(n_clients >= 1);
  FEDSIM_ASSERT_MSG(bl.total_half == 0 || sizeof(T) == sizeof(float), "a bf16 base runs in float");
  if (cfg.llama()) rope_.set(exec, cfg.rope, cfg.hd(), cfg.max_seq);
}

template <class T>
void Net<T>::init_base(uint64_t seed) {
  if (cfg.llama()) {
    for (const Slot* s : bl.slots())
      fill_tensor(*s, [&](auto* dst) {
        std::vector<double> v(static_cast<size_t>(s->size()));
        init_tensor_values(*s, seed, cfg.init_std, 0.0, v.data());
        for (size_t i = 0; i < v.size(); ++i) store(dst + i, v[i]);
      });
    return;
  }
  // GPT: one stream in slot order, as fedsim has always drawn it (checkpoints and cached bases
  // stay reproducible).
  Rng rng(seed, 0, 0, Purpose::model_init);
  const double std_res = 0.02 / std::sqrt(2.0 * cfg.n_layers);
  for (const Slot* s : bl.slots())
    fill_tensor(*s, [&](auto* dst) {
      for (int64_t i = 0; i < s->size(); ++i) {
        const double x = s->kind == Slot::matrix ? (s->residual ? std_res : 0.02) * rng.normal()
                         : s->kind == Slot::gain ? 1.0 : 0.0;
        store(dst + i, x);
      }
    });
}

template <class T>
void Net<T>::enable_base_grad() {
  FEDSIM_ASSERT_MSG(bl.total_half == 0, "full-parameter training needs an fp32 base");
  if (base_grad.extent(0) == 0) {
    base_grad = Vec<T>(Kokkos::view_alloc(exec, "fedsim::models::base_grad"), bl.total);
    gw = make_params<T>(bl, base_grad.data(), nullptr, as_vec<T>(nullptr, 0));
  }
}

template <class T>
AttnShape Net<T>::attn_shape() const {
  if (!cfg.llama()) return AttnShape::mha(cfg.d_model, cfg.n_heads);
  return AttnShape{cfg.n_heads, cfg.kv_heads(), cfg.hd(), cfg.sliding_window};
}

// Lays out the activations of N rows whose longest sequence has Tc over `mem` (or only counts
// when mem is null).
template <class T>
int64_t Net<T>::build_acts(T* mem, int64_t N, int Tn) {
  const bool llama = cfg.llama();
  const int64_t C = cfg.d_model, F = cfg.d_ff, V = cfg.vocab_size, L = cfg.n_layers;
  const int64_t Q = llama ? cfg.q_dim() : C, KV = llama ? cfg.kv_dim() : C;
  const int64_t AT = N * cfg.n_heads;
  int64_t off = 0;
  auto take = [&](int64_t n) {
    T* p = mem ? mem + off : nullptr;
    off += n;
    return p;
  };
  auto mat = [&](int64_t r, int64_t c) { return as_mat(take(r * c), r, c); };
  auto vec = [&](int64_t n) { return as_vec(take(n), n); };
  auto none = [] { return as_mat<T>(nullptr, 0, 0); };
  Acts<T>& a = a_;
  a.encoded = mat(N, C);
  a.layers.resize(L);
  for (auto& la : a.layers) {
    la.ln1 = mat(N, C);
    la.ln1_mean = llama ? as_vec<T>(nullptr, 0) : vec(N);
    la.ln1_rstd = vec(N);
    la.qp = cfg.qk_norm ? mat(N, Q) : none();
    la.kp = cfg.qk_norm ? mat(N, KV) : none();
    la.q_rstd = cfg.qk_norm ? vec(N * cfg.n_heads) : as_vec<T>(nullptr, 0);
    la.k_rstd = cfg.qk_norm ? vec(N * cfg.kv_heads()) : as_vec<T>(nullptr, 0);
    la.q = mat(N, Q);
    la.k = mat(N, KV);
    la.v = mat(N, KV);
    la.att = mat(AT, Tn);
    la.atty = mat(N, Q);
    la.res2 = mat(N, C);
    la.ln2 = mat(N, C);
    la.ln2_mean = llama ? as_vec<T>(nullptr, 0) : vec(N);
    la.ln2_rstd = vec(N);
    la.gate = llama ? mat(N, F) : none();
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
  a.lnf_mean = llama ? as_vec<T>(nullptr, 0) : vec(N);
  a.lnf_rstd = vec(N);
  a.logits = mat(N, V);
  a.probs = mat(N, V);
  a.losses = vec(N);
  a.proj = mat(N, C);
  a.dres = mat(N, C);
  a.dln = mat(N, C);
  a.datty = mat(N, Q);
  a.dq = mat(N, Q);
  a.dqn = cfg.qk_norm ? mat(N, Q) : none();
  a.dk = mat(N, KV);
  a.dv = mat(N, KV);
  a.dkn = cfg.qk_norm ? mat(N, KV) : none();
  a.dh = mat(N, F);
  a.dh2 = mat(N, F);
  a.dh3 = llama ? mat(N, F) : none();
  a.dpreatt = mat(AT, Tn);
  a.du = mat(N, al.rank);
  int64_t widest = 0;
  for (int t = 0; t < kNumTargets; ++t) widest = std::max<int64_t>(widest, al.d_in[t]);
  a.dxd = take(N * widest);
  // Column sums of the parameter gradients: up to 2 per column of the widest bias or gain, and
  // the per-head norms' N*NH rows of hd.
  const int64_t cols = std::max({C, F, Q, KV});
  a.ws = vec(std::max(column_sums_ws(N, cols, 2), column_sums_ws(N * cfg.n_heads, cfg.llama() ? cfg.hd() : 1, 1)));
  return off;
}

template <class T>
int64_t Net<T>::activation_floats(int B, int Tn) {
  const int64_t N = sr_.rows(), Tc = sr_.Tc;
  const int64_t n = build_acts(nullptr, int64_t(B) * Tn, Tn);  // counts, but repoints the views:
  build_acts(N > 0 ? acts_mem_.data() : nullptr, N, int(Tc));  // point them back
  return n;
}

template <class T>
const std::vector<int32_t>& Net<T>::argmax_host() {
  FEDSIM_ASSERT_MSG(!packed_, "argmax_host: the batch is packed (per-position outputs need a padded batch)");
  const int64_t N = int64_t(B_) * T_;
  auto h =
      Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), Kokkos::subview(argmax_, std::make_pair(int64_t(0), N)));
  // (a blocking read: evaluation, not training)
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
void Net<T>::sequence_losses_device(UVec<double> out) {
  FEDSIM_ASSERT(static_cast<int>(out.extent(0)) >= B_);
  const UVec<T> l = a_.losses;
  const IVec off = sr_.off_d;
  Kokkos::parallel_for(
      "fedsim::models::sequence_losses", range(exec, int64_t(B_)), KOKKOS_LAMBDA(const int64_t b) {
        double sum = 0;  // in position order, as sequence_losses
        for (int64_t n = off(b); n < off(b + 1); ++n) sum += static_cast<double>(l(n));
        out(b) = sum;
      });
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
}

template <class T>
std::vector<T> Net<T>::get_tensor(const Slot& s) const {
  std::vector<T> out(static_cast<size_t>(s.size()));
  const std::pair<int64_t, int64_t> r(s.off, s.off + s.size());
  if (s.half) {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), Kokkos::subview(base_half, r));
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(bf16_to_float(h(i)));
  } else {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), Kokkos::subview(base, r));
    for (size_t i = 0; i < out.size(); ++i) out[i] = h(i);
  }
  return out;
}

template <class T>
void Net<T>::set_tensor(const Slot& s, const std::vector<T>& h) {
  FEDSIM_ASSERT(static_cast<int64_t>(h.size()) == s.size());
  fill_tensor(s, [&](auto* dst) {
    for (size_t i = 0; i < h.size(); ++i) store(dst + i, static_cast<double>(h[i]));
  });
}

template <class T>
std::vector<T> Net<T>::base_host() const {
  if (bl.total_half == 0) return get(base);
  std::vector<T> out;
  for (const Slot* s : bl.slots()) {
    const std::vector<T> t = get_tensor(*s);
    out.insert(out.end(), t.begin(), t.end());
  }
  return out;
}

template class Net<float>;
template class Net<double>;

}  // namespace fedsim::models
