// A tokenizer.json as plain data (tokenizer_json.cpp reads it) and the tokenizer built from it
// (hf_tokenizer.cpp encodes, hf_decode.cpp decodes). Internal to models/text.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/text/bpe.hpp"
#include "models/text/split_regex.hpp"
#include "models/text/tokenizer.hpp"

namespace fedsim::models::text {

inline constexpr uint32_t kMetaspace = 0x2581;  // '▁', SentencePiece's word boundary

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

enum class PrependScheme { always, first, never };

struct NormalizerStep {
  enum Kind { nfc, prepend, replace } kind;
  std::string pattern, content;  // prepend: content; replace: pattern -> content
};

struct PreTokenizerStep {
  enum Kind { split, byte_level, metaspace } kind;
  SplitRegex regex = SplitRegex::gpt2;  // split; byte_level with use_regex uses gpt2
  bool add_prefix_space = false, use_regex = true;  // byte_level
  uint32_t replacement = kMetaspace;                // metaspace
  PrependScheme scheme = PrependScheme::always;
  bool split_pieces = true;
};

struct DecoderStep {
  enum Kind { byte_level, replace, byte_fallback, fuse, strip, metaspace } kind;
  std::string pattern, content;  // replace; strip: content (one character)
  int start = 0, stop = 0;       // strip
  uint32_t replacement = kMetaspace;
  PrependScheme scheme = PrependScheme::always;
};

struct HfConfig {
  std::string path;
  std::vector<AddedToken> added;
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  bool has_decoder = false;
  std::vector<DecoderStep> decoders;
  std::vector<int32_t> prefix, suffix;  // post-processor tokens around one sequence

  // Model: BPE. tokens[id] is the token as tokenizer.json writes it ("" for unused ids);
  // vocab maps unit form (raw bytes for byte-level models) to ids; merges in rank order.
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::array<int32_t, 3>> merges;
  BpeOptions bpe;

  int32_t bos = -1, eos = -1, pad = -1, unk = -1;
  std::string summary;  // for describe()
};

HfConfig parse_tokenizer_json(const std::string& path);
std::shared_ptr<const TextTokenizer> make_hf_tokenizer(HfConfig cfg);

// Decoder chain of HfConfig::decoders on token strings (hf_decode.cpp).
std::string run_decoders(const HfConfig& c, std::vector<std::string> tokens);

}  // namespace fedsim::models::text
