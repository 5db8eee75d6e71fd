// Model: the public face of Net<float> (model.hpp). Training loops, evaluation, FLOP count.
#include <algorithm>
#include <cmath>

#include "models/model_impl.hpp"
#include "models/text/batch.hpp"

namespace fedsim::models {

Model::Model(const ModelConfig& cfg, const LoraConfig& lora, uint64_t seed)
    : impl_(std::make_unique<Impl>((validate_model_config(cfg), cfg), lora)) {
  impl_->net.init_base(seed);
}
Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const ModelConfig& Model::config() const { return impl_->net.cfg; }
const LoraConfig& Model::lora() const { return impl_->lora; }
int64_t Model::n_base_params() const { return impl_->net.bl.total + impl_->net.bl.total_half; }
int64_t Model::n_adapter_params() const { return impl_->net.al.total; }
std::vector<float> Model::base_weights() const { return impl_->net.base_host(); }

const TextTokenizer& Model::tokenizer() const {
  if (!impl_->tok) {
    if (!impl_->no_tokenizer_why.empty()) throw UserError(impl_->no_tokenizer_why);
    throw UserError("this model has no tokenizer: its vocab_size " + std::to_string(config().vocab_size) +
                    " has no room for fedsim's 264 byte-level ids\nHINT: load it from a Hugging Face folder with its "
                    "tokenizer.json");
  }
  return *impl_->tok;
}
std::shared_ptr<const TextTokenizer> Model::shared_tokenizer() const { return impl_->tok; }
const ChatTemplate& Model::chat_template() const { return *impl_->tmpl; }
const std::string& Model::chat_family() const { return impl_->family; }

void Model::set_chat_template(const ChatTemplate& t) {
  check_chat_template(tokenizer(), t);
  impl_->tmpl = &t;
}

void Model::set_tokenizer(std::shared_ptr<const TextTokenizer> tok, const std::string& family) {
  FEDSIM_ASSERT(tok != nullptr);
  if (tok->vocab_size() > config().vocab_size)
    throw UserError("tokenizer (" + tok->describe() + ") has " + std::to_string(tok->vocab_size()) +
                    " ids, more than the model's vocab_size " + std::to_string(config().vocab_size));
  impl_->tok = std::move(tok);
  impl_->family = family;
  set_chat_template(models::chat_template(default_chat_template(family, ChatUse::instructions)));
}

int64_t adapter_param_count(const ModelConfig& cfg, const LoraConfig& lora) {
  return make_adapter_layout(cfg, lora).total;
}

namespace {
// Per token, counting multiply-adds as 2 FLOPs and leaving out pointwise work (norms, GELU /
// SwiGLU, RoPE, softmax, AdamW). See models/README.md "FLOPs per token". The one place the
// formula lives.
struct ForwardFlops {
  double dense, attn;
};
ForwardFlops forward_flops(const ModelConfig& c) {
  const double C = c.d_model, F = c.d_ff, V = c.vocab_size, L = c.n_layers, T = c.max_seq;
  const double Q = c.llama() ? c.q_dim() : C, KV = c.llama() ? c.kv_dim() : C, mlp = c.llama() ? 3 : 2;
  // q, k, v, o projections + MLP matrices, + the head (tied or not: V x C either way).
  return {2.0 * (L * (2 * C * Q + 2 * C * KV + mlp * C * F) + V * C),
          L * 2.0 * Q * (T + 1)};  // q k^T and att v, causal: (T+1)/2 keys on average
}
}  // namespace

double forward_flops_per_token(const ModelConfig& c) {
  const ForwardFlops f = forward_flops(c);
  return f.dense + f.attn;
}

double train_flops_per_token(const ModelConfig& c, const LoraConfig& lora_cfg) {
  const AdapterLayout al = make_adapter_layout(c, lora_cfg);
  const auto [dense, attn] = forward_flops(c);
  double lora = 0;
  for (int t = 0; t < kNumTargets; ++t)
    if (al.enabled[t]) lora += 2.0 * al.rank * (al.d_in[t] + al.d_out[t]);
  lora *= static_cast<double>(c.n_layers);
  // Forward 1x everything. Backward: input gradients of the frozen dense layers (1x, no weight
  // gradients), attention (2x: d scores and dq/dk/dv), adapters (2x: dA, dB and their inputs).
  return (dense + attn + lora) + (dense + 2 * attn + 2 * lora);
}

double Model::train_flops_per_token() const { return models::train_flops_per_token(config(), lora()); }

std::vector<float> Model::init_adapter(uint64_t seed) const {
  const AdapterLayout& al = impl_->net.al;
  std::vector<float> a(al.total, 0.0f);
  Rng rng(seed, 0, 0, Purpose::adapter_init);
  for (int l = 0; l < config().n_layers; ++l)
    for (int t = 0; t < kNumTargets; ++t) {
      if (!al.enabled[t]) continue;
      // PEFT: kaiming_uniform_(A, a=sqrt(5)) -> bound = sqrt(6/((1+5) d_in)) = 1/sqrt(d_in); B = 0.
      const double bound = 1.0 / std::sqrt(static_cast<double>(al.d_in[t]));
      const int64_t n = int64_t(al.rank) * al.d_in[t];
      for (int64_t i = 0; i < n; ++i) a[al.a(l, t) + i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
    }
  return a;
}

int Model::Impl::eval_row(const std::vector<float>* adapter) {
  if (adapter == nullptr) return -1;
  FEDSIM_ASSERT_MSG(static_cast<int64_t>(adapter->size()) == net.al.total,
                    "adapter has " << adapter->size() << " values, model expects " << net.al.total);
  net.set_row(net.adapters, kEvalRow, *adapter);
  return kEvalRow;
}

void Model::Impl::base_adamw_step(float lr, const OptimConfig& opt) {
  const int64_t P = net.bl.total;
  auto row = [&](Vec<float>& x) { return as_mat(x.data(), 1, P); };
  RowSettings<float> rs;
  rs.lr_all = lr;
  if (clip_scale.extent(0) < 1) clip_scale = Vec<double>(Kokkos::view_alloc(net.exec, "fedsim::models::clip_scale"), 1);
  const UVec<double> scale = as_vec(clip_scale.data(), 1);
  clip_scales(net.exec, row(net.base_grad), row(net.base), rs, 0, opt.grad_clip, sumsq_partial, scale);
  adamw_rows(net.exec, row(net.base), row(base_m), row(base_v), row(net.base_grad), scale, rs, 0,
             adamw_common(opt, base_steps));
}

double Model::train_base_step(const Batch& batch, float lr, const OptimConfig& opt) {
  Impl& im = *impl_;
  Net<float>& net = im.net;
  if (net.bl.total_half > 0)
    throw UserError("model.base_dtype: bf16 stores a frozen base; full-parameter training needs fp32");
  net.enable_base_grad();
  if (im.base_m.extent(0) == 0) {
    im.base_m = Vec<float>(Kokkos::view_alloc(net.exec, "fedsim::models::base_adam_m"), net.bl.total);
    im.base_v = Vec<float>(Kokkos::view_alloc(net.exec, "fedsim::models::base_adam_v"), net.bl.total);
  }
  net.set_batch(batch);
  Kokkos::deep_copy(net.exec, net.base_grad, 0.0f);
  const double loss = net.forward(-1, false, 0);  // reads the loss (pretraining reports every step)
  net.backward(true);
  im.base_steps += 1;
  im.base_adamw_step(lr, opt);
  return loss;
}

EvalStats Model::evaluate(const std::vector<float>* adapter, const Batch& batch) const {
  Net<float>& net = impl_->net;  // buffers only; weights and training state are untouched
  net.set_batch(batch);
  const int client = impl_->eval_row(adapter);
  EvalStats es;
  es.mean_loss = net.forward(client, false, 0);
  es.sequences = batch.B;
  const std::vector<int32_t>& am = net.argmax_host();
  int64_t correct = 0;
  for (int b = 0; b < batch.B; ++b) {
    bool any = false, all = true;
    for (int t = 0; t < batch.T; ++t) {
      const int32_t tg = batch.targets[size_t(b) * batch.T + t];
      if (tg < 0) continue;
      any = true;
      all = all && am[size_t(b) * batch.T + t] == tg;
    }
    correct += (any && all);  // a sequence without targets cannot be reproduced: not correct
  }
  es.accuracy = batch.B > 0 ? static_cast<double>(correct) / batch.B : 0.0;
  return es;
}

std::vector<float> Model::logits(const std::vector<float>* adapter, const std::vector<int32_t>& tokens) const {
  Net<float>& net = impl_->net;
  const int T = static_cast<int>(tokens.size());
  if (T < 1 || T > net.cfg.max_seq)
    throw UserError("logits: " + std::to_string(T) + " tokens; accepted: 1 to max_seq (" + std::to_string(net.cfg.max_seq) + ")");
  for (int32_t t : tokens)
    if (t < 0 || t >= net.cfg.vocab_size)
      throw UserError("logits: token id " + std::to_string(t) + " is invalid; accepted: 0 to " +
                      std::to_string(net.cfg.vocab_size - 1));
  Batch b;
  b.B = 1;
  b.T = T;
  b.inputs = tokens;
  b.targets.assign(tokens.size(), -1);
  net.set_batch(b);
  const int client = impl_->eval_row(adapter);
  net.forward(client, false, 0);
  return net.logits_host();
}

}  // namespace fedsim::models
