// MAS-GPT end to end (sim/masgpt/README.md): query pools, the agents' LLM, every base MAS scored
// on the construction pool, the (query, MAS) data set, the generator, the held-out evaluation of
// every base MAS and of MAS-GPT, and MAS-GPT's queries as server jobs in simulated time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/table.hpp"
#include "sim/config.hpp"
#include "sim/jobs.hpp"
#include "sim/masgpt/agents_llm.hpp"
#include "sim/masgpt/executor.hpp"

namespace fedsim::sim::masgpt {

inline constexpr int64_t kResultsFormatVersion = 1;
inline constexpr const char* kResultsFormatKind = "fedsim-masgpt-results";

struct MethodRow {
  std::string name;                 // a base MAS, or "mas-gpt"
  std::vector<double> accuracy;     // per query set
  double average = 0.0;             // mean over query sets (the paper's "average")
  double calls_per_query = 0.0;     // LLM calls per query (MAS-GPT: + generation, as half a call)
  double tokens_per_query = 0.0;    // prompt + completion tokens per query
};

struct MasgptResults {
  std::vector<std::string> sets;
  std::vector<MethodRow> rows;                 // base MAS in library order, then mas-gpt
  std::array<int64_t, kOutcomes> outcomes{};   // MAS-GPT: outcome of the generated MAS per query
  int64_t fallbacks = 0, fallback_failed = 0, queries = 0;
  int64_t distinct_mas = 0;                    // distinct generated texts
  double generation_calls = 0.5;               // counted per query for MAS-GPT's one generation
  double makespan_s = 0.0;                     // simulated time of MAS-GPT's jobs
  double wall_s = 0.0;
  std::string data_path;                       // the (query, MAS) data set
  std::vector<std::string> chosen;             // "family: base MAS" of inter-consistency
  std::vector<std::string> test_queries, generated, answers;
  std::vector<uint8_t> correct;
  std::vector<TimelineRow> timeline;
  std::string config_yaml;
};

// Runs the whole pipeline from the config (masgpt section; model.* shapes; lora.* for LoRA
// generator training; experiment.seed and cache_dir). UserError for config problems.
MasgptResults run_masgpt(const ExperimentConfig& c, const Log& log);

std::string masgpt_results_path(const ExperimentConfig& c);
// /queries of the results file, one descriptor per column.
const h5::ColumnTable<MasgptResults>& queries_table();
// Atomic; read checks kind and version.
void write_masgpt_results(const MasgptResults& r, const std::string& path);
MasgptResults read_masgpt_results(const std::string& path);
// The paper-style table: accuracy per query set and average for every method, LLM calls and
// tokens per query; then MAS-GPT's outcome counts.
std::string format_table(const MasgptResults& r);

}  // namespace fedsim::sim::masgpt
