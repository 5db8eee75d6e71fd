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
#include "fedsim_version.hpp"
#include "sim/experiment.hpp"
#include "sim/mpi/comm.hpp"

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

// The config as a sweep compares it: resolved, with the output path left out.
std::string comparable_yaml(ExperimentConfig c) {
  c.experiment.out.clear();
  return to_yaml(c);
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

void write_sweep_index(const SweepSpec& s, const std::vector<SweepPoint>& points, const std::vector<uint8_t>& done,
                       const std::vector<FinalMetrics>& metrics, const std::string& out_dir) {
  FEDSIM_ASSERT(done.size() == points.size() && metrics.size() == points.size());
  std::filesystem::create_directories(out_dir);
  h5::AtomicFile out(index_path(out_dir));
  {  // every group handle must close before commit: HDF5 keeps a file open while any object is
     // open, so the rename would otherwise publish a file that is not yet flushed and closed
    const h5::Group root = out.root();
    h5::write_header(root, kSweepIndexKind, kSweepIndexFormatVersion);
    root.set_attr("name", s.name);
    root.set_attr("base", s.base);
    root.set_attr("spec_yaml", s.text);
    int64_t n_done = 0;
    for (uint8_t d : done) n_done += d;
    root.set_attr("points", static_cast<int64_t>(points.size()));
    root.set_attr("done", n_done);

    std::vector<std::string> names, files, keys;
    for (const auto& p : points) {
      names.push_back(p.name);
      files.push_back(p.name + ".h5");
    }
    if (!points.empty())
      for (const auto& kv : points.front().params) keys.push_back(kv.first);
    const h5::Group g = root.create_group("points");
    g.write_strings("name", names);
    g.write_strings("file", files);
    g.write("done", done);
    root.create_group("axes").write_strings("keys", keys);
    const h5::Group pg = root.create_group("params");
    for (size_t a = 0; a < keys.size(); ++a) {
      std::vector<std::string> values;
      for (const auto& p : points) values.push_back(p.params[a].second);
      pg.write_strings(keys[a], values);
    }
    const h5::Group mg = root.create_group("metrics");
    auto col = [&](double FinalMetrics::*f) {
      std::vector<double> v;
      for (const auto& m : metrics) v.push_back(m.*f);
      return v;
    };
    mg.write("final_eval_accuracy", col(&FinalMetrics::eval_accuracy));
    mg.write("final_eval_loss", col(&FinalMetrics::eval_loss));
    mg.write("final_train_loss", col(&FinalMetrics::train_loss));
    mg.write("best_eval_accuracy", col(&FinalMetrics::best_eval_accuracy));
    mg.write("client_accuracy_mean", col(&FinalMetrics::client_accuracy_mean));
    mg.write("client_accuracy_p10", col(&FinalMetrics::client_accuracy_p10));
    mg.write("sim_time_s", col(&FinalMetrics::sim_time_s));
    mg.write("wall_s", col(&FinalMetrics::wall_s));
    auto icol = [&](int64_t FinalMetrics::*f) {
      std::vector<int64_t> v;
      for (const auto& m : metrics) v.push_back(m.*f);
      return v;
    };
    mg.write("rounds", icol(&FinalMetrics::rounds));
    mg.write("updates_aggregated", icol(&FinalMetrics::updates_aggregated));
    mg.write("stragglers", icol(&FinalMetrics::stragglers));
  }
  out.commit();
}

SweepIndex read_sweep_index(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kSweepIndexKind, kSweepIndexFormatVersion);
  const h5::Group root = f.root();
  SweepIndex x;
  x.name = root.attr_string("name");
  x.base = root.attr_string("base");
  const h5::Group g = root.open_group("points");
  x.point_names = g.read_strings("name");
  const size_t n = x.point_names.size();
  x.files = h5::read_string_column(g, "file", n);
  x.done = h5::read_column<uint8_t>(g, "done", n);
  // Every column holds one value per point (readers index them by point).
  x.axis_keys = root.open_group("axes").read_strings("keys");
  const h5::Group pg = root.open_group("params");
  for (const auto& k : x.axis_keys) x.params.push_back(h5::read_string_column(pg, k, n));
  const h5::Group mg = root.open_group("metrics");
  auto real = [&](const char* name) { return h5::read_column<double>(mg, name, n); };
  auto integer = [&](const char* name) { return h5::read_column<int64_t>(mg, name, n); };
  const auto acc = real("final_eval_accuracy"), loss = real("final_eval_loss");
  const auto train = real("final_train_loss"), best = real("best_eval_accuracy");
  const auto cmean = real("client_accuracy_mean"), cp10 = real("client_accuracy_p10");
  const auto sim = real("sim_time_s"), wall = real("wall_s");
  const auto rounds = integer("rounds"), updates = integer("updates_aggregated");
  const auto stragglers = integer("stragglers");
  for (size_t i = 0; i < n; ++i)
    x.metrics.push_back({acc[i], loss[i], train[i], best[i], cmean[i], cp10[i], rounds[i], sim[i], wall[i], updates[i],
                         stragglers[i]});
  return x;
}

SweepScan scan_sweep(const std::vector<SweepPoint>& points, const std::string& out_dir, const SweepOptions& opt) {
  SweepScan scan;
  scan.done.assign(points.size(), 0);
  scan.metrics.assign(points.size(), not_run());
  for (size_t i = 0; i < points.size(); ++i) {
    RunResults r;
    if (point_is_complete(points[i], point_file(out_dir, points[i]), &r)) {
      scan.done[i] = 1;
      scan.metrics[i] = final_metrics(r);
      ++scan.skipped;
    } else if (std::filesystem::exists(point_file(out_dir, points[i]))) {
      say(opt, "point " + points[i].name + ": existing file has another config or is unreadable; it will be rerun");
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
  RunResults r = run_experiment(p.config, hooks);
  r.wall_total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_results(r, point_file(out_dir, p));
  return r;
}

SweepReport run_sweep(const SweepSpec& s, const std::string& out_dir, const SweepOptions& opt) {
  if (mpi::size() > 1) return run_sweep_ranks(s, out_dir, opt);
  const std::vector<SweepPoint> points = expand_sweep(s, out_dir);  // every check before any output
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
