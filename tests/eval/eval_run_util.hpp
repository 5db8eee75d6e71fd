// Shared by the run tests of the open-ended evaluation: the run's config (nano model, the
// repository's samples, a judge on loopback) and comparisons of results.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "sim/results.hpp"
#include "tests/eval/eval_test_util.hpp"

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

inline bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Everything of a run but /eval and /timeline's eval jobs (wall-clock fields included: callers
// pin them or compare runs of one process).
inline void check_same_training(const sim::RunResults& a, const sim::RunResults& b, bool wall) {
  REQUIRE(a.rounds.size() == b.rounds.size());
  for (size_t i = 0; i < a.rounds.size(); ++i) {
    const sim::RoundRow &x = a.rounds[i], &y = b.rounds[i];
    CAPTURE(i);
    CHECK(x.round == y.round);
    CHECK(same_value(x.sim_time_s, y.sim_time_s));
    CHECK(same_value(x.train_loss, y.train_loss));
    CHECK(same_value(x.eval_loss, y.eval_loss));
    CHECK(same_value(x.eval_accuracy, y.eval_accuracy));
    CHECK(x.selected == y.selected);
    CHECK(x.completed == y.completed);
    CHECK(x.stragglers == y.stragglers);
    CHECK(x.dropouts == y.dropouts);
    CHECK(same_value(x.duration_s, y.duration_s));
    if (wall) CHECK(same_value(x.wall_s, y.wall_s));
    if (wall) CHECK(same_value(x.peak_rss_mb, y.peak_rss_mb));
  }
  CHECK(a.participation == b.participation);
  const sim::ClientTotals &p = a.clients, &q = b.clients;
  CHECK(p.n_samples == q.n_samples);
  CHECK(p.rounds_joined == q.rounds_joined);
  CHECK(p.updates_accepted == q.updates_accepted);
  CHECK(p.tokens_trained == q.tokens_trained);
  CHECK(p.busy_s == q.busy_s);
  CHECK(p.idle_s == q.idle_s);
  CHECK(p.flops_per_s == q.flops_per_s);
  CHECK(p.bits_per_s == q.bits_per_s);
  CHECK(a.global_adapter == b.global_adapter);
  CHECK(a.client_eval_accuracy == b.client_eval_accuracy);
  CHECK(a.sim_total_s == b.sim_total_s);
  CHECK(a.events == b.events);
  CHECK(a.jobs_started == b.jobs_started);
  std::vector<sim::TimelineEntry> x, y;
  for (const auto& t : a.timeline)
    if (t.kind != 3) x.push_back(t);  // 3 = eval
  for (const auto& t : b.timeline)
    if (t.kind != 3) y.push_back(t);
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(i);
    CHECK(x[i].client == y[i].client);
    CHECK(x[i].kind == y[i].kind);
    CHECK(x[i].end == y[i].end);
    CHECK(x[i].round == y[i].round);
    CHECK(x[i].start_s == y[i].start_s);
    CHECK(x[i].end_s == y[i].end_s);
  }
}

}  // namespace fedsim::test
