// The federation layer on scenarios whose outcome is known in advance: a fake trainer whose
// update is exactly +1 per entry, traces that fix every client's speed and availability.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "sim/config.hpp"
#include "sim/federation.hpp"
#include "sim/jobs.hpp"
#include "plus_one_trainer.hpp"

using namespace fedsim::sim;

namespace {

using testing::PlusOneTrainer;

std::string write_file(const std::string& name, const std::string& text) {
  std::ofstream(name) << text;
  return name;
}

ExperimentConfig config(const std::string& extra) {
  return parse_config(std::string("federation:\n  trainer: none\n  batch_size: 1\n  local_steps: 1\n") + extra, "t.yaml");
}

// Every client: 1 GFLOP/s (1 s per local step), 8 Mbit/s with 0 latency (4 bytes = 4 us).
std::string uniform_trace(int n, double slow_gflops = 1.0) {
  std::string t = "client,gflops,mbps\n";
  for (int i = 0; i < n; ++i) t += std::to_string(i) + "," + (i == 0 ? std::to_string(slow_gflops) : "1") + ",8\n";
  return write_file("trace.csv", t);
}

}  // namespace

TEST_CASE("sync deadline: a client slower than the deadline never contributes") {
  uniform_trace(4, 0.1);  // client 0 needs 10 s per step; the others 1 s
  ExperimentConfig c = config(
      "  clients: 4\n  clients_per_round: 4\n  rounds: 3\n  deadline_s: 5\nsystem:\n  trace: trace.csv\n  latency_ms: 0\n");
  PlusOneTrainer t;
  const RunResults r = run_federation(c, {10, 10, 10, 10}, t, {}, {});
  REQUIRE(r.rounds.size() == 4);
  for (size_t k = 1; k < r.rounds.size(); ++k) {
    CHECK(r.rounds[k].selected == 4);
    CHECK(r.rounds[k].completed == 3);
    CHECK(r.rounds[k].stragglers == 1);
    CHECK(r.rounds[k].duration_s == doctest::Approx(5.0));  // closed by the deadline
  }
  CHECK(r.clients.updates_accepted == std::vector<int64_t>{0, 3, 3, 3});
  CHECK(t.calls == 9);  // the straggler's training is never computed
  CHECK(r.rounds.back().eval_loss == doctest::Approx(3.0));  // +1 per round from FedAvg of +1s
  CHECK(r.jobs_started == r.timeline.size());
}

TEST_CASE("sync over-commitment keeps the first m updates and cuts the rest") {
  std::string t = "client,gflops,mbps\n0,1,8\n1,2,8\n2,4,8\n3,8,8\n";
  write_file("trace_oc.csv", t);
  ExperimentConfig c = config(
      "  clients: 4\n  clients_per_round: 2\n  overcommit: 2\n  rounds: 2\nsystem:\n  trace: trace_oc.csv\n  latency_ms: 0\n");
  PlusOneTrainer tr;
  const RunResults r = run_federation(c, {5, 5, 5, 5}, tr, {}, {});
  for (size_t k = 1; k < r.rounds.size(); ++k) {
    CHECK(r.rounds[k].selected == 4);
    CHECK(r.rounds[k].completed == 2);
    CHECK(r.rounds[k].stragglers == 2);
    // Client 3 (8 GFLOP/s) finishes first, client 2 (4 GFLOP/s: 0.25 s) second; plus two 4-byte
    // transfers at 8 Mbit/s.
    CHECK(r.rounds[k].duration_s == doctest::Approx(0.25 + 8e-6).epsilon(1e-6));
  }
  CHECK(r.clients.updates_accepted == std::vector<int64_t>{0, 0, 2, 2});
}

TEST_CASE("availability: a client that goes offline mid-task drops out at that simulated time") {
  uniform_trace(2);
  // Client 1 is online only until t = 0.6 s, inside its 1 s training job.
  write_file("avail.csv", "client,start_s,end_s\n0,0,1000\n1,0,0.6\n");
  ExperimentConfig c = config(
      "  clients: 2\n  clients_per_round: 2\n  rounds: 1\nsystem:\n  trace: trace.csv\n  latency_ms: 0\n"
      "  availability: trace\n  availability_trace: avail.csv\n");
  PlusOneTrainer t;
  const RunResults r = run_federation(c, {1, 1}, t, {}, {});
  REQUIRE(r.rounds.size() == 2);
  CHECK(r.rounds[1].completed == 1);
  CHECK(r.rounds[1].dropouts == 1);
  int offline_rows = 0;
  for (const auto& row : r.timeline) {
    if (row.client != 1 || row.end != static_cast<int32_t>(JobEnd::offline)) continue;
    ++offline_rows;
    CHECK(row.kind == static_cast<int32_t>(JobKind::train));
    CHECK(row.end_s == doctest::Approx(0.6));
  }
  CHECK(offline_rows == 1);
  CHECK(t.calls == 1);
}

TEST_CASE("dropout_prob = 1: every task fails at a time inside its interval") {
  uniform_trace(3);
  ExperimentConfig c = config("  clients: 3\n  clients_per_round: 3\n  rounds: 2\nsystem:\n  trace: trace.csv\n  dropout_prob: 1\n");
  PlusOneTrainer t;
  const RunResults r = run_federation(c, {1, 1, 1}, t, {}, {});
  CHECK(t.calls == 0);
  for (size_t k = 1; k < r.rounds.size(); ++k) {
    CHECK(r.rounds[k].dropouts == 3);
    CHECK(r.rounds[k].completed == 0);
  }
  CHECK(r.rounds.back().eval_loss == 0.0);  // no update ever arrived
  for (const auto& row : r.timeline) {
    CHECK(row.end == static_cast<int32_t>(JobEnd::failed));
    CHECK(row.kind == static_cast<int32_t>(JobKind::download));  // the first task already fails
    CHECK(row.end_s >= row.start_s);
  }
}

TEST_CASE("async FedBuff: staleness weights 1/sqrt(1+s) on identical clients") {
  uniform_trace(4);
  // All four start at t=0 from version 0 and finish together, in scheduling order a, b, c, d.
  // a fills the buffer and is replaced at once (a' from version 0); b completes the buffer:
  // version 1 (+1), b' starts from version 1; c and d arrive with staleness 1 (each replaced:
  // c') and make version 2 with +2 * (1/2) * 1/sqrt(2).
  ExperimentConfig c = config(
      "  clients: 4\n  mode: async\n  async_concurrency: 4\n  async_buffer: 2\n  rounds: 2\n  weighting: uniform\n"
      "system:\n  trace: trace.csv\n  latency_ms: 0\n");
  PlusOneTrainer t;
  const RunResults r = run_federation(c, {3, 3, 3, 3}, t, {}, {});
  REQUIRE(r.rounds.size() == 3);
  CHECK(r.rounds[1].eval_loss == doctest::Approx(1.0));
  CHECK(r.rounds[2].eval_loss == doctest::Approx(1.0 + 1.0 / std::sqrt(2.0)).epsilon(1e-6));
  CHECK(r.rounds[2].completed == 2);
  // a', b' and c' are still in flight at the end and are cut off: nothing is lost.
  int cancelled = 0;
  for (const auto& row : r.timeline) cancelled += row.end == static_cast<int32_t>(JobEnd::cancelled);
  CHECK(cancelled == 3);
  CHECK(r.jobs_started == r.timeline.size());
}

TEST_CASE("async: updates staler than max_staleness are dropped") {
  uniform_trace(4);
  ExperimentConfig c = config(
      "  clients: 4\n  mode: async\n  async_concurrency: 4\n  async_buffer: 2\n  rounds: 3\n  max_staleness: 0\n"
      "system:\n  trace: trace.csv\n  latency_ms: 0\n");
  PlusOneTrainer t;
  const RunResults r = run_federation(c, {3, 3, 3, 3}, t, {}, {});
  REQUIRE(r.rounds.size() == 4);
  // At t=T: a (buffered, a' from version 0), b (version 1), c and d stale (replaced from
  // version 1). At 2T: a' is stale, b' and c' make version 2: three stale updates in between.
  CHECK(r.rounds[2].stragglers == 3);
  for (size_t k = 1; k < r.rounds.size(); ++k) CHECK(r.rounds[k].eval_loss == doctest::Approx(static_cast<double>(k)));
}

TEST_CASE("trainer none at scale: 747 clients, dropouts, diurnal availability, deterministic") {
  const char* extra =
      "  clients: 747\n  clients_per_round: 10\n  rounds: 50\n  overcommit: 1.3\n  deadline_s: 600\n"
      "data:\n  samples_mean: 13\n  samples_sigma: 1.1\n  public_samples: 0\n  test_samples: 1\n"
      "experiment:\n  cache_dir: fed-cache\n"
      "system:\n  availability: diurnal\n  dropout_prob: 0.05\n";
  const ExperimentConfig c = config(extra);
  const RunResults a = run_experiment(c, {});
  const RunResults b = run_experiment(c, {});
  REQUIRE(a.rounds.size() == 51);
  int64_t completed = 0, dropouts = 0;
  for (size_t k = 1; k < a.rounds.size(); ++k) {
    CHECK(a.rounds[k].completed <= 10);
    CHECK(a.rounds[k].selected == 13);
    completed += a.rounds[k].completed;
    dropouts += a.rounds[k].dropouts;
    CHECK(a.rounds[k].sim_time_s == b.rounds[k].sim_time_s);
  }
  CHECK(completed > 400);
  CHECK(dropouts > 0);
  CHECK(a.timeline.size() == b.timeline.size());
  CHECK(a.participation == b.participation);
  CHECK(a.clients.busy_s == b.clients.busy_s);
}

TEST_CASE("proportional local steps: ceil(epochs * n_i * N / (R * m) / batch) (FedLLM-Bench DPO runs)") {
  uniform_trace(4);
  ExperimentConfig c = config(
      "  clients: 4\n  clients_per_round: 4\n  rounds: 2\n  local_steps_mode: proportional\n  local_epochs: 3\n"
      "system:\n  trace: trace.csv\n");
  PlusOneTrainer t;
  const RunResults r = run_federation(c, {1, 2, 5, 10}, t, {}, {});
  // steps_i = ceil(3 * n_i * 4 / (2 * 4) / 1) = ceil(1.5 n_i) = 2, 3, 8, 15; one token per step, two rounds.
  CHECK(r.clients.tokens_trained == std::vector<int64_t>{4, 6, 16, 30});
}

TEST_CASE("traces: malformed CSV files are rejected naming the file, line and field") {
  write_file("bad_trace.csv", "client,gflops,mbps\n0,1,8\n1,fast,8\n");
  ExperimentConfig c = config("  clients: 2\n  clients_per_round: 2\n  rounds: 1\nsystem:\n  trace: bad_trace.csv\n");
  PlusOneTrainer t;
  CHECK_THROWS_WITH_AS(run_federation(c, {1, 1}, t, {}, {}), "bad_trace.csv:3: gflops: expected a finite number, got 'fast'",
                       fedsim::UserError);
  write_file("short_trace.csv", "client,gflops,mbps\n0,1,8\n");
  c = config("  clients: 2\n  clients_per_round: 2\n  rounds: 1\nsystem:\n  trace: short_trace.csv\n");
  CHECK_THROWS_WITH_AS(run_federation(c, {1, 1}, t, {}, {}),
                       "short_trace.csv: client 1 has no row; the trace must cover clients 0 to 1", fedsim::UserError);
  write_file("bad_avail.csv", "client,start,end\n0,0,1\n");
  c = config("  clients: 2\n  clients_per_round: 2\n  rounds: 1\nsystem:\n  availability: trace\n"
             "  availability_trace: bad_avail.csv\n");
  CHECK_THROWS_WITH_AS(run_federation(c, {1, 1}, t, {}, {}),
                       "bad_avail.csv:1: expected the header 'client,start_s,end_s', got 'client,start,end'",
                       fedsim::UserError);
  write_file("range_avail.csv", "client,start_s,end_s\n5,0,1\n");
  c = config("  clients: 2\n  clients_per_round: 2\n  rounds: 1\nsystem:\n  availability: trace\n"
             "  availability_trace: range_avail.csv\n");
  CHECK_THROWS_WITH_AS(run_federation(c, {1, 1}, t, {}, {}), "range_avail.csv:2: client: 5 is out of range; accepted: 0 to 1",
                       fedsim::UserError);
}

TEST_CASE("availability: intervals merge, offline_at and next_online answer over the whole timeline") {
  const Availability a = Availability::from_intervals({{{10, 20}, {15, 30}, {50, 60}}});
  CHECK_FALSE(a.online(0, 5));
  CHECK(a.online(0, 10));
  CHECK(a.online(0, 29));
  CHECK_FALSE(a.online(0, 30));
  CHECK(a.offline_at(0, 12) == 30);  // [10,20) and [15,30) merged
  CHECK(a.offline_at(0, 40) == 40);  // offline now
  CHECK(a.next_online(0, 31) == 50);
  CHECK(a.next_online(0, 55) == 55);
  CHECK(a.next_online(0, 60) == kNever);
  const Availability d = Availability::diurnal(50, 8.0, 10, 3);
  int online_at_noon = 0;
  for (int c = 0; c < 50; ++c) online_at_noon += d.online(c, seconds_to_ticks(2 * 86400.0 + 43200.0));
  CHECK(online_at_noon > 5);   // about a third of clients online at any hour
  CHECK(online_at_noon < 30);
}
