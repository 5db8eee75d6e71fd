// Simulation checkpoints: the whole state of a run between two events (clock, pending events,
// jobs, every client's and the server's state, partial results), so a resumed run continues to
// the same bits. Every random stream in fedsim is keyed by (seed, client, round, purpose) and
// holds no state, and models/ keeps none between local trainings, so nothing else is needed.
//
// File: HDF5 at <results>.ckpt, written atomically (the previous checkpoint stays until the new
// one is complete); root attributes format = fedsim-sim-state, format_version, config_yaml,
// completed_rounds; dataset `state` (uint8) holds the archive (sim/archive.hpp: field by field,
// so identical runs write identical files). Version 2: the Simulation's processes, fields
// archived one by one (version 1 held raw structs). Version 3: sync rounds keep their wait for
// an eligible client, U2S generation is a process of the run. Version 4 adds the run's own event
// count and end time (observers such as the open-ended evaluation left out). Other versions are
// refused.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::sim {

inline constexpr int64_t kSimStateFormatVersion = 4;
inline constexpr const char* kSimStateKind = "fedsim-sim-state";

struct SimCheckpoint {
  std::string config_yaml;
  int64_t completed_rounds = 0;
  std::vector<uint8_t> state;
};

std::string checkpoint_path(const std::string& results_path);
void write_checkpoint(const std::string& path, const SimCheckpoint& c);
// UserError naming the file and both versions (HINT: --fresh) for a checkpoint of another version.
SimCheckpoint read_checkpoint(const std::string& path);

// SIGINT / SIGTERM ask a running simulation to checkpoint after the current event and stop
// (fedsim run then exits with 128 + the signal number). install_stop_handlers() sets them up.
void install_stop_handlers();
int stop_signal();  // 0 while no stop was requested

// Thrown by a run that stopped on a signal after writing its checkpoint.
struct Interrupted {
  int signal;
  std::string checkpoint;
};

// Fault injection for the crash tests, from the environment variable FEDSIM_FAULT:
//   kill_after_events=N   SIGKILL the process after N events of the run (of the simulation that checkpoints)
//   kill_in_checkpoint=N  SIGKILL it halfway through writing the N-th checkpoint (temp file open)
//   term_after_events=N   send it SIGTERM after N events (the graceful stop path)
struct FaultPlan {
  int64_t kill_after_events = -1;
  int64_t kill_in_checkpoint = -1;
  int64_t term_after_events = -1;
  static FaultPlan from_env();
};

}  // namespace fedsim::sim
