// fedsim run / validate / config.
#include <boost/program_options.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "common/error.hpp"
#include "fedsim_version.hpp"
#include "models/model.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/parse.hpp"
#include "sim/checkpoint.hpp"
#include "sim/config.hpp"
#include "sim/eval/eval_results.hpp"
#include "sim/mpi/comm.hpp"
#include "sim/experiment.hpp"
#include "sim/journal.hpp"
#include "sim/memory_estimate.hpp"
#include "sim/output.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {
namespace {

struct ConfigArgs {
  std::string config;
  std::string out;
  std::vector<std::string> sets;
  bool help = false;
  bool fresh = false;
  bool force = false;
};

ConfigArgs parse_config_args(const std::vector<std::string>& args, const char* cmd, bool with_out) {
  ConfigArgs a;
  po::options_description desc(std::string("fedsim ") + cmd + " CONFIG.yaml [options]");
  desc.add_options()("help,h", "this help")(
      "set", po::value<std::vector<std::string>>(&a.sets)->composing(),
      "override a config key: --set federation.rounds=20 (repeatable)");
  if (with_out)
    desc.add_options()("out,o", po::value<std::string>(&a.out), "results file (default: experiment.out)")(
        "resume", "continue from <out>.ckpt (the default whenever it holds a checkpoint of the same config)")(
        "fresh", po::bool_switch(&a.fresh),
        "ignore an existing checkpoint and start from round 0; replace results of another config at --out")(
        "force", po::bool_switch(&a.force), "replace whatever regular file or link is at --out (never a device or FIFO)");
  const po::variables_map vm = parse_args(args, desc, "config", &a.config);
  if (vm.count("help")) {
    std::cout << desc;
    a.help = true;
    return a;
  }
  if (a.config.empty()) throw UserError(std::string("fedsim ") + cmd + ": missing CONFIG.yaml (see fedsim " + cmd + " --help)");
  return a;
}

std::string fmt(double x, const char* f = "%.4f") {
  if (std::isnan(x)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

std::string hms(double s) {
  char buf[64];
  const long long t = std::llround(s);
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

}  // namespace

int cmd_validate(const std::vector<std::string>& args) {
  const ConfigArgs a = parse_config_args(args, "validate", false);
  if (a.help) return 0;
  const sim::ExperimentConfig c = sim::load_config(a.config, a.sets);
  sim::validate_experiment(c);
  std::cout << a.config << ": ok (" << c.federation.clients << " clients, " << c.federation.rounds << " rounds, "
            << sim::name_of(c.federation.algorithm) << ", model "
            << (c.model.source == sim::ModelSource::hf ? c.model.path : c.model.preset) << ")\n";
  return 0;
}

int cmd_config(const std::vector<std::string>& args) {
  if (args.size() == 1 && args[0] == "reference") {
    std::cout << sim::reference_yaml();
    return 0;
  }
  throw UserError("fedsim config: expected 'reference'; usage: fedsim config reference > configs/reference.yaml");
}

int cmd_run(const std::vector<std::string>& args, int& argc, char** argv) {
  const ConfigArgs a = parse_config_args(args, "run", true);
  if (a.help) return 0;
  sim::ExperimentConfig c = sim::load_config(a.config, a.sets);
  if (!a.out.empty()) c.experiment.out = a.out;
  sim::validate_experiment(c);
  const std::string out = sim::results_path(c);
  const sim::MemoryEstimate memory = sim::estimate_memory(c);
  sim::check_memory(c, memory);  // before anything is allocated
  // Before any work: what is at --out may be replaced, the folder is writable, no other run
  // writes there (held until exit). Under MPI only rank 0 writes, so only rank 0 claims it.
  std::optional<sim::OutputLock> lock;
  if (mpi::is_root()) lock.emplace(sim::claim_results_output(out, c, sim::OutputOptions{a.fresh, a.force}));

  models::Runtime runtime(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  const bool root = mpi::is_root();  // under MPI the other ranks only train (sim/mpi/rank_trainer.hpp)
  sim::RunHooks hooks;
  if (root) hooks.log = [&](const std::string& line) { std::cerr << "[fedsim " << fmt(elapsed(), "%6.1f") << "s] " << line << "\n"; };
  double rounds_start = -1.0;
  if (root) hooks.on_round = [&](const sim::RoundRow& row, int64_t total_rows) {
    if (rounds_start < 0) rounds_start = elapsed();
    const double done = static_cast<double>(row.round), left = static_cast<double>(total_rows - 1 - row.round);
    const double per_round = done > 0 ? (elapsed() - rounds_start) / done : 0.0;
    std::cerr << "[fedsim " << fmt(elapsed(), "%6.1f") << "s] round " << row.round << "/" << total_rows - 1
              << "  sim " << hms(row.sim_time_s) << "  train_loss " << fmt(row.train_loss) << "  eval_loss "
              << fmt(row.eval_loss) << "  eval_acc " << fmt(row.eval_accuracy, "%.3f") << "  elapsed "
              << fmt(elapsed(), "%.1f") << "s  ETA " << (done > 0 ? fmt(per_round * left, "%.1f") + "s" : "-") << "\n";
  };
  models::set_products(sim::products_of(c));  // for the banner; run_experiment holds it for the run
  if (root) {
    std::cerr << "[fedsim] " << c.experiment.name << ": " << models::Runtime::describe()
              << (mpi::size() > 1 ? "; " + mpi::describe() : "") << "\n";
    std::cerr << "[fedsim] memory estimate: " << memory.summary() << "\n";
  }
  sim::install_stop_handlers();
  sim::RunControl control;
  control.checkpoint_file = sim::checkpoint_path(out);
  control.resume = !a.fresh;
  control.over_ranks = mpi::size() > 1;
  sim::RunResults r;
  try {
    r = sim::run_experiment(c, hooks, control);
  } catch (const sim::Interrupted& stop) {
    std::cerr << "fedsim: stopped by signal " << stop.signal << "; state saved to " << stop.checkpoint
              << "; run the same command again to resume\n";
    return 128 + stop.signal;
  }
  if (!root) return 0;  // rank 0 writes the results
  r.wall_total_s = elapsed();
  sim::write_results(r, out);
  sim::remove_checkpoint_files(control.checkpoint_file);  // the results are in place: the run is complete

  const sim::RoundRow& first = r.rounds.front();
  const sim::RoundRow& last = r.rounds.back();
  std::printf("fedsim %s: %s (seed %lld, %s, %lld clients, %lld per round)\n", FEDSIM_VERSION_STRING,
              c.experiment.name.c_str(), static_cast<long long>(c.experiment.seed), sim::name_of(c.federation.algorithm).c_str(),
              static_cast<long long>(c.federation.clients), static_cast<long long>(c.federation.clients_per_round));
  std::printf("  %-8s %6s %12s %11s %10s %9s\n", "", "round", "sim_time", "train_loss", "eval_loss", "eval_acc");
  std::printf("  %-8s %6lld %12s %11s %10s %9s\n", "first", static_cast<long long>(first.round), hms(first.sim_time_s).c_str(),
              fmt(first.train_loss).c_str(), fmt(first.eval_loss).c_str(), fmt(first.eval_accuracy, "%.3f").c_str());
  std::printf("  %-8s %6lld %12s %11s %10s %9s\n", "last", static_cast<long long>(last.round), hms(last.sim_time_s).c_str(),
              fmt(last.train_loss).c_str(), fmt(last.eval_loss).c_str(), fmt(last.eval_accuracy, "%.3f").c_str());
  for (const auto& t : sim::eval::read_eval(out))  // the open-ended evaluation's last scores
    if (!t.rounds.empty())
      std::printf("  eval %-9s round %lld  score %s  (%lld of %lld judgments rated)\n", t.name.c_str(),
                  static_cast<long long>(t.rounds.back().round), fmt(t.rounds.back().score, "%.3f").c_str(),
                  static_cast<long long>(t.rounds.back().rated), static_cast<long long>(t.rounds.back().judgments));
  std::printf("  wall time %.1f s (rounds %.1f s)\n", r.wall_total_s, last.wall_s);
  std::printf("results: %s\n", std::filesystem::absolute(out).lexically_normal().c_str());
  return 0;
}

}  // namespace fedsim::cli
