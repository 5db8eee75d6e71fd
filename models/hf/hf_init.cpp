// `fedsim model init`: a random-initialised Hugging Face folder (config.json, safetensors,
// tokenizer.json), so every Hugging Face feature runs and is tested without a download.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "models/hf/hf.hpp"

namespace fedsim::models {

namespace {
namespace fs = std::filesystem;

std::string read_all(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw UserError(path + ": cannot open (" + what + ")");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f || !(f << text) || !f.flush()) throw UserError(path + ": cannot write");
}

// GPT-2's bytes_to_unicode (openai/gpt-2, encoder.py): printable Latin-1 bytes map to
// themselves, the other 68 to U+0100.. in byte order. UTF-8 of the code point.
std::string byte_char(int b) {
  const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  int cp = b;
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}
}  // namespace

std::string byte_level_tokenizer_json() {
  using nlohmann::json;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const char* specials[] = {"<|bos|>", "<|eos|>", "<|pad|>", "<|inst|>", "<|resp|>", "<|user|>", "<|assistant|>",
                            "<|reserved|>"};
  json added = json::array();
  for (int i = 0; i < 8; ++i)
    added.push_back({{"id", 256 + i},
                     {"content", specials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  // BOS in front of a sequence, as byte_tokenizer()'s encode(text, add_special = true).
  const json bos = {{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}};
  const json bos_first = {
      {"type", "TemplateProcessing"},
      {"single", {bos, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair", {bos, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, bos, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
      {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {Tokenizer::BOS}}, {"tokens", {"<|bos|>"}}}}}}};
  json t = {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", nullptr},
            {"pre_tokenizer", byte_level},
            {"post_processor", bos_first},
            {"decoder", byte_level},
            {"model",
             {{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", false},
              {"byte_fallback", false},
              {"ignore_merges", false},
              {"vocab", vocab},
              {"merges", json::array()}}}};
  return t.dump(2) + "\n";
}

std::string byte_level_tokenizer_config_json() {
  const nlohmann::json t = {{"bos_token", "<|bos|>"},
                            {"eos_token", "<|eos|>"},
                            {"pad_token", "<|pad|>"},
                            {"add_bos_token", false},
                            {"model_max_length", 1000000},
                            {"tokenizer_class", "PreTrainedTokenizerFast"}};
  return t.dump(2) + "\n";
}

void write_hf_model(const HfInitSpec& spec, const std::string& dir) {
  ModelConfig cfg = spec.cfg;
  cfg.base_dtype = BaseDtype::fp32;
  if (!cfg.llama()) throw UserError("model init: --arch: accepted: llama, mistral, qwen2, qwen3");
  validate_model_config(cfg);
  if (spec.shards < 1) throw UserError("model init: --shards: " + std::to_string(spec.shards) + " is invalid; accepted: >= 1");
  if (fs::exists(dir) && !(fs::is_directory(dir) && fs::is_empty(dir)))
    throw UserError(dir + ": exists and is not an empty folder\nHINT: choose a new --out");
  // The tokenizer: a copy of the given file, with the tokenizer_config.json beside it (BOS, EOS,
  // PAD, chat template) when there is one; else fedsim's byte-level one and its config.
  std::string tokenizer = byte_level_tokenizer_json(), tokenizer_config = byte_level_tokenizer_config_json();
  if (!spec.tokenizer.empty()) {
    tokenizer = read_all(spec.tokenizer, "--tokenizer");
    nlohmann::json j = nlohmann::json::parse(tokenizer, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("model"))
      throw UserError(spec.tokenizer + ": not a Hugging Face tokenizer.json (a JSON object with a \"model\")");
    const fs::path beside = fs::path(spec.tokenizer).parent_path() / "tokenizer_config.json";
    tokenizer_config = fs::exists(beside) ? read_all(beside.string(), "--tokenizer") : "";
  }
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  try {
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    write_text(tmp + "/tokenizer.json", tokenizer);
    if (!tokenizer_config.empty()) write_text(tmp + "/tokenizer_config.json", tokenizer_config);
    // The folder must load: the tokenizer parses (errors name the given file) and its ids fit
    // the embedding.
    const std::shared_ptr<const TextTokenizer> tok =
        load_tokenizer_json(spec.tokenizer.empty() ? tmp + "/tokenizer.json" : spec.tokenizer);
    if (tok->vocab_size() > cfg.vocab_size)
      throw UserError("model init: --tokenizer " + (spec.tokenizer.empty() ? "(byte-level)" : spec.tokenizer) + " has " +
                      std::to_string(tok->vocab_size()) + " token ids, more than --vocab " +
                      std::to_string(cfg.vocab_size) + "; accepted: --vocab >= " + std::to_string(tok->vocab_size()));
    nlohmann::json config = nlohmann::json::parse(hf_config_json(cfg));
    auto id = [](int32_t v) { return v >= 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
    config["bos_token_id"] = id(tok->bos_id());  // what transformers' generate() reads
    config["eos_token_id"] = id(tok->eos_id());
    config["pad_token_id"] = id(tok->pad_id());
    write_text(tmp + "/config.json", config.dump(2) + "\n");
    const BaseLayout bl = make_base_layout(cfg);
    const auto names = hf_tensor_names(bl);
    const size_t K = static_cast<size_t>(spec.shards), n = names.size();
    nlohmann::json weight_map = nlohmann::json::object();
    int64_t total = 0;
    for (size_t k = 0; k < K; ++k) {  // shard k holds tensors [k n / K, (k+1) n / K)
      const size_t i0 = k * n / K, i1 = (k + 1) * n / K;
      std::vector<StSpec> specs;
      for (size_t i = i0; i < i1; ++i) {
        specs.push_back({names[i].first, spec.dtype, hf_shape(*names[i].second)});
        total += names[i].second->size() * st_dtype_size(spec.dtype);
      }
      char file[64];
      std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", k + 1, K);
      const std::string fname = K == 1 ? "model.safetensors" : file;
      for (size_t i = i0; i < i1; ++i) weight_map[names[i].first] = fname;
      write_safetensors(tmp + "/" + fname, specs, [&](size_t i, float* out) {
        init_tensor_values(*names[i0 + i].second, spec.seed, cfg.init_std, spec.noise, out);
      });
    }
    if (K > 1)
      write_text(tmp + "/model.safetensors.index.json",
                 nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) + "\n");
    if (fs::exists(dir)) fs::remove(dir);  // an empty folder
    fs::rename(tmp, dir);
  } catch (const fs::filesystem_error& e) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw UserError(dir + ": " + e.what());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace fedsim::models
