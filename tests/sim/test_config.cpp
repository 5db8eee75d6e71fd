#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "sim/config.hpp"

using namespace fedsim::sim;
using fedsim::UserError;

namespace {
std::string error_of(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  try {
    parse_config(yaml, "t.yaml", sets);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("config: defaults when a section is empty, values when given") {
  const ExperimentConfig c = parse_config("federation:\n  rounds: 7\n  lr: 1e-3\nlora:\n  targets: [q, k, v]\n", "t.yaml");
  CHECK(c.federation.rounds == 7);
  CHECK(c.federation.lr == 1e-3);
  CHECK(c.federation.clients == 20);
  CHECK(c.lora.targets == std::vector<std::string>{"q", "k", "v"});
  CHECK(c.model.preset == "tiny");
}

TEST_CASE("config: unknown keys name the key, its path and the nearest valid key") {
  CHECK(error_of("federation:\n  roundz: 3\n") ==
        "t.yaml: unknown key 'roundz' at federation.roundz; nearest valid key: federation.rounds");
  CHECK(error_of("federaton:\n  rounds: 3\n") == "t.yaml: unknown key 'federaton' at federaton; nearest valid key: federation");
  CHECK(error_of("lora:\n  rnak: 4\n") == "t.yaml: unknown key 'rnak' at lora.rnak; nearest valid key: lora.rank");
}

TEST_CASE("config: wrong types are named with the value and what is expected") {
  CHECK(error_of("federation:\n  rounds: ten\n") == "t.yaml: federation.rounds: expected an integer, got 'ten'");
  CHECK(error_of("federation:\n  rounds: 2.5\n") == "t.yaml: federation.rounds: expected an integer, got '2.5'");
  CHECK(error_of("federation:\n  lr: fast\n") == "t.yaml: federation.lr: expected a number, got 'fast'");
  CHECK(error_of("federation:\n  lr: .nan\n") == "t.yaml: federation.lr: expected a finite number, got '.nan'");
  CHECK(error_of("federation:\n  rounds: [1, 2]\n") == "t.yaml: federation.rounds: expected an integer, got a list");
  CHECK(error_of("lora:\n  targets: q\n") == "t.yaml: lora.targets: expected a list such as [a, b], got 'q'");
  CHECK(error_of("federation: 3\n") == "t.yaml: federation: expected a mapping of keys, got '3'");
}

TEST_CASE("config: out-of-range and unaccepted values give the accepted range") {
  CHECK(error_of("federation:\n  rounds: 0\n") == "t.yaml: federation.rounds: 0 is out of range; accepted: 1 to 1000000");
  CHECK(error_of("lora:\n  dropout: 1.5\n") == "t.yaml: lora.dropout: 1.5 is out of range; accepted: 0.0 to 0.99");
  CHECK(error_of("federation:\n  algorithm: fedavgg\n") ==
        "t.yaml: federation.algorithm: 'fedavgg' is not accepted; accepted: local, fedavg, fedprox, scaffold, fedavgm, "
        "fedadagrad, fedyogi, fedadam, feddpo");
  CHECK(error_of("lora:\n  targets: [q, w]\n") ==
        "t.yaml: lora.targets: 'w' is not accepted; accepted: q, k, v, o, mlp_up, mlp_down, mlp_gate, q_proj, "
        "k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
  // Choices held as enums: the key, the value and every spelling of the enum, in order.
  CHECK(error_of("data:\n  partition: halves\n") ==
        "t.yaml: data.partition: 'halves' is not accepted; accepted: natural, iid, dirichlet, shards");
  CHECK(error_of("data:\n  partition_by: size\n") ==
        "t.yaml: data.partition_by: 'size' is not accepted; accepted: task, language, length, quality");
  CHECK(error_of("data:\n  quantity: zipf\n") ==
        "t.yaml: data.quantity: 'zipf' is not accepted; accepted: calibrated, lognormal, powerlaw, equal");
  CHECK(error_of("u2s:\n  start: never\n") == "t.yaml: u2s.start: 'never' is not accepted; accepted: as_ready, after_all");
  CHECK(error_of("", {"masgpt.backend=gpt"}) ==
        "--set masgpt.backend=gpt: masgpt.backend: 'gpt' is not accepted; accepted: model, openai");
  CHECK(error_of("federation:\n  clients: 5\n  clients_per_round: 6\n") ==
        "t.yaml: federation.clients_per_round: 6 is more than federation.clients (5); accepted: 1 to 5");
}

TEST_CASE("config: a missing data file is reported with its key") {
  CHECK(error_of("data:\n  source: file\n  path: /nonexistent/d.h5\n") == "t.yaml: data.path: /nonexistent/d.h5: no such file");
  CHECK(error_of("data:\n  source: file\n") ==
        "t.yaml: data.path: empty; data.source: file needs the path of a fedsim-dataset HDF5 file");
}

TEST_CASE("config: --set overrides, with the same checks") {
  const ExperimentConfig c = parse_config("federation:\n  rounds: 7\n", "t.yaml", {"federation.rounds=9", "lora.targets=[v]"});
  CHECK(c.federation.rounds == 9);
  CHECK(c.lora.targets == std::vector<std::string>{"v"});
  CHECK(error_of("", {"federation.roundz=3"}) ==
        "--set: unknown key 'roundz' at federation.roundz; nearest valid key: federation.rounds");
  // A bad value from --set is blamed on the --set, not on the file.
  CHECK(error_of("", {"federation.rounds=x"}) ==
        "--set federation.rounds=x: federation.rounds: expected an integer, got 'x'");
  CHECK(error_of("", {"rounds"}) == "--set rounds: expected section.key=value, for example federation.rounds=20");
}

TEST_CASE("config: YAML syntax errors give line and column") {
  const std::string e = error_of("federation:\n  rounds: [1, 2\n");
  CHECK(e.rfind("t.yaml: YAML syntax error at line ", 0) == 0);
}

TEST_CASE("config: the resolved YAML reads back to the same config") {
  const ExperimentConfig a =
      parse_config("experiment:\n  name: \"odd \\\"name\\\"\"\nfederation:\n  lr: 0.1\n  rounds: 3\n", "t.yaml");
  const std::string y = to_yaml(a);
  const ExperimentConfig b = parse_config(y, "resolved");
  CHECK(to_yaml(b) == y);
  CHECK(b.experiment.name == "odd \"name\"");
  CHECK(b.federation.lr == 0.1);
  CHECK(config_keys().size() > 30);
}

TEST_CASE("config: configs/reference.yaml is what the schema generates, and it validates") {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src != nullptr);
  std::ifstream is(std::string(src) + "/configs/reference.yaml");
  REQUIRE(is.good());
  std::stringstream ss;
  ss << is.rdbuf();
  CHECK(ss.str() == reference_yaml());
  const ExperimentConfig c = parse_config(ss.str(), "reference.yaml");
  CHECK(to_yaml(c) == to_yaml(ExperimentConfig{}));
}
