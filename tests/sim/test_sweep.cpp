// Sweeps: expansion of grid x zip x seeds, spec errors, the index file, and resuming after an
// interruption (in-process with max_points, and a `fedsim sweep` child killed with SIGKILL).
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "sim/results.hpp"
#include "sim/sweep.hpp"
#include "tests/sim/fixtures.hpp"

using namespace fedsim::sim;
namespace fs = std::filesystem;

namespace {

const char* kBase = fedsim::test::kSweepBaseYaml;

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string slurp(const std::string& path) {
  std::ifstream is(path);
  std::stringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

// Writes base.yaml and a spec next to it; returns the spec's path.
std::string make_spec(const std::string& dir, const std::string& body) {
  fs::create_directories(dir);
  write(dir + "/base.yaml", kBase);
  write(dir + "/spec.yaml", "base: base.yaml\n" + body);
  return dir + "/spec.yaml";
}

const char* kSmallSweep =
    "name: small\ngrid:\n  data.partition_alpha: [0.1, 10]\n  federation.algorithm: [fedavg, fedprox]\n"
    "set:\n  data.partition: dirichlet\n";

std::string error_of(const std::string& spec_dir, const std::string& body) {
  try {
    const SweepSpec s = load_sweep_spec(make_spec(spec_dir, body));
    expand_sweep(s, spec_dir + "/out");
  } catch (const fedsim::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sweep: grid x zip x seeds expands in order with every value in the config") {
  const SweepSpec s = load_sweep_spec(
      make_spec("sweep-expand",
                "grid:\n  federation.algorithm: [fedavg, scaffold]\n  data.partition_alpha: [0.1, 1, 10]\n"
                "zip:\n  federation.clients_per_round: [2, 4]\n  federation.deadline_s: [0, 30]\nseeds: [1, 2]\n"
                "set:\n  federation.rounds: 3\n  lora.targets: [q, k, v]\n"));
  const std::vector<SweepPoint> p = expand_sweep(s, "sweep-expand/out");
  REQUIRE(p.size() == 2 * 3 * 2 * 2);
  CHECK(s.name == "spec");
  // Grid axes are outermost (first axis slowest), then the zip, then seeds.
  CHECK(p[0].name == "algorithm=fedavg_partition_alpha=0.1_clients_per_round=2_deadline_s=0_seed=1");
  CHECK(p[1].params.back().second == "2");
  CHECK(p[2].params[2].second == "4");
  CHECK(p[2].params[3].second == "30");
  CHECK(p[4].params[1].second == "1");
  CHECK(p[12].params[0].second == "scaffold");
  const ExperimentConfig& c = p[23].config;
  CHECK(c.federation.algorithm == Algorithm::scaffold);
  CHECK(c.data.synthetic.partition_alpha == 10.0);
  CHECK(c.federation.clients_per_round == 4);
  CHECK(c.federation.deadline_s == 30.0);
  CHECK(c.experiment.seed == 2);
  CHECK(c.federation.rounds == 3);  // from set
  CHECK(c.lora.targets == std::vector<std::string>{"q", "k", "v"});
  CHECK(c.experiment.name == p[23].name);
  CHECK(c.experiment.out == point_file("sweep-expand/out", p[23]));
  CHECK(p[0].config.experiment.seed == 1);

  const SweepSpec named =
      load_sweep_spec(make_spec("sweep-expand",
                                "point_name: \"{federation.algorithm}-a{data.partition_alpha}\"\ngrid:\n"
                                "  federation.algorithm: [fedavg]\n  data.partition_alpha: [0.5, 2]\n"));
  const auto q = expand_sweep(named, "o");
  REQUIRE(q.size() == 2);
  CHECK(q[1].name == "fedavg-a2");
}

TEST_CASE("sweep: spec errors name the key and write nothing") {
  const std::string d = "sweep-errors";
  fs::remove_all(d);
  CHECK(error_of(d, "grid:\n  federation.algorithmz: [fedavg]\n") ==
        d + "/spec.yaml: grid.federation.algorithmz: unknown config key 'federation.algorithmz'; nearest valid key: "
            "federation.algorithm");
  CHECK(
      error_of(d, "zip:\n  federation.rounds: [1, 2]\n  federation.lr: [0.1]\n") ==
      d + "/spec.yaml: zip.federation.lr: 1 values, but zip.federation.rounds has 2; accepted: lists of equal length");
  CHECK(error_of(d, "grid:\n  federation.rounds: 3\n").find("grid.federation.rounds: expected a non-empty list") !=
        std::string::npos);
  CHECK(error_of(d, "grids:\n  federation.rounds: [3]\n").find("unknown key 'grids'") != std::string::npos);
  CHECK(error_of(d, "grid:\n  experiment.seed: [1, 2]\n").find("top-level 'seeds'") != std::string::npos);
  CHECK(error_of(d, "grid:\n  federation.lr: [0.1]\nzip:\n  federation.lr: [0.2]\n").find("key given twice") !=
        std::string::npos);
  const std::string bad_value = error_of(d, "grid:\n  federation.rounds: [2, ten]\n");
  CHECK(bad_value.find("point rounds=ten") != std::string::npos);
  CHECK(bad_value.find("federation.rounds: expected an integer, got 'ten'") != std::string::npos);
  CHECK(error_of(d, "point_name: \"{federation.lr}\"\ngrid:\n  federation.rounds: [2]\n")
            .find("{federation.lr} is not a swept key") != std::string::npos);
  CHECK(error_of(d, "point_name: same\ngrid:\n  federation.rounds: [1, 2]\n").find("both named 'same'") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(d + "/out"));
}

TEST_CASE("sweep: stopped after k points, it resumes, skips the finished ones and ignores partial files") {
  const std::string d = "sweep-resume";
  fs::remove_all(d);
  const SweepSpec s = load_sweep_spec(make_spec(d, kSmallSweep));
  const std::string out = d + "/out";
  SweepOptions opt;
  opt.max_points = 2;
  SweepReport rep = run_sweep(s, out, opt);
  CHECK(rep.total == 4);
  CHECK(rep.ran == 2);
  CHECK(rep.skipped == 0);
  SweepIndex x = read_sweep_index(index_path(out));
  CHECK(x.done == std::vector<uint8_t>{1, 1, 0, 0});
  CHECK(std::isnan(x.metrics[3].eval_accuracy));
  CHECK(x.metrics[3].rounds == -1);

  // Leftovers of a crash: a half-written temporary file, and garbage at point 3's final name.
  const auto points = expand_sweep(s, out);
  write(point_file(out, points[2]) + ".tmp-99999", "half an HDF5 file");
  write(point_file(out, points[3]), "not an HDF5 file");
  CHECK_FALSE(point_is_complete(points[3], point_file(out, points[3])));
  // A complete file with another point's config does not count either.
  fs::copy_file(point_file(out, points[0]), point_file(out, points[2]));
  CHECK_FALSE(point_is_complete(points[2], point_file(out, points[2])));
  const auto before = fs::last_write_time(point_file(out, points[0]));

  // Neither is replaced silently: another config's results need --fresh, a file fedsim did not
  // write needs --force; the sweep refuses before running any point.
  CHECK_THROWS_WITH_AS(run_sweep(s, out, {}),
                       (point_file(out, points[2]) +
                        ": holds the results of another config; refusing to replace them (--fresh runs this config in "
                        "their place, or choose another --out)")
                           .c_str(),
                       fedsim::UserError);
  SweepOptions fresh;
  fresh.fresh = true;
  CHECK_THROWS_WITH_AS(run_sweep(s, out, fresh),
                       (point_file(out, points[3]) +
                        ": exists and is not a fedsim results file; refusing to replace it (--force replaces it, or "
                        "choose another --out)")
                           .c_str(),
                       fedsim::UserError);
  CHECK(read_sweep_index(index_path(out)).done == std::vector<uint8_t>{1, 1, 0, 0});  // nothing ran
  SweepOptions force;
  force.force = true;
  rep = run_sweep(s, out, force);
  CHECK(rep.ran == 2);
  CHECK(rep.skipped == 2);
  CHECK(fs::last_write_time(point_file(out, points[0])) == before);  // not rerun
  x = read_sweep_index(index_path(out));
  CHECK(x.name == "small");
  CHECK(x.axis_keys == std::vector<std::string>{"data.partition_alpha", "federation.algorithm"});
  CHECK(x.params[0] == std::vector<std::string>{"0.1", "0.1", "10", "10"});
  CHECK(x.params[1] == std::vector<std::string>{"fedavg", "fedprox", "fedavg", "fedprox"});
  CHECK(x.done == std::vector<uint8_t>{1, 1, 1, 1});
  for (size_t i = 0; i < points.size(); ++i) {
    CAPTURE(i);
    RunResults r;
    REQUIRE(point_is_complete(points[i], point_file(out, points[i]), &r));
    CHECK(x.files[i] == points[i].name + ".h5");
    const FinalMetrics m = final_metrics(r);
    CHECK(x.metrics[i].eval_accuracy == m.eval_accuracy);
    CHECK(x.metrics[i].eval_loss == m.eval_loss);
    CHECK(x.metrics[i].rounds == 2);
    CHECK(x.metrics[i].sim_time_s == r.sim_total_s);
    CHECK(x.metrics[i].sim_time_s > 0);
    CHECK(r.rounds.back().eval_loss == m.eval_loss);
  }
  rep = run_sweep(s, out, {});  // nothing left to do
  CHECK(rep.ran == 0);
  CHECK(rep.skipped == 4);
}

TEST_CASE("sweep: a fedsim sweep killed with SIGKILL leaves only complete files and resumes") {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const std::string d = "sweep-kill";
  fs::remove_all(d);
  const std::string spec = make_spec(d, std::string(kSmallSweep) + "seeds: [1, 2]\n");
  const std::string out = d + "/out";
  const std::string launch =
      std::string(bin) + " sweep " + spec + " --out " + out + " >" + d + "/first.log 2>&1 & echo $! >" + d + "/pid";
  REQUIRE(std::system(launch.c_str()) == 0);
  pid_t pid = 0;
  for (int i = 0; i < 100 && pid == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::istringstream(slurp(d + "/pid")) >> pid;
  }
  REQUIRE(pid > 0);
  // Kill it once at least one point is finished (or after two minutes, whatever state it is in).
  int64_t done_before = 0;
  for (int i = 0; i < 2400; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!fs::exists(index_path(out))) continue;
    done_before = 0;
    for (uint8_t v : read_sweep_index(index_path(out)).done) done_before += v;
    if (done_before >= 1) break;
  }
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  // Every results file under its final name is a complete point; nothing else looks complete.
  const SweepSpec s = load_sweep_spec(spec);
  const auto points = expand_sweep(s, out);
  int64_t complete = 0;
  for (const auto& p : points) {
    if (!fs::exists(point_file(out, p))) continue;
    CHECK(point_is_complete(p, point_file(out, p)));
    ++complete;
  }
  CHECK(complete >= done_before);
  if (complete == static_cast<int64_t>(points.size())) WARN_MESSAGE(false, "the sweep finished before it was killed");

  const std::string resume =
      std::string(bin) + " sweep " + spec + " --out " + out + " >" + d + "/second.out 2>" + d + "/second.err";
  REQUIRE(std::system(resume.c_str()) == 0);
  const std::string summary = slurp(d + "/second.out");
  CHECK(summary.find("sweep small: 8 points, " + std::to_string(8 - complete) + " ran, " + std::to_string(complete) +
                     " skipped (complete), 0 left") != std::string::npos);
  const SweepIndex x = read_sweep_index(index_path(out));
  CHECK(x.done == std::vector<uint8_t>(8, 1));
  for (const auto& p : points) CHECK(point_is_complete(p, point_file(out, p)));
}
