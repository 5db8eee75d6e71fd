// A sweep over MPI ranks: dynamic balancing with rank 0 as the dispatcher. Every rank expands
// and validates the spec (a bad spec fails everywhere before anything is written); rank 0 finds
// the pending points (the resume rule of run_sweep) and broadcasts them; then each rank asks
// rank 0 for the next pending point whenever it is free, so a rank that finishes early takes
// the next one. Rank 0 runs points too: a second thread of rank 0 answers the requests (the
// only MPI caller on rank 0 until it is joined, hence MPI_THREAD_SERIALIZED). Each rank writes
// the results files of its points; rank 0 writes index.h5 once, after every rank is done, from
// the files themselves (so the index equals a one-rank sweep's).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "common/error.hpp"
#include "sim/mpi/comm.hpp"
#include "sim/sweep.hpp"

namespace fedsim::sim {
namespace {

constexpr int kTagRequest = 101;  // worker -> 0: [point it finished, or -1]
constexpr int kTagAssign = 102;   // 0 -> worker: [point to run, or -1 = no more]

// Hands out pending points: the next one to whoever asks, -1 once none is left.
struct Dispatcher {
  const std::vector<int64_t>& pending;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::thread thread;

  explicit Dispatcher(const std::vector<int64_t>& p) : pending(p) {}
  int64_t take() {
    const size_t k = next.fetch_add(1);
    return k < pending.size() ? pending[k] : -1;
  }
  // Runs on rank 0's second thread until every other rank has been told to stop. Polls with a
  // short sleep, because a blocking MPI receive spins a core that rank 0's training needs.
  void serve() {
    int told_to_stop = 0;
    while (told_to_stop < mpi::size() - 1 && !stop.load()) {
      int from = -1;
      if (!mpi::probe_any(kTagRequest, &from)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      mpi::recv_i64(from, kTagRequest);
      const int64_t point = take();
      mpi::send_i64(from, kTagAssign, {point});
      if (point < 0) ++told_to_stop;
    }
  }
  // Also when an exception unwinds rank 0 (the CLI then aborts the job): stop and join.
  ~Dispatcher() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

std::string rank_prefix() { return "rank " + std::to_string(mpi::rank()) + ": "; }

}  // namespace

SweepReport run_sweep_ranks(const SweepSpec& s, const std::string& out_dir, const SweepOptions& opt_in) {
  const std::vector<SweepPoint> points = expand_sweep(s, out_dir);  // every check before any output
  SweepOptions opt = opt_in;
  if (opt_in.log) opt.log = [&opt_in](const std::string& line) { opt_in.log(rank_prefix() + line); };
  auto say = [&opt](const std::string& line) {
    if (opt.log) opt.log(line);
  };

  SweepReport rep;
  rep.total = static_cast<int64_t>(points.size());
  std::vector<int64_t> pending;  // point indices, run order; [skipped] appended by rank 0
  std::optional<OutputLock> lock;  // rank 0 holds the folder's lock; its index is rank 0's to write
  if (mpi::is_root()) {
    lock.emplace(claim_sweep_folder(s, out_dir, opt));
    const SweepScan scan = scan_sweep(points, out_dir, opt);
    for (size_t i = 0; i < points.size(); ++i)
      if (!scan.done[i] && (opt.max_points < 0 || static_cast<int64_t>(pending.size()) < opt.max_points))
        pending.push_back(static_cast<int64_t>(i));
    say(s.name + ": " + std::to_string(rep.total) + " points, " + std::to_string(scan.skipped) +
        " already complete (skipped), " + std::to_string(pending.size()) + " to run on " + std::to_string(mpi::size()) +
        " ranks, results in " + out_dir);
    pending.push_back(scan.skipped);
  }
  mpi::broadcast_i64(pending, 0);
  rep.skipped = pending.back();
  pending.pop_back();

  auto run_one = [&](int64_t i) {
    const SweepPoint& p = points[static_cast<size_t>(i)];
    say(p.name + ": running");
    const RunResults r = run_sweep_point(p, out_dir, opt);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: done in %.1f s, final eval_acc %.3f", p.name.c_str(), r.wall_total_s,
                  final_metrics(r).eval_accuracy);
    say(buf);
    ++rep.ran;
  };

  if (mpi::is_root()) {
    Dispatcher d(pending);
    d.thread = std::thread([&d] { d.serve(); });
    for (int64_t i = d.take(); i >= 0; i = d.take()) run_one(i);
    d.thread.join();  // every other rank has finished its last point
    const SweepScan scan = scan_sweep(points, out_dir, SweepOptions{});
    write_sweep_index(s, points, scan.done, scan.metrics, out_dir);
    rep.ran = scan.skipped - rep.skipped;  // over all ranks
    if (opt.max_points >= 0 && rep.skipped + rep.ran < rep.total)
      say("stopping after " + std::to_string(rep.ran) + " points (--max-points)");
  } else {
    int64_t last = -1;
    for (;;) {
      mpi::send_i64(0, kTagRequest, {last});
      const int64_t i = mpi::recv_i64(0, kTagAssign).at(0);
      if (i < 0) break;
      run_one(i);
      last = i;
    }
    if (rep.ran == 0)
      say("no point for this rank (" + std::to_string(pending.size()) + " pending points, " +
          std::to_string(mpi::size()) + " ranks); idle");
  }
  return rep;
}

}  // namespace fedsim::sim
