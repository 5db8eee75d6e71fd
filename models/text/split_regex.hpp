// The pre-tokenizer regexes of the byte-level BPE families, as hand-written matchers over code
// points (no regex engine): given a position, the length of the match the regex finds there.
// Semantics are those of Oniguruma, which Hugging Face's tokenizers uses: leftmost alternative
// first, greedy quantifiers with backtracking, \s = White_Space, \p{L} / \p{N} = general
// categories L* / N* (Unicode 15.0 tables, unicode.hpp), (?i:...) with Unicode simple case
// folding (so 's also matches 'ſ, U+017F, which folds to s).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fedsim::models::text {

enum class SplitRegex {
  gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  llama3,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  qwen2,   // as llama3 with \p{N} (one digit per piece) in place of \p{N}{1,3}
};

// The pattern string as tokenizer.json writes it; false if it is none of the three.
bool parse_split_regex(std::string_view pattern, SplitRegex& out);
const char* split_regex_pattern(SplitRegex re);

// Length in code points (>= 1) of the match at cps[i], i < n: each of these patterns matches
// at every position, so the matches tile the text.
size_t split_match(SplitRegex re, const uint32_t* cps, size_t i, size_t n);

// GPT-2's reversible byte -> printable code point map (bytes_to_unicode in openai/gpt-2
// encoder.py; bytes_char in tokenizers' pre_tokenizers/byte_level.rs).
const std::array<uint32_t, 256>& byte_to_unicode();

}  // namespace fedsim::models::text
