// Results of one run, and their HDF5 file (layout: experiments/RESULTS.md). Written atomically:
// a temporary name, then a rename once complete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::sim {

inline constexpr int64_t kResultsFormatVersion = 1;
inline constexpr const char* kResultsKind = "fedsim-results";

// Row k describes the global model after k completed rounds; row 0 is the starting model.
// Values that do not apply (train_loss in row 0, eval where it was skipped) are NaN.
struct RoundRow {
  int64_t round = 0;
  double sim_time_s = 0.0;
  double train_loss = 0.0;
  double eval_loss = 0.0;
  double eval_accuracy = 0.0;
  double wall_s = 0.0;
};

struct RunResults {
  std::string fedsim_version;
  std::string config_yaml;  // resolved config
  int64_t seed = 0;
  std::vector<RoundRow> rounds;
  std::vector<std::vector<int32_t>> participation;  // per completed round, sampled client ids (sorted)
  std::vector<int64_t> client_n_samples;            // per client
  double wall_total_s = 0.0;
};

void write_results(const RunResults& r, const std::string& path);
RunResults read_results(const std::string& path);

}  // namespace fedsim::sim
