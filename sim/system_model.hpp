// Client systems: compute speed and network bandwidth per client, and the time a task takes.
// Costs follow FLOPs and bytes (REFERENCE.md section 4: for an LLM, compute scales with tokens
// and FLOPs, transfer with adapter bytes), never wall time.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/event_queue.hpp"

namespace fedsim::sim {

struct SystemSpec {
  double compute_gflops = 50.0, compute_sigma = 0.5;
  double bandwidth_mbps = 6.0, bandwidth_sigma = 0.7;
  double latency_ms = 50.0;
};

struct ClientSystem {
  double flops_per_s = 0.0;  // training throughput
  double bits_per_s = 0.0;   // link bandwidth (both directions)
};

class SystemModel {
 public:
  // Lognormal speeds and bandwidths around the given medians, one draw per client from the
  // (seed, client, system_model) stream, so a client's system does not depend on N.
  SystemModel(const SystemSpec& spec, int n_clients, uint64_t seed);
  const ClientSystem& client(int i) const { return clients_.at(static_cast<size_t>(i)); }
  int n_clients() const { return static_cast<int>(clients_.size()); }
  Tick transfer_time(int client, int64_t bytes) const;
  Tick compute_time(int client, double flops) const;

 private:
  SystemSpec spec_;
  std::vector<ClientSystem> clients_;
};

}  // namespace fedsim::sim
