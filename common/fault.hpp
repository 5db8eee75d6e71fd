// Fault injection for the crash and disk tests, from the environment variable FEDSIM_FAULT
// (one key=N): the process misbehaves at a chosen moment so a test can check what survives.
//   kill_after_events=N   SIGKILL after N events of the run (of the simulation that checkpoints)
//   kill_in_checkpoint=N  SIGKILL halfway through writing the N-th checkpoint's bytes (temp file open)
//   term_after_events=N   SIGTERM after N events (the graceful stop path)
//   disk_full_at=N        the N-th file committed by h5::AtomicFile fails halfway with ENOSPC, as on
//                         a full disk (results, checkpoints, data sets, indexes all count)
#pragma once

#include <cstdint>

namespace fedsim {

struct FaultPlan {
  int64_t kill_after_events = -1;
  int64_t kill_in_checkpoint = -1;
  int64_t term_after_events = -1;
  int64_t disk_full_at = -1;
  // Parsed once per process; UserError naming FEDSIM_FAULT and the accepted keys otherwise.
  static const FaultPlan& get();
};

}  // namespace fedsim
