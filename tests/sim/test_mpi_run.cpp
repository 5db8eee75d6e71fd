// One run over MPI ranks (sim/mpi/rank_trainer.cpp): `mpirun -n R fedsim run` writes the results
// file of the one-rank run bit for bit (model.products: portable, so a client's training does not
// depend on which other clients share its batch) for every algorithm and server mode, other
// ranks really train, and a run checkpointed on 2 ranks resumes on 3.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sim/results.hpp"
#include "tests/sim/fixtures.hpp"
#include "tests/sim/mpi_util.hpp"
#include "tests/sim/results_check.hpp"

using fedsim::test::fedsim_ranks;
using fedsim::test::Outcome;
namespace fs = std::filesystem;

namespace {

// tests/sim/test_batched.cpp's federation; portable products (each run adds the setting).
const char* kBase = fedsim::test::kBatchedBaseYaml;

std::string sets(const std::vector<std::string>& v) {
  std::string s = " --set model.products=portable";
  for (const auto& x : v) s += " --set " + x;
  return s;
}

// Runs the variant on `ranks` ranks into DIR/<ranks>.h5; returns the outcome.
Outcome run_on(int ranks, const std::string& dir, const std::vector<std::string>& v) {
  const std::string out = dir + "/" + std::to_string(ranks) + ".h5";
  return fedsim_ranks(ranks, "run " + dir + "/base.yaml --fresh --out " + out + sets(v), dir + "/" + std::to_string(ranks));
}

}  // namespace

TEST_CASE("mpi run: 2 and 3 ranks give the one-rank results bit for bit, for every algorithm and mode") {
  struct Variant {
    std::vector<std::string> set;
    bool three;  // also on 3 ranks
  };
  const std::vector<Variant> variants = {
      {{"federation.algorithm=fedavg"}, true},
      {{"federation.algorithm=fedprox"}, false},
      {{"federation.algorithm=scaffold"}, true},
      {{"federation.algorithm=fedavgm"}, false},
      {{"federation.algorithm=fedadam"}, false},
      {{"federation.algorithm=fedyogi"}, false},
      {{"federation.algorithm=fedavg", "privacy.mechanism=gaussian"}, false},
      {{"federation.algorithm=scaffold", "federation.overcommit=1.5", "system.dropout_prob=0.2"}, true},
      {{"federation.algorithm=fedprox", "federation.deadline_s=40"}, false},
      {{"federation.algorithm=fedavg", "federation.mode=async", "federation.async_concurrency=4",
        "federation.async_buffer=2", "federation.rounds=4"},
       true},
      {{"federation.algorithm=feddpo", "data.preset=fed-chatbotpa", "data.length_scale=0.04", "data.test_samples=16",
        "federation.local_steps_mode=fixed", "federation.local_steps=2"},
       false},
  };
  int k = 0;
  for (const Variant& v : variants) {
    std::string name;
    for (const auto& s : v.set) name += s + " ";
    CAPTURE(name);
    const std::string dir = "mpi-run-" + std::to_string(k++);
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir + "/base.yaml") << kBase;
    const Outcome one = run_on(1, dir, v.set);
    CAPTURE(one.err);
    REQUIRE(one.code == 0);
    const fedsim::sim::RunResults ref = fedsim::sim::read_results(dir + "/1.h5");
    for (int ranks : {2, 3}) {
      if (ranks == 3 && !v.three) continue;
      CAPTURE(ranks);
      const Outcome o = run_on(ranks, dir, v.set);
      CAPTURE(o.err);
      REQUIRE(o.code == 0);
      CHECK(o.err.find("MPI: Open MPI") != std::string::npos);
      // Ranks other than 0 trained some participations (the closing line of rank 0's trainer).
      CHECK(o.err.find("MPI: 0 of") == std::string::npos);
      CHECK(o.err.find(" participations trained on ranks 1-" + std::to_string(ranks - 1)) != std::string::npos);
      fedsim::test::check_same_run(ref, fedsim::sim::read_results(dir + "/" + std::to_string(ranks) + ".h5"), false);
    }
  }
}

TEST_CASE("mpi run: a system-only run (trainer none) runs on rank 0 alone and says so") {
  const std::string dir = "mpi-run-none";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/base.yaml") << kBase;
  const std::vector<std::string> v{"federation.trainer=none"};
  REQUIRE(run_on(1, dir, v).code == 0);
  const Outcome o = run_on(2, dir, v);
  CAPTURE(o.err);
  REQUIRE(o.code == 0);
  CHECK(o.err.find("MPI: federation.trainer: none runs on rank 0 alone; ranks 1-1 idle") != std::string::npos);
  fedsim::test::check_same_run(fedsim::sim::read_results(dir + "/1.h5"), fedsim::sim::read_results(dir + "/2.h5"),
                               false);
}

TEST_CASE("mpi run: a 2-rank run killed after a checkpoint resumes on 3 ranks to the one-rank results") {
  const std::string dir = "mpi-run-kill";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/base.yaml") << kBase;
  const std::vector<std::string> v{"federation.algorithm=scaffold", "federation.rounds=4",
                                   "experiment.checkpoint_every=1"};
  REQUIRE(run_on(1, dir, v).code == 0);
  const std::string out = dir + "/killed.h5";
  // Rank 0 (the one that simulates and checkpoints) kills itself mid-run; MPI takes the job down.
  const Outcome killed = fedsim_ranks(2, "run " + dir + "/base.yaml --out " + out + sets(v), dir + "/killed",
                                      "FEDSIM_FAULT=kill_after_events=40 ");
  CAPTURE(killed.err);
  CHECK(killed.code != 0);
  CHECK_FALSE(fs::exists(out));
  REQUIRE(fs::exists(out + ".ckpt"));
  const Outcome resumed = fedsim_ranks(3, "run " + dir + "/base.yaml --out " + out + sets(v), dir + "/resumed");
  CAPTURE(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(resumed.err.find("resuming from " + out + ".ckpt") != std::string::npos);
  fedsim::test::check_same_run(fedsim::sim::read_results(dir + "/1.h5"), fedsim::sim::read_results(out), false);
}

TEST_CASE("mpi: other commands run once, on rank 0; a bad config ends the job with exit 2") {
  const std::string dir = "mpi-run-cli";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/base.yaml") << kBase;
  const Outcome v = fedsim_ranks(2, "validate " + dir + "/base.yaml", dir + "/validate");
  CAPTURE(v.err);
  CHECK(v.code == 0);
  CHECK(v.out == dir + "/base.yaml: ok (6 clients, 2 rounds, fedavg, model nano)\n");
  CHECK(v.err.find("fedsim: validate runs on rank 0 alone; ranks 1-1 idle") != std::string::npos);

  const Outcome bad = fedsim_ranks(2, "run " + dir + "/base.yaml --set federation.rounds=zero", dir + "/bad");
  CAPTURE(bad.err);
  CHECK(bad.code == 2);
  CHECK(bad.err.find("fedsim: error: rank ") != std::string::npos);
  CHECK(bad.err.find(" of 2: ") != std::string::npos);
  CHECK(bad.err.find("federation.rounds: expected an integer, got 'zero'") != std::string::npos);
}

// Ranks on one node share its cores: with no thread count given, each rank's Kokkos takes its
// share (the banner says how many), so R all-core OpenMP runtimes do not oversubscribe the node.
TEST_CASE("mpi: without OMP_NUM_THREADS each rank takes its share of the node's cores") {
  const std::string dir = "mpi-run-cores";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Unbound ranks (Open MPI binds each to a core when they fit, and OpenMP would then take one
  // thread anyway): the node's CPUs over its 2 ranks.
  const Outcome v = fedsim_ranks(2, "--version", dir + "/version",
                                 "OMPI_MCA_hwloc_base_binding_policy=none env -u OMP_NUM_THREADS -u KOKKOS_NUM_THREADS ");
  CAPTURE(v.out);
  CAPTURE(v.err);
  REQUIRE(v.code == 0);
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const long share = std::max(1L, cpus / 2);
  int banners = 0;
  for (size_t at = v.out.find("fedsim "); at != std::string::npos; at = v.out.find("fedsim ", at + 1)) {
    ++banners;
    const size_t omp = v.out.find("OpenMP (", at);
    if (omp == std::string::npos || omp > v.out.find('\n', at)) continue;  // a Serial build: one core anyway
    const long threads = std::atol(v.out.c_str() + omp + 8);
    CHECK(threads >= 1);
    CHECK(threads <= share);
  }
  CHECK(banners == 2);  // one per rank
}
