// Running a sweep: skip finished points, run the rest in order, keep the index file current.
#include "sim/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "common/table.hpp"
#include "fedsim_version.hpp"
#include "common/stop.hpp"
#include "sim/checkpoint.hpp"
#include "sim/experiment.hpp"
#include "sim/journal.hpp"
#include "sim/mpi/comm.hpp"
#include "sim/output.hpp"

namespace fedsim::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double last_value(const std::vector<RoundRow>& rows, double RoundRow::*field) {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it)
    if (!std::isnan((*it).*field)) return (*it).*field;
  return kNaN;
}

// Mean and 10th percentile (nearest rank below) of the values that are not NaN.
void mean_p10(std::vector<double> v, double* mean, double* p10) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) {
    *mean = *p10 = kNaN;
    return;
  }
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  *mean = sum / static_cast<double>(v.size());
  *p10 = v[static_cast<size_t>(std::floor(0.1 * static_cast<double>(v.size() - 1)))];
}

FinalMetrics not_run() {
  FinalMetrics m;
  m.eval_accuracy = m.eval_loss = m.train_loss = m.best_eval_accuracy = kNaN;
  m.client_accuracy_mean = m.client_accuracy_p10 = m.sim_time_s = m.wall_s = kNaN;
  m.rounds = m.updates_aggregated = m.stragglers = -1;
  return m;
}

std::string fmt_duration(double s) {
  char buf[64];
  const long long t = std::llround(s);
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

void say(const SweepOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

}  // namespace

FinalMetrics final_metrics(const RunResults& r) {
  FinalMetrics m = not_run();
  m.eval_accuracy = last_value(r.rounds, &RoundRow::eval_accuracy);
  m.eval_loss = last_value(r.rounds, &RoundRow::eval_loss);
  m.train_loss = last_value(r.rounds, &RoundRow::train_loss);
  for (const auto& row : r.rounds)
    if (!std::isnan(row.eval_accuracy) &&
        (std::isnan(m.best_eval_accuracy) || row.eval_accuracy > m.best_eval_accuracy))
      m.best_eval_accuracy = row.eval_accuracy;  // ordered comparisons with NaN would trap
  if (!r.client_eval_accuracy.empty())
    mean_p10(r.client_eval_accuracy.back(), &m.client_accuracy_mean, &m.client_accuracy_p10);
  else if (!r.clients.local_eval_accuracy.empty())
    mean_p10(r.clients.local_eval_accuracy, &m.client_accuracy_mean, &m.client_accuracy_p10);
  m.rounds = r.rounds.empty() ? 0 : r.rounds.back().round;
  m.sim_time_s = r.sim_total_s;
  m.wall_s = r.wall_total_s;
  m.updates_aggregated = m.stragglers = 0;
  for (const auto& row : r.rounds) {
    m.updates_aggregated += row.completed;
    m.stragglers += row.stragglers;
  }
  return m;
}

bool point_is_complete(const SweepPoint& p, const std::string& path, RunResults* out) {
  if (!std::filesystem::exists(path)) return false;
  try {
    RunResults r = read_results(path);
    if (comparable_yaml(parse_config(r.config_yaml, path)) != comparable_yaml(p.config)) return false;
    if (out) *out = std::move(r);
    return true;
  } catch (const UserError&) {
    return false;  // unreadable, foreign, older format or a config this fedsim no longer accepts
  }
}

std::string index_path(const std::string& out_dir) { return (std::filesystem::path(out_dir) / "index.h5").string(); }

namespace {

struct PointRow {
  std::string name, file;
  uint8_t done = 0;
};

}  // namespace

const h5::RowTable<FinalMetrics>& index_metrics_table() {
  static const h5::RowTable<FinalMetrics> t = h5::RowTable<FinalMetrics>()
      .col("final_eval_accuracy", &FinalMetrics::eval_accuracy, "fraction", "last non-NaN /rounds/eval_accuracy")
      .col("final_eval_loss", &FinalMetrics::eval_loss, "nats/token", "last non-NaN /rounds/eval_loss")
      .col("final_train_loss", &FinalMetrics::train_loss, "nats/token", "last non-NaN /rounds/train_loss")
      .col("best_eval_accuracy", &FinalMetrics::best_eval_accuracy, "fraction", "highest /rounds/eval_accuracy")
      .col("client_accuracy_mean", &FinalMetrics::client_accuracy_mean, "fraction",
           "mean over clients of the last /client_eval/accuracy row (or of /clients/local_eval_accuracy)")
      .col("client_accuracy_p10", &FinalMetrics::client_accuracy_p10, "fraction",
           "10th percentile of the same (nearest rank below)")
      .col("sim_time_s", &FinalMetrics::sim_time_s, "simulated s", "the run's sim_total_s")
      .col("wall_s", &FinalMetrics::wall_s, "wall s", "the run's wall_total_s")
      .col("rounds", &FinalMetrics::rounds, "rounds", "last /rounds/round")
      .col("updates_aggregated", &FinalMetrics::updates_aggregated, "updates", "sum of /rounds/completed")
      .col("stragglers", &FinalMetrics::stragglers, "clients", "sum of /rounds/stragglers");
  return t;
}

namespace {

const h5::RowTable<PointRow>& point_rows() {
  static const h5::RowTable<PointRow> t = h5::RowTable<PointRow>()
      .col("name", &PointRow::name, "", "point name")
      .col("file", &PointRow::file, "", "its results file, relative to the index's folder")
      .col("done", &PointRow::done, "", "1 = complete results file with the point's config");
  return t;
}

}  // namespace

std::vector<std::string> index_points_columns() {
  std::vector<std::string> out;
  for (const auto& c : point_rows().columns()) out.push_back(c.name);
  return out;
}

void write_sweep_index(const SweepSpec& s, const std::vector<SweepPoint>& points, const std::vector<uint8_t>& done,
                       const std::vector<FinalMetrics>& metrics, const std::string& out_dir) {
  FEDSIM_ASSERT(done.size() == points.size() && metrics.size() == points.size());
  std::filesystem::create_directories(out_dir);
  h5::AtomicFile out(index_path(out_dir));
  const h5::Group root = out.root();
  h5::write_header(root, kSweepIndexKind, kSweepIndexFormatVersion);
  root.set_attr("name", s.name);
  root.set_attr("base", s.base);
  root.set_attr("spec_yaml", s.text);
  int64_t n_done = 0;
  for (uint8_t d : done) n_done += d;
  root.set_attr("points", static_cast<int64_t>(points.size()));
  root.set_attr("done", n_done);

  std::vector<PointRow> rows;
  std::vector<std::string> keys;
  for (size_t i = 0; i < points.size(); ++i) rows.push_back({points[i].name, points[i].name + ".h5", done[i]});
  if (!points.empty())
    for (const auto& kv : points.front().params) keys.push_back(kv.first);
  point_rows().write(root.create_group("points"), rows);
  root.create_group("axes").write_strings("keys", keys);
  const h5::Group pg = root.create_group("params");
  for (size_t a = 0; a < keys.size(); ++a) {
    std::vector<std::string> values;
    for (const auto& p : points) values.push_back(p.params[a].second);
    pg.write_strings(keys[a], values);
  }
  index_metrics_table().write(root.create_group("metrics"), metrics);
  out.commit([](const std::string& tmp) { read_sweep_index(tmp); });
}

SweepIndex read_sweep_index(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kSweepIndexKind, kSweepIndexFormatVersion);
  const h5::Group root = f.root();
  SweepIndex x;
  x.name = root.attr_string("name");
  x.base = root.attr_string("base");
  const std::vector<PointRow> rows = point_rows().read(root.open_group("points"));
  const size_t n = rows.size();
  for (const PointRow& r : rows) {
    x.point_names.push_back(r.name);
    x.files.push_back(r.file);
    x.done.push_back(r.done);
  }
  // Every column holds one value per point (readers index them by point).
  x.axis_keys = root.open_group("axes").read_strings("keys");
  const h5::Group pg = root.open_group("params");
  for (const auto& k : x.axis_keys) x.params.push_back(h5::read_string_column(pg, k, n));
  const h5::Group mg = root.open_group("metrics");
  x.metrics = index_metrics_table().read(mg);
  if (x.metrics.size() != n)
    throw UserError(mg.where(index_metrics_table().columns().front().name) + ": expected " + std::to_string(n) +
                    " values, got " + std::to_string(x.metrics.size()));
  return x;
}

OutputLock claim_sweep_folder(const SweepSpec& s, const std::string& out_dir, const SweepOptions& opt) {
  OutputLock lock = claim_sweep_output(out_dir);
  const std::string index = index_path(out_dir);
  if (std::filesystem::exists(index) && !opt.force) {  // another sweep's folder, or a user's file
    std::string name;
    try {
      name = read_sweep_index(index).name;
    } catch (const UserError& e) {
      throw UserError(index + ": exists and is not a sweep index this fedsim reads (" + e.what() +
                      "); refusing to replace it (--force replaces it, or choose another --out)");
    }
    if (name != s.name && !opt.fresh)
      throw UserError(index + ": is the index of sweep '" + name + "', not '" + s.name +
                      "'; refusing to mix them (--fresh replaces it, or choose another --out)");
  }
  return lock;
}

SweepScan scan_sweep(const std::vector<SweepPoint>& points, const std::string& out_dir, const SweepOptions& opt) {
  SweepScan scan;
  scan.done.assign(points.size(), 0);
  scan.metrics.assign(points.size(), not_run());
  const OutputOptions out_opt{opt.fresh, opt.force};
  for (size_t i = 0; i < points.size(); ++i) {
    check_stop();
    RunResults r;
    const std::string file = point_file(out_dir, points[i]);
    if (point_is_complete(points[i], file, &r)) {
      scan.done[i] = 1;
      scan.metrics[i] = final_metrics(r);
      ++scan.skipped;
    } else {
      check_results_target(file, points[i].config, out_opt);  // a user's file, or another config's results
      if (std::filesystem::exists(file)) say(opt, "point " + points[i].name + ": replacing " + file + " (--fresh/--force)");
    }
  }
  return scan;
}

RunResults run_sweep_point(const SweepPoint& p, const std::string& out_dir, const SweepOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  RunHooks hooks;
  const int64_t every = std::max<int64_t>(1, p.config.federation.rounds / 5);
  hooks.on_round = [&](const RoundRow& row, int64_t total_rows) {
    if (row.round == 0 || (row.round % every != 0 && row.round != total_rows - 1)) return;
    char buf[160];
    std::snprintf(buf, sizeof buf, "    round %lld/%lld  eval_acc %.3f  eval_loss %.4f",
                  static_cast<long long>(row.round), static_cast<long long>(total_rows - 1), row.eval_accuracy,
                  row.eval_loss);
    say(opt, buf);
  };
  // Each point checkpoints next to its results file, so a stopped sweep resumes mid-point.
  RunControl control;
  control.checkpoint_file = checkpoint_path(point_file(out_dir, p));
  control.resume = !opt.fresh;
  RunResults r = run_experiment(p.config, hooks, control);
  r.wall_total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_results(r, point_file(out_dir, p));
  remove_checkpoint_files(control.checkpoint_file);
  return r;
}

SweepReport run_sweep(const SweepSpec& s, const std::string& out_dir, const SweepOptions& opt) {
  if (mpi::size() > 1) return run_sweep_ranks(s, out_dir, opt);
  const std::vector<SweepPoint> points = expand_sweep(s, out_dir);  // every check before any output
  const OutputLock lock = claim_sweep_folder(s, out_dir, opt);
  SweepReport rep;
  rep.total = static_cast<int64_t>(points.size());
  SweepScan scan = scan_sweep(points, out_dir, opt);
  std::vector<uint8_t>& done = scan.done;
  std::vector<FinalMetrics>& metrics = scan.metrics;
  rep.skipped = scan.skipped;
  say(opt, s.name + ": " + std::to_string(rep.total) + " points, " + std::to_string(rep.skipped) +
               " already complete (skipped), results in " + out_dir);
  write_sweep_index(s, points, done, metrics, out_dir);

  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const int64_t pending = rep.total - rep.skipped;
  for (size_t i = 0; i < points.size(); ++i) {
    if (done[i]) continue;
    check_stop();
    if (opt.max_points >= 0 && rep.ran >= opt.max_points) {
      say(opt, "stopping after " + std::to_string(rep.ran) + " points (--max-points)");
      break;
    }
    const SweepPoint& p = points[i];
    const int64_t finished = rep.skipped + rep.ran;
    say(opt, "[" + std::to_string(finished + 1) + "/" + std::to_string(rep.total) + "] " + p.name + ": running");
    const RunResults r = run_sweep_point(p, out_dir, opt);
    done[i] = 1;
    metrics[i] = final_metrics(r);
    ++rep.ran;
    write_sweep_index(s, points, done, metrics, out_dir);

    const double elapsed = std::chrono::duration<double>(clock::now() - t0).count();
    const int64_t left = pending - rep.ran;
    char buf[200];
    std::snprintf(buf, sizeof buf, "[%lld/%lld] %s: done in %.1f s, final eval_acc %.3f; elapsed %s, ETA %s",
                  static_cast<long long>(rep.skipped + rep.ran), static_cast<long long>(rep.total), p.name.c_str(),
                  r.wall_total_s, metrics[i].eval_accuracy, fmt_duration(elapsed).c_str(),
                  fmt_duration(elapsed / static_cast<double>(rep.ran) * static_cast<double>(left)).c_str());
    say(opt, buf);
  }
  return rep;
}

}  // namespace fedsim::sim
