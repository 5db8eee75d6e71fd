#include "models/layout.hpp"

#include <sstream>

#include "common/error.hpp"

namespace fedsim::models {

void validate_model_config(const ModelConfig& c) {
  auto bad = [](const std::string& key, int v, const std::string& want) {
    std::ostringstream os;
    os << key << ": " << v << " is invalid; accepted: " << want;
    throw UserError(os.str());
  };
  if (c.vocab_size != Tokenizer::vocab_size) bad("model.vocab_size", c.vocab_size, "264 (byte-level tokenizer)");
  if (c.max_seq < 2) bad("model.max_seq", c.max_seq, "an integer >= 2");
  if (c.d_model < 1) bad("model.d_model", c.d_model, "an integer >= 1");
  if (c.n_layers < 1) bad("model.n_layers", c.n_layers, "an integer >= 1");
  if (c.n_heads < 1 || c.d_model % c.n_heads != 0) bad("model.n_heads", c.n_heads, "a divisor of model.d_model");
  if (c.d_ff < 1) bad("model.d_ff", c.d_ff, "an integer >= 1");
}

BaseLayout make_base_layout(const ModelConfig& cfg) {
  const int64_t V = cfg.vocab_size, T = cfg.max_seq, C = cfg.d_model, L = cfg.n_layers, F = cfg.d_ff;
  BaseLayout b;
  int64_t off = 0;
  auto take = [&](int64_t& field, int64_t n) {
    field = off;
    off += n;
  };
  take(b.wte, V * C);
  take(b.wpe, T * C);
  take(b.ln1w, L * C);
  take(b.ln1b, L * C);
  take(b.qw, L * C * C);
  take(b.kw, L * C * C);
  take(b.vw, L * C * C);
  take(b.qb, L * C);
  take(b.kb, L * C);
  take(b.vb, L * C);
  take(b.ow, L * C * C);
  take(b.ob, L * C);
  take(b.ln2w, L * C);
  take(b.ln2b, L * C);
  take(b.upw, L * F * C);
  take(b.upb, L * F);
  take(b.downw, L * C * F);
  take(b.downb, L * C);
  take(b.lnfw, C);
  take(b.lnfb, C);
  b.total = off;
  return b;
}

AdapterLayout make_adapter_layout(const ModelConfig& cfg, const LoraConfig& lora) {
  const std::string accepted = "q, k, v, o, mlp_up, mlp_down";
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
      if (t == kTargetNames[i]) found = i;
    if (found < 0) throw UserError("lora.targets: unknown target '" + t + "'; accepted: " + accepted);
    if (a.enabled[found]) throw UserError("lora.targets: target '" + t + "' listed twice; accepted: " + accepted);
    a.enabled[found] = true;
  }
  const int C = cfg.d_model, F = cfg.d_ff;
  a.d_in = {C, C, C, C, C, F};
  a.d_out = {C, C, C, C, F, C};
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
