// When each client is online. FedScale models availability from traces of devices that are
// available while charging; it checks availability only at the end of a task, so a client that
// drops mid-task is missed (Lai et al., "FedScale", ICML 2022; its device traces). Here a task's whole interval is checked:
// the scheduler asks offline_at() when the task starts and fails it at that time.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "sim/event_queue.hpp"

namespace fedsim::sim {

inline constexpr Tick kNever = std::numeric_limits<Tick>::max();

class Availability {
 public:
  // Every client always online.
  static Availability always(int n_clients);
  // Diurnal: each client is online once a day for about `online_hours` (0.5x to 1.5x, drawn per
  // day) starting at a client-specific hour, as devices that charge overnight in their own time
  // zone; drawn from the (seed, client, system_model) streams for `days` days, offline after.
  static Availability diurnal(int n_clients, double online_hours, int days, uint64_t seed);
  // From a CSV trace with header `client,start_s,end_s` (sim/TRACES.md); clients without rows
  // are never online. UserError naming the file and line on bad input.
  static Availability from_trace(const std::string& path, int n_clients);
  // Explicit intervals [start, end) per client (tests).
  static Availability from_intervals(std::vector<std::vector<std::pair<Tick, Tick>>> on);

  bool online(int client, Tick t) const;
  // If online at t: when the current online interval ends (kNever if it does not); else t.
  Tick offline_at(int client, Tick t) const;
  // Earliest t' >= t at which the client is online; kNever if never again.
  Tick next_online(int client, Tick t) const;

 private:
  bool always_ = true;
  int n_ = 0;
  std::vector<std::vector<std::pair<Tick, Tick>>> on_;  // sorted, disjoint, per client
};

}  // namespace fedsim::sim
