// Internal to datasets/: the text pieces behind the calibrated presets (presets.cpp) --
// synthetic languages, a translation task, filler context, answer styles, corruption -- and
// the distribution helpers that hit Table 1's moments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.hpp"

namespace fedsim::datasets::detail {

// Synthetic languages named by the ISO codes of Fed-Aya's and WildChat's languages. Each has
// its own (romanised, ASCII) syllable inventory and a fixed 64-word lexicon derived from the
// code alone, so words and translations are the same for every seed and file.
int n_languages();
const char* language_code(int lang);
int find_language(const std::string& code);  // -1 when unknown
std::string lexicon_word(int lang, int concept_id);
constexpr int kConcepts = 64;

// "translate <src>><dst>: w1 w2" with 1-3 concept words of src; the answer is the words of dst.
struct Instance {
  std::string instruction, answer;
};
Instance make_translation(int src, int dst, Rng& rng);
// Ground truth of a translation instruction; UserError when it is not one.
std::string solve_translation(const std::string& instruction);

// Filler sentences in `lang`, exactly `bytes` long (ASCII), ending with '.' when long enough.
std::string filler(int lang, size_t bytes, Rng& rng);

// Answer styles that encode a client's preference (DPO). The answer stays on the first line.
int n_styles();
const char* style_name(int style);
std::string styled(int style, const std::string& answer);

// A wrong answer of the same shape (a number stays a number), never equal to `answer`.
std::string corrupt(const std::string& answer, Rng& rng);

// Beta(a, b) from two gamma draws; mean a/(a+b). Falls back to the mean when both underflow.
double beta(Rng& rng, double a, double b);
// Standard normal quantile (Acklam's rational approximation, rel. error < 1.2e-9).
double normal_quantile(double p);

// Lognormal parameters (mu, sigma) whose values floored at `floor` have the given mean and std,
// solved on a quantile grid: the floor is the task text a sample cannot be shorter than.
struct LogNormal {
  double mu = 0, sigma = 0;
};
LogNormal calibrate_floored_lognormal(double mean, double std, double floor);

// n per-client counts with the given mean and std (>= min_count): stratified lognormal
// quantiles (client i gets quantile (rank_i + 0.5) / n, ranks a seeded permutation), the
// (mu, sigma) refined so that the rounded counts hit both moments. With total > 0 the rounding
// is then corrected so that the counts add up to `total` exactly: the clients whose drawn value
// lies closest to the other rounding direction move by one (largest remainders).
std::vector<int> calibrated_counts(int n, double mean, double std, int min_count, Rng& rng, int64_t total = 0);

}  // namespace fedsim::datasets::detail
