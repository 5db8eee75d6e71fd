// The built-in byte-level tokenizer: models/model.hpp's Tokenizer, and the same as a TextTokenizer.
#include <array>

#include "models/model.hpp"
#include "models/text/tokenizer.hpp"

namespace fedsim::models {

std::vector<int32_t> Tokenizer::encode(const std::string& text) {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c));
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) {
  std::string s;
  s.reserve(ids.size());
  for (int32_t id : ids)
    if (id >= 0 && id < 256) s.push_back(static_cast<char>(static_cast<unsigned char>(id)));
  return s;
}

namespace {

using Tok = Tokenizer;

// Names of ids 256..263, as the byte-level tokenizer.json of `fedsim model init` writes them
// (models/hf/hf_init.cpp), so the fedsim-bytes templates find their tokens in either.
const std::array<const char*, 8> kSpecialNames = {"<|bos|>",  "<|eos|>",  "<|pad|>",       "<|inst|>",
                                                  "<|resp|>", "<|user|>", "<|assistant|>", "<|reserved|>"};

class ByteTokenizer final : public TextTokenizer {
 public:
  ByteTokenizer() {
    bos_ = Tok::BOS;
    eos_ = Tok::EOS;
    pad_ = Tok::PAD;
  }

  void encode_spans(std::string_view text, std::vector<int32_t>& ids, std::vector<TokenSpan>& spans) const override {
    ids.clear();
    spans.clear();
    ids.reserve(text.size());
    spans.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      ids.push_back(static_cast<unsigned char>(text[i]));
      spans.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(i + 1)});
    }
  }
  const std::vector<int32_t>& special_prefix() const override { return prefix_; }
  const std::vector<int32_t>& special_suffix() const override { return suffix_; }

  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override {
    if (skip_special) return Tok::decode(ids);
    std::string s;
    for (int32_t id : ids) s += id_to_token(id);
    return s;
  }

  int32_t vocab_size() const override { return Tok::vocab_size; }
  int32_t token_to_id(std::string_view token) const override {
    if (token.size() == 1) return static_cast<unsigned char>(token[0]);
    for (size_t k = 0; k < kSpecialNames.size(); ++k)
      if (token == kSpecialNames[k]) return 256 + static_cast<int32_t>(k);
    return -1;
  }
  std::string id_to_token(int32_t id) const override {
    if (id >= 0 && id < 256) return std::string(1, static_cast<char>(static_cast<unsigned char>(id)));
    if (id >= 256 && id < Tok::vocab_size) return kSpecialNames[static_cast<size_t>(id - 256)];
    return "";
  }
  bool is_special(int32_t id) const override { return id >= 256 && id < Tok::vocab_size; }
  std::string describe() const override {
    return "byte-level: ids 0-255 = bytes, 256 BOS, 257 EOS, 258 PAD, 259 INST, 260 RESP, 261 USER, 262 ASSISTANT, "
           "263 reserved";
  }

 private:
  std::vector<int32_t> prefix_{Tok::BOS}, suffix_;
};

}  // namespace

std::vector<int32_t> TextTokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  encode_spans(text, ids, spans);
  if (!add_special) return ids;
  std::vector<int32_t> out(special_prefix());
  out.insert(out.end(), ids.begin(), ids.end());
  out.insert(out.end(), special_suffix().begin(), special_suffix().end());
  return out;
}

std::shared_ptr<const TextTokenizer> byte_tokenizer() {
  static const auto tok = std::make_shared<const ByteTokenizer>();
  return tok;
}

}  // namespace fedsim::models
