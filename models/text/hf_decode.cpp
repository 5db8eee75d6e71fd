// tokenizer.json decoders (tokenizers' decoders/*.rs decode_chain): each step maps the list of
// token strings to a new list; the result is their concatenation. Without a decoder, tokens
// are joined with spaces, as tokenizers does.
#include <cstdlib>

#include "models/text/hf_tokenizer.hpp"
#include "models/text/unicode.hpp"

namespace fedsim::models::text {
namespace {

const std::vector<int>& unicode_to_byte() {
  static const auto inv = [] {
    std::vector<int> v(0x200, -1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) v[fwd[static_cast<size_t>(b)]] = b;
    return v;
  }();
  return inv;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  std::string out;
  for (size_t i = 0;;) {
    const size_t j = s.find(from, i);
    out.append(s, i, j == std::string::npos ? std::string::npos : j - i);
    if (j == std::string::npos) return out;
    out += to;
    i = j + from.size();
  }
}

// ByteLevel: every token's characters back to bytes (a token with a character outside the
// byte alphabet gives its own UTF-8), one lossy UTF-8 string in all.
std::vector<std::string> byte_level(const std::vector<std::string>& tokens) {
  const auto& inv = unicode_to_byte();
  std::string bytes;
  for (const std::string& t : tokens) {
    std::string mapped;
    bool ok = true;
    for (size_t i = 0; i < t.size() && ok;) {
      const uint32_t c = utf8_next(t, i);
      ok = c < inv.size() && inv[c] >= 0;
      if (ok) mapped.push_back(static_cast<char>(inv[c]));
    }
    bytes += ok ? mapped : t;
  }
  return {utf8_lossy(bytes)};
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

// ByteFallback: runs of <0xXX> tokens become the string of their bytes, or one U+FFFD per
// byte when those bytes are not valid UTF-8.
std::vector<std::string> byte_fallback(const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  std::string run;
  size_t run_len = 0;
  auto flush = [&] {
    if (run_len == 0) return;
    if (is_valid_utf8(run)) {
      out.push_back(run);
    } else {
      for (size_t k = 0; k < run_len; ++k) out.push_back("\xEF\xBF\xBD");
    }
    run.clear();
    run_len = 0;
  };
  for (const std::string& t : tokens) {
    const bool is_byte = t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hex_digit(t[3]) >= 0 &&
                         hex_digit(t[4]) >= 0;
    if (is_byte) {
      run.push_back(static_cast<char>(hex_digit(t[3]) * 16 + hex_digit(t[4])));
      ++run_len;
    } else {
      flush();
      out.push_back(t);
    }
  }
  flush();
  return out;
}

// Strip: up to `start` leading and `stop` trailing copies of one character, per token.
std::string strip(const std::string& t, const std::string& ch, int start, int stop) {
  size_t b = 0, e = t.size();
  for (int k = 0; k < start && b + ch.size() <= e && t.compare(b, ch.size(), ch) == 0; ++k) b += ch.size();
  for (int k = 0; k < stop && e >= b + ch.size() && t.compare(e - ch.size(), ch.size(), ch) == 0; ++k) e -= ch.size();
  return t.substr(b, e - b);
}

// Metaspace: the replacement character becomes a space; in the first token it is dropped
// altogether unless the prepend scheme is never (tokenizers' Metaspace::decode_chain).
std::vector<std::string> metaspace(const std::vector<std::string>& tokens, const DecoderStep& d) {
  std::string rep;
  utf8_append(rep, d.replacement);
  std::vector<std::string> out;
  for (size_t k = 0; k < tokens.size(); ++k)
    out.push_back(replace_all(tokens[k], rep, k == 0 && d.scheme != PrependScheme::never ? "" : " "));
  return out;
}

}  // namespace

std::string run_decoders(const HfConfig& c, std::vector<std::string> tokens) {
  std::string out;
  if (!c.has_decoder) {
    for (size_t k = 0; k < tokens.size(); ++k) out += (k ? " " : "") + tokens[k];
    return out;
  }
  for (const DecoderStep& d : c.decoders) {
    switch (d.kind) {
      case DecoderStep::byte_level: tokens = byte_level(tokens); break;
      case DecoderStep::byte_fallback: tokens = byte_fallback(tokens); break;
      case DecoderStep::metaspace: tokens = metaspace(tokens, d); break;
      case DecoderStep::replace:
        for (auto& t : tokens) t = replace_all(std::move(t), d.pattern, d.content);
        break;
      case DecoderStep::fuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, all);
        break;
      }
      case DecoderStep::strip:
        for (auto& t : tokens) t = strip(t, d.content, d.start, d.stop);
        break;
    }
  }
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace fedsim::models::text
