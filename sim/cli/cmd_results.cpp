// fedsim results summary FILE_OR_DIR: one table row per results file (or per sweep point when
// given a sweep's index.h5), then the open-ended evaluation's last scores of the files that
// have /eval.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "sim/cli/commands.hpp"
#include "sim/config.hpp"
#include "sim/eval/eval_results.hpp"
#include "sim/results.hpp"
#include "sim/sweep.hpp"

namespace fedsim::cli {
namespace {

std::string num(double x, const char* f) {
  if (std::isnan(x)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

void header() {
  std::printf("%-44s %-10s %6s %9s %9s %11s %9s\n", "name", "algorithm", "rounds", "eval_acc", "eval_loss",
              "sim_time_s", "wall_s");
}

void row(const std::string& name, const std::string& algorithm, int64_t rounds, const sim::FinalMetrics& m) {
  std::printf("%-44s %-10s %6s %9s %9s %11s %9s\n", name.c_str(), algorithm.c_str(),
              rounds < 0 ? "-" : std::to_string(rounds).c_str(), num(m.eval_accuracy, "%.3f").c_str(),
              num(m.eval_loss, "%.4f").c_str(), num(m.sim_time_s, "%.1f").c_str(), num(m.wall_s, "%.1f").c_str());
}

void summarize_file(const std::string& path, const std::string& name) {
  const sim::RunResults r = sim::read_results(path);
  std::string algorithm = "?";
  try {
    algorithm = sim::name_of(sim::parse_config(r.config_yaml, path).federation.algorithm);
  } catch (const UserError&) {
    // a config this fedsim no longer accepts: the numbers are still worth showing
  }
  const sim::FinalMetrics m = sim::final_metrics(r);
  row(name, algorithm, m.rounds, m);
}

// The last evaluation of every benchmark of each file (name, path) that has one.
void summarize_eval(const std::vector<std::pair<std::string, std::string>>& files) {
  bool first = true;
  for (const auto& [name, path] : files) {
    for (const sim::eval::EvalTables& t : sim::eval::read_eval(path)) {
      if (t.rounds.empty()) continue;
      if (first) {
        std::printf("\nopen-ended evaluation (last evaluated round):\n%-44s %-9s %6s %7s %11s %9s %10s %7s %s\n", "name",
                    "benchmark", "round", "score", "rated/all", "unparsed", "judge_fail", "cached", "turn means");
        first = false;
      }
      const sim::eval::EvalRoundRow& r = t.rounds.back();
      std::string turns;
      for (const auto& x : t.turns)
        if (x.round == r.round) turns += (turns.empty() ? "" : " / ") + num(x.mean, "%.3f");
      const std::string rated = std::to_string(r.rated) + "/" + std::to_string(r.judgments);
      std::printf("%-44s %-9s %6lld %7s %11s %9lld %10lld %7lld %s\n", name.c_str(), t.name.c_str(),
                  static_cast<long long>(r.round), num(r.score, "%.3f").c_str(), rated.c_str(),
                  static_cast<long long>(r.unparsable),
                  static_cast<long long>(r.timeouts + r.endpoint_errors + r.malformed_replies),
                  static_cast<long long>(r.judge_cache_hits), turns.c_str());
    }
  }
}

bool has_kind(const std::string& path, const char* kind) {
  try {
    const h5::File f = h5::File::open_read(path);
    const h5::Group root = f.root();
    return root.has_attr("format") && root.attr_string("format") == kind;
  } catch (const UserError&) {
    return false;
  }
}

void summarize_index(const std::string& path) {
  const sim::SweepIndex x = sim::read_sweep_index(path);
  const auto algo_axis = std::find(x.axis_keys.begin(), x.axis_keys.end(), "federation.algorithm");
  std::printf("sweep %s (base %s): %zu points\n", x.name.c_str(), x.base.c_str(), x.point_names.size());
  header();
  for (size_t i = 0; i < x.point_names.size(); ++i) {
    const std::string algorithm =
        algo_axis == x.axis_keys.end() ? "" : x.params[static_cast<size_t>(algo_axis - x.axis_keys.begin())][i];
    row(x.point_names[i] + (x.done[i] ? "" : " (pending)"), algorithm, x.metrics[i].rounds, x.metrics[i]);
  }
}

}  // namespace

int cmd_results(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "summary")
    throw UserError(
        "fedsim results: usage: fedsim results summary FILE_OR_DIR (a results file, a sweep index.h5 or a folder)");
  const std::string target = args[1];
  if (!std::filesystem::exists(target)) throw UserError(target + ": no such file or folder");
  if (!std::filesystem::is_directory(target)) {
    if (has_kind(target, sim::kSweepIndexKind)) {
      summarize_index(target);
    } else {
      header();
      const std::string name = std::filesystem::path(target).filename().string();
      summarize_file(target, name);
      summarize_eval({{name, target}});
    }
    return 0;
  }
  // A folder: every complete results file in it (temporary files of running or killed writers
  // end in .tmp-<pid> and are left out; so are other HDF5 kinds such as index.h5).
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(target))
    if (e.is_regular_file() && e.path().extension() == ".h5" && has_kind(e.path().string(), sim::kResultsKind))
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw UserError(target + ": no fedsim results files (*.h5) in this folder");
  header();
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& f : files) {
    named.emplace_back(std::filesystem::path(f).stem().string(), f);
    summarize_file(f, named.back().first);
  }
  summarize_eval(named);
  return 0;
}

}  // namespace fedsim::cli
