#include "sim/system_model.hpp"

#include <cmath>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/csv.hpp"

namespace fedsim::sim {

const std::vector<std::string>& names(AvailabilityKind) {
  static const std::vector<std::string> n{"always", "diurnal", "trace"};
  return n;
}

SystemModel::SystemModel(const SystemSpec& spec, int n_clients, uint64_t seed)
    : spec_(spec), avail_(Availability::always(n_clients)) {
  clients_.resize(static_cast<size_t>(n_clients));
  if (!spec.trace.empty()) {
    const CsvFile csv(spec.trace, "client,gflops,mbps");
    std::vector<bool> seen(static_cast<size_t>(n_clients), false);
    for (const CsvRow& r : csv.rows()) {
      const long c = csv.integer(r, 0, 0, n_clients - 1);
      const double gflops = csv.number(r, 1), mbps = csv.number(r, 2);
      if (gflops <= 0.0 || mbps <= 0.0) csv.fail(r, "gflops and mbps must be positive");
      if (seen[static_cast<size_t>(c)]) csv.fail(r, "client " + r.fields[0] + " is listed twice");
      seen[static_cast<size_t>(c)] = true;
      clients_[static_cast<size_t>(c)] = {gflops * 1e9, mbps * 1e6};
    }
    for (int c = 0; c < n_clients; ++c)
      if (!seen[static_cast<size_t>(c)])
        throw UserError(spec.trace + ": client " + std::to_string(c) + " has no row; the trace must cover clients 0 to " +
                        std::to_string(n_clients - 1));
  } else {
    for (int i = 0; i < n_clients; ++i) {
      Rng rng(seed, static_cast<uint64_t>(i), 0, Purpose::system_model);
      const double zc = rng.normal(), zb = rng.normal();
      clients_[static_cast<size_t>(i)].flops_per_s = spec.compute_gflops * 1e9 * std::exp(spec.compute_sigma * zc);
      clients_[static_cast<size_t>(i)].bits_per_s = spec.bandwidth_mbps * 1e6 * std::exp(spec.bandwidth_sigma * zb);
    }
  }
  if (spec.availability == AvailabilityKind::diurnal)
    avail_ = Availability::diurnal(n_clients, spec.online_hours, spec.diurnal_days, seed);
  else if (spec.availability == AvailabilityKind::trace)
    avail_ = Availability::from_trace(spec.availability_trace, n_clients);
}

Tick SystemModel::transfer_time(int client, int64_t bytes) const {
  const double s = spec_.latency_ms * 1e-3 + 8.0 * static_cast<double>(bytes) / this->client(client).bits_per_s;
  return seconds_to_ticks(s);
}

Tick SystemModel::compute_time(int client, double flops) const {
  return seconds_to_ticks(flops / this->client(client).flops_per_s);
}

}  // namespace fedsim::sim
