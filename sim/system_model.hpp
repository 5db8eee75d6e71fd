// Client systems: compute speed, network bandwidth, availability and task failures, and the
// time a task takes. FedScale (Lai et al., ICML 2022) models a device by its inference speed and
// bandwidth with a fixed model size; for an LLM fedsim charges compute by FLOPs per token and
// transfer by adapter bytes, never wall time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/availability.hpp"
#include "sim/event_queue.hpp"

namespace fedsim::sim {

enum class AvailabilityKind : uint8_t { always, diurnal, trace };
const std::vector<std::string>& names(AvailabilityKind);  // always, diurnal, trace

// The config's `system` section (sim/config.cpp declares its keys on these fields).
struct SystemSpec {
  double compute_gflops = 50.0;  // median client training throughput (GFLOP/s)
  double compute_sigma = 0.5;    // lognormal sigma of speed across clients
  double bandwidth_mbps = 6.0;   // median client bandwidth (FedScale's MobiPerf traces: about 6 Mbps)
  double bandwidth_sigma = 0.7;  // lognormal sigma of bandwidth across clients
  double latency_ms = 50.0;      // per transfer
  std::string trace = "";        // CSV client,gflops,mbps; replaces the draws
  AvailabilityKind availability = AvailabilityKind::always;
  std::string availability_trace = "";  // CSV client,start_s,end_s
  double online_hours = 8.0;     // diurnal: mean online hours per day
  double dropout_prob = 0.0;     // per task: fails at a uniform time inside it
  double server_gflops = 50.0;   // the server's throughput for its own jobs (open-ended evaluation's answers)
  int diurnal_days = 400;        // diurnal: days drawn (not a config key)
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
