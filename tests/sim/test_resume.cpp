// Crash safety: a run killed with SIGKILL at several points (mid-round, in the middle of writing
// a checkpoint, around async aggregations) or stopped by SIGTERM, then run again, ends with
// results identical to an uninterrupted run (wall-clock fields aside), for sync, deadline and
// async modes and FedAvg, SCAFFOLD and FedAdam, and for a U2S run killed during generation or
// training.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/h5.hpp"
#include "sim/checkpoint.hpp"
#include "sim/results.hpp"
#include "tests/sim/results_check.hpp"

using namespace fedsim::sim;

namespace {

struct Status {
  bool killed = false;
  int signal = 0, code = -1;
};

Status run_fedsim(const std::string& config, const std::string& out, const std::string& fault) {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const std::string env = fault.empty() ? "" : "FEDSIM_FAULT=" + fault + " ";
  const std::string cmd = env + bin + " run " + config + " --out " + out + " >/dev/null 2>resume.err";
  const int st = std::system(cmd.c_str());
  Status s;
  // system() runs the command through sh, which reports a child killed by signal N as 128+N.
  if (WIFEXITED(st)) {
    s.code = WEXITSTATUS(st);
    if (s.code > 128) {
      s.killed = true;
      s.signal = s.code - 128;
    }
  } else if (WIFSIGNALED(st)) {
    s.killed = true;
    s.signal = WTERMSIG(st);
  }
  return s;
}

using fedsim::test::same_value;

// Everything but wall-clock fields (a resumed run's host time differs).
void check_same(const RunResults& a, const RunResults& b) { fedsim::test::check_same_run(a, b, /*wall=*/false); }

const char* kBase = R"(experiment:
  seed: 3
  cache_dir: resume-cache
  checkpoint_every: 1
data:
  samples_mean: 30
  test_samples: 32
  public_samples: 200
model:
  preset: nano
  pretrain_steps: 20
federation:
  clients: 8
  clients_per_round: 3
  rounds: 5
  local_steps: 3
  batch_size: 4
  lr: 0.01
  client_eval_every: 2
  client_eval_samples: 4
  async_concurrency: 4
  async_buffer: 2
system:
  dropout_prob: 0.1
)";

}  // namespace

TEST_CASE("resume: killed or stopped runs continue to the same results") {
  struct Mode {
    const char* name;
    const char* yaml;
  };
  const Mode modes[] = {
      {"sync-fedavg", "  algorithm: fedavg\n"},
      {"sync-scaffold", "  algorithm: scaffold\n"},
      {"deadline-fedadam", "  algorithm: fedadam\n  overcommit: 1.5\n  deadline_s: 0.115\n"},
      {"async-fedavg", "  algorithm: fedavg\n  mode: async\n"},
      {"async-fedadam", "  algorithm: fedadam\n  mode: async\n"},
  };
  const char* faults[] = {"kill_after_events=7", "kill_after_events=23", "kill_in_checkpoint=2", "term_after_events=15"};
  for (const Mode& m : modes) {
    const std::string mode_name = m.name;
    CAPTURE(mode_name);
    std::string yaml = kBase;
    yaml.replace(yaml.find("federation:\n") + 12, 0, m.yaml);
    const std::string cfg = std::string("resume-") + m.name + ".yaml";
    std::ofstream(cfg) << yaml;
    // A folder that does not exist yet: checkpoints and results create it.
    const std::string ref_dir = std::string("resume-ref-") + m.name;
    std::filesystem::remove_all(ref_dir);
    const std::string ref = ref_dir + "/ref.h5";
    REQUIRE(run_fedsim(cfg, ref, "").code == 0);
    const RunResults want = read_results(ref);
    CHECK_FALSE(std::filesystem::exists(ref + ".ckpt"));  // removed once the run is complete
    for (const char* fault : faults) {
      const std::string fault_name = fault;
      CAPTURE(fault_name);
      const std::string out = std::string("resume-") + m.name + ".h5";
      std::filesystem::remove(out);
      std::filesystem::remove(out + ".ckpt");
      const Status first = run_fedsim(cfg, out, fault);
      CHECK(first.killed);
      CHECK(first.signal == (std::string(fault).rfind("term", 0) == 0 ? SIGTERM : SIGKILL));
      CHECK_FALSE(std::filesystem::exists(out));  // no results file that looks complete
      const Status second = run_fedsim(cfg, out, "");
      REQUIRE(second.code == 0);
      check_same(read_results(out), want);
    }
  }
}

TEST_CASE("resume: a U2S run killed or stopped during generation or training continues to the same results") {
  // Generation and training share one timeline (sim/u2s/README.md), and a checkpoint holds the
  // generated text with the federation's state: a run stopped while clients still generate
  // resumes mid-generation (completed_rounds 0: the checkpoint came from a finished generate
  // job or the stop itself), and /u2s/eval still has the base's per-domain numbers of round 0.
  const std::string base = R"(experiment:
  seed: 2
  cache_dir: resume-cache
  checkpoint_every: 1
model:
  preset: nano
  seq_len: 48
  pretrain_steps: 30
federation:
  clients: 5
  clients_per_round: 2
  rounds: 4
  local_steps: 3
  batch_size: 4
  lr: 0.01
system:
  dropout_prob: 0.1
u2s:
  mode: on
)";
  auto u2s_eval = [](const std::string& path) {
    const fedsim::h5::File f = fedsim::h5::File::open_read(path);
    const fedsim::h5::Group g = f.root().open_group("u2s");
    const fedsim::h5::Group e = g.open_group("eval");
    std::vector<double> v = e.read<double>("base_accuracy");
    for (const char* k : {"final_accuracy", "base_loss", "final_loss"}) {
      const std::vector<double> x = e.read<double>(k);
      v.insert(v.end(), x.begin(), x.end());
    }
    for (int64_t k : g.read<int64_t>("kept")) v.push_back(static_cast<double>(k));
    for (double r : g.read<double>("ready_s")) v.push_back(r);
    return v;
  };
  struct Fault {
    const char* fault;
    int64_t completed_rounds;  // in the checkpoint it leaves
  };
  struct Case {
    const char* start;
    std::vector<Fault> faults;
  };
  // as_ready: event 12 falls after the first generate jobs ended, while the others still run
  // and round 1 trains the first ready client; event 4 before any job ended; event 30 in round 3.
  // after_all: round 0 waits for every client, so events 13 and 14 are inside generation.
  const Case cases[] = {
      {"as_ready", {{"kill_after_events=12", 0}, {"term_after_events=4", 0}, {"kill_after_events=30", 2}}},
      {"after_all", {{"term_after_events=13", 0}, {"kill_after_events=14", 0}}},
  };
  for (const Case& k : cases) {
    const std::string start = k.start;
    CAPTURE(start);
    const std::string cfg = "resume-u2s-" + start + ".yaml";
    std::ofstream(cfg) << base << "  start: " << start << "\n";
    const std::string ref_dir = "resume-ref-u2s-" + start;
    std::filesystem::remove_all(ref_dir);
    REQUIRE(run_fedsim(cfg, ref_dir + "/ref.h5", "").code == 0);
    const RunResults want = read_results(ref_dir + "/ref.h5");
    const std::vector<double> want_u2s = u2s_eval(ref_dir + "/ref.h5");
    REQUIRE(want_u2s.size() == 3 * 4 + 5 + 5);
    for (const Fault& f : k.faults) {
      const std::string fault_name = f.fault;
      CAPTURE(fault_name);
      const std::string out = "resume-u2s.h5";
      std::filesystem::remove(out);
      std::filesystem::remove(out + ".ckpt");
      const Status first = run_fedsim(cfg, out, f.fault);
      CHECK(first.killed);
      REQUIRE(std::filesystem::exists(out + ".ckpt"));
      CHECK(read_checkpoint(out + ".ckpt").completed_rounds == f.completed_rounds);
      CHECK_FALSE(std::filesystem::exists(out));
      REQUIRE(run_fedsim(cfg, out, "").code == 0);
      check_same(read_results(out), want);
      const std::vector<double> got = u2s_eval(out);
      REQUIRE(got.size() == want_u2s.size());
      for (size_t i = 0; i < got.size(); ++i) CHECK(same_value(got[i], want_u2s[i]));
    }
  }
}
