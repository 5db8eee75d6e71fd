// One run's local training over MPI ranks (issue 20, item 3). Rank 0 runs the whole simulation
// (event queue, decisions, aggregation, evaluation, checkpoints, results); only the training of a
// group of clients (LocalTrainer::train_many, what the batched execution hands over at once) is
// spread: task i of a group goes to rank i mod R, each rank trains its tasks from the start
// adapters and hooks rank 0 sent (batched, as one rank does), and the trained adapters come
// back into the same slots. Rank 0 then aggregates in client order as always, so the results
// equal the one-rank run's bit for bit whenever a client's training does not depend on the other
// clients in its batch (model.products: portable guarantees it; see sim/README.md "MPI").
// Every other rank holds the same data and base model (built by the same deterministic set-up)
// and serves requests until rank 0 says stop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sim/trainer.hpp"

namespace fedsim::sim {

// Rank 0's trainer: `local` for everything, train_many spread over the ranks. Its destructor
// tells the other ranks to stop (also reached by stop_rank_workers).
std::unique_ptr<LocalTrainer> make_rank_trainer(LocalTrainer& local, std::function<void(const std::string&)> log);
// Ranks 1..R-1: train what rank 0 sends with `local` until it says stop.
void serve_rank_training(LocalTrainer& local);

// Rank 0's totals over every rank trainer of the process (`fedsim bench fl`).
struct RankTrainingStats {
  int64_t groups = 0, tasks = 0, remote = 0;  // train_many calls, their tasks, those trained on ranks 1..R-1
  int64_t bytes = 0;                          // sent to and received from the other ranks
  RankTrainingStats operator-(const RankTrainingStats& o) const {
    return {groups - o.groups, tasks - o.tasks, remote - o.remote, bytes - o.bytes};
  }
};
RankTrainingStats rank_training_totals();

}  // namespace fedsim::sim
