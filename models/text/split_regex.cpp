// Hand-written matchers for the byte-level pre-tokenizer regexes (split_regex.hpp). Each
// function follows its pattern's alternatives in order; the comments give the alternative.
#include "models/text/split_regex.hpp"

#include <algorithm>

#include "models/text/unicode.hpp"

namespace fedsim::models::text {
namespace {

constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// [^\s\p{L}\p{N}]
inline bool is_other(uint32_t c) { return (props(c) & (kLetter | kNumber | kWhiteSpace)) == 0; }
inline bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

template <class Pred>
size_t run(const uint32_t* c, size_t i, size_t n, Pred p) {
  size_t j = i;
  while (j < n && p(c[j])) ++j;
  return j - i;
}

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive: 0 if none matches.
size_t contraction(const uint32_t* c, size_t i, size_t n, bool icase) {
  if (c[i] != '\'' || i + 1 >= n) return 0;
  auto fold = [icase](uint32_t x) -> uint32_t {
    if (!icase) return x;
    if (x >= 'A' && x <= 'Z') return x + 32;
    return x == 0x17F ? 's' : x;  // CaseFolding.txt: 017F; C; 0073
  };
  const uint32_t a = fold(c[i + 1]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < n) {
    const uint32_t b = fold(c[i + 2]);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

// \s+(?!\S)|\s+ at a white-space character: the run, less its last character when a
// non-space follows (the lookahead then holds one character earlier), but at least one.
size_t space_run(const uint32_t* c, size_t i, size_t n) {
  const size_t w = run(c, i, n, is_white_space);
  return (i + w == n || w == 1) ? w : w - 1;
}

size_t match_gpt2(const uint32_t* c, size_t i, size_t n) {
  if (const size_t k = contraction(c, i, n, false)) return k;
  const uint32_t c0 = c[i];
  const size_t s = (c0 == ' ' && i + 1 < n) ? 1 : 0;  // " ?" takes the space if a class run follows
  for (auto cls : {is_letter, is_number, is_other}) {  //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
    if (s && cls(c[i + 1])) return 1 + run(c, i + 1, n, cls);
    if (cls(c0)) return run(c, i, n, cls);
  }
  return space_run(c, i, n);
}

size_t match_llama3(const uint32_t* c, size_t i, size_t n, size_t max_digits) {
  if (const size_t k = contraction(c, i, n, true)) return k;
  const uint32_t c0 = c[i];
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_letter(c0)) return run(c, i, n, is_letter);
  if (!is_crlf(c0) && !is_number(c0) && i + 1 < n && is_letter(c[i + 1])) return 1 + run(c, i + 1, n, is_letter);
  // \p{N}{1,3}  (Qwen2: \p{N})
  if (is_number(c0)) return std::min(max_digits, run(c, i, n, is_number));
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  const size_t s = (c0 == ' ' && i + 1 < n && is_other(c[i + 1])) ? 1 : 0;
  if (s || is_other(c0)) {
    size_t j = i + s;
    j += run(c, j, n, is_other);
    j += run(c, j, n, is_crlf);
    return j - i;
  }
  // \s*[\r\n]+ : \s* backs off to the last \r or \n of the white-space run, [\r\n]+ takes it.
  const size_t w = run(c, i, n, is_white_space);
  for (size_t k = w; k > 0; --k)
    if (is_crlf(c[i + k - 1])) return k;
  // \s+(?!\S)|\s+
  return space_run(c, i, n);
}

}  // namespace

bool parse_split_regex(std::string_view pattern, SplitRegex& out) {
  for (auto re : {SplitRegex::gpt2, SplitRegex::llama3, SplitRegex::qwen2})
    if (pattern == split_regex_pattern(re)) {
      out = re;
      return true;
    }
  return false;
}

const char* split_regex_pattern(SplitRegex re) {
  switch (re) {
    case SplitRegex::gpt2: return kGpt2;
    case SplitRegex::llama3: return kLlama3;
    case SplitRegex::qwen2: return kQwen2;
  }
  return "";
}

size_t split_match(SplitRegex re, const uint32_t* cps, size_t i, size_t n) {
  switch (re) {
    case SplitRegex::gpt2: return match_gpt2(cps, i, n);
    case SplitRegex::llama3: return match_llama3(cps, i, n, 3);
    case SplitRegex::qwen2: return match_llama3(cps, i, n, 1);
  }
  return 1;
}

const std::array<uint32_t, 256>& byte_to_unicode() {
  static const auto table = [] {
    // Printable bytes map to themselves; the others, in byte order, to 256, 257, ...
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

}  // namespace fedsim::models::text
