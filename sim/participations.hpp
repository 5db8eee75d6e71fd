// Participations: each is one client's chain of jobs for one round (sync) or server version
// (async): download the adapter -> train -> upload. Real training runs when a train job
// completes, so work that is cut off is never computed; with federation.execution: batched the
// participations whose train jobs are already due to complete train together (train_due). The
// server strategy hears of every delivered update and every participation that dropped out.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/aggregator.hpp"
#include "sim/results.hpp"
#include "sim/simulation.hpp"
#include "sim/trainer.hpp"

namespace fedsim::sim {

class ServerStrategy;

class Participations : public Process {
 public:
  struct Work {  // one participation, in a reusable slot
    int32_t client = -1;
    int64_t round = 0;           // sync: round; async: server version it started from
    std::vector<float> start;    // the adapter it downloaded
    std::vector<float> adapter;  // its result
    std::vector<float> scaffold_delta;
    LocalResult result;
    uint32_t job = 0;
    bool active = false;
    bool trained = false;
    bool precomputed = false;  // batched: adapter and result computed ahead, not yet committed
    template <class Ar>
    void fields(Ar& ar) { ar(client, round, start, adapter, scaffold_delta, result, job, active, trained, precomputed); }
  };

  // n: every client's data size; totals: where rounds_joined, busy_s, tokens_trained count.
  Participations(const ExperimentConfig& cfg, const std::vector<int64_t>& n, LocalTrainer& trainer, Aggregator& agg,
                 ClientTotals& totals);
  void set_strategy(ServerStrategy& s) { strategy_ = &s; }
  bool batched() const { return batched_; }

  size_t launch(int32_t client, int64_t round);  // starts the download now; returns the slot
  const Work& work(size_t slot) const { return work_.at(slot); }
  Work& work(size_t slot) { return work_.at(slot); }
  void release(size_t slot) { free_.push_back(slot); }
  void cancel_active();
  bool any_active() const;

  void on_job_end(const Job& j, JobEnd how, const Event& ev) override;
  void save(ArchiveWriter& ar) const override { const_cast<Participations*>(this)->fields(ar); }
  void load(ArchiveReader& ar) override;

 private:
  template <class Ar>
  void fields(Ar& ar) { ar(work_, free_); }
  void train_now(size_t slot);
  std::vector<size_t> train_due(size_t slot) const;
  int steps_of(int32_t client) const;

  const ExperimentConfig& cfg_;
  const std::vector<int64_t>& n_;
  LocalTrainer& trainer_;
  Aggregator& agg_;
  ClientTotals& totals_;
  ServerStrategy* strategy_ = nullptr;
  int64_t bytes_ = 0;    // adapter bytes per transfer
  bool batched_ = false;  // federation.execution batched (and a model to train)
  std::vector<Work> work_;
  std::vector<uint64_t> free_;
};

}  // namespace fedsim::sim
