// BPE merges over one piece (bpe.hpp).
#include "models/text/bpe.hpp"

#include <cstdio>
#include <queue>

namespace fedsim::models::text {
namespace {

inline uint64_t pair_key(int32_t a, int32_t b) {
  return uint64_t{static_cast<uint32_t>(a)} << 32 | static_cast<uint32_t>(b);
}

struct Symbol {
  int32_t id;
  int32_t prev, next;  // neighbours in the word, -1 at the ends
  uint32_t first, last;
  bool alive;
};

struct Candidate {
  uint32_t rank;
  uint32_t pos;  // left symbol
  int32_t id;    // merged token
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

Bpe::Bpe(std::unordered_map<std::string, int32_t> vocab, const std::vector<std::array<int32_t, 3>>& merges,
         const BpeOptions& opt)
    : vocab_(std::move(vocab)), opt_(opt) {
  merges_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r)
    merges_[pair_key(merges[r][0], merges[r][1])] = Merge{static_cast<uint32_t>(r), merges[r][2]};
  for (int b = 0; b < 256; ++b) {
    byte_ids_[static_cast<size_t>(b)] = find(std::string(1, static_cast<char>(b)));
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    fallback_ids_[static_cast<size_t>(b)] = find(name);
  }
}

int32_t Bpe::find(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

void Bpe::tokenize(std::string_view piece, const std::vector<uint32_t>& units, std::vector<BpeToken>& out) const {
  if (piece.empty()) return;
  const bool cacheable = piece.size() < 256;
  std::string key;
  if (cacheable) {
    key.assign(piece);
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<BpeToken> tokens;
  const int32_t whole = opt_.ignore_merges ? find(piece) : -1;
  if (whole >= 0) {
    tokens.push_back({whole, 0, static_cast<uint32_t>(units.size() - 2)});
  } else {
    merge_word(piece, units, tokens);
  }
  out.insert(out.end(), tokens.begin(), tokens.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::move(key), std::move(tokens));
  }
}

// Initial symbols as tokenizers' BPE::merge_word, then merge_all's priority queue.
void Bpe::merge_word(std::string_view piece, const std::vector<uint32_t>& units, std::vector<BpeToken>& out) const {
  const size_t n_units = units.size() - 1;
  std::vector<Symbol> sym;
  sym.reserve(n_units);
  auto add = [&sym](int32_t id, uint32_t first, uint32_t last) {
    sym.push_back({id, static_cast<int32_t>(sym.size()) - 1, static_cast<int32_t>(sym.size()) + 1, first, last, true});
  };
  bool unk_open = false;  // the last symbol is an UNK that may absorb the next unknown unit
  for (uint32_t u = 0; u < n_units; ++u) {
    const std::string_view s = piece.substr(units[u], units[u + 1] - units[u]);
    const int32_t id = opt_.byte_level ? byte_ids_[static_cast<unsigned char>(s[0])] : find(s);
    if (id >= 0) {
      add(id, u, u);
      unk_open = false;
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (unsigned char b : s) all = all && fallback_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : s) add(fallback_ids_[b], u, u);
        unk_open = false;
        continue;
      }
    }
    if (opt_.unk_id < 0) continue;
    if (unk_open && opt_.fuse_unk) {
      sym.back().last = u;
    } else {
      add(opt_.unk_id, u, u);
      unk_open = true;
    }
  }
  if (!sym.empty()) sym.back().next = -1;

  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t left) {
    const int32_t right = sym[static_cast<size_t>(left)].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(sym[static_cast<size_t>(left)].id, sym[static_cast<size_t>(right)].id));
    if (it != merges_.end()) queue.push({it->second.rank, static_cast<uint32_t>(left), it->second.id});
  };
  for (size_t k = 0; k + 1 < sym.size(); ++k) push_pair(static_cast<int32_t>(k));
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = sym[static_cast<size_t>(left.next)];
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.id != top.id) continue;  // an expired entry
    left.id = top.id;
    left.last = right.last;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = static_cast<int32_t>(top.pos);
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(static_cast<int32_t>(top.pos));
  }
  for (const Symbol& s : sym)
    if (s.alive) out.push_back({s.id, s.first, s.last});
}

}  // namespace fedsim::models::text
