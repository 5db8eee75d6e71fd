// Federated training as processes on one Simulation (sim/README.md): the participations
// (download -> train -> upload chains, participations.hpp), the server strategy (sync rounds or
// FedBuff, strategy.hpp), the aggregator (global adapter, server rule, DP, SCAFFOLD;
// aggregator.hpp) and the round recorder (recorder.hpp). Federation wires them: it is the
// strategy's host and keeps the aggregator's and recorder's state in checkpoints. Simulated
// time comes from the system model (FLOPs and bytes), never from wall time.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "sim/aggregator.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/participations.hpp"
#include "sim/recorder.hpp"
#include "sim/simulation.hpp"
#include "sim/strategy.hpp"
#include "sim/trainer.hpp"

namespace fedsim::sim {

// A feature that runs beside the federation as an observer process on its Simulation (sim/eval:
// the open-ended evaluation's server jobs): it sees every recorded round and adds its results at
// the end. It never changes the federation's results: its events and jobs are left out of the
// run's totals (Simulation::add, observer).
class RoundObserver : public Process {
 public:
  virtual uint32_t n_kinds() const { return 0; }
  // Round `round` was recorded (0: the starting model); `global` is the global adapter after it.
  virtual void on_round(int64_t round, const std::vector<float>& global) = 0;
  // After Simulation::run: the feature's results (RunResults::write_extra).
  virtual void finish(RunResults& results) = 0;
};

// A run feature: the list is sim/generators/generators.cpp's, so the core names no feature.
struct RunFeature {
  const char* name;
  std::function<bool(const ExperimentConfig&)> enabled;
  std::function<void(const ExperimentConfig&)> validate;  // UserError naming the key; run by validate_experiment
  std::function<std::unique_ptr<RoundObserver>(const ExperimentConfig&, const RunInputs&, const RunHooks&)> make;
};
const std::vector<RunFeature>& run_features();

class Federation final : public Process, public StrategyHost {
 public:
  // n_samples: every client's data size n_i, or kDataPending (aggregator.hpp) for a client whose
  // data arrives during the run (U2S generation, on the same Simulation): it is not eligible
  // until set_client_data. Registers its processes with `sim`.
  Federation(const ExperimentConfig& cfg, std::vector<int64_t> n_samples, LocalTrainer& trainer, const RunHooks& hooks,
             Simulation& sim);
  // `o` sees every round recorded from now on.
  void observe(RoundObserver& o) { observers_.push_back(&o); }
  // A fresh run: row 0 (the starting model) and the strategy's first work.
  void start();
  // A pending client's data exists now: its size n_i (weights, local steps) and whether it
  // trains from now on (a client that generated nothing never does).
  void set_client_data(int32_t client, int64_t n, bool trains);
  // Called once, when the last round is recorded: the run is over for the processes beside it
  // (U2S generation stops there, so the run ends with its training).
  void set_on_done(std::function<void()> f) { on_done_ = std::move(f); }
  // After Simulation::run: totals, idle times and the timeline (every process's jobs).
  RunResults finish();

  // StrategyHost.
  int n_clients() const override { return static_cast<int>(n_.size()); }
  size_t launch(int32_t client, int64_t round) override { return parts_.launch(client, round); }
  bool active(size_t slot) const override { return parts_.work(slot).active; }
  int32_t client_of(size_t slot) const override { return parts_.work(slot).client; }
  int64_t round_of(size_t slot) const override { return parts_.work(slot).round; }
  void release(size_t slot) override { parts_.release(slot); }
  void cancel_active() override { parts_.cancel_active(); }
  std::vector<int32_t> eligible(const std::vector<bool>* exclude) const override;
  Tick next_eligible(const std::vector<bool>* exclude) const override;
  double mean_train_loss(const std::vector<size_t>& slots) const override;
  void aggregate(const std::vector<size_t>& slots, const std::vector<double>& extra, int64_t round) override;
  void record_participation(std::vector<int32_t> clients) override { results_.participation.push_back(std::move(clients)); }
  void record(RoundRow row) override;

  // Process: the aggregator's and the recorder's state.
  void save(ArchiveWriter& ar) const override;
  void load(ArchiveReader& ar) override;

 private:
  template <class Ar>
  void roster_fields(Ar& ar) { ar(n_, ready_); }

  const ExperimentConfig& cfg_;
  std::vector<int64_t> n_;
  std::vector<bool> ready_;  // whether the client's data is there and it may train
  bool pending_ = false;     // some data arrives during the run: n_ and ready_ are state
  const RunHooks& hooks_;
  Simulation& sim_;
  RunResults results_;
  Aggregator agg_;
  RoundRecorder recorder_;
  Participations parts_;
  std::unique_ptr<ServerStrategy> strategy_;
  std::function<void()> on_done_;
  std::vector<RoundObserver*> observers_;
};

// The run features `c` enables (run_features()), added to `sim` as observers of `fed`; the
// caller hands them the results after the run (RoundObserver::finish).
std::vector<std::unique_ptr<RoundObserver>> observe_run_features(Simulation& sim, Federation& fed,
                                                                 const ExperimentConfig& c, const RunInputs& inputs,
                                                                 const RunHooks& hooks);

// Runs `sim` to its end with `control`'s checkpoints: resumes from the checkpoint file when it
// holds this config's state, else calls `start` (a fresh run's first events) first.
void run_resumable(Simulation& sim, const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control,
                   const std::function<void()>& start);

}  // namespace fedsim::sim
