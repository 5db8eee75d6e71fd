// Synthetic languages, filler, styles and the moment calibration of the presets.
#include "text_gen.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"

namespace fedsim::datasets::detail {
namespace {

struct Language {
  const char* code;
  const char* consonants;
  const char* vowels;
};
// Order is part of the data (language indices in files): append only. Inventories are
// romanisations chosen to look different, not linguistics.
const Language kLanguages[] = {
    {"ar", "bdfhjklmnqrstwyz", "aiu"}, {"en", "bcdfghklmnprstvw", "aeiou"}, {"es", "bcdfgjlmnprstv", "aeio"},
    {"fr", "bcdfgjlmnprstv", "aeiouy"}, {"pt", "bcdfgjlmnprstvz", "aeiou"}, {"ru", "bdgkmnprstvz", "aeioy"},
    {"te", "bdgjklmnprstv", "aeiou"},  {"zh", "bcdfghjklmnpqstxz", "aeiou"}, {"de", "bdfghklmnprstwz", "aeiou"},
    {"it", "bcdfglmnprstvz", "aeio"},
};
constexpr int kNumLanguages = static_cast<int>(sizeof(kLanguages) / sizeof(kLanguages[0]));

uint64_t code_key(const char* code) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (const char* p = code; *p; ++p) h = (h ^ static_cast<unsigned char>(*p)) * 0x100000001b3ULL;
  return h;
}

std::string syllables(int lang, int n, Rng& rng) {
  const Language& l = kLanguages[lang];
  const size_t nc = std::char_traits<char>::length(l.consonants), nv = std::char_traits<char>::length(l.vowels);
  std::string w;
  for (int i = 0; i < n; ++i) {
    w += l.consonants[rng.below(nc)];
    w += l.vowels[rng.below(nv)];
  }
  return w;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

int n_languages() { return kNumLanguages; }
const char* language_code(int lang) {
  FEDSIM_ASSERT(lang >= 0 && lang < kNumLanguages);
  return kLanguages[lang].code;
}
int find_language(const std::string& code) {
  for (int i = 0; i < kNumLanguages; ++i)
    if (code == kLanguages[i].code) return i;
  return -1;
}

namespace {
// Fixed per (language, concept); a colliding word is redrawn so translation is a bijection.
std::vector<std::vector<std::string>> build_lexicons() {
  std::vector<std::vector<std::string>> lex(kNumLanguages);
  for (int lang = 0; lang < kNumLanguages; ++lang)
    for (int c = 0; c < kConcepts; ++c)
      for (uint64_t attempt = 0;; ++attempt) {
        Rng rng(code_key(kLanguages[lang].code), static_cast<uint64_t>(c), attempt, Purpose::data_generation);
        std::string w = syllables(lang, 2, rng);
        if (std::find(lex[lang].begin(), lex[lang].end(), w) == lex[lang].end()) {
          lex[lang].push_back(std::move(w));
          break;
        }
      }
  return lex;
}
}  // namespace

std::string lexicon_word(int lang, int concept_id) {
  static const std::vector<std::vector<std::string>> lex = build_lexicons();  // thread-safe init
  FEDSIM_ASSERT(lang >= 0 && lang < kNumLanguages && concept_id >= 0 && concept_id < kConcepts);
  return lex[static_cast<size_t>(lang)][static_cast<size_t>(concept_id)];
}

Instance make_translation(int src, int dst, Rng& rng) {
  const int n = static_cast<int>(rng.range(1, 3));
  std::string in, out;
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng.below(kConcepts));
    in += (i ? " " : "") + lexicon_word(src, c);
    out += (i ? " " : "") + lexicon_word(dst, c);
  }
  return {std::string("translate ") + language_code(src) + ">" + language_code(dst) + ": " + in, out};
}

std::string solve_translation(const std::string& instruction) {
  auto fail = [&] {
    return UserError("instruction '" + instruction + "' is not a translation (expected 'translate <src>><dst>: <words>')");
  };
  const std::string head = "translate ";
  const size_t gt = instruction.find('>'), colon = instruction.find(": ");
  if (instruction.compare(0, head.size(), head) != 0 || gt == std::string::npos || colon == std::string::npos || gt > colon)
    throw fail();
  const int src = find_language(instruction.substr(head.size(), gt - head.size()));
  const int dst = find_language(instruction.substr(gt + 1, colon - gt - 1));
  if (src < 0 || dst < 0) throw fail();
  std::string out, word;
  const std::string words = instruction.substr(colon + 2) + " ";
  for (char ch : words) {
    if (ch != ' ') { word += ch; continue; }
    int found = -1;
    for (int c = 0; c < kConcepts && found < 0; ++c)
      if (lexicon_word(src, c) == word) found = c;
    if (found < 0) throw fail();
    out += (out.empty() ? "" : " ") + lexicon_word(dst, found);
    word.clear();
  }
  return out;
}

std::string filler(int lang, size_t bytes, Rng& rng) {
  std::string s;
  s.reserve(bytes + 32);
  while (s.size() < bytes) {
    const int words = static_cast<int>(rng.range(4, 10));
    for (int i = 0; i < words; ++i) {
      std::string w = syllables(lang, static_cast<int>(rng.range(1, 3)), rng);
      if (i == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
      s += w;
      s += (i + 1 == words ? ". " : " ");
    }
  }
  s.resize(bytes);
  if (bytes >= 2) s.back() = '.';
  return s;
}

int n_styles() { return 4; }
const char* style_name(int style) {
  static const char* const names[] = {"plain", "sentence", "bracket", "label"};
  FEDSIM_ASSERT(style >= 0 && style < 4);
  return names[style];
}
std::string styled(int style, const std::string& answer) {
  switch (style) {
    case 0: return answer;
    case 1: return "The answer is " + answer + ".";
    case 2: return "[" + answer + "]";
    case 3: return "ANSWER: " + answer;
  }
  FEDSIM_ASSERT(false);
}

std::string corrupt(const std::string& answer, Rng& rng) {
  if (all_digits(answer)) return std::to_string(std::stol(answer) + static_cast<long>(rng.range(1, 9)));
  if (answer.empty()) return "?";
  std::string s = answer;
  const size_t i = static_cast<size_t>(rng.below(s.size()));
  const char c = s[i];
  const char base = (c >= 'A' && c <= 'Z') ? 'A' : 'a';
  s[i] = static_cast<char>(base + (((c >= base && c < base + 26) ? c - base : 0) + 1 + rng.below(25)) % 26);
  return s == answer ? s + "x" : s;
}

double beta(Rng& rng, double a, double b) {
  const double x = rng.gamma(a), y = rng.gamma(b);
  if (!(x + y > 0.0)) return a / (a + b);
  return x / (x + y);
}

double normal_quantile(double p) {
  // P. J. Acklam, "An algorithm for computing the inverse normal cumulative distribution function" (2003).
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
  FEDSIM_ASSERT(p > 0.0 && p < 1.0);
  const double lo = 0.02425;
  if (p < lo || p > 1 - lo) {
    const double q = std::sqrt(-2 * std::log(p < lo ? p : 1 - p));
    const double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                     ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    return p < lo ? x : -x;
  }
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

namespace {
// (mu, sigma) such that moments(mu, sigma) = (mean, std): for each sigma, mu by bisection on
// the mean (increasing in mu); sigma by bisection on the std at that mean (increasing in sigma).
template <class Moments>
LogNormal refine(double mean, double std, Moments moments) {
  auto mu_for = [&](double sigma) {
    double lo = -30, hi = 30;
    for (int it = 0; it < 60; ++it) {
      double m = 0, s = 0;
      moments(LogNormal{0.5 * (lo + hi), sigma}, m, s);
      (m < mean ? lo : hi) = 0.5 * (lo + hi);
    }
    return 0.5 * (lo + hi);
  };
  double lo = 0, hi = 4;
  for (int it = 0; it < 40; ++it) {
    const double sigma = 0.5 * (lo + hi);
    double m = 0, s = 0;
    moments(LogNormal{mu_for(sigma), sigma}, m, s);
    (s < std ? lo : hi) = sigma;
  }
  const double sigma = 0.5 * (lo + hi);
  return {mu_for(sigma), sigma};
}
}  // namespace

LogNormal calibrate_floored_lognormal(double mean, double std, double floor) {
  if (!(mean > floor) || !(std > 0)) return {std::log(std::max(mean, 1e-9)), 0.0};
  constexpr int kGrid = 4000;
  std::vector<double> z(kGrid);
  for (int k = 0; k < kGrid; ++k) z[static_cast<size_t>(k)] = normal_quantile((k + 0.5) / kGrid);
  return refine(mean, std, [&](const LogNormal& p, double& m, double& s) {
    double s1 = 0, s2 = 0;
    for (double zk : z) {
      const double v = std::max(floor, std::exp(p.mu + p.sigma * zk));
      s1 += v;
      s2 += v * v;
    }
    m = s1 / kGrid;
    s = std::sqrt(std::max(0.0, s2 / kGrid - m * m));
  });
}

std::vector<int> calibrated_counts(int n, double mean, double std, int min_count, Rng& rng, int64_t total) {
  std::vector<size_t> rank(static_cast<size_t>(n));
  for (size_t i = 0; i < rank.size(); ++i) rank[i] = i;
  for (size_t i = rank.size(); i > 1; --i) std::swap(rank[i - 1], rank[rng.below(i)]);  // Fisher-Yates
  std::vector<double> z(rank.size());
  for (size_t i = 0; i < z.size(); ++i) z[i] = normal_quantile((static_cast<double>(rank[i]) + 0.5) / n);
  auto value = [&](const LogNormal& p, size_t i) { return std::min(1e9, std::exp(p.mu + p.sigma * z[i])); };
  auto counts_of = [&](const LogNormal& p) {
    std::vector<int> c(z.size());
    for (size_t i = 0; i < z.size(); ++i) c[i] = std::max(min_count, static_cast<int>(std::llround(value(p, i))));
    return c;
  };
  LogNormal p{std::log(mean), 0.0};
  if (n > 1 && std > 0)
    p = refine(mean, std, [&](const LogNormal& q, double& m, double& s) {
      const std::vector<int> c = counts_of(q);
      double s1 = 0, s2 = 0;
      for (int v : c) {
        s1 += v;
        s2 += static_cast<double>(v) * v;
      }
      m = s1 / n;
      s = std::sqrt(std::max(0.0, s2 / n - m * m));
    });
  std::vector<int> c = counts_of(p);
  if (total <= 0) return c;
  FEDSIM_ASSERT_MSG(total >= static_cast<int64_t>(n) * min_count, "calibrated_counts: total " << total << " < n * min");
  int64_t diff = total;
  for (int v : c) diff -= v;
  // Residual value - count: the most positive were rounded down the furthest, so they gain
  // first; the most negative lose first (never below min_count). Ties go to the lower index.
  std::vector<size_t> order(c.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return value(p, a) - c[a] > value(p, b) - c[b]; });
  while (diff > 0)
    for (size_t k = 0; k < order.size() && diff > 0; ++k, --diff) ++c[order[k]];
  while (diff < 0) {
    bool moved = false;
    for (size_t k = order.size(); k-- > 0 && diff < 0;)
      if (c[order[k]] > min_count) --c[order[k]], ++diff, moved = true;
    FEDSIM_ASSERT(moved);
  }
  return c;
}

}  // namespace fedsim::datasets::detail
