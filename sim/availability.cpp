#include "sim/availability.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/csv.hpp"

namespace fedsim::sim {

Availability Availability::always(int n_clients) {
  Availability a;
  a.always_ = true;
  a.n_ = n_clients;
  return a;
}

Availability Availability::from_intervals(std::vector<std::vector<std::pair<Tick, Tick>>> on) {
  Availability a;
  a.always_ = false;
  a.n_ = static_cast<int>(on.size());
  for (auto& v : on) {
    std::sort(v.begin(), v.end());
    std::vector<std::pair<Tick, Tick>> merged;  // overlapping or touching intervals merge
    for (const auto& iv : v) {
      if (iv.second <= iv.first) continue;
      if (!merged.empty() && iv.first <= merged.back().second)
        merged.back().second = std::max(merged.back().second, iv.second);
      else
        merged.push_back(iv);
    }
    v = std::move(merged);
  }
  a.on_ = std::move(on);
  return a;
}

Availability Availability::diurnal(int n_clients, double online_hours, int days, uint64_t seed) {
  const double day = 86400.0;
  std::vector<std::vector<std::pair<Tick, Tick>>> on(static_cast<size_t>(n_clients));
  for (int c = 0; c < n_clients; ++c) {
    // Stream round index 1 keeps these draws apart from the speed/bandwidth draws (round 0).
    Rng rng(seed, static_cast<uint64_t>(c), 1, Purpose::system_model);
    const double phase = rng.uniform() * day;
    for (int d = -1; d < days; ++d) {
      const double len = std::min(day, online_hours * 3600.0 * (0.5 + rng.uniform()));
      const double start = std::max(0.0, phase + d * day), end = phase + d * day + len;
      if (end > 0.0) on[static_cast<size_t>(c)].emplace_back(seconds_to_ticks(start), seconds_to_ticks(end));
    }
  }
  return from_intervals(std::move(on));
}

Availability Availability::from_trace(const std::string& path, int n_clients) {
  const CsvFile csv(path, "client,start_s,end_s");
  std::vector<std::vector<std::pair<Tick, Tick>>> on(static_cast<size_t>(n_clients));
  for (const CsvRow& r : csv.rows()) {
    const long client = csv.integer(r, 0, 0, n_clients - 1);
    const double start = csv.number(r, 1), end = csv.number(r, 2);
    if (start < 0.0 || end < start || end > 9.2e12)
      csv.fail(r, "interval [" + r.fields[1] + ", " + r.fields[2] + ") is invalid; accepted: 0 <= start_s <= end_s");
    on[static_cast<size_t>(client)].emplace_back(seconds_to_ticks(start), seconds_to_ticks(end));
  }
  return from_intervals(std::move(on));
}

namespace {
// First interval whose end is after t.
const std::pair<Tick, Tick>* interval_after(const std::vector<std::pair<Tick, Tick>>& v, Tick t) {
  auto it = std::upper_bound(v.begin(), v.end(), t, [](Tick x, const std::pair<Tick, Tick>& iv) { return x < iv.second; });
  return it == v.end() ? nullptr : &*it;
}
}  // namespace

bool Availability::online(int client, Tick t) const {
  if (always_) return true;
  const auto* iv = interval_after(on_[static_cast<size_t>(client)], t);
  return iv && iv->first <= t;
}

Tick Availability::offline_at(int client, Tick t) const {
  if (always_) return kNever;
  const auto* iv = interval_after(on_[static_cast<size_t>(client)], t);
  return (iv && iv->first <= t) ? iv->second : t;
}

Tick Availability::next_online(int client, Tick t) const {
  if (always_) return t;
  const auto* iv = interval_after(on_[static_cast<size_t>(client)], t);
  if (!iv) return kNever;
  return std::max(iv->first, t);
}

}  // namespace fedsim::sim
