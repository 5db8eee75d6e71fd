// The open-ended evaluation's part of a results file, /eval/<benchmark>/ (layout:
// experiments/RESULTS.md "/eval"). Tables through column descriptors (common/table.hpp), one
// descriptor per column, so the format document and a test check the same list; text columns
// use the table layer's string columns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/table.hpp"
#include "sim/eval/eval.hpp"

namespace fedsim::sim::eval {

// One evaluation of one benchmark by the server: the round whose global adapter it answered
// with, when its job ran (simulated) and what it cost.
struct EvalRecord {
  int64_t round = 0;
  double start_s = 0.0, end_s = 0.0;
  double generation_flops = 0.0;  // (prompt + generated tokens) x the model's forward FLOPs per token
  double generation_s = 0.0;      // generation_flops over system.server_gflops
  double judge_s = 0.0;           // judge requests sent x eval.judge_latency_s
  BenchmarkResult result;
  template <class Ar>
  void fields(Ar& ar) { ar(round, start_s, end_s, generation_flops, generation_s, judge_s, result); }
};

// Rows of the four tables of /eval/<name>/.
struct EvalRoundRow {
  int64_t round = 0;
  double start_s = 0.0, end_s = 0.0, generation_s = 0.0, judge_s = 0.0;
  double score = 0.0, mean_rated = 0.0;
  int64_t questions = 0, judgments = 0, rated = 0, unparsable = 0, timeouts = 0, endpoint_errors = 0,
          malformed_replies = 0, answer_failures = 0;
  int64_t judge_requests = 0, judge_cache_hits = 0, prompt_tokens = 0, generated_tokens = 0, judge_prompt_tokens = 0,
          judge_completion_tokens = 0;
  double generation_flops = 0.0;
};
struct EvalCategoryRow {
  int64_t round = 0;
  std::string category;
  double mean = 0.0;
  int64_t rated = 0;
};
struct EvalTurnRow {
  int64_t round = 0;
  int32_t turn = 1;
  double mean = 0.0;
};
struct EvalItemRow {
  int64_t round = 0;
  int64_t question_id = 0;
  int32_t turn = 1;
  std::string category;
  double score = 0.0;
  int32_t verdict = 0;  // index into /eval/verdict_names
  uint8_t cached = 0;
  std::string answer, reply;
};

// One benchmark's tables, rows in evaluation order.
struct EvalTables {
  std::string name;
  BenchmarkKind kind = BenchmarkKind::mtbench;
  std::vector<EvalRoundRow> rounds;
  std::vector<EvalCategoryRow> categories;
  std::vector<EvalTurnRow> turns;
  std::vector<EvalItemRow> items;
};

const h5::RowTable<EvalRoundRow>& eval_rounds_table();          // /eval/<name>/rounds
const h5::RowTable<EvalCategoryRow>& eval_categories_table();  // /eval/<name>/categories
const h5::RowTable<EvalTurnRow>& eval_turns_table();            // /eval/<name>/turns
const h5::RowTable<EvalItemRow>& eval_items_table();            // /eval/<name>/items

// The tables of a benchmark's evaluations (`questions`: the benchmark's question count).
EvalTables eval_tables(const std::string& name, BenchmarkKind kind, size_t questions,
                       const std::vector<EvalRecord>& evaluations);
// /eval: attribute judge_model, string datasets verdict_names and benchmarks (the groups' names
// in evaluation order), and one group per benchmark.
void write_eval(const h5::Group& root, const std::string& judge_model, const std::vector<EvalTables>& benchmarks);
// /eval of a results file; empty when the run had no evaluation. UserError for a file that is
// not a results file or whose tables disagree.
std::vector<EvalTables> read_eval(const std::string& results_path);

}  // namespace fedsim::sim::eval
