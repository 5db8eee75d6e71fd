#include "models/layout.hpp"

#include <algorithm>
#include <sstream>

#include "common/error.hpp"

namespace fedsim::models {

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::gpt2: return "gpt2";
    case Arch::llama: return "llama";
    case Arch::mistral: return "mistral";
    case Arch::qwen2: return "qwen2";
    case Arch::qwen3: return "qwen3";
  }
  return "?";
}

namespace {
[[noreturn]] void bad(const std::string& key, double v, const std::string& want) {
  std::ostringstream os;
  os << key << ": " << v << " is invalid; accepted: " << want;
  throw UserError(os.str());
}

void validate_llama(const ModelConfig& c) {
  // Keys as config.json names them: the values come from a Hugging Face folder.
  if (c.vocab_size < 1) bad("vocab_size", c.vocab_size, "an integer >= 1");
  if (c.d_model < 1) bad("hidden_size", c.d_model, "an integer >= 1");
  if (c.n_layers < 1) bad("num_hidden_layers", c.n_layers, "an integer >= 1");
  if (c.n_heads < 1) bad("num_attention_heads", c.n_heads, "an integer >= 1");
  if (c.n_kv_heads < 0 || c.n_heads % c.kv_heads() != 0)
    bad("num_key_value_heads", c.n_kv_heads, "a divisor of num_attention_heads (" + std::to_string(c.n_heads) + ")");
  if (c.head_dim == 0 && c.d_model % c.n_heads != 0)
    bad("num_attention_heads", c.n_heads, "a divisor of hidden_size, or an explicit head_dim");
  if (c.hd() < 2 || c.hd() % 2 != 0) bad("head_dim", c.hd(), "an even integer >= 2 (rotary pairs)");
  if (c.d_ff < 1) bad("intermediate_size", c.d_ff, "an integer >= 1");
  if (!(c.norm_eps > 0)) bad("rms_norm_eps", c.norm_eps, "a number > 0");
  if (!(c.rope.theta > 0)) bad("rope_theta", c.rope.theta, "a number > 0");
  if (c.rope.type != "default" && c.rope.type != "linear" && c.rope.type != "llama3")
    throw UserError("rope_scaling.rope_type: '" + c.rope.type + "' is not supported; accepted: default, linear, llama3");
  if (c.rope.type != "default" && !(c.rope.factor > 0)) bad("rope_scaling.factor", c.rope.factor, "a number > 0");
  if (c.rope.type == "llama3") {
    if (!(c.rope.high_freq_factor > c.rope.low_freq_factor) || !(c.rope.low_freq_factor > 0))
      bad("rope_scaling.high_freq_factor", c.rope.high_freq_factor, "a number > low_freq_factor > 0");
    if (c.rope.original_max_positions < 1)
      bad("rope_scaling.original_max_position_embeddings", c.rope.original_max_positions, "an integer >= 1");
  }
  if (c.sliding_window < 0) bad("sliding_window", c.sliding_window, "an integer >= 0 (0 or null: none)");
  if (c.max_seq < 2) bad("model.seq_len", c.max_seq, "an integer >= 2");
  if (c.max_positions > 0 && c.max_seq > c.max_positions)
    bad("model.seq_len", c.max_seq, "at most the model's max_position_embeddings (" + std::to_string(c.max_positions) + ")");
}
}  // namespace

void validate_model_config(const ModelConfig& c) {
  if (c.llama()) return validate_llama(c);
  if (c.vocab_size != Tokenizer::vocab_size) bad("model.vocab_size", c.vocab_size, "264 (byte-level tokenizer)");
  if (c.max_seq < 2) bad("model.max_seq", c.max_seq, "an integer >= 2");
  if (c.d_model < 1) bad("model.d_model", c.d_model, "an integer >= 1");
  if (c.n_layers < 1) bad("model.n_layers", c.n_layers, "an integer >= 1");
  if (c.n_heads < 1 || c.d_model % c.n_heads != 0) bad("model.n_heads", c.n_heads, "a divisor of model.d_model");
  if (c.d_ff < 1) bad("model.d_ff", c.d_ff, "an integer >= 1");
}

namespace {
// The per-layer tensors in buffer order (GPT's checkpoint order; the Llama-only ones sit where
// GPT has none, so GPT offsets do not move).
constexpr Slot LayerSlots::*kLayerOrder[] = {
    &LayerSlots::ln1w, &LayerSlots::ln1b, &LayerSlots::q,      &LayerSlots::k,     &LayerSlots::v,
    &LayerSlots::qb,   &LayerSlots::kb,   &LayerSlots::vb,     &LayerSlots::q_norm, &LayerSlots::k_norm,
    &LayerSlots::o,    &LayerSlots::ob,   &LayerSlots::ln2w,   &LayerSlots::ln2b,  &LayerSlots::gate,
    &LayerSlots::gateb, &LayerSlots::up,  &LayerSlots::upb,    &LayerSlots::down,  &LayerSlots::downb};
}  // namespace

std::vector<const Slot*> BaseLayout::slots() const {
  std::vector<const Slot*> out;
  auto add = [&](const Slot& s) {
    if (s.present()) out.push_back(&s);
  };
  add(wte);
  add(wpe);
  for (auto m : kLayerOrder)
    for (const LayerSlots& ls : layers) add(ls.*m);
  add(lnfw);
  add(lnfb);
  add(lm_head);
  return out;
}

BaseLayout make_base_layout(const ModelConfig& cfg) {
  const int64_t V = cfg.vocab_size, T = cfg.max_seq, C = cfg.d_model, L = cfg.n_layers, F = cfg.d_ff;
  const int64_t Q = cfg.llama() ? cfg.q_dim() : C, KV = cfg.llama() ? cfg.kv_dim() : C, hd = cfg.hd();
  const bool gpt = !cfg.llama(), half = cfg.base_dtype == BaseDtype::bf16;
  BaseLayout b;
  b.layers.resize(static_cast<size_t>(L));
  int id = 0;
  // Matrices go to the bf16 buffer when the base is bf16; vectors always stay float.
  auto take = [&](Slot& s, int64_t rows, int64_t cols, Slot::Kind kind) {
    s.rows = rows;
    s.cols = cols;
    s.kind = kind;
    s.half = half && rows > 1;
    int64_t& end = s.half ? b.total_half : b.total;
    s.off = end;
    end += rows * cols;
    s.id = id++;
  };
  auto stacked = [&](Slot LayerSlots::*m, bool present, int64_t rows, int64_t cols, Slot::Kind kind) {
    if (!present) return;
    for (LayerSlots& ls : b.layers) take(ls.*m, rows, cols, kind);
    if (rows > 1) b.largest_matrix = std::max(b.largest_matrix, rows * cols);
  };
  take(b.wte, V, C, Slot::matrix);
  if (gpt) take(b.wpe, T, C, Slot::matrix);
  stacked(&LayerSlots::ln1w, true, 1, C, Slot::gain);
  stacked(&LayerSlots::ln1b, gpt, 1, C, Slot::bias);
  stacked(&LayerSlots::q, true, Q, C, Slot::matrix);
  stacked(&LayerSlots::k, true, KV, C, Slot::matrix);
  stacked(&LayerSlots::v, true, KV, C, Slot::matrix);
  stacked(&LayerSlots::qb, gpt || cfg.qkv_bias, 1, Q, Slot::bias);
  stacked(&LayerSlots::kb, gpt || cfg.qkv_bias, 1, KV, Slot::bias);
  stacked(&LayerSlots::vb, gpt || cfg.qkv_bias, 1, KV, Slot::bias);
  stacked(&LayerSlots::q_norm, cfg.qk_norm, 1, hd, Slot::gain);
  stacked(&LayerSlots::k_norm, cfg.qk_norm, 1, hd, Slot::gain);
  stacked(&LayerSlots::o, true, C, Q, Slot::matrix);
  stacked(&LayerSlots::ob, gpt || cfg.o_bias, 1, C, Slot::bias);
  stacked(&LayerSlots::ln2w, true, 1, C, Slot::gain);
  stacked(&LayerSlots::ln2b, gpt, 1, C, Slot::bias);
  stacked(&LayerSlots::gate, !gpt, F, C, Slot::matrix);
  stacked(&LayerSlots::gateb, cfg.mlp_bias, 1, F, Slot::bias);
  stacked(&LayerSlots::up, true, F, C, Slot::matrix);
  stacked(&LayerSlots::upb, gpt || cfg.mlp_bias, 1, F, Slot::bias);
  stacked(&LayerSlots::down, true, C, F, Slot::matrix);
  stacked(&LayerSlots::downb, gpt || cfg.mlp_bias, 1, C, Slot::bias);
  take(b.lnfw, 1, C, Slot::gain);
  if (gpt) take(b.lnfb, 1, C, Slot::bias);
  if (!gpt && !cfg.tie_embeddings) take(b.lm_head, V, C, Slot::matrix);
  for (LayerSlots& ls : b.layers) ls.o.residual = ls.down.residual = true;
  return b;
}

std::string join_targets(const AdapterLayout& al) {
  std::string s;
  for (int t = 0; t < kNumTargets; ++t)
    if (al.enabled[t]) s += std::string(s.empty() ? "" : ",") + kTargetNames[t];
  return s;
}

AdapterLayout make_adapter_layout(const ModelConfig& cfg, const LoraConfig& lora) {
  const std::string accepted = cfg.llama() ? "q, k, v, o, mlp_gate, mlp_up, mlp_down (or PEFT's q_proj, k_proj, "
                                             "v_proj, o_proj, gate_proj, up_proj, down_proj)"
                                           : "q, k, v, o, mlp_up, mlp_down";
  if (lora.rank < 1) {
    throw UserError("lora.rank: " + std::to_string(lora.rank) + " is invalid; accepted: an integer >= 1");
  }
  if (!(lora.dropout >= 0.0f && lora.dropout < 1.0f)) {
    std::ostringstream os;
    os << "lora.dropout: " << lora.dropout << " is invalid; accepted: a probability in [0, 1)";
    throw UserError(os.str());
  }
  if (lora.targets.empty()) throw UserError("lora.targets: empty list; accepted: one or more of " + accepted);
  AdapterLayout a;
  a.rank = lora.rank;
  a.scale = static_cast<double>(lora.alpha) / lora.rank;
  a.dropout = lora.dropout;
  for (const auto& t : lora.targets) {
    int found = -1;
    for (int i = 0; i < kNumTargets; ++i)
      if (t == kTargetNames[i] || (cfg.llama() && t == kPeftNames[i])) found = i;
    if (found == kGate && !cfg.llama()) found = -1;  // GPT's MLP has no gate
    if (found < 0) throw UserError("lora.targets: unknown target '" + t + "'; accepted: " + accepted);
    if (a.enabled[found]) throw UserError("lora.targets: target '" + t + "' listed twice; accepted: " + accepted);
    a.enabled[found] = true;
  }
  const int C = cfg.d_model, F = cfg.d_ff;
  const int Q = cfg.llama() ? cfg.q_dim() : C, KV = cfg.llama() ? cfg.kv_dim() : C;
  a.d_in = {C, C, C, Q, C, F, C};
  a.d_out = {Q, KV, KV, C, F, C, F};
  a.a_off.assign(static_cast<size_t>(cfg.n_layers) * kNumTargets, -1);
  a.b_off = a.a_off;
  int64_t off = 0;
  for (int l = 0; l < cfg.n_layers; ++l)
    for (int t = 0; t < kNumTargets; ++t) {
      if (!a.enabled[t]) continue;
      a.a_off[l * kNumTargets + t] = off;
      off += int64_t(a.rank) * a.d_in[t];
      a.b_off[l * kNumTargets + t] = off;
      off += int64_t(a.d_out[t]) * a.rank;
    }
  a.total = off;
  return a;
}

}  // namespace fedsim::models
