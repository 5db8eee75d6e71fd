// fedsim bench events [--events N] [--json]: the event core's throughput (a hold model: a pool
// of pending events, each pop schedules one more at a random delay), and `trainer: none`
// simulations of 747 clients x 200 rounds x 10 per round with dropouts, timed end to end, in
// sync (over-commit 1.3, deadline) and async (FedBuff) modes.
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "common/error.hpp"
#include "sim/cli/commands.hpp"
#include "sim/config.hpp"
#include "sim/event_queue.hpp"
#include "sim/experiment.hpp"
#include "sim/trainer.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Hold model (Vaucher & Duval 1975, the classic priority-queue benchmark): `pool` events
// pending; every pop schedules a new event at now + a pseudo-random delay.
double event_rate(uint64_t n_events, size_t pool) {
  sim::EventQueue q;
  q.reserve(pool + 1);
  uint64_t x = 0x2545F4914F6CDD1DULL;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (size_t i = 0; i < pool; ++i) q.schedule(static_cast<sim::Tick>(next() % 1000000), 0, 0, 0);
  sim::Event ev;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < n_events; ++i) {
    q.pop(ev);
    q.schedule_in(static_cast<sim::Tick>(next() % 1000000), 0, 0, 0);
  }
  const double s = seconds_since(t0);
  FEDSIM_ASSERT(q.pending() == pool);
  return static_cast<double>(n_events) / s;
}

struct SimTiming {
  double seconds = 0.0;
  uint64_t events = 0;
  int64_t updates = 0, dropouts = 0;
};

SimTiming time_system_sim(const std::string& mode_lines) {
  const std::string yaml =
      "experiment:\n  seed: 1\n  cache_dir: " + sim::cache_dir(sim::ExperimentConfig{}) +
      "\ndata:\n  samples_mean: 13\n  samples_sigma: 1.1\n  test_samples: 1\n  public_samples: 0\n"
      "federation:\n  trainer: none\n  clients: 747\n  clients_per_round: 10\n  rounds: 200\n" +
      mode_lines + "system:\n  dropout_prob: 0.05\n  availability: diurnal\n  online_hours: 8\n";
  const sim::ExperimentConfig c = sim::parse_config(yaml, "bench events");
  const datasets::FederatedDataset d = sim::prepare_data(c, {});
  std::vector<int64_t> n;
  for (const auto& cl : d.clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
  auto trainer = sim::make_null_trainer(c);
  const auto t0 = std::chrono::steady_clock::now();
  const sim::RunResults r = sim::run_federation(c, n, *trainer, {}, {});
  SimTiming t;
  t.seconds = seconds_since(t0);
  t.events = r.events;
  for (const auto& row : r.rounds) {
    t.updates += row.completed;
    t.dropouts += row.dropouts;
  }
  return t;
}

}  // namespace

int cmd_bench_events(const std::vector<std::string>& args) {
  bool json = false, help = false;
  uint64_t n_events = 20000000;
  po::options_description desc("fedsim bench events [options]");
  desc.add_options()("help,h", po::bool_switch(&help), "this help")(
      "events", po::value<uint64_t>(&n_events), "events in the hold-model run (default 20000000)")(
      "json", po::bool_switch(&json), "print one JSON object on the last line");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  if (help) {
    std::cout << desc;
    return 0;
  }
  if (n_events == 0) throw UserError("fedsim bench events: --events 0; accepted: 1 or more");
  const double rate = event_rate(n_events, 1000);
  const SimTiming sync = time_system_sim("  overcommit: 1.3\n  deadline_s: 900\n");
  const SimTiming async = time_system_sim("  mode: async\n  async_concurrency: 10\n  async_buffer: 10\n");
  std::printf("event core (hold model, 1000 pending): %.3g events/s over %llu events\n", rate,
              static_cast<unsigned long long>(n_events));
  std::printf("trainer none, 747 clients x 200 rounds x 10, dropout 0.05, diurnal availability:\n");
  std::printf("  sync  (over-commit 1.3, deadline 900 s): %.3f s, %llu events, %lld updates, %lld dropouts\n", sync.seconds,
              static_cast<unsigned long long>(sync.events), static_cast<long long>(sync.updates),
              static_cast<long long>(sync.dropouts));
  std::printf("  async (FedBuff, concurrency 10, K 10):   %.3f s, %llu events, %lld updates, %lld dropouts\n",
              async.seconds, static_cast<unsigned long long>(async.events), static_cast<long long>(async.updates),
              static_cast<long long>(async.dropouts));
  if (json)
    std::printf("{\"events_per_s\": %.6g, \"sync_747_s\": %.6g, \"async_747_s\": %.6g, \"sync_events\": %llu, "
                "\"async_events\": %llu}\n",
                rate, sync.seconds, async.seconds, static_cast<unsigned long long>(sync.events),
                static_cast<unsigned long long>(async.events));
  return 0;
}

}  // namespace fedsim::cli
