// Server strategies: who trains when, and which updates the server aggregates when. A strategy
// is a process on the Simulation (its own events: round starts, deadlines, retries) that drives
// a StrategyHost: the federation in a run, a scripted fake in the contract tests
// (tests/sim/test_strategy.cpp), so each strategy is tested alone against job outcomes.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/results.hpp"
#include "sim/simulation.hpp"

namespace fedsim::sim {

struct ExperimentConfig;

// What a strategy drives. Slots name participations (download -> train -> upload chains).
class StrategyHost {
 public:
  virtual ~StrategyHost() = default;
  virtual int n_clients() const = 0;
  // Starts client's participation for `round` (its download starts now); returns its slot.
  virtual size_t launch(int32_t client, int64_t round) = 0;
  virtual bool active(size_t slot) const = 0;
  virtual int32_t client_of(size_t slot) const = 0;
  virtual int64_t round_of(size_t slot) const = 0;
  // The strategy is done with a delivered slot's update.
  virtual void release(size_t slot) = 0;
  // Cuts off every participation still running (recorded as cancelled); their slots are freed.
  virtual void cancel_active() = 0;
  // Clients that may start work now (online, and ready to train), less `exclude`d ones, and the
  // earliest later tick at which one may (kNever if none).
  virtual std::vector<int32_t> eligible(const std::vector<bool>* exclude) const = 0;
  virtual Tick next_eligible(const std::vector<bool>* exclude) const = 0;
  // Mean local training loss of the slots' updates, weighted by data size (NaN if none).
  virtual double mean_train_loss(const std::vector<size_t>& slots) const = 0;
  // The server rule over the slots' updates with weights base_i / sum(base) * extra_i.
  virtual void aggregate(const std::vector<size_t>& slots, const std::vector<double>& extra, int64_t round) = 0;
  // One completed round: its sampled clients (sorted) and its row (sim time, evaluation, wall
  // time are filled in by the host).
  virtual void record_participation(std::vector<int32_t> clients) = 0;
  virtual void record(RoundRow row) = 0;
};

class ServerStrategy : public Process {
 public:
  explicit ServerStrategy(StrategyHost& host) : host_(host) {}
  virtual uint32_t n_kinds() const = 0;
  // Schedules the first work (a fresh run; a resumed one continues from its loaded state).
  virtual void start() = 0;
  // A slot's upload arrived (the slot is no longer active).
  virtual void on_delivered(size_t slot) = 0;
  // A slot's participation ended offline or failed (its slot is already freed).
  virtual void on_dropped(size_t slot, int32_t client) = 0;
  // A client's data became ready during the run (U2S generation), so it may be eligible now: a
  // strategy waiting for an eligible client looks again at once (after the events already
  // due now); one in the middle of a round leaves it to the next selection.
  virtual void on_clients_ready() = 0;
  // Train jobs ending after this tick need not be computed ahead (their update would be cut
  // off); kNever when nothing cuts them off.
  virtual Tick precompute_cutoff() const = 0;

 protected:
  StrategyHost& host_;
};

// Synchronous rounds (FedScale-style over-commitment and deadline, sync_rounds.cpp).
std::unique_ptr<ServerStrategy> make_sync_rounds(StrategyHost& host, const ExperimentConfig& cfg);
// Buffered asynchronous aggregation (FedBuff, async_rounds.cpp).
std::unique_ptr<ServerStrategy> make_fedbuff(StrategyHost& host, const ExperimentConfig& cfg);
std::unique_ptr<ServerStrategy> make_strategy(StrategyHost& host, const ExperimentConfig& cfg);

}  // namespace fedsim::sim
