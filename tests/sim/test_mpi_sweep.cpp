// Sweeps over MPI ranks (sim/mpi/sweep_ranks.cpp): `mpirun -n 2 fedsim sweep` writes the same
// files as the one-rank sweep, resumes a sweep whatever the number of ranks before, keeps idle
// ranks quiet but for one line, and ends the whole job with exit 2 naming the rank and the path
// when a rank cannot write its results. Registered only in builds with MPI (FEDSIM_MPIEXEC).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/results.hpp"
#include "sim/sweep.hpp"
#include "tests/sim/fixtures.hpp"
#include "tests/sim/mpi_util.hpp"
#include "tests/sim/results_check.hpp"

using namespace fedsim::sim;
using fedsim::test::fedsim_ranks;
using fedsim::test::Outcome;
namespace fs = std::filesystem;

namespace {

const char* kBase = fedsim::test::kSweepBaseYaml;

// 2 x 2 x 2 = 8 points of well under a second each.
std::string make_spec(const std::string& dir) {
  fs::create_directories(dir);
  std::ofstream(dir + "/base.yaml") << kBase;
  std::ofstream(dir + "/spec.yaml")
      << "base: base.yaml\nname: small\ngrid:\n  data.partition_alpha: [0.1, 10]\n"
         "  federation.algorithm: [fedavg, scaffold]\nseeds: [1, 2]\nset:\n  data.partition: dirichlet\n";
  return dir + "/spec.yaml";
}

// Every point's results file and the index of `b` equal those of `a` (wall-clock fields aside).
void check_same_sweep(const std::string& spec, const std::string& a, const std::string& b) {
  const auto points = expand_sweep(load_sweep_spec(spec), a);
  for (const auto& p : points) {
    CAPTURE(p.name);
    RunResults x, y;
    REQUIRE(point_is_complete(p, point_file(a, p), &x));
    REQUIRE(point_is_complete(p, point_file(b, p), &y));
    fedsim::test::check_same_run(x, y, false);
  }
  const SweepIndex i = read_sweep_index(index_path(a)), j = read_sweep_index(index_path(b));
  CHECK(i.point_names == j.point_names);
  CHECK(i.files == j.files);
  CHECK(i.params == j.params);
  CHECK(i.done == std::vector<uint8_t>(points.size(), 1));
  CHECK(j.done == i.done);
  REQUIRE(i.metrics.size() == j.metrics.size());
  for (size_t k = 0; k < i.metrics.size(); ++k) {
    CAPTURE(k);
    CHECK(fedsim::test::same_value(i.metrics[k].eval_loss, j.metrics[k].eval_loss));
    CHECK(fedsim::test::same_value(i.metrics[k].train_loss, j.metrics[k].train_loss));
    CHECK(i.metrics[k].sim_time_s == j.metrics[k].sim_time_s);
    CHECK(i.metrics[k].rounds == j.metrics[k].rounds);
    CHECK(i.metrics[k].updates_aggregated == j.metrics[k].updates_aggregated);
  }
}

}  // namespace

TEST_CASE("mpi sweep: 2 ranks write the same files as 1 rank; every rank runs points") {
  const std::string d = "mpi-sweep-same";
  fs::remove_all(d);
  const std::string spec = make_spec(d);
  const Outcome one = fedsim_ranks(1, "sweep " + spec + " --out " + d + "/one", d + "/one");
  REQUIRE(one.code == 0);
  const Outcome two = fedsim_ranks(2, "sweep " + spec + " --out " + d + "/two", d + "/two");
  CAPTURE(two.err);
  REQUIRE(two.code == 0);
  CHECK(two.out.find("sweep small: 8 points, 8 ran, 0 skipped (complete), 0 left") != std::string::npos);
  CHECK(two.err.find("8 to run on 2 ranks") != std::string::npos);
  // Dynamic balancing: with 8 points, rank 1 gets at least one (each asks when it is free).
  CHECK(two.err.find("rank 1: ") != std::string::npos);
  CHECK(two.err.find("rank 0: ") != std::string::npos);
  check_same_sweep(spec, d + "/one", d + "/two");
}

TEST_CASE("mpi sweep: a sweep started on 1 rank resumes on 2, and 3 ranks on a finished sweep idle") {
  const std::string d = "mpi-sweep-resume";
  fs::remove_all(d);
  const std::string spec = make_spec(d);
  REQUIRE(fedsim_ranks(1, "sweep " + spec + " --out " + d + "/one", d + "/one").code == 0);
  const Outcome first = fedsim_ranks(1, "sweep " + spec + " --out " + d + "/mixed --max-points 3", d + "/first");
  REQUIRE(first.code == 0);
  const Outcome second = fedsim_ranks(2, "sweep " + spec + " --out " + d + "/mixed --max-points 2", d + "/second");
  CAPTURE(second.err);
  REQUIRE(second.code == 0);
  CHECK(second.out.find("sweep small: 8 points, 2 ran, 3 skipped (complete), 3 left") != std::string::npos);
  CHECK(read_sweep_index(index_path(d + "/mixed")).done == std::vector<uint8_t>{1, 1, 1, 1, 1, 0, 0, 0});
  const Outcome third = fedsim_ranks(2, "sweep " + spec + " --out " + d + "/mixed", d + "/third");
  REQUIRE(third.code == 0);
  CHECK(third.out.find("sweep small: 8 points, 3 ran, 5 skipped (complete), 0 left") != std::string::npos);
  check_same_sweep(spec, d + "/one", d + "/mixed");

  const Outcome idle = fedsim_ranks(3, "sweep " + spec + " --out " + d + "/mixed", d + "/idle");
  CAPTURE(idle.err);
  REQUIRE(idle.code == 0);
  CHECK(idle.out.find("sweep small: 8 points, 0 ran, 8 skipped (complete), 0 left") != std::string::npos);
  CHECK(idle.err.find("rank 1: no point for this rank (0 pending points, 3 ranks); idle") != std::string::npos);
  CHECK(idle.err.find("rank 2: no point for this rank (0 pending points, 3 ranks); idle") != std::string::npos);
}

TEST_CASE("mpi sweep: a rank that cannot write its results ends the job with exit 2, its rank and the path") {
  const std::string d = "mpi-sweep-unwritable";
  fs::remove_all(d);
  const std::string spec = make_spec(d);
  const auto points = expand_sweep(load_sweep_spec(spec), d + "/out");
  // A folder (not empty) where point 5's results file goes: the rename into place fails.
  const std::string blocked = point_file(d + "/out", points[5]);
  fs::create_directories(blocked + "/x");
  const Outcome o = fedsim_ranks(2, "sweep " + spec + " --out " + d + "/out", d + "/run");
  CAPTURE(o.err);
  CHECK(o.code == 2);
  CHECK(o.err.find("fedsim: error: rank ") != std::string::npos);
  CHECK(o.err.find(" of 2: " + blocked) != std::string::npos);
  CHECK_FALSE(fs::exists(index_path(d + "/out")));  // the index is written once, after all points
}
