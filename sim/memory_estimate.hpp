// What a run will hold in memory, estimated from its config before anything is allocated, so an
// impossible size in range (d_model 65536, batch_size 65536, a million clients, ten million test
// samples) is exit 2 naming the keys that drive it instead of a Kokkos allocation dump,
// std::bad_alloc after a minute, or a machine that swaps. The figures are upper-side estimates
// (fp32 everywhere), not measurements: `fedsim run` prints them at the start; peak_rss_mb in the
// results is the measured figure.
#pragma once

#include <cstdint>
#include <string>

#include "sim/config.hpp"

namespace fedsim::sim {

struct MemoryEstimate {
  // Bytes of each part, and the config keys that drive it (for the error message).
  double model = 0;        // base weights, their gradients and Adam state while pretraining
  double activations = 0;  // one training step's forward/backward cache
  double clients = 0;      // adapters, gradients and optimizer state of a round's clients, and
                           // what is kept per client across rounds (SCAFFOLD, local)
  double data = 0;         // samples of every client, test and public splits
  double history = 0;      // per-round rows, participation matrix and the job timeline
  double total() const { return model + activations + clients + data + history; }
  // "model 12 MiB, activations 3 MiB, ..." and the largest part's keys.
  std::string summary() const;
  std::string largest_keys() const;
};

// UserError only where model_config does (a Hugging Face folder that cannot be read).
MemoryEstimate estimate_memory(const ExperimentConfig& c);

// The limit: experiment.max_memory_gb when set, else the machine's MemTotal (/proc/meminfo;
// 0 where unknown, which disables the check).
double memory_limit_bytes(const ExperimentConfig& c);

// UserError "<config>: the run needs about X GiB (...; driven by ...), more than the Y GiB ..."
// when the estimate exceeds the limit.
void check_memory(const ExperimentConfig& c, const MemoryEstimate& e);

}  // namespace fedsim::sim
