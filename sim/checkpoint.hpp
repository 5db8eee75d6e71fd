// Simulation checkpoints: the whole state of a run between two events (clock, pending events,
// jobs, every client's and the server's state, partial results), so a resumed run continues to
// the same bits. Every random stream in fedsim is keyed by (seed, client, round, purpose) and
// holds no state, and models/ keeps none between local trainings, so nothing else is needed.
//
// File: HDF5 at <results>.ckpt, written atomically (the previous checkpoint stays until the new
// one is complete and read back); root attributes format = fedsim-sim-state, format_version,
// config_yaml, completed_rounds, content_crc32 (CRC-32 of config_yaml, completed_rounds and the
// state, verified before use); dataset `state` (uint8) holds the archive (sim/archive.hpp:
// field by field, so identical runs write identical files), and the history the run only
// appends to lives in <results>.ckpt.journal (sim/journal.hpp), whose length and CRC the state
// records. Version 2: the Simulation's processes, fields archived one by one (version 1 held raw
// structs). Version 3: sync rounds keep their wait for an eligible client, U2S generation is a
// process of the run. Version 4: the run's own event count and end time (observers such as the
// open-ended evaluation left out). Version 5: the journal and the checksums (version 4 still
// rewrote the whole history every time). Other versions are refused with the hint --fresh.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/fault.hpp"
#include "common/stop.hpp"

namespace fedsim::sim {

inline constexpr int64_t kSimStateFormatVersion = 6;
inline constexpr const char* kSimStateKind = "fedsim-sim-state";

struct SimCheckpoint {
  std::string config_yaml;
  int64_t completed_rounds = 0;
  std::vector<uint8_t> state;
};

std::string checkpoint_path(const std::string& results_path);
void write_checkpoint(const std::string& path, const SimCheckpoint& c);
// Every problem (another version, a damaged or foreign file) is a UserError naming the file,
// with the hint --fresh.
SimCheckpoint read_checkpoint(const std::string& path);
// The hint every unusable checkpoint gets.
std::string fresh_hint();

// SIGINT / SIGTERM (common/stop.hpp): a simulation that checkpoints writes its state after the
// current event and throws Interrupted (fedsim run then exits with 128 + the signal number).
inline void install_stop_handlers() { fedsim::install_stop_handlers(); }
inline int stop_signal() { return fedsim::stop_signal(); }

// Thrown by a run that stopped on a signal after writing its checkpoint.
struct Interrupted {
  int signal;
  std::string checkpoint;
};

// Fault injection (common/fault.hpp).
using FaultPlan = fedsim::FaultPlan;

}  // namespace fedsim::sim
