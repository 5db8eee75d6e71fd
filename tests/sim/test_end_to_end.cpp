// A tiny federated run through every layer: synthetic data -> pretrained nano base -> FedAvg
// rounds of LoRA training -> results file.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/federation.hpp"
#include "sim/results.hpp"

using namespace fedsim::sim;

namespace {
const char* kTinyRun = R"(experiment:
  name: e2e
  seed: 7
  cache_dir: e2e-cache
data:
  samples_mean: 40
  test_samples: 64
  public_samples: 400
model:
  preset: nano
  pretrain_steps: 60
  pretrain_batch: 16
federation:
  clients: 6
  clients_per_round: 3
  rounds: 4
  local_steps: 6
  batch_size: 8
  lr: 0.01
)";

bool same_numbers(const RunResults& a, const RunResults& b) {
  if (a.rounds.size() != b.rounds.size() || a.participation != b.participation || a.config_yaml != b.config_yaml)
    return false;
  auto same = [](double x, double y) { return (std::isnan(x) && std::isnan(y)) || x == y; };
  for (size_t i = 0; i < a.rounds.size(); ++i) {
    const RoundRow &x = a.rounds[i], &y = b.rounds[i];
    if (x.round != y.round || !same(x.sim_time_s, y.sim_time_s) || !same(x.train_loss, y.train_loss) ||
        !same(x.eval_loss, y.eval_loss) || !same(x.eval_accuracy, y.eval_accuracy))
      return false;
  }
  return true;
}
}  // namespace

TEST_CASE("end to end: federated LoRA tuning lowers eval loss, and the run is deterministic") {
  std::filesystem::remove_all("e2e-cache");
  const ExperimentConfig c = parse_config(kTinyRun, "e2e.yaml");
  const RunResults first = run_experiment(c, {});  // pretrains and caches the base
  REQUIRE(first.rounds.size() == 5);
  CHECK(first.rounds.back().eval_loss < first.rounds.front().eval_loss);
  CHECK(std::isnan(first.rounds.front().train_loss));
  for (size_t i = 1; i < first.rounds.size(); ++i) {
    CHECK(first.rounds[i].sim_time_s > first.rounds[i - 1].sim_time_s);  // rounds take simulated time
    CHECK(std::isfinite(first.rounds[i].train_loss));
  }
  CHECK(first.participation.size() == 4);
  CHECK(first.participation[0].size() == 3);
  CHECK(first.client_n_samples.size() == 6);

  const RunResults second = run_experiment(c, {});  // loads the cached base and data
  CHECK(same_numbers(first, second));

  write_results(first, "e2e.h5");
  CHECK(same_numbers(read_results("e2e.h5"), first));
  std::filesystem::remove("e2e.h5");
}

TEST_CASE("cosine learning rate: lr0 at round 0, the floor at R, the midpoint at R/2") {
  CHECK(cosine_lr(2e-5, 1e-6, 0, 100) == doctest::Approx(2e-5));
  CHECK(cosine_lr(2e-5, 1e-6, 50, 100) == doctest::Approx(0.5 * (2e-5 + 1e-6)));
  CHECK(cosine_lr(2e-5, 1e-6, 100, 100) == doctest::Approx(1e-6));
}

TEST_CASE("determinism: every algorithm gives bit-identical results twice, and they differ from each other") {
  const std::string base = std::string(kTinyRun) +
                           "  client_eval_every: 1\n  client_eval_samples: 8\n  prox_mu: 0.1\n"
                           "privacy:\n  clip: 0.5\n";
  std::vector<std::vector<std::string>> variants = {
      {"federation.algorithm=fedavg"},
      {"federation.algorithm=fedprox"},
      {"federation.algorithm=scaffold"},
      {"federation.algorithm=fedavgm"},
      {"federation.algorithm=fedadagrad"},
      {"federation.algorithm=fedyogi"},
      {"federation.algorithm=fedadam"},
      {"federation.algorithm=local", "federation.local_client=2"},
      {"federation.algorithm=local"},
      {"federation.algorithm=fedavg", "privacy.mechanism=gaussian"},
      {"federation.algorithm=fedavg", "federation.mode=async", "federation.async_concurrency=3",
       "federation.async_buffer=2"},
      {"federation.algorithm=feddpo", "data.preset=fed-chatbotpa", "data.length_scale=0.04", "data.test_samples=16"},
  };
  std::vector<double> finals;
  for (const auto& v : variants) {
    CAPTURE(v[0]);
    CAPTURE(v.back());
    std::vector<std::string> sets = v;
    sets.push_back("federation.rounds=2");  // kTinyRun sets 4; a second `rounds:` key would be refused
    const ExperimentConfig c = parse_config(base, "e2e.yaml", sets);
    const RunResults a = run_experiment(c, {});
    const RunResults b = run_experiment(c, {});
    CHECK(same_numbers(a, b));
    CHECK(a.client_eval_accuracy == b.client_eval_accuracy);
    CHECK(a.clients.local_eval_accuracy.size() == (v[0] == "federation.algorithm=local" ? 6u : 0u));
    finals.push_back(a.rounds.back().eval_loss);
  }
  // Each rule moves the model differently (the two local variants and DP included).
  for (size_t i = 0; i < finals.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      CAPTURE(i);
      CAPTURE(j);
      CHECK(finals[i] != finals[j]);
    }
}
