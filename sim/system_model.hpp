// Client systems: compute speed, network bandwidth, availability and task failures, and the
// time a task takes. Costs follow FLOPs and bytes (REFERENCE.md section 4: for an LLM, compute
// scales with tokens and FLOPs, transfer with adapter bytes), never wall time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/availability.hpp"
#include "sim/event_queue.hpp"

namespace fedsim::sim {

struct SystemSpec {
  double compute_gflops = 50.0, compute_sigma = 0.5;
  double bandwidth_mbps = 6.0, bandwidth_sigma = 0.7;
  double latency_ms = 50.0;
  std::string trace;                     // CSV client,gflops,mbps; replaces the draws
  std::string availability = "always";   // always | diurnal | trace
  std::string availability_trace;        // CSV client,start_s,end_s
  double online_hours = 8.0;
  int diurnal_days = 400;
  double dropout_prob = 0.0;
};

struct ClientSystem {
  double flops_per_s = 0.0;  // training throughput
  double bits_per_s = 0.0;   // link bandwidth (both directions)
};

class SystemModel {
 public:
  // Lognormal speeds and bandwidths around the given medians, one draw per client from the
  // (seed, client, system_model) stream, so a client's system does not depend on N; or a trace.
  SystemModel(const SystemSpec& spec, int n_clients, uint64_t seed);
  const ClientSystem& client(int i) const { return clients_.at(static_cast<size_t>(i)); }
  int n_clients() const { return static_cast<int>(clients_.size()); }
  const Availability& availability() const { return avail_; }
  double dropout_prob() const { return spec_.dropout_prob; }
  Tick transfer_time(int client, int64_t bytes) const;
  Tick compute_time(int client, double flops) const;

 private:
  SystemSpec spec_;
  std::vector<ClientSystem> clients_;
  Availability avail_;
};

}  // namespace fedsim::sim
