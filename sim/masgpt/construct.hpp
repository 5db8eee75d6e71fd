// Consistency-oriented data construction (MAS-GPT, Ye et al., ICML 2025: its consistency-oriented data construction): every base MAS runs
// on every query of the construction pool and is scored 0/1; inter-consistency gives every
// query of a group (task family, query set, or the query alone) the MAS with the best summed
// score over the group (ties: fewer calls, then library order); intra-consistency adjusts the
// chosen MAS to the query and keeps the adjustment only when the query's score does not drop.
// The result is the (query, MAS) data set, stored in HDF5 (format in sim/masgpt/README.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/llm/backend.hpp"
#include "sim/masgpt/agents_llm.hpp"
#include "sim/masgpt/executor.hpp"
#include "sim/masgpt/masgpt_config.hpp"

namespace fedsim::sim::masgpt {

inline constexpr int64_t kDataFormatVersion = 1;
inline constexpr const char* kDataFormatKind = "fedsim-masgpt-data";

struct MasDataset {
  std::vector<std::string> sets, families, base;  // names; base = the scored MAS, in order
  std::vector<Query> queries;
  std::vector<uint8_t> scores;      // (queries, base): 1 = the base MAS answered correctly
  std::vector<int32_t> chosen;      // per query: index into base chosen by inter-consistency
  std::vector<uint8_t> adjusted;    // per query: intra-consistency kept an adjustment
  std::vector<std::string> mas;     // per query: the MAS text of the data set
  int64_t adjustments_tried = 0;    // queries whose drawn adjustment applied
};

struct ConstructConfig {
  std::vector<std::string> base;    // base MAS names
  InterGroups inter = InterGroups::family;
  bool intra = true;
  uint64_t seed = 1;
};

MasDataset construct(const std::vector<QuerySet>& sets, const std::vector<Query>& queries, llm::Backend& backend,
                     const ExecConfig& exec, const ConstructConfig& cc, const Log& log);

// The (query, MAS) pairs the generator learns from.
std::vector<std::pair<std::string, std::string>> training_pairs(const MasDataset& d);

// Atomic write; read checks kind and format version (UserError naming the path).
void write_mas_dataset(const MasDataset& d, const std::string& path);
MasDataset read_mas_dataset(const std::string& path);

}  // namespace fedsim::sim::masgpt
