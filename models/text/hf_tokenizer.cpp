// Encoding with a tokenizer.json, in the order of tokenizers' TokenizerImpl::encode_single_sequence:
// added tokens split out of the raw text; each remaining section normalised (its normalized
// added tokens split out next), pre-tokenised into pieces, each piece BPE-encoded. Every
// character carries the byte range of the input it came from, so each token gets a span.
#include <algorithm>

#include "common/error.hpp"
#include "models/text/hf_tokenizer.hpp"
#include "models/text/unicode.hpp"

namespace fedsim::models::text {
namespace {

// Leftmost-longest search for a set of literal strings (the added tokens), as the
// Aho-Corasick automaton of tokenizers' AddedVocabulary (MatchKind::LeftmostLongest).
class LiteralSet {
 public:
  void add(const std::string& s, size_t index) {
    auto& list = by_first_[static_cast<unsigned char>(s[0])];
    list.emplace_back(s, index);
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }
  bool empty() const {
    return std::all_of(by_first_.begin(), by_first_.end(), [](const auto& l) { return l.empty(); });
  }
  // First match at or after `from`: its index and byte range.
  bool find(std::string_view text, size_t from, size_t& index, size_t& b, size_t& e) const {
    for (size_t pos = from; pos < text.size(); ++pos)
      for (const auto& [s, idx] : by_first_[static_cast<unsigned char>(text[pos])])
        if (text.compare(pos, s.size(), s) == 0) {
          index = idx;
          b = pos;
          e = pos + s.size();
          return true;
        }
    return false;
  }

 private:
  std::array<std::vector<std::pair<std::string, size_t>>, 256> by_first_;
};

struct Split {
  long added;  // index into HfConfig::added, -1 for text
  size_t begin, end;
};

bool is_word_char(uint32_t c) { return c == '_' || (props(c) & (kLetter | kNumber)) || combining_class(c) != 0; }

uint32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return utf8_next(s, i);
}

// tokenizers' AddedVocabulary::find_matches: single_word, lstrip and rstrip as there.
void split_added(std::string_view s, const LiteralSet& set, const std::vector<AddedToken>& added,
                 std::vector<Split>& out) {
  out.clear();
  size_t start = 0, pos = 0, index = 0, b = 0, e = 0;
  while (set.find(s, pos, index, b, e)) {
    pos = e;
    const AddedToken& t = added[index];
    if (t.single_word) {
      size_t i = e;
      const bool word_before = b > 0 && is_word_char(last_char(s.substr(0, b)));
      const bool word_after = e < s.size() && is_word_char(utf8_next(s, i));
      if (word_before || word_after) continue;
    }
    if (t.lstrip)  // b moves back over white space, not into the previous split
      while (b > start) {
        size_t i = b - 1;
        while (i > start && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
        size_t j = i;
        if (!is_white_space(utf8_next(s, j))) break;
        b = i;
      }
    if (t.rstrip)
      for (size_t i = e; i < s.size() && is_white_space(utf8_next(s, i));) e = pos = i;
    if (start < b) out.push_back({-1, start, b});
    out.push_back({static_cast<long>(index), b, e});
    start = e;
  }
  if (start < s.size()) out.push_back({-1, start, s.size()});
}

// Normalised text cut into pieces: piece k is code points [cut[k], cut[k+1]).
struct Pieces {
  CodePoints cps;
  std::vector<uint32_t> cut;
};

class HfTokenizer final : public TextTokenizer {
 public:
  explicit HfTokenizer(HfConfig cfg) : c_(std::move(cfg)), bpe_(std::move(c_.vocab), c_.merges, c_.bpe) {
    c_.merges.clear();
    c_.merges.shrink_to_fit();
    bos_ = c_.bos;
    eos_ = c_.eos;
    pad_ = c_.pad;
    unk_ = c_.unk;
    special_.assign(c_.tokens.size(), false);
    for (size_t id = 0; id < c_.tokens.size(); ++id)
      if (!c_.tokens[id].empty()) ids_.emplace(c_.tokens[id], static_cast<int32_t>(id));
    for (size_t k = 0; k < c_.added.size(); ++k) {
      const AddedToken& a = c_.added[k];
      ids_[a.content] = a.id;
      special_[static_cast<size_t>(a.id)] = a.special;
      (a.normalized && !c_.normalizers.empty() ? normalized_ : raw_).add(a.content, k);
    }
  }

  void encode_spans(std::string_view text, std::vector<int32_t>& ids, std::vector<TokenSpan>& spans) const override {
    ids.clear();
    spans.clear();
    std::vector<Split> splits;
    split_added(text, raw_, c_.added, splits);
    for (const Split& s : splits) {
      if (s.added >= 0) {
        ids.push_back(c_.added[static_cast<size_t>(s.added)].id);
        spans.push_back({static_cast<uint32_t>(s.begin), static_cast<uint32_t>(s.end)});
        continue;
      }
      CodePoints cps = decode_code_points(text.substr(s.begin, s.end - s.begin), static_cast<uint32_t>(s.begin));
      normalize(cps);
      if (normalized_.empty()) {
        encode_normalized(std::move(cps), ids, spans);
      } else {
        encode_with_normalized_added(cps, ids, spans);
      }
    }
  }
  const std::vector<int32_t>& special_prefix() const override { return c_.prefix; }
  const std::vector<int32_t>& special_suffix() const override { return c_.suffix; }

  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= c_.tokens.size() || c_.tokens[static_cast<size_t>(id)].empty()) continue;
      if (skip_special && special_[static_cast<size_t>(id)]) continue;
      tokens.push_back(c_.tokens[static_cast<size_t>(id)]);
    }
    return run_decoders(c_, std::move(tokens));
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(c_.tokens.size()); }
  int32_t token_to_id(std::string_view token) const override {
    const auto it = ids_.find(std::string(token));
    return it == ids_.end() ? -1 : it->second;
  }
  std::string id_to_token(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < c_.tokens.size() ? c_.tokens[static_cast<size_t>(id)] : "";
  }
  bool is_special(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[static_cast<size_t>(id)];
  }
  std::string describe() const override { return c_.summary; }

 private:
  void normalize(CodePoints& cps) const;
  void encode_with_normalized_added(const CodePoints& cps, std::vector<int32_t>& ids, std::vector<TokenSpan>& spans) const;
  void encode_normalized(CodePoints cps, std::vector<int32_t>& ids, std::vector<TokenSpan>& spans) const;
  void pre_tokenize(Pieces& p) const;

  HfConfig c_;
  Bpe bpe_;
  LiteralSet raw_, normalized_;  // added tokens matched before / after normalisation
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<bool> special_;
};

void HfTokenizer::normalize(CodePoints& cps) const {
  for (const NormalizerStep& n : c_.normalizers) {
    if (n.kind == NormalizerStep::nfc) {
      nfc(cps);
    } else if (n.kind == NormalizerStep::prepend) {
      if (cps.size() == 0) continue;  // tokenizers' Prepend leaves an empty text empty
      const CodePoints pre = decode_code_points(n.content);
      CodePoints out;
      for (uint32_t c : pre.cp) out.push(c, cps.begin[0], cps.begin[0]);
      for (size_t i = 0; i < cps.size(); ++i) out.push(cps.cp[i], cps.begin[i], cps.end[i]);
      cps = std::move(out);
    } else {  // replace every occurrence of the pattern; new characters span what they replace
      const CodePoints pat = decode_code_points(n.pattern), rep = decode_code_points(n.content);
      CodePoints out;
      for (size_t i = 0; i < cps.size();) {
        if (i + pat.size() <= cps.size() && std::equal(pat.cp.begin(), pat.cp.end(), cps.cp.begin() + static_cast<long>(i))) {
          for (uint32_t c : rep.cp) out.push(c, cps.begin[i], cps.end[i + pat.size() - 1]);
          i += pat.size();
        } else {
          out.push(cps.cp[i], cps.begin[i], cps.end[i]);
          ++i;
        }
      }
      cps = std::move(out);
    }
  }
}

void HfTokenizer::encode_with_normalized_added(const CodePoints& cps, std::vector<int32_t>& ids,
                                               std::vector<TokenSpan>& spans) const {
  std::string s;
  std::vector<uint32_t> cp_at;  // code point index of each byte of s
  for (size_t i = 0; i < cps.size(); ++i) {
    const size_t before = s.size();
    utf8_append(s, cps.cp[i]);
    cp_at.insert(cp_at.end(), s.size() - before, static_cast<uint32_t>(i));
  }
  cp_at.push_back(static_cast<uint32_t>(cps.size()));
  std::vector<Split> splits;
  split_added(s, normalized_, c_.added, splits);
  for (const Split& sp : splits) {
    const uint32_t a = cp_at[sp.begin], z = cp_at[sp.end];
    if (sp.added >= 0) {
      ids.push_back(c_.added[static_cast<size_t>(sp.added)].id);
      spans.push_back({*std::min_element(cps.begin.begin() + a, cps.begin.begin() + z),
                       *std::max_element(cps.end.begin() + a, cps.end.begin() + z)});
      continue;
    }
    CodePoints part;
    for (uint32_t i = a; i < z; ++i) part.push(cps.cp[i], cps.begin[i], cps.end[i]);
    encode_normalized(std::move(part), ids, spans);
  }
}

void HfTokenizer::pre_tokenize(Pieces& p) const {
  for (const PreTokenizerStep& step : c_.pre_tokenizers) {
    const bool edits = (step.kind == PreTokenizerStep::byte_level && step.add_prefix_space) ||
                       step.kind == PreTokenizerStep::metaspace;
    if (edits) {  // rebuild the text piece by piece
      Pieces q;
      q.cut.push_back(0);
      const uint32_t space = step.kind == PreTokenizerStep::metaspace ? step.replacement : ' ';
      for (size_t k = 0; k + 1 < p.cut.size(); ++k) {
        const uint32_t a = p.cut[k], z = p.cut[k + 1];
        const size_t start = q.cps.size();
        if (a == z) continue;
        for (uint32_t i = a; i < z; ++i)
          q.cps.push(p.cps.cp[i] == ' ' && space != ' ' ? space : p.cps.cp[i], p.cps.begin[i], p.cps.end[i]);
        bool prepend = q.cps.cp[start] != space;
        if (step.kind == PreTokenizerStep::metaspace)
          prepend = prepend && (step.scheme == PrependScheme::always ||
                                (step.scheme == PrependScheme::first && p.cps.begin[a] == 0));
        if (prepend) {
          q.cps.cp.insert(q.cps.cp.begin() + static_cast<long>(start), space);
          q.cps.begin.insert(q.cps.begin.begin() + static_cast<long>(start), p.cps.begin[a]);
          q.cps.end.insert(q.cps.end.begin() + static_cast<long>(start), p.cps.begin[a]);
        }
        if (step.kind == PreTokenizerStep::metaspace && step.split_pieces)  // MergedWithNext
          for (size_t i = start + 1; i < q.cps.size(); ++i)
            if (q.cps.cp[i] == space) q.cut.push_back(static_cast<uint32_t>(i));
        q.cut.push_back(static_cast<uint32_t>(q.cps.size()));
      }
      p = std::move(q);
    }
    const bool regex = step.kind == PreTokenizerStep::split || (step.kind == PreTokenizerStep::byte_level && step.use_regex);
    if (!regex) continue;
    const SplitRegex re = step.kind == PreTokenizerStep::split ? step.regex : SplitRegex::gpt2;
    std::vector<uint32_t> cut{0};
    for (size_t k = 0; k + 1 < p.cut.size(); ++k)
      for (uint32_t i = p.cut[k], z = p.cut[k + 1]; i < z;) {
        i += static_cast<uint32_t>(split_match(re, p.cps.cp.data() + p.cut[k], i - p.cut[k], z - p.cut[k]));
        cut.push_back(i);
      }
    p.cut = std::move(cut);
  }
}

void HfTokenizer::encode_normalized(CodePoints cps, std::vector<int32_t>& ids, std::vector<TokenSpan>& spans) const {
  Pieces p{std::move(cps), {}};
  p.cut = {0, static_cast<uint32_t>(p.cps.size())};
  pre_tokenize(p);
  std::string piece;
  std::vector<uint32_t> units, unit_cp;
  std::vector<BpeToken> toks;
  const bool bytes = bpe_.options().byte_level;
  for (size_t k = 0; k + 1 < p.cut.size(); ++k) {
    if (p.cut[k] == p.cut[k + 1]) continue;
    piece.clear();
    units.clear();
    unit_cp.clear();
    for (uint32_t i = p.cut[k]; i < p.cut[k + 1]; ++i) {
      const size_t before = piece.size();
      utf8_append(piece, p.cps.cp[i]);
      for (size_t b = before; b < (bytes ? piece.size() : before + 1); ++b) {
        units.push_back(static_cast<uint32_t>(b));
        unit_cp.push_back(i);
      }
    }
    units.push_back(static_cast<uint32_t>(piece.size()));
    toks.clear();
    bpe_.tokenize(piece, units, toks);
    for (const BpeToken& t : toks) {
      uint32_t b = p.cps.begin[unit_cp[t.first]], e = p.cps.end[unit_cp[t.first]];
      for (uint32_t u = t.first + 1; u <= t.last; ++u) {
        b = std::min(b, p.cps.begin[unit_cp[u]]);
        e = std::max(e, p.cps.end[unit_cp[u]]);
      }
      ids.push_back(t.id);
      spans.push_back({b, e});
    }
  }
}

}  // namespace

std::shared_ptr<const TextTokenizer> make_hf_tokenizer(HfConfig cfg) {
  return std::make_shared<const HfTokenizer>(std::move(cfg));
}

}  // namespace fedsim::models::text

namespace fedsim::models {
std::shared_ptr<const TextTokenizer> load_tokenizer_json(const std::string& path) {
  return text::make_hf_tokenizer(text::parse_tokenizer_json(path));
}
}  // namespace fedsim::models
