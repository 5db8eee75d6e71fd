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
  // n_samples: every client's data size n_i. Registers its processes with `sim`.
  Federation(const ExperimentConfig& cfg, std::vector<int64_t> n_samples, LocalTrainer& trainer, const RunHooks& hooks,
             Simulation& sim);
  // `o` sees every round recorded from now on.
  void observe(RoundObserver& o) { observers_.push_back(&o); }
  // A fresh run: row 0 (the starting model) and the strategy's first work.
  void start();
  // After Simulation::run: totals, idle times and the timeline.
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
  const ExperimentConfig& cfg_;
  std::vector<int64_t> n_;
  const RunHooks& hooks_;
  Simulation& sim_;
  RunResults results_;
  Aggregator agg_;
  RoundRecorder recorder_;
  Participations parts_;
  std::unique_ptr<ServerStrategy> strategy_;
  std::vector<RoundObserver*> observers_;
};

}  // namespace fedsim::sim
