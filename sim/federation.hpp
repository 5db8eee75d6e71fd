// Federated training as discrete events. A client's participation is a chain of jobs
// (download -> train -> upload, sim/jobs.hpp); the server runs synchronous rounds (with
// over-commitment and an optional deadline) or asynchronous FedBuff. Real training runs when a
// train job completes (so work that is cut off is never computed); simulated time comes from
// the system model (FLOPs and bytes), never from wall time.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "sim/aggregator.hpp"
#include "sim/checkpoint.hpp"
#include "sim/config.hpp"
#include "sim/event_queue.hpp"
#include "sim/experiment.hpp"
#include "sim/jobs.hpp"
#include "sim/system_model.hpp"
#include "sim/trainer.hpp"

namespace fedsim::sim {

class Federation {
 public:
  // n_samples: every client's data size n_i.
  Federation(const ExperimentConfig& cfg, std::vector<int64_t> n_samples, LocalTrainer& trainer, const RunHooks& hooks);
  // Runs to the end. With `resume`, continues from a checkpoint's state instead of the start.
  // Writes checkpoints to `checkpoint_file` every experiment.checkpoint_every rounds and, on
  // SIGINT/SIGTERM, after the current event (then throws Interrupted). "" = no checkpoints.
  RunResults run(const std::vector<uint8_t>* resume = nullptr, const std::string& checkpoint_file = "");
  uint64_t events_processed() const { return events_; }
  // The whole state between two events (federation_state.cpp).
  std::vector<uint8_t> save_state() const;
  void restore_state(const std::vector<uint8_t>& bytes);

  // Gaussian DP noise scale (FedLLM-Bench federated_learning/fed_global.py, gaussian_noise):
  // sigma = D * sqrt(2 q R ln(1/delta)) / eps with D = 2 lr C / (samples / N), q = m / N.
  static double dp_sigma(double lr, double clip, double total_samples, int n_clients, int m, int64_t rounds, double eps,
                         double delta);

 private:
  void write_state(ByteWriter& w) const;  // save_state's fields, in order
  // Queue kinds owned here (the job scheduler uses the ones below kOwnerKinds).
  enum Kind : uint32_t { kRoundStart = JobScheduler::kOwnerKinds, kDeadline, kRetryLaunch };

  struct Work {  // one client's participation
    int32_t client = -1;
    int64_t round = 0;       // sync: round; async: server version it started from
    std::vector<float> start;    // the global adapter it downloaded
    std::vector<float> adapter;  // its result
    std::vector<float> scaffold_delta;
    LocalResult result;
    uint32_t job = 0;
    bool active = false;
    bool trained = false;
    bool precomputed = false;  // batched: adapter and result computed ahead, not yet committed
  };

  // Shared machinery.
  void dispatch(const Event& ev);
  size_t launch(int32_t client, int64_t round);  // starts the download; returns the work slot
  void on_job_end(const Event& ev);
  // Real training when slot's train job completes: computes it (batched: together with every
  // slot whose train job is due to complete, see train_due) unless computed ahead, then
  // commits it (SCAFFOLD's client variate, token counts) at its own completion time.
  void train_now(size_t slot);
  std::vector<size_t> train_due(size_t slot) const;
  int local_steps(int32_t client) const;
  double round_lr(int64_t round) const;
  double base_weight(int32_t client) const;
  double mean_train_loss(const std::vector<size_t>& slots) const;
  void aggregate(const std::vector<size_t>& slots, const std::vector<double>& extra_weights, int64_t round);
  void record_row(RoundRow row);  // fills sim_time_s, eval and wall_s
  void cancel_active();
  std::vector<int32_t> online_clients(const std::vector<bool>* exclude) const;
  Tick next_online_any(const std::vector<bool>* exclude) const;

  // Synchronous rounds.
  void sync_round_start(int64_t round);
  void sync_delivered(size_t slot);
  void sync_dropped(size_t slot);
  void sync_close_round();

  // Asynchronous FedBuff (Nguyen et al., AISTATS 2022).
  void async_fill();
  void async_delivered(size_t slot);

  const ExperimentConfig& cfg_;
  std::vector<int64_t> n_;
  LocalTrainer& trainer_;
  RunHooks hooks_;
  uint64_t seed_;
  int n_clients_;
  EventQueue queue_;
  SystemModel system_;
  JobScheduler jobs_;
  std::unique_ptr<ServerRule> rule_;
  std::unique_ptr<Scaffold> scaffold_;
  bool local_ = false, uniform_weights_ = false;
  bool batched_ = false;  // federation.execution batched (and valid here)
  std::vector<float> global_;
  std::vector<std::vector<float>> local_adapters_;  // algorithm local: each client's own adapter
  std::vector<Work> work_;
  std::vector<size_t> free_work_;
  RunResults results_;
  std::chrono::steady_clock::time_point wall_start_;
  uint64_t events_ = 0;
  int64_t bytes_ = 0;
  bool finished_ = false;
  bool checkpoint_due_ = false;
  double wall_offset_ = 0.0;  // wall seconds before a resume

  // Sync round state.
  int64_t round_ = 0;
  Tick round_started_ = 0;
  size_t target_ = 0, selected_ = 0, dropped_ = 0;
  std::vector<size_t> arrived_, in_round_;
  EventId deadline_event_;
  bool deadline_pending_ = false;

  // Async state.
  int64_t version_ = 0;
  uint64_t launches_ = 0;
  std::vector<bool> in_flight_;
  std::vector<size_t> buffer_;
  std::vector<double> buffer_weights_;
  size_t async_dropped_ = 0, async_stale_ = 0, async_joined_ = 0;
  Tick last_aggregate_ = 0;
  bool retry_pending_ = false;
  EventId retry_event_;
};

}  // namespace fedsim::sim
