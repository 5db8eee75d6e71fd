// UTF-8, code point classes and NFC (models/text/unicode.hpp), and the pre-tokenizer regexes
// (split_regex.hpp) on hand-worked strings.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "models/text/split_regex.hpp"
#include "models/text/unicode.hpp"

using namespace fedsim::models::text;

namespace {

std::vector<uint32_t> cps_of(const std::string& s) { return decode_code_points(s).cp; }

// The regex's pieces of s, as strings.
std::vector<std::string> pieces(SplitRegex re, const std::string& s) {
  const CodePoints c = decode_code_points(s);
  std::vector<std::string> out;
  for (size_t i = 0; i < c.size();) {
    const size_t n = split_match(re, c.cp.data(), i, c.size());
    out.push_back(s.substr(c.begin[i], c.end[i + n - 1] - c.begin[i]));
    i += n;
  }
  return out;
}

std::vector<uint32_t> hex_list(const std::string& field) {
  std::istringstream in(field);
  std::vector<uint32_t> v;
  for (std::string h; in >> h;) v.push_back(static_cast<uint32_t>(std::stoul(h, nullptr, 16)));
  return v;
}

std::vector<uint32_t> nfc_of(const std::vector<uint32_t>& v) {
  CodePoints c;
  for (uint32_t x : v) c.push(x, 0, 0);
  nfc(c);
  return c.cp;
}

}  // namespace

TEST_CASE("UTF-8: code points, invalid bytes as raw bytes that round-trip, lossy decoding") {
  CHECK(cps_of("a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E") == std::vector<uint32_t>{0x61, 0xE9, 0x20AC, 0x1D11E});
  // Overlong, surrogate, cut short, lone continuation: one raw byte each.
  CHECK(cps_of("\xC0\x80") == std::vector<uint32_t>{kRawByteBase + 0xC0, kRawByteBase + 0x80});
  CHECK(cps_of("\xED\xA0\x80").size() == 3);
  CHECK(cps_of("\xE2\x82") == std::vector<uint32_t>{kRawByteBase + 0xE2, kRawByteBase + 0x82});
  for (const std::string& s : {std::string("\xC0\x80\xFFok\xE2\x82"), std::string("\x80")}) {
    std::string back;
    for (uint32_t c : cps_of(s)) utf8_append(back, c);
    CHECK(back == s);
    CHECK_FALSE(is_valid_utf8(s));
  }
  CHECK(is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x9A\x80"));
  // Maximal subparts: E2 82 is one, C0 and 80 are one each, ED then A0 and 80.
  CHECK(utf8_lossy("a\xE2\x82" "b") == "a\xEF\xBF\xBD" "b");
  CHECK(utf8_lossy("\xC0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(utf8_lossy("\xF0\x9F\x98x") == "\xEF\xBF\xBDx");
  CHECK(utf8_lossy("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(utf8_lossy("fine \xE2\x9C\x93") == "fine \xE2\x9C\x93");
}

TEST_CASE("code point classes from the Unicode 15.0 tables") {
  for (uint32_t c : {0x61u, 0xE9u, 0x416u, 0x627u, 0x65E5u, 0x3131u, 0x17Fu, 0x1D400u})
    CHECK_MESSAGE(is_letter(c), std::hex << c);
  for (uint32_t c : {0x31u, 0x21u, 0x1F600u, 0x301u, 0x20u, 0x2581u, kRawByteBase + 0xC3})
    CHECK_MESSAGE(!is_letter(c), std::hex << c);
  for (uint32_t c : {0x37u, 0x663u, 0x216Bu, 0xBDu, 0xB2u, 0xFF11u}) CHECK_MESSAGE(is_number(c), std::hex << c);
  // White_Space: NEL and NBSP are, ZERO WIDTH SPACE and the BOM are not (JavaScript's \s differs).
  for (uint32_t c : {0x9u, 0xAu, 0xDu, 0x20u, 0x85u, 0xA0u, 0x2028u, 0x3000u}) CHECK_MESSAGE(is_white_space(c), std::hex << c);
  for (uint32_t c : {0x200Bu, 0xFEFFu, 0x1Cu, 0x2581u}) CHECK_MESSAGE(!is_white_space(c), std::hex << c);
  CHECK(combining_class(0x301) == 230);
  CHECK(combining_class(0x323) == 220);
  CHECK(combining_class(0x93C) == 7);
  CHECK(combining_class('a') == 0);
}

TEST_CASE("NFC: composition, singletons, Hangul, exclusions, reordering, spans") {
  CHECK(nfc("e\xCC\x81") == "\xC3\xA9");                         // e + U+0301 -> é
  CHECK(nfc("\xE2\x84\xAB") == "\xC3\x85");                      // ANGSTROM SIGN -> Å
  CHECK(nfc("A\xCC\x8A") == "\xC3\x85");                         // A + ring -> Å
  CHECK(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8") == "\xEA\xB0\x81");  // jamo -> 각
  CHECK(nfc("\xE0\xA5\x98") == "\xE0\xA4\x95\xE0\xA4\xBC");      // U+0958 is excluded: stays decomposed
  // a + acute (230) + dot below (220): reordered, dot below composes (U+1EA1), acute stays.
  CHECK(nfc("a\xCC\x81\xCC\xA3") == "\xE1\xBA\xA1\xCC\x81");
  CHECK(nfc("Stra\xC3\x9F" "e \xE6\x97\xA5\xE6\x9C\xAC") == "Stra\xC3\x9F" "e \xE6\x97\xA5\xE6\x9C\xAC");
  CodePoints c = decode_code_points("xe\xCC\x81y", 10);
  nfc(c);
  CHECK(c.cp == std::vector<uint32_t>{'x', 0xE9, 'y'});
  CHECK(c.begin == std::vector<uint32_t>{10, 11, 14});
  CHECK(c.end == std::vector<uint32_t>{11, 14, 15});
}

TEST_CASE("NFC against the Unicode NormalizationTest.txt (where Debian's unicode-data is installed)") {
  const char* path = "/usr/share/unicode/NormalizationTest.txt.bz2";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: " << path << " not found (Debian package unicode-data)");
    return;
  }
  FILE* f = popen((std::string("bzcat ") + path).c_str(), "r");
  REQUIRE(f);
  char buf[4096];
  int lines = 0, failures = 0;
  while (fgets(buf, sizeof buf, f)) {
    const std::string line(buf);
    if (line.empty() || line[0] == '#' || line[0] == '@') continue;
    std::vector<std::vector<uint32_t>> col;
    std::istringstream in(line);
    for (std::string field; col.size() < 5 && std::getline(in, field, ';');) col.push_back(hex_list(field));
    if (col.size() < 5) continue;
    ++lines;
    // c2 == NFC(c1) == NFC(c2) == NFC(c3), c4 == NFC(c4) == NFC(c5) (header of the file).
    const bool ok = nfc_of(col[0]) == col[1] && nfc_of(col[1]) == col[1] && nfc_of(col[2]) == col[1] &&
                    nfc_of(col[3]) == col[3] && nfc_of(col[4]) == col[3];
    if (!ok && ++failures <= 3) FAIL_CHECK("NFC differs on: " << line);
  }
  pclose(f);
  MESSAGE(lines << " NormalizationTest lines, " << failures << " failures");
  CHECK(lines > 15000);
  CHECK(failures == 0);
}

TEST_CASE("pre-tokenizer regexes: GPT-2, Llama-3, Qwen2 pieces worked by hand") {
  using V = std::vector<std::string>;
  const std::string s = "Hello  world\n\n  x I'M 12345 ?!\n";
  CHECK(pieces(SplitRegex::gpt2, s) == V{"Hello", " ", " world", "\n\n ", " x", " I", "'", "M", " 12345", " ?!", "\n"});
  CHECK(pieces(SplitRegex::llama3, s) == V{"Hello", " ", " world", "\n\n", " ", " x", " I", "'M", " ", "123", "45", " ?!\n"});
  CHECK(pieces(SplitRegex::qwen2, s) == V{"Hello", " ", " world", "\n\n", " ", " x", " I", "'M", " ", "1", "2", "3", "4", "5", " ?!\n"});
  // Contractions: case-insensitive in Llama-3 (U+017F folds to s), not in GPT-2.
  CHECK(pieces(SplitRegex::llama3, "we'LL x'\xC5\xBF" "a") == V{"we", "'LL", " x", "'\xC5\xBF", "a"});
  CHECK(pieces(SplitRegex::gpt2, "we'LL") == V{"we", "'", "LL"});
  // A non-letter glued to a word (Llama-3), white space before a newline run, trailing spaces.
  CHECK(pieces(SplitRegex::llama3, "$x \t\n\ny  ") == V{"$x", " \t\n\n", "y", "  "});
  CHECK(pieces(SplitRegex::llama3, "a\r\nb") == V{"a", "\r\n", "b"});
  // NEL (U+0085) is white space, the BOM (U+FEFF) is not.
  CHECK(pieces(SplitRegex::llama3, "a\xC2\x85\xC2\x85" "b") == V{"a", "\xC2\x85", "\xC2\x85" "b"});
  CHECK(pieces(SplitRegex::llama3, "a \xEF\xBB\xBF" "b") == V{"a", " \xEF\xBB\xBF", "b"});
  SplitRegex re{};
  CHECK(parse_split_regex(split_regex_pattern(SplitRegex::qwen2), re));
  CHECK(re == SplitRegex::qwen2);
  CHECK_FALSE(parse_split_regex("\\w+", re));
}
