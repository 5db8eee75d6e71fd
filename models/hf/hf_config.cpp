// config.json <-> ModelConfig and the transformers tensor names (models/hf/hf.hpp). Keys and
// defaults as transformers' LlamaConfig, MistralConfig, Qwen2Config and Qwen3Config define them.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "models/hf/hf.hpp"

namespace fedsim::models {

namespace {
using nlohmann::json;

const struct {
  Arch arch;
  const char* name;        // architectures[0]
  const char* model_type;  // model_type
} kArchs[] = {{Arch::llama, "LlamaForCausalLM", "llama"},
              {Arch::mistral, "MistralForCausalLM", "mistral"},
              {Arch::qwen2, "Qwen2ForCausalLM", "qwen2"},
              {Arch::qwen3, "Qwen3ForCausalLM", "qwen3"}};

// Typed reads of one key; `where` is "DIR/config.json".
struct Reader {
  const json& j;
  std::string where;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw UserError(where + ": " + key + ": " + what);
  }
  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }
  int64_t integer(const char* key) const {
    if (!has(key)) fail(key, "missing; expected an integer");
    if (!j[key].is_number_integer()) fail(key, "expected an integer, found " + j[key].dump());
    const int64_t v = j[key].get<int64_t>();
    if (v < 0 || v > (int64_t(1) << 30)) fail(key, std::to_string(v) + " is out of range; accepted: 0 to 2^30");
    return v;
  }
  int64_t integer(const char* key, int64_t dflt) const { return has(key) ? integer(key) : dflt; }
  double number(const char* key, double dflt) const {
    if (!has(key)) return dflt;
    if (!j[key].is_number()) fail(key, "expected a number, found " + j[key].dump());
    return j[key].get<double>();
  }
  bool flag(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    if (!j[key].is_boolean()) fail(key, "expected true or false, found " + j[key].dump());
    return j[key].get<bool>();
  }
  std::string text(const char* key, const std::string& dflt) const {
    if (!has(key)) return dflt;
    if (!j[key].is_string()) fail(key, "expected a string, found " + j[key].dump());
    return j[key].get<std::string>();
  }
};

// rope_scaling (transformers <= 4.x) or rope_parameters (5.x, which also holds rope_theta).
void read_rope(const Reader& r, RopeConfig& rope) {
  rope.theta = r.number("rope_theta", 10000.0);
  const char* key = r.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  if (!r.has(key)) return;
  if (!r.j[key].is_object()) r.fail(key, "expected an object or null, found " + r.j[key].dump());
  const Reader s{r.j[key], r.where + ": " + key};
  rope.theta = s.number("rope_theta", rope.theta);
  rope.type = s.text("rope_type", s.text("type", "default"));
  rope.factor = s.number("factor", 1.0);
  rope.low_freq_factor = s.number("low_freq_factor", 1.0);
  rope.high_freq_factor = s.number("high_freq_factor", 4.0);
  rope.original_max_positions = static_cast<int>(s.integer("original_max_position_embeddings", 8192));
}
}  // namespace

const char* hf_architecture(Arch a) {
  for (const auto& x : kArchs)
    if (x.arch == a) return x.name;
  return "GPT (fedsim preset)";
}

ModelConfig parse_hf_config(const std::string& text, const std::string& where, const HfOptions& opt) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw UserError(where + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw UserError(where + ": expected a JSON object");
  const Reader r{j, where};
  if (!r.has("architectures") || !j["architectures"].is_array() || j["architectures"].empty() ||
      !j["architectures"][0].is_string())
    r.fail("architectures", "missing; expected a list like [\"LlamaForCausalLM\"]");
  const std::string name = j["architectures"][0].get<std::string>();
  ModelConfig c;
  bool found = false;
  for (const auto& x : kArchs)
    if (name == x.name) {
      c.arch = x.arch;
      found = true;
    }
  if (!found)
    r.fail("architectures", "'" + name +
                                "' is not supported; accepted: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                                "Qwen3ForCausalLM");
  c.preset = "hf";
  c.vocab_size = static_cast<int>(r.integer("vocab_size"));
  c.d_model = static_cast<int>(r.integer("hidden_size"));
  c.d_ff = static_cast<int>(r.integer("intermediate_size"));
  c.n_layers = static_cast<int>(r.integer("num_hidden_layers"));
  c.n_heads = static_cast<int>(r.integer("num_attention_heads"));
  c.n_kv_heads = static_cast<int>(r.integer("num_key_value_heads", c.n_heads));
  c.head_dim = static_cast<int>(r.integer("head_dim", 0));
  c.norm_eps = r.number("rms_norm_eps", 1e-6);
  c.init_std = r.number("initializer_range", 0.02);
  c.max_positions = static_cast<int>(r.integer("max_position_embeddings", 0));
  c.tie_embeddings = r.flag("tie_word_embeddings", false);
  read_rope(r, c.rope);
  const std::string act = r.text("hidden_act", "silu");
  if (act != "silu") r.fail("hidden_act", "'" + act + "' is not supported; accepted: silu");
  if (c.arch == Arch::llama) {
    c.qkv_bias = c.o_bias = r.flag("attention_bias", false);
    c.mlp_bias = r.flag("mlp_bias", false);
  }
  if (c.arch == Arch::qwen2) c.qkv_bias = true;  // Qwen2Attention: q/k/v bias, o without
  if (c.arch == Arch::qwen3) {
    c.qk_norm = true;
    c.qkv_bias = c.o_bias = r.flag("attention_bias", false);
  }
  if (c.arch == Arch::mistral) c.sliding_window = static_cast<int>(r.integer("sliding_window", 4096));
  if ((c.arch == Arch::qwen2 || c.arch == Arch::qwen3) && r.flag("use_sliding_window", false))
    r.fail("use_sliding_window", "true is not supported (Qwen's per-layer windows); accepted: false");
  c.base_dtype = opt.base_dtype;
  c.max_seq = opt.max_seq > 0 ? opt.max_seq
                              : (c.max_positions > 0 && c.max_positions < kHfDefaultSeq ? c.max_positions : kHfDefaultSeq);
  try {
    validate_model_config(c);
  } catch (const UserError& e) {
    throw UserError(where + ": " + e.what());
  }
  return c;
}

ModelConfig read_hf_config(const std::string& dir, const HfOptions& opt) {
  const std::string path = dir + "/config.json";
  std::ifstream f(path);
  if (!f) throw UserError(path + ": cannot open\nHINT: model.path must be a Hugging Face model folder (config.json, "
                                 "model.safetensors); `fedsim model init` writes one");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_hf_config(ss.str(), path, opt);
}

std::string hf_config_json(const ModelConfig& c) {
  FEDSIM_ASSERT(c.llama());
  json j;
  for (const auto& x : kArchs)
    if (x.arch == c.arch) {
      j["architectures"] = {x.name};
      j["model_type"] = x.model_type;
    }
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.d_model;
  j["intermediate_size"] = c.d_ff;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.kv_heads();
  j["head_dim"] = c.hd();
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.norm_eps;
  j["rope_theta"] = c.rope.theta;
  if (c.rope.type == "default") {
    j["rope_scaling"] = nullptr;
  } else {
    j["rope_scaling"] = {{"rope_type", c.rope.type}, {"factor", c.rope.factor}};
    if (c.rope.type == "llama3") {
      j["rope_scaling"]["low_freq_factor"] = c.rope.low_freq_factor;
      j["rope_scaling"]["high_freq_factor"] = c.rope.high_freq_factor;
      j["rope_scaling"]["original_max_position_embeddings"] = c.rope.original_max_positions;
    }
  }
  j["max_position_embeddings"] = c.max_positions > 0 ? c.max_positions : c.max_seq;
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["initializer_range"] = c.init_std;
  if (c.arch == Arch::llama) {
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  if (c.arch == Arch::qwen3) j["attention_bias"] = c.qkv_bias;
  if (c.arch == Arch::mistral) j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  if (c.arch == Arch::qwen2 || c.arch == Arch::qwen3) j["use_sliding_window"] = false;
  j["bos_token_id"] = Tokenizer::BOS;
  j["eos_token_id"] = Tokenizer::EOS;
  j["pad_token_id"] = Tokenizer::PAD;
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

std::vector<std::pair<std::string, const Slot*>> hf_tensor_names(const BaseLayout& bl) {
  std::vector<std::pair<std::string, const Slot*>> out;
  auto add = [&](const std::string& name, const Slot& s) {
    if (s.present()) out.emplace_back(name, &s);
  };
  add("model.embed_tokens.weight", bl.wte);
  for (size_t i = 0; i < bl.layers.size(); ++i) {
    const LayerSlots& l = bl.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", l.ln1w);
    add(p + "self_attn.q_proj.weight", l.q);
    add(p + "self_attn.q_proj.bias", l.qb);
    add(p + "self_attn.k_proj.weight", l.k);
    add(p + "self_attn.k_proj.bias", l.kb);
    add(p + "self_attn.v_proj.weight", l.v);
    add(p + "self_attn.v_proj.bias", l.vb);
    add(p + "self_attn.q_norm.weight", l.q_norm);
    add(p + "self_attn.k_norm.weight", l.k_norm);
    add(p + "self_attn.o_proj.weight", l.o);
    add(p + "self_attn.o_proj.bias", l.ob);
    add(p + "post_attention_layernorm.weight", l.ln2w);
    add(p + "mlp.gate_proj.weight", l.gate);
    add(p + "mlp.gate_proj.bias", l.gateb);
    add(p + "mlp.up_proj.weight", l.up);
    add(p + "mlp.up_proj.bias", l.upb);
    add(p + "mlp.down_proj.weight", l.down);
    add(p + "mlp.down_proj.bias", l.downb);
  }
  add("model.norm.weight", bl.lnfw);
  add("lm_head.weight", bl.lm_head);
  return out;
}

std::vector<int64_t> hf_shape(const Slot& s) {
  if (s.kind == Slot::matrix) return {s.rows, s.cols};
  return {s.cols};
}

}  // namespace fedsim::models
