// UTF-8, code point properties and NFC (unicode.hpp).
#include "models/text/unicode.hpp"

#include <algorithm>
#include <unordered_map>

namespace fedsim::models::text {

uint32_t utf8_next(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  // Well-formed sequences as Unicode Table 3-7 (no overlongs, surrogates or > U+10FFFF).
  int n = 0;
  uint32_t cp = 0, lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  }
  if (n == 0 || i + static_cast<size_t>(n) >= s.size()) {  // not a lead byte, or cut short
    ++i;
    return kRawByteBase + b0;
  }
  for (int k = 1; k <= n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
      ++i;
      return kRawByteBase + b0;
    }
    cp = cp << 6 | (b & 0x3F);
  }
  i += static_cast<size_t>(n) + 1;
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp >= kRawByteBase) {
    out.push_back(static_cast<char>(cp - kRawByteBase));
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | cp >> 6));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | cp >> 12));
    out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | cp >> 18));
    out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    if (utf8_next(s, i) < kRawByteBase) {
      out.append(s.substr(start, i - start));
      continue;
    }
    // i = start + 1: extend over the continuation bytes that a well-formed sequence starting
    // with this lead byte could still have had (its maximal subpart).
    const auto b0 = static_cast<unsigned char>(s[start]);
    const int n = (b0 >= 0xC2 && b0 <= 0xDF) ? 1 : (b0 >= 0xE0 && b0 <= 0xEF) ? 2 : (b0 >= 0xF0 && b0 <= 0xF4) ? 3 : 0;
    for (int k = 1; k <= n && start + k < s.size(); ++k) {
      const auto b = static_cast<unsigned char>(s[start + k]);
      const unsigned lo = k > 1 ? 0x80 : b0 == 0xE0 ? 0xA0 : b0 == 0xF0 ? 0x90 : 0x80;
      const unsigned hi = k > 1 ? 0xBF : b0 == 0xED ? 0x9F : b0 == 0xF4 ? 0x8F : 0xBF;
      if (b < lo || b > hi) break;
      i = start + k + 1;
    }
    out += "\xEF\xBF\xBD";
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();)
    if (utf8_next(s, i) >= kRawByteBase) return false;
  return true;
}

namespace detail {
uint32_t lookup_props(uint32_t cp) {
  // Last range starting at or before cp.
  size_t lo = 0, hi = kPropRangeCount;
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    (kPropRanges[mid][0] <= cp ? lo : hi) = mid;
  }
  return kPropRanges[lo][1];
}
}  // namespace detail

CodePoints decode_code_points(std::string_view s, uint32_t offset) {
  CodePoints out;
  out.cp.reserve(s.size());
  out.begin.reserve(s.size());
  out.end.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t b = i;
    const uint32_t c = utf8_next(s, i);
    out.push(c, offset + static_cast<uint32_t>(b), offset + static_cast<uint32_t>(i));
  }
  return out;
}

namespace {

// Hangul syllables (Unicode 15.0, sec. 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

const uint32_t* find_decomposition(uint32_t cp) {
  const auto* first = detail::kDecompositions;
  const auto* last = first + detail::kDecompositionCount;
  const auto* it = std::lower_bound(first, last, cp, [](const uint32_t(&d)[3], uint32_t c) { return d[0] < c; });
  return (it != last && (*it)[0] == cp) ? *it : nullptr;
}

void decompose(uint32_t cp, uint32_t b, uint32_t e, CodePoints& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push(kLBase + s / kNCount, b, e);
    out.push(kVBase + (s % kNCount) / kTCount, b, e);
    if (s % kTCount) out.push(kTBase + s % kTCount, b, e);
    return;
  }
  const uint32_t* d = cp < 0xC0 ? nullptr : find_decomposition(cp);
  if (!d) {
    out.push(cp, b, e);
    return;
  }
  decompose(d[1], b, e, out);
  if (d[2]) decompose(d[2], b, e, out);
}

bool excluded(uint32_t cp) {
  for (size_t k = 0; k < detail::kCompositionExclusionCount; ++k)
    if (cp >= detail::kCompositionExclusions[k][0] && cp <= detail::kCompositionExclusions[k][1]) return true;
  return false;
}

// Primary composites: pair decompositions not excluded from composition.
const std::unordered_map<uint64_t, uint32_t>& composition_map() {
  static const auto map = [] {
    std::unordered_map<uint64_t, uint32_t> m;
    for (size_t k = 0; k < detail::kDecompositionCount; ++k) {
      const auto& d = detail::kDecompositions[k];
      if (d[2] && !excluded(d[0])) m.emplace(uint64_t{d[1]} << 32 | d[2], d[0]);
    }
    return m;
  }();
  return map;
}

uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto& m = composition_map();
  const auto it = m.find(uint64_t{a} << 32 | b);
  return it == m.end() ? 0 : it->second;
}

bool quick_check_nfc(const std::vector<uint32_t>& cps) {
  int last = 0;
  for (uint32_t c : cps) {
    if (c < 0x300) {
      last = 0;
      continue;
    }
    const uint32_t p = props(c);
    const int ccc = static_cast<int>(p >> 8);
    if ((ccc != 0 && last > ccc) || (p & (kNfcNo | kNfcMaybe))) return false;
    last = ccc;
  }
  return true;
}

}  // namespace

void nfc(CodePoints& text) {
  if (quick_check_nfc(text.cp)) return;
  CodePoints d;
  for (size_t i = 0; i < text.size(); ++i) decompose(text.cp[i], text.begin[i], text.end[i], d);
  // Canonical ordering: a stable sort of each run of non-starters by combining class.
  for (size_t i = 1; i < d.size(); ++i) {
    const int c = combining_class(d.cp[i]);
    if (c == 0) continue;
    for (size_t j = i; j > 0 && combining_class(d.cp[j - 1]) > c; --j) {
      std::swap(d.cp[j], d.cp[j - 1]);
      std::swap(d.begin[j], d.begin[j - 1]);
      std::swap(d.end[j], d.end[j - 1]);
    }
  }
  // Canonical composition: c joins the last starter unless a character between them has class
  // 0 or >= c's (the run is ordered, so the last one between decides).
  CodePoints out;
  long starter = -1;
  int last_ccc = -1;  // class of the last character after the starter; -1: none (adjacent)
  for (size_t i = 0; i < d.size(); ++i) {
    const uint32_t c = d.cp[i];
    const int ccc = combining_class(c);
    if (starter >= 0 && (last_ccc == -1 || last_ccc < ccc)) {
      const auto s = static_cast<size_t>(starter);
      if (const uint32_t composite = compose(out.cp[s], c)) {
        out.cp[s] = composite;
        out.begin[s] = std::min(out.begin[s], d.begin[i]);
        out.end[s] = std::max(out.end[s], d.end[i]);
        continue;
      }
    }
    if (ccc == 0) {
      starter = static_cast<long>(out.size());
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    out.push(c, d.begin[i], d.end[i]);
  }
  text = std::move(out);
}

std::string nfc(std::string_view s) {
  CodePoints cps = decode_code_points(s);
  nfc(cps);
  std::string out;
  out.reserve(s.size());
  for (uint32_t c : cps.cp) utf8_append(out, c);
  return out;
}

}  // namespace fedsim::models::text
