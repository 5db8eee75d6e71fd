// The round recorder: one /rounds row per completed round (row 0: the starting model) with the
// global model's evaluation, the per-client evaluation for fairness studies, and the host's
// wall time and peak memory; it asks for a checkpoint every experiment.checkpoint_every rounds.
#pragma once

#include <cstdint>
#include <functional>
#include <type_traits>

#include "sim/aggregator.hpp"
#include "sim/experiment.hpp"
#include "sim/results.hpp"
#include "sim/simulation.hpp"
#include "sim/trainer.hpp"

namespace fedsim::sim {

class RoundRecorder {
 public:
  RoundRecorder(const ExperimentConfig& cfg, LocalTrainer& trainer, const Aggregator& agg, const RunHooks& hooks,
                Simulation& sim, RunResults& results);
  // Fills the row's sim_time_s, evaluation, wall_s and peak memory, and appends it.
  void record(RoundRow row);
  double wall_elapsed() const { return now_wall() - wall_start_; }  // host s since the run started, resumes included
  // Checkpoints: the results so far, and the wall time elapsed (so wall_s continues on resume).
  template <class Ar>
  void fields(Ar& ar);

 private:
  double now_wall() const;
  const ExperimentConfig& cfg_;
  LocalTrainer& trainer_;
  const Aggregator& agg_;
  const RunHooks& hooks_;
  Simulation& sim_;
  RunResults& results_;
  double wall_start_ = 0.0;  // host clock at the start of this process's run
};

template <class Ar>
void RoundRecorder::fields(Ar& ar) {
  ClientTotals& t = results_.clients;
  double elapsed = wall_elapsed();
  ar(appended(results_.rounds), appended(results_.participation), t.rounds_joined, t.updates_accepted,
     t.tokens_trained, t.sequences_trained, t.no_target_sequences, t.busy_s, t.local_eval_accuracy, appended(results_.client_eval_round),
     appended(results_.client_eval_accuracy), elapsed);
  if constexpr (std::is_same<Ar, ArchiveReader>::value) wall_start_ = now_wall() - elapsed;
}

}  // namespace fedsim::sim
