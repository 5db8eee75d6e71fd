// Config section `eval`: FedLLM-Bench's open-ended evaluation as server jobs of a run
// (sim/eval/README.md). Keys are declared in visit_eval (eval_config.cpp); the section is
// registered in sim/generators/generators.cpp, so the core config does not include it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "sim/config_schema.hpp"
#include "sim/eval/eval.hpp"
#include "sim/llm/backend.hpp"

namespace fedsim::sim {

struct EvalSection {
  bool enabled() const { return !benchmarks.empty(); }
  std::vector<std::string> benchmarks{};  // mtbench, vicuna, advbench, refer, aya; [] = off
  int64_t every = 0;                      // rounds between evaluations; 0 = only the last round
  bool start = false;                     // on: the starting model (round 0) too
  // Files in the upstream formats (datasets/FORMAT.md, "Benchmarks").
  std::string mtbench_questions = "";     // MT-Bench question.jsonl
  std::string mtbench_references = "";    // reference_answer folder, or one <model>.jsonl
  std::string vicuna_questions = "";      // Vicuna question.jsonl
  std::string judge_prompts = "";         // FastChat judge_prompts.jsonl (mtbench, vicuna)
  std::string advbench = "";              // advbench.csv
  std::string refer_testset = "";         // GPT4-refer testset.json; "" = the run data set's test split
  std::string aya = "";                   // Aya test_datasets.json
  // The judge: an OpenAI-compatible chat-completions endpoint.
  std::string judge_url = "http://127.0.0.1:8080/v1";
  std::string judge_model = "gpt-4";
  std::string judge_api_key_env = "";     // environment variable holding a bearer token; "" = none
  double judge_timeout_s = 60.0;
  int64_t judge_retries = 5;
  double judge_backoff_s = 1.0;
  double judge_rpm = 0.0;                 // requests per minute; 0 = unlimited
  double judge_latency_s = 5.0;           // simulated seconds per judge request (cache hits: none)
  // Decoding overrides of the answers; negative / 0 = upstream's per benchmark and category.
  double temperature = -1.0;
  int64_t max_new_tokens = 0;
  // The judgment cache (sim/eval/judge_cache.hpp).
  bool cache = true;
  std::string cache_path = "";            // "" = <experiment.cache_dir>/judge-cache.h5
};

void visit_eval(EvalSection& s, Visitor& v);

struct ExperimentConfig;
using EvalConfigSection = SectionOf<EvalSection, visit_eval>;
// The run's eval section (registered in sim/generators/generators.cpp).
const EvalSection& eval_of(const ExperimentConfig& c);
EvalSection& eval_of(ExperimentConfig& c);

namespace eval {

// The listed benchmarks, read from their files and checked (UserError "<config>: eval...: <file>:
// <line>: ..."). `data` supplies GPT4-refer's questions when eval.refer_testset is empty; with
// data null that benchmark is left out (validation before the data set exists).
std::vector<Benchmark> load_eval_benchmarks(const ExperimentConfig& c, const datasets::FederatedDataset* data);
// Checks of the section that need no data set: the files, the judge, what a run with eval
// needs (a model, a global adapter). Run by validate_experiment.
void validate_eval(const ExperimentConfig& c);
// The judge endpoint of eval.judge_* (the API key read from eval.judge_api_key_env: UserError
// when that variable is unset).
llm::OpenAIConfig judge_endpoint(const ExperimentConfig& c);
std::string judge_cache_path(const ExperimentConfig& c);

}  // namespace eval
}  // namespace fedsim::sim
