// Contract tests of the server strategies, as ns-3 tests its schedulers: each strategy runs on a
// real Simulation against a scripted host (no model, no system model draws): every participation
// it launches ends after a scripted delay, delivered or dropped, and the test asserts what the
// strategy aggregates, with which weights, when, and what it cuts off.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "sim/config.hpp"
#include "sim/strategy.hpp"

using namespace fedsim::sim;

namespace {

struct Outcome {
  double delay_s = 1.0;
  bool deliver = true;
};

struct Aggregation {
  double time_s;
  int64_t round;
  std::vector<int32_t> clients;  // in slot order
  std::vector<double> extra;
};

// Launch k (0-based, in launch order) ends as script(k, client, round) says.
class ScriptedHost : public Process, public StrategyHost {
 public:
  using Script = std::function<Outcome(size_t launch, int32_t client, int64_t round)>;
  enum Kind : uint32_t { kSlotEnd, kArrival, kKinds };
  ScriptedHost(int n, Script s) : n_(n), script_(std::move(s)), ready_(static_cast<size_t>(n), true) {}

  int n_clients() const override { return n_; }
  // The client's data arrives at t seconds (U2S generation): not eligible until then.
  void arrive_at(int32_t client, double t) {
    ready_[static_cast<size_t>(client)] = false;
    schedule(fedsim::sim::seconds_to_ticks(t), kArrival, client, 0);
  }
  size_t launch(int32_t client, int64_t round) override {
    const Outcome o = script_(launches.size(), client, round);
    launches.push_back({client, round});
    launch_times.push_back(fedsim::sim::ticks_to_seconds(now()));
    slots_.push_back({client, round, true, o.deliver, {}});
    const size_t slot = slots_.size() - 1;
    slots_[slot].event = schedule_in(fedsim::sim::seconds_to_ticks(o.delay_s), kSlotEnd, client, static_cast<int64_t>(slot));
    return slot;
  }
  bool active(size_t slot) const override { return slots_.at(slot).active; }
  int32_t client_of(size_t slot) const override { return slots_.at(slot).client; }
  int64_t round_of(size_t slot) const override { return slots_.at(slot).round; }
  void release(size_t slot) override { released.push_back(slot); }
  void cancel_active() override {
    for (auto& s : slots_)
      if (s.active) {
        s.active = false;
        sim().queue().cancel(s.event);
        cancelled.push_back(s.client);
      }
  }
  std::vector<int32_t> eligible(const std::vector<bool>* exclude) const override {
    std::vector<int32_t> out;
    for (int32_t c = 0; c < n_; ++c)
      if ((!exclude || !(*exclude)[static_cast<size_t>(c)]) && ready_[static_cast<size_t>(c)]) out.push_back(c);
    return out;
  }
  Tick next_eligible(const std::vector<bool>*) const override { return kNever; }
  double mean_train_loss(const std::vector<size_t>& slots) const override { return static_cast<double>(slots.size()); }
  void aggregate(const std::vector<size_t>& slots, const std::vector<double>& extra, int64_t round) override {
    Aggregation a{fedsim::sim::ticks_to_seconds(now()), round, {}, extra};
    for (size_t s : slots) a.clients.push_back(slots_.at(s).client);
    aggregations.push_back(a);
  }
  void record_participation(std::vector<int32_t> clients) override { participation.push_back(clients); }
  void record(RoundRow row) override {
    row.sim_time_s = fedsim::sim::ticks_to_seconds(now());
    rows.push_back(row);
  }
  void on_event(const Event& ev, uint32_t kind) override {
    if (kind == kArrival) {
      ready_[static_cast<size_t>(ev.client)] = true;
      strategy->on_clients_ready();
      return;
    }
    const auto slot = static_cast<size_t>(ev.payload);
    Slot& s = slots_.at(slot);
    s.active = false;
    if (s.deliver)
      strategy->on_delivered(slot);
    else
      strategy->on_dropped(slot, s.client);
  }
  void save(ArchiveWriter&) const override {}
  void load(ArchiveReader&) override {}

  ServerStrategy* strategy = nullptr;
  std::vector<std::pair<int32_t, int64_t>> launches;
  std::vector<double> launch_times;
  std::vector<size_t> released;
  std::vector<int32_t> cancelled;
  std::vector<Aggregation> aggregations;
  std::vector<std::vector<int32_t>> participation;
  std::vector<RoundRow> rows;

 private:
  struct Slot {
    int32_t client;
    int64_t round;
    bool active, deliver;
    EventId event;
  };
  int n_;
  Script script_;
  std::vector<bool> ready_;
  std::vector<Slot> slots_;
};

struct Run {
  ExperimentConfig cfg;
  Simulation sim{SystemSpec{}, 1, 1};
  ScriptedHost host;
  std::unique_ptr<ServerStrategy> strategy;
  // arrivals: (client, seconds) whose data arrives during the run; the others hold it from the start.
  Run(const std::string& federation_yaml, int n, ScriptedHost::Script script,
      const std::vector<std::pair<int32_t, double>>& arrivals = {})
      : cfg(parse_config("federation:\n  trainer: none\n" + federation_yaml, "t.yaml")), host(n, std::move(script)) {
    strategy = make_strategy(host, cfg);
    host.strategy = strategy.get();
    sim.add(host, ScriptedHost::kKinds, 1);
    sim.add(*strategy, strategy->n_kinds(), 1);
    for (const auto& [client, t] : arrivals) host.arrive_at(client, t);
    strategy->start();
    sim.run();
  }
};

// Delays by launch order: launch k takes delays[k % size] seconds and is delivered.
ScriptedHost::Script delays(std::vector<double> d) {
  return [d](size_t k, int32_t, int64_t) { return Outcome{d[k % d.size()], true}; };
}

}  // namespace

TEST_CASE("sync rounds: without deadline or over-commitment every selected client is waited for") {
  Run r("  clients: 4\n  clients_per_round: 3\n  rounds: 2\n", 4, delays({1.0, 3.0, 2.0}));
  REQUIRE(r.host.aggregations.size() == 2);
  CHECK(r.host.aggregations[0].time_s == 3.0);  // the slowest of the three
  CHECK(r.host.aggregations[0].clients.size() == 3);
  CHECK(r.host.aggregations[0].extra == std::vector<double>{1.0, 1.0, 1.0});
  CHECK(r.host.aggregations[1].time_s == 6.0);  // round 1 starts when round 0 closes
  CHECK(r.host.aggregations[1].round == 1);
  REQUIRE(r.host.rows.size() == 2);
  CHECK(r.host.rows[0].round == 1);
  CHECK(r.host.rows[0].selected == 3);
  CHECK(r.host.rows[0].completed == 3);
  CHECK(r.host.rows[0].stragglers == 0);
  CHECK(r.host.rows[0].duration_s == 3.0);
  CHECK(r.host.cancelled.empty());
  CHECK(r.host.released.size() == 6);
}

TEST_CASE("sync rounds: over-commitment selects ceil(f*m), keeps the first m, cuts off the rest") {
  Run r("  clients: 5\n  clients_per_round: 2\n  overcommit: 1.5\n  rounds: 1\n", 5, delays({3.0, 1.0, 2.0}));
  REQUIRE(r.host.launches.size() == 3);  // ceil(1.5 * 2)
  REQUIRE(r.host.aggregations.size() == 1);
  const Aggregation& a = r.host.aggregations[0];
  CHECK(a.time_s == 2.0);  // the second arrival closes the round
  CHECK(a.clients == std::vector<int32_t>{r.host.launches[1].first, r.host.launches[2].first});  // arrival order
  CHECK(r.host.cancelled == std::vector<int32_t>{r.host.launches[0].first});
  CHECK(r.host.rows[0].stragglers == 1);
  CHECK(r.host.rows[0].selected == 3);
  CHECK(r.host.rows[0].completed == 2);
  CHECK(r.host.participation.size() == 1);
  CHECK(r.host.participation[0].size() == 3);
}

TEST_CASE("sync rounds: the deadline closes the round with what arrived; late updates are cut off") {
  Run r("  clients: 3\n  clients_per_round: 3\n  deadline_s: 2.5\n  rounds: 2\n", 3, delays({1.0, 4.0, 2.0}));
  REQUIRE(r.host.aggregations.size() == 2);
  CHECK(r.host.aggregations[0].time_s == 2.5);
  CHECK(r.host.aggregations[0].clients.size() == 2);
  CHECK(r.host.aggregations[1].time_s == 5.0);
  CHECK(r.host.rows[0].stragglers == 1);
  CHECK(r.host.rows[0].duration_s == 2.5);
  CHECK(r.host.cancelled.size() == 2);  // one per round
  CHECK(r.strategy->precompute_cutoff() == kNever);  // no round open at the end
}

TEST_CASE("sync rounds: drop-outs count, and a round where everyone drops closes with nothing") {
  auto script = [](size_t k, int32_t, int64_t round) {
    if (round == 0) return Outcome{1.0 + static_cast<double>(k), k != 1};  // launch 1 drops at 2 s
    return Outcome{0.5, false};                                             // round 1: all drop
  };
  Run r("  clients: 3\n  clients_per_round: 3\n  rounds: 2\n", 3, script);
  REQUIRE(r.host.rows.size() == 2);
  CHECK(r.host.rows[0].completed == 2);
  CHECK(r.host.rows[0].dropouts == 1);
  CHECK(r.host.rows[0].duration_s == 3.0);
  CHECK(r.host.rows[1].completed == 0);
  CHECK(r.host.rows[1].dropouts == 3);
  CHECK(r.host.rows[1].duration_s == 0.5);
  REQUIRE(r.host.aggregations.size() == 2);
  CHECK(r.host.aggregations[1].clients.empty());  // the model stays as it is
}

TEST_CASE("sync rounds, algorithm local: every client trains each round, none is cut off") {
  Run r("  algorithm: local\n  clients: 3\n  clients_per_round: 1\n  rounds: 1\n", 3, delays({1.0, 2.0, 3.0}));
  CHECK(r.host.launches.size() == 3);
  CHECK(r.host.aggregations.at(0).clients.size() == 3);
  CHECK(r.host.aggregations.at(0).time_s == 3.0);
}

TEST_CASE("fedbuff: aggregates every K updates with staleness weights 1/(1+s)^a") {
  // Concurrency 2, K = 2. Launch 0 takes 2.5 s, the others 1 s. Launches 0 and 1 start at
  // version 0; 1 arrives at 1 s, its replacement (launch 2) at 2 s: first aggregation, both
  // fresh. Launch 0 arrives at 2.5 s with staleness 1, launch 3 (version 1) at 3 s: second
  // aggregation, weights 2^-0.5 and 1 (not renormalised).
  auto script = [](size_t k, int32_t, int64_t) { return Outcome{k == 0 ? 2.5 : 1.0, true}; };
  Run r("  mode: async\n  clients: 4\n  async_concurrency: 2\n  async_buffer: 2\n  rounds: 2\n  max_staleness: 5\n", 4,
        script);
  REQUIRE(r.host.aggregations.size() == 2);
  CHECK(r.host.aggregations[0].time_s == 2.0);
  CHECK(r.host.aggregations[0].round == 0);
  CHECK(r.host.aggregations[0].extra == std::vector<double>{1.0, 1.0});
  CHECK(r.host.aggregations[1].time_s == 3.0);
  CHECK(r.host.aggregations[1].round == 1);
  REQUIRE(r.host.aggregations[1].extra.size() == 2);
  CHECK(r.host.aggregations[1].extra[0] == doctest::Approx(1.0 / std::sqrt(2.0)).epsilon(1e-15));
  CHECK(r.host.aggregations[1].extra[1] == 1.0);
  CHECK(r.host.aggregations[1].clients[0] == r.host.launches[0].first);
  CHECK(r.host.rows.at(1).duration_s == 1.0);
  // The run is over after `rounds` aggregations: work in flight is cut off, nothing new starts.
  CHECK(r.host.cancelled.size() == 1);
  CHECK(r.host.launches.size() == 5);
}

TEST_CASE("fedbuff: updates staler than max_staleness are dropped and counted as stragglers") {
  auto script = [](size_t k, int32_t, int64_t) { return Outcome{k == 0 ? 10.0 : 1.0, true}; };
  Run r("  mode: async\n  clients: 3\n  clients_per_round: 1\n  async_concurrency: 2\n  async_buffer: 1\n  rounds: 12\n  max_staleness: 3\n", 3,
        script);
  // Launch 0 (version 0) arrives at 10 s after 9 aggregations: staleness 9 > 3.
  REQUIRE(r.host.rows.size() == 12);
  int64_t stale = 0;
  for (const auto& row : r.host.rows) stale += row.stragglers;
  CHECK(stale == 1);
  CHECK(r.host.rows.at(9).stragglers == 1);  // counted in the aggregation after it arrived
  for (const auto& a : r.host.aggregations) CHECK(a.clients.size() == 1);
}

TEST_CASE("fedbuff: a dropped participation is replaced at once and counted") {
  auto script = [](size_t k, int32_t, int64_t) { return Outcome{1.0, k != 0}; };
  Run r("  mode: async\n  clients: 3\n  clients_per_round: 1\n  async_concurrency: 1\n  async_buffer: 1\n  rounds: 2\n", 3, script);
  REQUIRE(r.host.rows.size() == 2);
  CHECK(r.host.rows[0].dropouts == 1);
  CHECK(r.host.rows[0].selected == 2);
  CHECK(r.host.aggregations[0].time_s == 2.0);
  CHECK(r.host.launches.size() == 3);
}

TEST_CASE("sync rounds: a round with no eligible client waits for data to arrive, then starts at once") {
  // No client holds data at 0; clients 0 and 1 get theirs at 1 s (two events at one tick),
  // client 2 at 1.5 s. Round 0 starts at 1 s after both arrivals, round 1 at 2 s with all three
  // eligible; the arrival at 1.5 s, during round 0, does not start a round of its own.
  Run r("  clients: 3\n  clients_per_round: 2\n  rounds: 2\n", 3, delays({1.0}), {{0, 1.0}, {1, 1.0}, {2, 1.5}});
  REQUIRE(r.host.participation.size() == 2);
  CHECK(r.host.participation[0] == std::vector<int32_t>{0, 1});
  CHECK(r.host.launch_times == std::vector<double>{1.0, 1.0, 2.0, 2.0});
  REQUIRE(r.host.aggregations.size() == 2);
  CHECK(r.host.aggregations[0].time_s == 2.0);
  CHECK(r.host.aggregations[1].time_s == 3.0);
  CHECK(r.host.rows[0].duration_s == 1.0);  // from its start at 1 s, not from the wait at 0
}

TEST_CASE("fedbuff: a free slot waiting for an eligible client fills when data arrives") {
  // Concurrency 2; only client 0 holds data at 0; clients 1 and 2 get theirs at 0.5 s.
  Run r("  mode: async\n  clients: 3\n  clients_per_round: 1\n  async_concurrency: 2\n  async_buffer: 1\n  rounds: 2\n", 3,
        delays({1.0}),
        {{1, 0.5}, {2, 0.5}});
  REQUIRE(r.host.launch_times.size() >= 3);
  CHECK(r.host.launches[0].first == 0);
  CHECK(r.host.launch_times[0] == 0.0);
  CHECK(r.host.launch_times[1] == 0.5);  // the second slot fills at the arrival
  CHECK(r.host.launches[1].first != 0);
  REQUIRE(r.host.aggregations.size() == 2);
  CHECK(r.host.aggregations[0].time_s == 1.0);
  CHECK(r.host.aggregations[1].time_s == 1.5);
}
