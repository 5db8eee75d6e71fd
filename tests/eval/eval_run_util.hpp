// Shared by the run tests of the open-ended evaluation: the run's config (nano model, the
// repository's samples, a judge on loopback); comparisons of results in tests/sim/results_check.hpp.
#pragma once

#include <string>

#include "tests/eval/eval_test_util.hpp"
#include "tests/sim/results_check.hpp"

namespace fedsim::test {

// Three rounds; evaluated after rounds 0 (eval.start), 2 (eval.every) and 3 (the last).
inline std::string eval_run_yaml(const std::string& judge_url, const std::string& cache_path, int64_t checkpoint_every = 0,
                                 double judge_latency_s = 2.5) {
  return "experiment:\n  seed: 3\n  cache_dir: evalrun-cache\n  checkpoint_every: " + std::to_string(checkpoint_every) +
         "\ndata:\n  samples_mean: 20\n  test_samples: 8\n  public_samples: 200\n"
         "model:\n  preset: nano\n  pretrain_steps: 300\n  seq_len: 64\n  products: portable\n"
         "federation:\n  clients: 4\n  clients_per_round: 2\n  rounds: 3\n  local_steps: 2\n  batch_size: 4\n  lr: 0.05\n"
         "system:\n  server_gflops: 0.01\n  dropout_prob: 0.1\n"
         "eval:\n  benchmarks: [mtbench, vicuna, advbench, refer]\n  every: 2\n  start: on\n"
         "  mtbench_questions: " + sample("mtbench_question.jsonl") + "\n"
         "  mtbench_references: " + sample("mtbench_reference.jsonl") + "\n"
         "  vicuna_questions: " + sample("vicuna_question.jsonl") + "\n"
         "  judge_prompts: " + sample("judge_prompts.jsonl") + "\n"
         "  advbench: " + sample("advbench.csv") + "\n"
         "  refer_testset: " + sample("refer_testset.json") + "\n"
         "  judge_url: " + judge_url + "\n  judge_model: judge-x\n  judge_retries: 0\n  judge_backoff_s: 0\n"
         "  judge_timeout_s: 5\n  judge_latency_s: " + std::to_string(judge_latency_s) + "\n  max_new_tokens: 8\n"
         "  cache_path: " + cache_path + "\n";
}

}  // namespace fedsim::test
