// The open-ended evaluation as server jobs of a run (sim/eval/README.md, "Scheduling"): an
// observer process on the run's Simulation. After every eval.every-th round (and the last; round
// 0 with eval.start) it answers each listed benchmark with that round's global adapter and has
// the answers judged, then runs one `eval` job per benchmark on the server, one at a time in
// round order, lasting generation FLOPs over system.server_gflops plus judge requests x
// eval.judge_latency_s. The federation never waits for it and its jobs are not in the run's
// totals, so training results are the same with and without evaluation.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/eval/eval.hpp"
#include "sim/eval/eval_results.hpp"
#include "sim/eval/judge_cache.hpp"
#include "sim/federation.hpp"

namespace fedsim::sim::eval {

class EvalRun final : public RoundObserver {
 public:
  // UserError before any training for bad files, a missing API key or an unreadable cache.
  EvalRun(const ExperimentConfig& c, const RunInputs& in, const RunHooks& hooks);
  void on_round(int64_t round, const std::vector<float>& global) override;
  void on_job_end(const Job& job, JobEnd how, const Event& ev) override;
  void finish(RunResults& results) override;
  void save(ArchiveWriter& ar) const override;
  void load(ArchiveReader& ar) override;

  // Whether round `round` is evaluated (eval.every, the last round, eval.start).
  static bool due(const ExperimentConfig& c, int64_t round);

 private:
  // A benchmark evaluated at the end of its round, waiting for (or running as) its server job.
  struct Pending {
    uint64_t benchmark = 0;
    EvalRecord record;  // start_s and end_s are set when the job ends
    template <class Ar>
    void fields(Ar& ar) { ar(benchmark, record); }
  };
  void start_next();

  const ExperimentConfig& cfg_;
  const models::Model& model_;
  const RunHooks& hooks_;
  std::vector<Benchmark> benchmarks_;
  std::unique_ptr<llm::Backend> judge_;
  std::unique_ptr<JudgmentCache> cache_;
  double flops_per_token_ = 0.0;
  // State (checkpointed): the server's queue, its front in flight when running_, and the
  // finished evaluations per benchmark.
  std::vector<Pending> queue_;
  bool running_ = false;
  std::vector<std::vector<EvalRecord>> done_;
};

}  // namespace fedsim::sim::eval
