// The BPE model of a tokenizer.json (vocab, merges, options) and what is settled once the
// whole file is read: the unit-form vocabulary, BOS/EOS/PAD/UNK, the summary line.
#include <filesystem>

#include "models/text/json_node.hpp"
#include "models/text/unicode.hpp"

namespace fedsim::models::text {
namespace {

// "left right" (tokenizers < 0.20) or ["left", "right"] (>= 0.20).
std::pair<std::string, std::string> merge_pair(const Node& m) {
  if (m.j.is_array() && m.j.size() == 2) return {m.item(0).str(), m.item(1).str()};
  if (m.j.is_string()) {
    const std::string s = m.j.get<std::string>();
    const size_t sp = s.find(' ');
    if (sp != std::string::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == std::string::npos)
      return {s.substr(0, sp), s.substr(sp + 1)};
  }
  m.fail("expected \"left right\" or [\"left\", \"right\"], found " + m.j.dump().substr(0, 60));
}

// A token in byte-level form ("Ġhello") as raw bytes (" hello"); a token with a character
// outside the byte alphabet stays as written (tokenizers' ByteLevel decoder does the same).
std::string unit_form(const std::string& token) {
  static const auto inverse = [] {
    std::vector<int> inv(0x200, -1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) inv[fwd[static_cast<size_t>(b)]] = b;
    return inv;
  }();
  std::string out;
  for (size_t i = 0; i < token.size();) {
    const uint32_t c = utf8_next(token, i);
    if (c >= inverse.size() || inverse[c] < 0) return token;
    out.push_back(static_cast<char>(inverse[c]));
  }
  return out;
}

int32_t find_token(const HfConfig& c, const std::string& name) {
  for (const auto& a : c.added)
    if (a.content == name) return a.id;
  const auto it = c.vocab.find(name);
  return it == c.vocab.end() ? -1 : it->second;
}

// bos_token etc. of tokenizer_config.json: a string, {"content": ...}, or null.
int32_t config_token(const Node& cfg, const char* key, const HfConfig& c, bool& given) {
  given = cfg.has(key);
  if (!given) return -1;
  const Node n = cfg.at(key);
  const std::string name = n.j.is_object() ? n.at("content").str() : n.str();
  const int32_t id = find_token(c, name);
  if (id < 0) n.fail("'" + name + "' is not a token of " + c.path);
  return id;
}

int32_t first_known(const HfConfig& c, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const int32_t id = find_token(c, n); id >= 0) return id;
  return -1;
}

}  // namespace

void read_bpe_model(const Node& root, HfConfig& c) {
  const Node m = root.at("model");
  const std::string type = m.type();
  if (type != "BPE") m.at("type").unsupported(type, "BPE");
  if (m.has("dropout") && (!m.at("dropout").j.is_number() || m.at("dropout").j.get<double>() != 0.0))
    m.at("dropout").unsupported(m.at("dropout").j.dump(), "null or 0 (BPE dropout is a training-time augmentation)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.has(k) && !m.at(k).str().empty()) m.at(k).unsupported(m.at(k).str(), "null or \"\"");
  const Node vocab = m.at("vocab");
  if (!vocab.j.is_object()) vocab.fail("expected an object {token: id}");
  c.vocab.reserve(vocab.j.size());
  c.tokens.reserve(vocab.j.size());
  for (auto it = vocab.j.begin(); it != vocab.j.end(); ++it) {
    const Node v{it.value(), vocab.key + "." + it.key(), c.path};
    const int64_t id = v.integer();
    if (id < 0 || id > (int64_t{1} << 30)) v.fail("id " + std::to_string(id) + " out of range");
    if (static_cast<size_t>(id) >= c.tokens.size()) c.tokens.resize(static_cast<size_t>(id) + 1);
    c.tokens[static_cast<size_t>(id)] = it.key();
    c.vocab[it.key()] = static_cast<int32_t>(id);
  }
  const Node merges = m.at("merges");
  c.merges.reserve(merges.array().size());
  for (size_t r = 0; r < merges.j.size(); ++r) {
    const Node item = merges.item(r);
    const auto [a, b] = merge_pair(item);
    std::array<int32_t, 3> ids{};
    const std::string parts[3] = {a, b, a + b};
    for (int k = 0; k < 3; ++k) {
      const auto it = c.vocab.find(parts[k]);
      if (it == c.vocab.end())
        item.fail((k == 2 ? "merged token '" : "token '") + parts[k] + "' is not in model.vocab");
      ids[static_cast<size_t>(k)] = it->second;
    }
    c.merges.push_back(ids);
  }
  c.bpe.byte_fallback = m.flag("byte_fallback", false);
  c.bpe.fuse_unk = m.flag("fuse_unk", false);
  c.bpe.ignore_merges = m.flag("ignore_merges", false);
  if (m.has("unk_token")) {
    const std::string unk = m.at("unk_token").str();
    const auto it = c.vocab.find(unk);
    if (it == c.vocab.end()) m.at("unk_token").fail("'" + unk + "' is not in model.vocab");
    c.bpe.unk_id = c.unk = it->second;
  }
}

void finish_config(HfConfig& c) {
  for (const auto& p : c.pre_tokenizers) c.bpe.byte_level = c.bpe.byte_level || p.kind == PreTokenizerStep::byte_level;

  // BOS / EOS / PAD: tokenizer_config.json beside the file, else the post-processor's first
  // token and well-known names.
  bool has_bos = false, has_eos = false, has_pad = false, has_unk = false;
  const auto cfg_path = std::filesystem::path(c.path).parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(cfg_path)) {
    const std::string file = cfg_path.string();
    const nlohmann::json cfg_json = parse_json_file(file);
    const Node cfg{cfg_json, "", file};
    if (!cfg_json.is_object()) cfg.fail("expected a JSON object");
    c.bos = config_token(cfg, "bos_token", c, has_bos);
    c.eos = config_token(cfg, "eos_token", c, has_eos);
    c.pad = config_token(cfg, "pad_token", c, has_pad);
    if (const int32_t unk = config_token(cfg, "unk_token", c, has_unk); has_unk) c.unk = unk;
  }
  if (!has_bos) c.bos = !c.prefix.empty() ? c.prefix.front() : first_known(c, {"<s>", "<|begin_of_text|>", "<bos>"});
  if (!has_eos) c.eos = first_known(c, {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"});
  if (c.pad < 0) c.pad = c.unk >= 0 ? c.unk : c.eos;
  if (c.pad < 0) c.pad = 0;

  if (c.bpe.byte_level) {  // BPE works on raw bytes: key the vocabulary by them
    std::unordered_map<std::string, int32_t> bytes;
    bytes.reserve(c.vocab.size());
    for (const auto& [token, id] : c.vocab) bytes.emplace(unit_form(token), id);
    c.vocab = std::move(bytes);
  }
  std::string pre = c.bpe.byte_level ? "byte-level" : "sentencepiece-style";
  for (const auto& p : c.pre_tokenizers)
    if (p.kind == PreTokenizerStep::split)
      pre += std::string(", ") + (p.regex == SplitRegex::gpt2 ? "gpt2" : p.regex == SplitRegex::llama3 ? "llama3" : "qwen2") +
             " regex";
  for (const auto& n : c.normalizers)
    if (n.kind == NormalizerStep::nfc) pre += ", NFC";
  if (c.bpe.byte_fallback) pre += ", byte fallback";
  c.summary = "tokenizer.json BPE (" + pre + "), " + std::to_string(c.tokens.size()) + " ids, " +
              std::to_string(c.merges.size()) + " merges, " + std::to_string(c.added.size()) + " added tokens: " +
              std::filesystem::path(c.path).filename().string();
}

}  // namespace fedsim::models::text
