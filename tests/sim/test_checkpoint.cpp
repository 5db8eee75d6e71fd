// Checkpoint files: archived field by field, so two identical runs write identical bytes (the
// host's wall clock and memory pinned: they are measurements, not simulation state); a
// checkpoint of the previous format is refused with the file, both versions and --fresh.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "sim/checkpoint.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"

using namespace fedsim::sim;

namespace {

const char* kYaml = R"(experiment:
  seed: 5
  cache_dir: ckpt-cache
  checkpoint_every: 1
data:
  samples_mean: 20
  test_samples: 16
  public_samples: 100
model:
  preset: nano
  pretrain_steps: 5
federation:
  algorithm: scaffold
  clients: 6
  clients_per_round: 3
  overcommit: 1.4
  rounds: 3
  local_steps: 2
  batch_size: 4
system:
  dropout_prob: 0.2
)";

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("checkpoint: two identical runs write byte-identical checkpoint files") {
  const ExperimentConfig c = parse_config(kYaml, "ckpt.yaml");
  RunHooks hooks;
  hooks.wall_clock = [] { return 100.0; };
  hooks.peak_rss_mb = [] { return 1.0; };
  std::string files[2];
  for (int i = 0; i < 2; ++i) {
    files[i] = "ckpt-run" + std::to_string(i) + ".h5.ckpt";
    std::filesystem::remove(files[i]);
    RunControl control;
    control.checkpoint_file = files[i];
    control.resume = false;
    run_experiment(c, hooks, control);
    REQUIRE(std::filesystem::exists(files[i]));  // the last one, after round 2 of 3
  }
  const std::string a = bytes_of(files[0]), b = bytes_of(files[1]);
  CHECK(a.size() > 1000);
  CHECK(a == b);
  const SimCheckpoint ck = read_checkpoint(files[0]);
  CHECK(ck.completed_rounds == 2);
  CHECK(ck.config_yaml == to_yaml(c));
}

TEST_CASE("checkpoint: a corrupt state is a UserError, not invalid values") {
  const ExperimentConfig c = parse_config(kYaml, "ckpt.yaml");
  const std::string file = "ckpt-run0.h5.ckpt";
  REQUIRE(std::filesystem::exists(file));  // from the test above
  SimCheckpoint ck = read_checkpoint(file);
  ck.state.resize(ck.state.size() / 2);
  write_checkpoint("ckpt-cut.h5.ckpt", ck);
  RunControl control;
  control.checkpoint_file = "ckpt-cut.h5.ckpt";
  CHECK_THROWS_AS(run_experiment(c, {}, control), fedsim::UserError);
}

TEST_CASE("checkpoint: a file of the previous version is refused naming the file, both versions and --fresh; exit 2") {
  const std::string old = std::to_string(kSimStateFormatVersion - 1), now = std::to_string(kSimStateFormatVersion);
  {
    fedsim::h5::AtomicFile out("ckpt-v1.h5.ckpt");
    fedsim::h5::set_format(out.root(), kSimStateKind, kSimStateFormatVersion - 1);
    out.root().set_attr("config_yaml", "x");
    out.root().set_attr("completed_rounds", int64_t{1});
    out.root().write("state", std::vector<uint8_t>(64, 0));
    out.commit();
  }
  const std::string msg =
      "ckpt-v1.h5.ckpt: checkpoint format_version " + old + " is not supported; this fedsim reads version " + now +
      "; HINT: rerun with --fresh to start the run over (the checkpoint is replaced)";
  CHECK_THROWS_WITH_AS(read_checkpoint("ckpt-v1.h5.ckpt"), msg.c_str(), fedsim::UserError);
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  std::ofstream("ckpt-cli.yaml") << kYaml;
  std::filesystem::remove("ckpt-v1-run.h5");
  std::filesystem::copy_file("ckpt-v1.h5.ckpt", "ckpt-v1-run.h5.ckpt", std::filesystem::copy_options::overwrite_existing);
  const std::string cmd = std::string(bin) + " run ckpt-cli.yaml --out ckpt-v1-run.h5 >/dev/null 2>ckpt-cli.err";
  const int st = std::system(cmd.c_str());
  CHECK(WEXITSTATUS(st) == 2);
  const std::string err = bytes_of("ckpt-cli.err");
  CHECK(err.find("ckpt-v1-run.h5.ckpt: checkpoint format_version " + old + " is not supported") != std::string::npos);
  CHECK(err.find("--fresh") != std::string::npos);
}
