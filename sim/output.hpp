// Where a run or a sweep writes, checked before any work: fedsim replaces only its own results
// of the same config, never a user's file, a link, a device or a FIFO (as root, `--out
// /dev/null` would have replaced /dev/null), and two runs never share an output: a lock next to
// it (flock on `<out>.lock`) makes the second one exit at once naming the first. Creating the
// lock also proves the folder writable before the first round rather than after the last.
#pragma once

#include <string>

#include "sim/config.hpp"

namespace fedsim::sim {

struct OutputOptions {
  bool fresh = false;  // --fresh: replace results (and a checkpoint) of another config
  bool force = false;  // --force: replace any regular file or symbolic link
};

// An exclusive lock on `<path>.lock`, held while the object lives (the file is removed then).
// UserError naming the holder's pid when another process holds it, or the folder and the
// system's reason when the lock file cannot be created.
class OutputLock {
 public:
  explicit OutputLock(const std::string& path);
  OutputLock(OutputLock&& o) noexcept : lock_(std::move(o.lock_)), fd_(o.fd_) { o.fd_ = -1; }
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock();
  const std::string& file() const { return lock_; }

 private:
  std::string lock_;
  int fd_ = -1;
};

// The config as results files are compared: resolved, the output path left out.
std::string comparable_yaml(ExperimentConfig c);

// Checks that a run of `c` may write its results to `path` (UserError naming the path, what is
// there and the option that would allow it), creates its folder and returns the lock that
// keeps other runs off it. A folder, a path ending in '/', a device, FIFO or socket: refused
// always; a symbolic link or a file that is not a fedsim results file: refused unless
// `force`; results of another config: refused unless `fresh` or `force`.
OutputLock claim_results_output(const std::string& path, const ExperimentConfig& c, const OutputOptions& o);

// The same for a file a sweep point will write (no lock of its own: the sweep holds one).
void check_results_target(const std::string& path, const ExperimentConfig& c, const OutputOptions& o);

// A sweep's output folder: refused when it exists and is not a folder; created; locked.
OutputLock claim_sweep_output(const std::string& dir);

}  // namespace fedsim::sim
