// fedsim sweep SPEC.yaml --out DIR: run every point of a sweep (experiments/README.md).
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "common/error.hpp"
#include "models/model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/checkpoint.hpp"
#include "sim/cli/parse.hpp"
#include "sim/mpi/comm.hpp"
#include "sim/sweep.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {

int cmd_sweep(const std::vector<std::string>& args, int& argc, char** argv) {
  std::string spec_path, out;
  int64_t max_points = -1;
  po::options_description desc("fedsim sweep SPEC.yaml [options]");
  desc.add_options()("help,h", "this help")(
      "out,o", po::value<std::string>(&out),
      "folder for the results files and index.h5 (default: results/<sweep name>)")(
      "max-points", po::value<int64_t>(&max_points), "run at most N pending points, then stop (resume later)")(
      "fresh", "replace results and checkpoints of another config, and another sweep's index.h5")(
      "force", "replace any regular file at a point's name or at index.h5")(
      "dry-run", "list the points and whether each is complete; run nothing, write nothing");
  const po::variables_map vm = parse_args(args, desc, "spec", &spec_path);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (spec_path.empty()) throw UserError("fedsim sweep: missing SPEC.yaml (see fedsim sweep --help)");
  if (vm.count("max-points") && max_points < 0)
    throw UserError("fedsim sweep: --max-points: " + std::to_string(max_points) + " is negative; accepted: 0 or more");

  const sim::SweepSpec spec = sim::load_sweep_spec(spec_path);
  if (out.empty()) out = "results/" + spec.name;
  if (vm.count("dry-run")) {
    if (!mpi::is_root()) return 0;  // one listing per job
    const auto points = sim::expand_sweep(spec, out);
    for (const auto& p : points)
      std::printf("%-60s %s\n", p.name.c_str(),
                  sim::point_is_complete(p, sim::point_file(out, p)) ? "complete" : "pending");
    std::printf("%zu points\n", points.size());
    return 0;
  }

  models::Runtime runtime(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  sim::SweepOptions opt;
  opt.max_points = max_points;
  opt.fresh = vm.count("fresh") > 0;
  opt.force = vm.count("force") > 0;
  sim::install_stop_handlers();
  opt.log = [&](const std::string& line) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "[sweep %7.1fs] ", s);
    std::cerr << buf << line << "\n";
  };
  sim::SweepReport rep;
  try {
    rep = sim::run_sweep(spec, out, opt);  // over MPI ranks when there are several
  } catch (const sim::Interrupted& stop) {
    std::cerr << "fedsim: sweep stopped by signal " << stop.signal << "; the running point's state is saved to "
              << stop.checkpoint << "; run the same command again to resume\n";
    return 128 + stop.signal;
  }
  if (!mpi::is_root()) return 0;  // rank 0 holds the totals
  std::printf("sweep %s: %lld points, %lld ran, %lld skipped (complete), %lld left\n", spec.name.c_str(),
              static_cast<long long>(rep.total), static_cast<long long>(rep.ran), static_cast<long long>(rep.skipped),
              static_cast<long long>(rep.total - rep.ran - rep.skipped));
  std::printf("index: %s\n", sim::index_path(out).c_str());
  return 0;
}

}  // namespace fedsim::cli
