// Synchronous federated rounds as discrete events. Round r: the server samples m clients;
// each downloads the global adapter, trains, uploads; when every sampled update has arrived
// the server aggregates, evaluates and starts round r+1. Real training runs inside the events;
// simulated time is charged from the system model (FLOPs and bytes), never from wall time.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "sim/aggregator.hpp"
#include "sim/event_queue.hpp"
#include "sim/experiment.hpp"
#include "sim/system_model.hpp"

namespace fedsim::sim {

class Federation {
 public:
  Federation(const ExperimentConfig& cfg, const datasets::FederatedDataset& data, models::Model& model,
             const RunHooks& hooks);
  RunResults run();

  // Sampled clients of round r (sorted): m of N uniformly without replacement from the
  // (seed, round, client_sampling) stream.
  static std::vector<int32_t> sample_clients(uint64_t seed, int64_t round, int n_clients, int m);

 private:
  enum Kind : uint32_t { kRoundStart = 1, kDownloadDone, kTrainDone, kUploadDone };
  struct Slot {  // one sampled client's work in the current round
    int32_t client = -1;
    std::vector<float> adapter;
    double loss = 0.0;
    int64_t tokens = 0;
  };

  void on_round_start(int64_t round);
  void on_download_done(int32_t client, int64_t round);
  void on_upload_done(int32_t client, int64_t round);
  Slot& slot_of(int32_t client);
  std::vector<models::Batch> local_batches(int32_t client, int64_t round) const;
  void evaluate_into(RoundRow& row) const;
  void record_row(int64_t completed, double train_loss, bool eval);

  const ExperimentConfig& cfg_;
  const datasets::FederatedDataset& data_;
  models::Model& model_;
  RunHooks hooks_;
  SystemModel system_;
  std::unique_ptr<Aggregator> aggregator_;
  EventQueue queue_;
  std::vector<float> global_;
  std::vector<Slot> slots_;
  size_t arrived_ = 0;
  std::vector<models::Batch> eval_batches_;
  RunResults results_;
  std::chrono::steady_clock::time_point wall_start_;
  int T_ = 0;
};

}  // namespace fedsim::sim
