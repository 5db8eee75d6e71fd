#include "sim/system_model.hpp"

#include <cmath>

#include "datasets/common/rng.hpp"

namespace fedsim::sim {

SystemModel::SystemModel(const SystemSpec& spec, int n_clients, uint64_t seed) : spec_(spec) {
  clients_.resize(static_cast<size_t>(n_clients));
  for (int i = 0; i < n_clients; ++i) {
    Rng rng(seed, static_cast<uint64_t>(i), 0, Purpose::system_model);
    const double zc = rng.normal(), zb = rng.normal();
    clients_[static_cast<size_t>(i)].flops_per_s = spec.compute_gflops * 1e9 * std::exp(spec.compute_sigma * zc);
    clients_[static_cast<size_t>(i)].bits_per_s = spec.bandwidth_mbps * 1e6 * std::exp(spec.bandwidth_sigma * zb);
  }
}

Tick SystemModel::transfer_time(int client, int64_t bytes) const {
  const double s = spec_.latency_ms * 1e-3 + 8.0 * static_cast<double>(bytes) / this->client(client).bits_per_s;
  return seconds_to_ticks(s);
}

Tick SystemModel::compute_time(int client, double flops) const {
  return seconds_to_ticks(flops / this->client(client).flops_per_s);
}

}  // namespace fedsim::sim
