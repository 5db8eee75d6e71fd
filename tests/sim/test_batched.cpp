// federation.execution: batched local training changes wall time only. For every algorithm and
// server mode (sync with over-commitment, deadline and dropouts; async FedBuff), batched and
// sequential runs give the same simulated times and participation, and with
// `model.products: portable` (models/products.hpp) the same adapters and losses bit for bit,
// packed or padded. With the default `blas` products the stacked products have other shapes
// than the per-client ones and may round otherwise (tests/models/test_kernels.cpp), so there
// the runs are checked for the same decisions and for bit-reproducibility run to run only.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/federation.hpp"
#include "sim/trainer.hpp"
#include "tests/sim/fixtures.hpp"

using namespace fedsim::sim;

namespace {
const char* kBase = fedsim::test::kBatchedBaseYaml;

// Forwards to the model trainer; keeps every adapter evaluated (the global one after each
// round, or every client's own for `local`) and counts batched calls.
class Capture : public LocalTrainer {
 public:
  explicit Capture(LocalTrainer& in) : in_(in) {}
  int64_t adapter_params() const override { return in_.adapter_params(); }
  double flops_per_token() const override { return in_.flops_per_token(); }
  std::vector<float> initial_adapter() const override { return in_.initial_adapter(); }
  int64_t tokens(int steps) const override { return in_.tokens(steps); }
  LocalResult train(int32_t client, int64_t round, int steps, std::vector<float>& adapter, double lr,
                    const fedsim::models::LocalHooks& hooks) override {
    return in_.train(client, round, steps, adapter, lr, hooks);
  }
  std::vector<LocalResult> train_many(const std::vector<TrainTask>& tasks) override {
    ++batched_calls;
    return in_.train_many(tasks);
  }
  EvalResult evaluate(const std::vector<float>& adapter) const override {
    evaluated.push_back(adapter);
    return in_.evaluate(adapter);
  }
  double client_accuracy(const std::vector<float>& adapter, int32_t client) const override {
    return in_.client_accuracy(adapter, client);
  }
  int batched_calls = 0;
  mutable std::vector<std::vector<float>> evaluated;

 private:
  LocalTrainer& in_;
};

struct Run {
  RunResults results;
  std::vector<std::vector<float>> evaluated;
  int batched_calls = 0;
};

Run run(ExperimentConfig c, Execution execution) {
  c.federation.execution = execution;
  validate_experiment(c);
  const fedsim::models::ProductsScope products(products_of(c));  // as run_experiment does
  const auto data = prepare_data(c, {});
  auto model = prepare_model(c, data, {});
  auto inner = make_model_trainer(c, data, model);
  Capture cap(*inner);
  std::vector<int64_t> n;
  for (const auto& cl : data.clients) n.push_back(static_cast<int64_t>(cl.samples.size()));

  Run r;
  r.results = run_federation(c, n, cap, {}, {});
  r.evaluated = cap.evaluated;
  r.batched_calls = cap.batched_calls;
  return r;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::fmax(d, std::fabs(double(a[i]) - b[i]));
    m = std::fmax(m, std::fabs(double(b[i])));
  }
  return m > 0 ? d / m : d;
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Simulated time and decisions do not see the execution mode or the products.
void check_same_simulation(const Run& x, const Run& y) {
  const auto& a = x.results;
  const auto& b = y.results;
  REQUIRE(a.rounds.size() == b.rounds.size());
  CHECK(a.participation == b.participation);
  CHECK(a.clients.tokens_trained == b.clients.tokens_trained);
  CHECK(a.sim_total_s == b.sim_total_s);
  for (size_t i = 0; i < a.rounds.size(); ++i) {
    CAPTURE(i);
    CHECK(a.rounds[i].sim_time_s == b.rounds[i].sim_time_s);
    CHECK(a.rounds[i].completed == b.rounds[i].completed);
  }
  REQUIRE(x.evaluated.size() == y.evaluated.size());
  REQUIRE(!x.evaluated.empty());
}

// Same numbers bit for bit: losses and every evaluated adapter.
void check_same_numbers(const Run& x, const Run& y) {
  for (size_t i = 0; i < x.results.rounds.size(); ++i) {
    CAPTURE(i);
    CHECK(same(x.results.rounds[i].train_loss, y.results.rounds[i].train_loss));
    CHECK(same(x.results.rounds[i].eval_loss, y.results.rounds[i].eval_loss));
  }
  CHECK(x.evaluated == y.evaluated);
}
}  // namespace

TEST_CASE("batched and sequential execution: same simulation, same bits with portable products, reproducible") {
  const std::vector<std::vector<std::string>> variants = {
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
      {"federation.algorithm=scaffold", "federation.overcommit=1.5", "system.dropout_prob=0.2"},
      {"federation.algorithm=fedprox", "federation.deadline_s=40"},
      {"federation.algorithm=fedavg", "federation.mode=async", "federation.async_concurrency=4",
       "federation.async_buffer=2", "federation.rounds=4"},
      {"federation.algorithm=feddpo", "data.preset=fed-chatbotpa", "data.length_scale=0.04", "data.test_samples=16",
       "federation.local_steps_mode=fixed", "federation.local_steps=2"},
  };
  int batched_somewhere = 0;
  for (const auto& v : variants) {
    std::string name;
    for (const auto& s : v) name += s + " ";
    CAPTURE(name);
    std::vector<std::string> portable = v;
    portable.emplace_back("model.products=portable");
    const ExperimentConfig cp = parse_config(kBase, "batched.yaml", portable);
    const ExperimentConfig cb = parse_config(kBase, "batched.yaml", v);
    const Run seq = run(cp, Execution::sequential), bat = run(cp, Execution::batched);
    const Run blas = run(cb, Execution::batched), blas2 = run(cb, Execution::batched);
    CHECK(seq.batched_calls == 0);
    batched_somewhere += bat.batched_calls > 0;
    check_same_simulation(bat, seq);
    check_same_numbers(bat, seq);
    check_same_simulation(blas, seq);
    check_same_numbers(blas, blas2);
    CHECK(rel_diff(bat.evaluated.back(), bat.evaluated.front()) > 1e-4);  // the run trained
    CHECK(rel_diff(blas.evaluated.back(), blas.evaluated.front()) > 1e-4);
  }
  CHECK(batched_somewhere >= static_cast<int>(variants.size()) - 2);
}

TEST_CASE("sequential execution is bit-reproducible") {
  const ExperimentConfig c = parse_config(kBase, "batched.yaml", {"federation.algorithm=scaffold"});
  const Run a = run(c, Execution::sequential), b = run(c, Execution::sequential);
  CHECK(a.evaluated == b.evaluated);
}

TEST_CASE("federation.packing: off computes the padded rows, bit for bit the sequential run (portable products)") {
  for (const char* alg : {"fedavg", "feddpo"}) {
    CAPTURE(alg);
    std::vector<std::string> set{std::string("federation.algorithm=") + alg, "federation.packing=off",
                                 "model.products=portable"};
    if (std::string(alg) == "feddpo")
      for (const char* s : {"data.preset=fed-chatbotpa", "data.length_scale=0.04", "data.test_samples=16",
                            "federation.local_steps_mode=fixed", "federation.local_steps=2"})
        set.emplace_back(s);
    const ExperimentConfig c = parse_config(kBase, "batched.yaml", set);
    const Run seq = run(c, Execution::sequential), pad = run(c, Execution::batched);
    CHECK(pad.batched_calls > 0);
    check_same_simulation(pad, seq);
    check_same_numbers(pad, seq);
  }
}

TEST_CASE("sequences with no response token within model.seq_len: counted per client, reported once") {
  // seq_len 4: every synthetic prompt is longer, so no sequence keeps a target token; seq_len 64:
  // every sample fits (they take at most 40 tokens). sequences_trained = tokens_trained / seq_len
  // (a step charges batch_size x seq_len tokens).
  for (const Execution execution : {Execution::sequential, Execution::batched}) {
    for (const int T : {4, 64}) {
      CAPTURE(T);
      CAPTURE(int(execution));
      ExperimentConfig c = parse_config(kBase, "batched.yaml", {"model.seq_len=" + std::to_string(T)});
      c.federation.execution = execution;
      validate_experiment(c);
      const auto data = prepare_data(c, {});
      auto model = prepare_model(c, data, {});
      auto trainer = make_model_trainer(c, data, model);
      std::vector<int64_t> n;
      for (const auto& cl : data.clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
      std::vector<std::string> log;
      RunHooks hooks;
      hooks.log = [&](const std::string& line) { log.push_back(line); };
      const RunResults r = run_federation(c, n, *trainer, hooks, {});
      const ClientTotals& t = r.clients;
      int64_t seqs = 0, empty = 0;
      for (size_t k = 0; k < n.size(); ++k) {
        CHECK(t.sequences_trained[k] * T == t.tokens_trained[k]);
        CHECK(t.no_target_sequences[k] == (T == 4 ? t.sequences_trained[k] : 0));
        seqs += t.sequences_trained[k];
        empty += t.no_target_sequences[k];
      }
      REQUIRE(seqs > 0);
      const std::string warning = "warning: " + std::to_string(seqs) + " of " + std::to_string(seqs) +
                                  " local training sequences (100.0%) had no response token within model.seq_len = 4 "
                                  "tokens and trained nothing (per client: /clients/no_target_sequences); a larger "
                                  "model.seq_len keeps them";
      CHECK(std::count(log.begin(), log.end(), warning) == (T == 4 ? 1 : 0));
      CHECK(empty == (T == 4 ? seqs : 0));
    }
  }
}
