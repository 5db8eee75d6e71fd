// Model::load_hf: a Hugging Face folder into the frozen base. Every tensor is checked (present,
// known dtype, shape the config implies) before the model is allocated; then each is converted
// from the memory map straight into its place in the base (fp32 or bf16) and its pages are
// released, so the process never holds a second copy of the base.
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/model_impl.hpp"  // Kokkos first: models/hf/half.hpp's conversions
#include "models/hf/hf.hpp"

namespace fedsim::models {

namespace {
// The safetensors files of a folder: model.safetensors, or the shards model.safetensors.index.json
// maps each tensor to.
struct Weights {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, std::pair<const SafetensorsFile*, const StTensor*>> tensors;

  explicit Weights(const std::string& dir) {
    const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
    if (std::filesystem::exists(index)) {
      std::ifstream f(index);
      std::stringstream ss;
      ss << f.rdbuf();
      const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw UserError(index + ": expected a JSON object with a \"weight_map\" of tensor name -> file");
      std::map<std::string, const SafetensorsFile*> opened;
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string()) throw UserError(index + ": weight_map['" + it.key() + "']: expected a file name");
        const std::string file = it.value().get<std::string>();
        if (file.find('/') != std::string::npos)
          throw UserError(index + ": weight_map['" + it.key() + "']: '" + file + "' is not a file name in the folder");
        if (!opened.count(file)) {
          if (!std::filesystem::exists(dir + "/" + file))
            throw UserError(index + ": weight_map['" + it.key() + "']: shard " + dir + "/" + file + " does not exist");
          files.push_back(std::make_unique<SafetensorsFile>(dir + "/" + file));
          opened[file] = files.back().get();
        }
        const SafetensorsFile* sf = opened[file];
        const StTensor* t = sf->find(it.key());
        if (t == nullptr)
          throw UserError(sf->path() + ": tensor '" + it.key() + "' is missing (" + index + " places it in this shard)");
        tensors[it.key()] = {sf, t};
      }
      return;
    }
    if (!std::filesystem::exists(single))
      throw UserError(dir + ": no model.safetensors or model.safetensors.index.json\nHINT: model.path must be a "
                            "Hugging Face model folder; `fedsim model init` writes one");
    files.push_back(std::make_unique<SafetensorsFile>(single));
    for (const StTensor& t : files.back()->tensors()) tensors[t.name] = {files.back().get(), &t};
  }
};

// Names a checkpoint may carry that the model recomputes or ties (older Llama exports keep
// rotary_emb.inv_freq buffers; tied models sometimes store lm_head too).
bool ignorable(const std::string& name, const ModelConfig& c) {
  const std::string inv = "rotary_emb.inv_freq";
  if (name.size() >= inv.size() && name.compare(name.size() - inv.size(), inv.size(), inv) == 0) return true;
  return c.tie_embeddings && name == "lm_head.weight";
}

// Values of t into a float or bf16 destination: bf16 -> bf16 copies the bits, everything else
// goes through float (f16 widening is exact; narrowing to bf16 rounds to nearest even).
void convert(const SafetensorsFile& f, const StTensor& t, float* dst) { f.read(t, 0, t.numel(), dst); }
void convert(const SafetensorsFile& f, const StTensor& t, Bf16* dst) {
  const int64_t n = t.numel();
  if (t.dtype == StDtype::bf16) {
    std::memcpy(dst, f.bytes(t), static_cast<size_t>(n) * 2);
    return;
  }
  constexpr int64_t kChunk = 1 << 16;
  std::vector<float> buf(static_cast<size_t>(std::min(n, kChunk)));
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    f.read(t, i0, m, buf.data());
    for (int64_t i = 0; i < m; ++i) dst[i0 + i] = float_to_bf16(buf[size_t(i)]);
  }
}
}  // namespace

Model Model::load_hf(const std::string& dir, const LoraConfig& lora, const HfOptions& opt) {
  const ModelConfig c = read_hf_config(dir, opt);
  HfText text = read_hf_text(dir, c);  // before the weights: a mismatch costs no loading
  const Weights w(dir);
  const BaseLayout bl = make_base_layout(c);
  const auto names = hf_tensor_names(bl);
  std::map<std::string, bool> wanted;
  for (const auto& [name, slot] : names) {
    wanted[name] = true;
    const auto it = w.tensors.find(name);
    const std::string file = w.files.size() == 1 ? w.files[0]->path() : dir + "/model.safetensors.index.json";
    const std::string expect = shape_str(hf_shape(*slot));
    std::ostringstream cfg;
    cfg << "(config.json: hidden_size " << c.d_model << ", num_attention_heads " << c.n_heads << ", num_key_value_heads "
        << c.kv_heads() << ", head_dim " << c.hd() << ", intermediate_size " << c.d_ff << ", vocab_size " << c.vocab_size
        << ")";
    if (it == w.tensors.end())
      throw UserError(file + ": tensor '" + name + "' is missing; expected shape " + expect + " " + cfg.str() +
                      "\nHINT: the folder does not match its config.json");
    const StTensor& t = *it->second.second;
    if (t.shape != hf_shape(*slot))
      throw UserError(it->second.first->path() + ": tensor '" + name + "': shape " + shape_str(t.shape) +
                      ", expected " + expect + " " + cfg.str());
  }
  for (const auto& [name, where] : w.tensors)
    if (!wanted.count(name) && !ignorable(name, c))
      throw UserError(where.first->path() + ": tensor '" + name + "' is not part of a " + hf_architecture(c.arch) +
                      " with this config.json\nHINT: the folder and its config.json do not match");
  auto impl = std::make_unique<Impl>(c, lora);
  Net<float>& net = impl->net;
  for (const auto& [name, slot] : names) {
    // Named copies, not structured bindings: C++17 lambdas cannot capture bindings (clang refuses).
    const auto& entry = w.tensors.at(name);
    const auto& file = entry.first;
    const auto& t = entry.second;
    net.fill_tensor(*slot, [&](auto* dst) { convert(*file, *t, dst); });
    file->release(*t);
  }
  Model m(std::move(impl));
  if (text.tokenizer) {
    m.set_tokenizer(std::move(text.tokenizer), text.family);
  } else {  // logits still work (fedsim model forward); text needs a tokenizer
    m.impl_->tok = nullptr;
    m.impl_->family.clear();
    m.impl_->no_tokenizer_why = text.why;
  }
  return m;
}

int64_t Model::base_bytes() const {
  const BaseLayout& bl = impl_->net.bl;
  return bl.total * int64_t(sizeof(float)) + bl.total_half * int64_t(sizeof(Bf16));
}

int64_t Model::activation_bytes(int B, int T) const {
  return impl_->net.activation_floats(B, T) * int64_t(sizeof(float));
}

}  // namespace fedsim::models
