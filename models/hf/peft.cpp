// Adapters out (and back) in PEFT's format (huggingface/peft: LoraConfig's adapter_config.json;
// get_peft_model_state_dict's tensor names, the adapter name removed). PEFT's LoRA layer computes
// y = W x + (lora_alpha / r) B A dropout(x) (peft/tuners/lora/layer.py, `scaling`), the same
// branch fedsim trains, so A and B go out unchanged.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "models/hf/hf.hpp"

namespace fedsim::models {

namespace {
std::string module_name(int layer, int t) {
  const bool attn = t == kQ || t == kK || t == kV || t == kO;
  return "base_model.model.model.layers." + std::to_string(layer) + (attn ? ".self_attn." : ".mlp.") + kPeftNames[t];
}

// (name, offset, rows, cols) of every A and B in the adapter vector, in layout order.
struct AdapterTensor {
  std::string name;
  int64_t off, rows, cols;
};
std::vector<AdapterTensor> adapter_tensors(const ModelConfig& cfg, const AdapterLayout& al) {
  if (!cfg.llama())
    throw UserError("export adapter: PEFT adapters need a Hugging Face architecture; this model is the GPT preset '" +
                    cfg.preset + "', which transformers cannot load");
  std::vector<AdapterTensor> out;
  for (int l = 0; l < cfg.n_layers; ++l)
    for (int t = 0; t < kNumTargets; ++t) {
      if (!al.enabled[t]) continue;
      out.push_back({module_name(l, t) + ".lora_A.weight", al.a(l, t), al.rank, al.d_in[t]});
      out.push_back({module_name(l, t) + ".lora_B.weight", al.b(l, t), al.d_out[t], al.rank});
    }
  return out;
}
}  // namespace

void write_peft_adapter(const ModelConfig& cfg, const LoraConfig& lora, const std::vector<float>& adapter,
                        const std::string& base_model, const std::string& dir) {
  const AdapterLayout al = make_adapter_layout(cfg, lora);
  const std::vector<AdapterTensor> ts = adapter_tensors(cfg, al);
  if (static_cast<int64_t>(adapter.size()) != al.total)
    throw UserError("export adapter: the adapter has " + std::to_string(adapter.size()) + " values; rank " +
                    std::to_string(al.rank) + " on [" + join_targets(al) + "] of this model needs " +
                    std::to_string(al.total));
  nlohmann::json targets = nlohmann::json::array();
  for (int t = 0; t < kNumTargets; ++t)
    if (al.enabled[t]) targets.push_back(kPeftNames[t]);
  const nlohmann::json config = {{"peft_type", "LORA"},
                                 {"task_type", "CAUSAL_LM"},
                                 {"base_model_name_or_path", base_model},
                                 {"r", al.rank},
                                 {"lora_alpha", lora.alpha},
                                 {"lora_dropout", lora.dropout},
                                 {"target_modules", targets},
                                 {"bias", "none"},
                                 {"fan_in_fan_out", false},
                                 {"inference_mode", true},
                                 {"init_lora_weights", true},
                                 {"use_rslora", false},
                                 {"use_dora", false},
                                 {"modules_to_save", nullptr},
                                 {"layers_to_transform", nullptr},
                                 {"layers_pattern", nullptr},
                                 {"rank_pattern", nlohmann::json::object()},
                                 {"alpha_pattern", nlohmann::json::object()},
                                 {"revision", nullptr}};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw UserError(dir + ": cannot create (" + ec.message() + ")");
  std::vector<StSpec> specs;
  for (const AdapterTensor& t : ts) specs.push_back({t.name, StDtype::f32, {t.rows, t.cols}});
  write_safetensors(dir + "/adapter_model.safetensors", specs, [&](size_t i, float* out) {
    std::copy(adapter.begin() + ts[i].off, adapter.begin() + ts[i].off + ts[i].rows * ts[i].cols, out);
  });
  const std::string path = dir + "/adapter_config.json", tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f || !(f << config.dump(2) << "\n") || !f.flush()) throw UserError(tmp + ": cannot write");
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw UserError(path + ": cannot rename from " + tmp + " (" + ec.message() + ")");
}

LoraConfig read_peft_config(const std::string& dir) {
  const std::string path = dir + "/adapter_config.json";
  std::ifstream f(path);
  if (!f) throw UserError(path + ": cannot open");
  const nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw UserError(path + ": not valid JSON");
  auto need = [&](const char* key, bool ok) {
    if (!j.contains(key) || !ok) throw UserError(path + ": " + key + ": missing or of the wrong type");
  };
  need("peft_type", j.contains("peft_type") && j["peft_type"].is_string());
  if (j["peft_type"] != "LORA") throw UserError(path + ": peft_type: " + j["peft_type"].dump() + "; accepted: \"LORA\"");
  need("r", j.contains("r") && j["r"].is_number_integer());
  need("lora_alpha", j.contains("lora_alpha") && j["lora_alpha"].is_number());
  need("target_modules", j.contains("target_modules") && j["target_modules"].is_array());
  if (j.value("use_rslora", false) || j.value("use_dora", false))
    throw UserError(path + ": use_rslora / use_dora: true is not supported; accepted: plain LoRA");
  LoraConfig l;
  l.rank = j["r"].get<int>();
  l.alpha = j["lora_alpha"].get<float>();
  l.dropout = j.contains("lora_dropout") && j["lora_dropout"].is_number() ? j["lora_dropout"].get<float>() : 0.0f;
  l.targets.clear();
  for (const auto& t : j["target_modules"]) {
    if (!t.is_string()) throw UserError(path + ": target_modules: expected module names");
    l.targets.push_back(t.get<std::string>());
  }
  return l;
}

std::vector<float> read_peft_adapter(const ModelConfig& cfg, const LoraConfig& lora, const std::string& dir) {
  const AdapterLayout al = make_adapter_layout(cfg, lora);
  const SafetensorsFile f(dir + "/adapter_model.safetensors");
  std::vector<float> out(static_cast<size_t>(al.total), 0.0f);
  for (const AdapterTensor& t : adapter_tensors(cfg, al)) {
    const StTensor* st = f.find(t.name);
    if (st == nullptr) throw UserError(f.path() + ": tensor '" + t.name + "' is missing");
    if (st->shape != std::vector<int64_t>{t.rows, t.cols})
      throw UserError(f.path() + ": tensor '" + t.name + "': shape " + shape_str(st->shape) + ", expected " +
                      shape_str({t.rows, t.cols}));
    f.read(*st, 0, st->numel(), out.data() + t.off);
  }
  return out;
}

}  // namespace fedsim::models
