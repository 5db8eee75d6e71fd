// Byte-pair encoding of one pre-tokenized piece (Sennrich et al. 2016, "Neural Machine
// Translation of Rare Words with Subword Units", sec. 3.2): start from single units, merge the
// adjacent pair of lowest merge rank (leftmost among equal ranks) until no pair has a merge.
// Same order as tokenizers' models/bpe/word.rs merge_all, so the same ids.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fedsim::models::text {

struct BpeToken {
  int32_t id;
  uint32_t first, last;  // units of the piece it covers, inclusive
};

struct BpeOptions {
  bool byte_level = false;     // units are bytes (vocab keys are raw bytes); else code points
  bool byte_fallback = false;  // an unknown code point becomes its bytes' <0xXX> tokens
  bool fuse_unk = false;       // consecutive unknown code points make one UNK
  bool ignore_merges = false;  // a piece that is a whole vocabulary entry is that token (Llama-3)
  int32_t unk_id = -1;         // -1: unknown code points are dropped
};

class Bpe {
 public:
  // vocab: token (in unit form: raw bytes for byte-level) -> id. merges: (left, right, merged)
  // ids in rank order (a later duplicate pair overrides, as tokenizers' HashMap collect does).
  Bpe(std::unordered_map<std::string, int32_t> vocab, const std::vector<std::array<int32_t, 3>>& merges,
      const BpeOptions& opt);

  // Appends the tokens of `piece`; unit k of the piece is bytes [units[k], units[k+1]).
  void tokenize(std::string_view piece, const std::vector<uint32_t>& units, std::vector<BpeToken>& out) const;
  int32_t find(std::string_view token) const;  // id of a vocabulary entry (unit form), or -1
  const BpeOptions& options() const { return opt_; }

 private:
  struct Merge {
    uint32_t rank;
    int32_t id;
  };
  void merge_word(std::string_view piece, const std::vector<uint32_t>& units, std::vector<BpeToken>& out) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions opt_;
  std::array<int32_t, 256> byte_ids_{};      // byte-level: id of each single byte
  std::array<int32_t, 256> fallback_ids_{};  // <0xXX> ids (-1 if absent)

  // Tokens of pieces seen before (pieces under 256 bytes, up to kCacheCapacity of them).
  static constexpr size_t kCacheCapacity = 1 << 18;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<BpeToken>> cache_;
};

}  // namespace fedsim::models::text
