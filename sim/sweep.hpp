// Sweeps: one base config, axes over any config keys, one results file per point, and an index
// file (HDF5) that lists the points, their parameter values and their final metrics. The spec
// format is documented in experiments/README.md, the index layout in experiments/RESULTS.md.
//
// A sweep is resumable: a point whose results file exists, reads as a complete fedsim results
// file and carries the point's resolved config is finished and is skipped. Results and the
// index are written atomically (temporary name, then rename), so a crash never leaves a file
// that looks complete.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sim/config.hpp"
#include "sim/output.hpp"
#include "sim/results.hpp"

namespace fedsim::sim {

// Version 2: the table layer (text without the global heap, a checksum per dataset).
inline constexpr int64_t kSweepIndexFormatVersion = 2;
inline constexpr const char* kSweepIndexKind = "fedsim-sweep-index";

// One swept config key and its values, each as `--set` text (YAML: scalars, lists as [a, b]).
struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

struct SweepSpec {
  std::string source;            // the spec file (for messages)
  std::string name;              // sweep name; default: the spec file's stem
  std::string base;              // base config path, resolved against the spec's folder
  std::vector<std::string> set;  // fixed overrides "key=value" for every point
  std::vector<SweepAxis> grid;   // cartesian product, first axis outermost
  std::vector<SweepAxis> zip;    // advanced together (equal lengths), inside the grid
  std::vector<int64_t> seeds;    // experiment.seed, innermost; empty = the base's seed
  std::string point_name;        // "{key}" template; "" = "<short key>=<value>" joined by '_'
  std::string text;              // the spec as written (stored in the index)
};

struct SweepPoint {
  std::string name;                                         // unique; names the results file <out>/<name>.h5
  std::vector<std::pair<std::string, std::string>> params;  // varied key -> value text, axis order
  ExperimentConfig config;                                  // resolved, experiment.name and experiment.out set
};

// Final numbers of one run (NaN where a run has none).
struct FinalMetrics {
  double eval_accuracy = 0, eval_loss = 0, train_loss = 0;  // last row with a value
  double best_eval_accuracy = 0;
  double client_accuracy_mean = 0, client_accuracy_p10 = 0;  // last client_eval point, or local_eval_accuracy
  int64_t rounds = 0;
  double sim_time_s = 0, wall_s = 0;
  int64_t updates_aggregated = 0, stragglers = 0;  // summed over rounds
};
FinalMetrics final_metrics(const RunResults& r);

// Parse a spec; UserError naming the spec key ("<file>: grid.data.alpha: ...") on any problem.
SweepSpec parse_sweep_spec(const std::string& yaml_text, const std::string& source);
SweepSpec load_sweep_spec(const std::string& path);

// Every point, in run order (grid, then zip, then seeds). Each point's config is loaded and
// validated here, so a bad value fails before anything is written.
std::vector<SweepPoint> expand_sweep(const SweepSpec& s, const std::string& out_dir);
std::string point_file(const std::string& out_dir, const SweepPoint& p);

// True iff `path` is a complete results file whose config equals the point's (the output path
// itself aside, so a sweep folder can be moved). Unreadable or foreign files count as not done.
bool point_is_complete(const SweepPoint& p, const std::string& path, RunResults* out = nullptr);

struct SweepOptions {
  int64_t max_points = -1;                           // run at most this many pending points, then stop (-1 = all)
  bool fresh = false;  // replace results and checkpoints of another config (sim/output.hpp)
  bool force = false;  // replace any regular file at a point's name, and a foreign index.h5
  std::function<void(const std::string& line)> log;  // progress lines; nullptr = silent
};
struct SweepReport {
  int64_t total = 0, skipped = 0, ran = 0;  // skipped = already complete
};

// Runs every pending point in order and rewrites <out_dir>/index.h5 after each one. Locks the
// folder (sim/output.hpp) and checks every point's file before running anything. Each point
// checkpoints to <point>.h5.ckpt: on SIGINT/SIGTERM the running point saves its state and
// Interrupted propagates; a stop between points throws Stopped. Needs the models runtime
// (Kokkos) initialised, as run_experiment does. Under MPI with more than one rank it hands over
// to run_sweep_ranks.
SweepReport run_sweep(const SweepSpec& s, const std::string& out_dir, const SweepOptions& opt);

// The pieces of run_sweep, shared with the MPI scheduler (sim/mpi/sweep_ranks.cpp).
// The folder's lock, held while the result lives, after checking that an index already there is
// this sweep's (--force / --fresh otherwise).
OutputLock claim_sweep_folder(const SweepSpec& s, const std::string& out_dir, const SweepOptions& opt);
struct SweepScan {
  std::vector<uint8_t> done;  // 1 = complete results file with the point's config
  std::vector<FinalMetrics> metrics;
  int64_t skipped = 0;  // complete points
};
SweepScan scan_sweep(const std::vector<SweepPoint>& points, const std::string& out_dir, const SweepOptions& opt);
// Runs one point (progress lines through opt.log) and writes its results file.
RunResults run_sweep_point(const SweepPoint& p, const std::string& out_dir, const SweepOptions& opt);
// Every rank takes the next pending point when it is free; rank 0 writes the index at the end.
SweepReport run_sweep_ranks(const SweepSpec& s, const std::string& out_dir, const SweepOptions& opt);

// The index file, as read back (tests, `fedsim results summary`).
struct SweepIndex {
  std::string name, base;
  std::vector<std::string> axis_keys;  // varied keys in axis order
  std::vector<std::string> point_names, files;
  std::vector<std::vector<std::string>> params;  // [axis][point] value text
  std::vector<uint8_t> done;
  std::vector<FinalMetrics> metrics;
};
std::string index_path(const std::string& out_dir);
void write_sweep_index(const SweepSpec& s, const std::vector<SweepPoint>& points, const std::vector<uint8_t>& done,
                       const std::vector<FinalMetrics>& metrics, const std::string& out_dir);
SweepIndex read_sweep_index(const std::string& path);
// The columns of /metrics and /points (experiments/RESULTS.md lists them; a test checks it).
const h5::RowTable<FinalMetrics>& index_metrics_table();
std::vector<std::string> index_points_columns();

}  // namespace fedsim::sim
