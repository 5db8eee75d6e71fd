// Text <-> token ids, for any model fedsim trains: the built-in byte-level tokenizer (ids 0-255
// bytes, then specials; models/model.hpp's Tokenizer) and Hugging Face tokenizer.json files
// (BPE: byte-level as GPT-2 / Llama-3 / Qwen2-3, SentencePiece-style as Llama-2 / Mistral).
// No Kokkos here: sim/ and the CLI include it freely. What is supported and where it departs
// from Hugging Face's `tokenizers`: models/README.md "Tokenizers".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fedsim::models {

// Byte range [begin, end) of the encoded text that a token stands for. Empty (begin == end)
// for a token that no input byte produced (a '▁' the normalizer prepends).
struct TokenSpan {
  uint32_t begin = 0, end = 0;
  bool operator==(const TokenSpan& o) const { return begin == o.begin && end == o.end; }
};

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;

  // Token ids of `text`. Added and special tokens written in the text (e.g. "<|im_end|>") are
  // split out first and become their ids, as Hugging Face does. add_special: also the tokens
  // the post-processor adds around a single sequence (Llama-2: BOS in front; Qwen: none).
  std::vector<int32_t> encode(std::string_view text, bool add_special) const;
  // The same ids without the post-processor's tokens, each with the bytes of `text` it covers.
  virtual void encode_spans(std::string_view text, std::vector<int32_t>& ids, std::vector<TokenSpan>& spans) const = 0;
  // What encode(.., add_special = true) puts before and after the text's ids.
  virtual const std::vector<int32_t>& special_prefix() const = 0;
  virtual const std::vector<int32_t>& special_suffix() const = 0;

  // Text of ids through the tokenizer's decoder. skip_special: leave out special tokens.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special) const = 0;

  virtual int32_t vocab_size() const = 0;  // largest id + 1
  virtual int32_t token_to_id(std::string_view token) const = 0;  // -1 if absent
  virtual std::string id_to_token(int32_t id) const = 0;          // "" if absent
  virtual bool is_special(int32_t id) const = 0;
  virtual std::string describe() const = 0;  // one line, for logs and checkpoints

  int32_t bos_id() const { return bos_; }  // -1 where the tokenizer has none (Qwen)
  int32_t eos_id() const { return eos_; }
  int32_t pad_id() const { return pad_; }  // right-padding of batches (never a target)
  int32_t unk_id() const { return unk_; }  // -1 if none

 protected:
  int32_t bos_ = -1, eos_ = -1, pad_ = -1, unk_ = -1;
};

// Loads a Hugging Face tokenizer.json. BOS, EOS and PAD come from tokenizer_config.json in the
// same folder when it is there (bos_token, eos_token, pad_token), else from the
// post-processor and well-known names; PAD falls back to UNK, then EOS (FedLLM-Bench sets
// pad = unk "following vicuna"). UserError naming the file and the key for anything malformed
// or unsupported.
std::shared_ptr<const TextTokenizer> load_tokenizer_json(const std::string& path);

// fedsim's byte-level tokenizer (Tokenizer in models/model.hpp) behind the same interface.
// Special tokens by name: <|bos|> <|eos|> <|pad|> <|inst|> <|resp|> <|user|> <|assistant|>
// <|reserved|> (the names of the tokenizer.json `fedsim model init` writes); they are never
// split out of text (encode is the text's bytes), and add_special puts BOS in front.
std::shared_ptr<const TextTokenizer> byte_tokenizer();

}  // namespace fedsim::models
