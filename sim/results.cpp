#include "sim/results.hpp"

#include <filesystem>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "sim/jobs.hpp"

namespace fedsim::sim {

void ClientTotals::resize(size_t n) {
  n_samples.resize(n);
  rounds_joined.resize(n);
  updates_accepted.resize(n);
  tokens_trained.resize(n);
  busy_s.resize(n);
  idle_s.resize(n);
  flops_per_s.resize(n);
  bits_per_s.resize(n);
}

namespace {

// Columns of a table of structs, written or read one dataset per field.
template <class Row, class T>
std::vector<T> column(const std::vector<Row>& rows, T Row::*field) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(r.*field);
  return out;
}

template <class T>
void write_matrix(const h5::Group& g, const std::string& name, const std::vector<std::vector<T>>& rows, T pad) {
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.size());
  std::vector<T> flat;
  flat.reserve(rows.size() * width);
  for (const auto& r : rows) {
    flat.insert(flat.end(), r.begin(), r.end());
    flat.insert(flat.end(), width - r.size(), pad);
  }
  g.write(name, flat, {static_cast<hsize_t>(rows.size()), static_cast<hsize_t>(width)});
}

template <class T>
std::vector<std::vector<T>> read_matrix(const h5::Group& g, const std::string& name, T pad, bool trim, size_t max_rows,
                                        const std::string& rows_of) {
  std::vector<hsize_t> dims;
  const std::vector<T> flat = g.read<T>(name, &dims);
  if (dims.size() != 2) throw UserError(g.where(name) + ": expected a 2-D dataset");
  // (rows, 0) stores nothing however many rows it declares: bound the rows by their owner.
  if (dims[0] > max_rows)
    throw UserError(g.where(name) + ": has " + std::to_string(dims[0]) + " rows; expected at most " +
                    std::to_string(max_rows) + ", one per " + rows_of);
  std::vector<std::vector<T>> rows(dims[0]);
  for (hsize_t i = 0; i < dims[0]; ++i) {
    for (hsize_t j = 0; j < dims[1]; ++j) {
      const T v = flat[i * dims[1] + j];
      if (trim && v == pad) break;
      rows[i].push_back(v);
    }
  }
  return rows;
}

}  // namespace

void write_results(const RunResults& r, const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::set_format(root, kResultsKind, kResultsFormatVersion);
  root.set_attr("fedsim_version", r.fedsim_version);
  root.set_attr("config_yaml", r.config_yaml);
  root.set_attr("seed", r.seed);
  root.set_attr("wall_total_s", r.wall_total_s);
  root.set_attr("sim_total_s", r.sim_total_s);
  root.set_attr("events", static_cast<int64_t>(r.events));
  root.set_attr("jobs_started", static_cast<int64_t>(r.jobs_started));

  const h5::Group g = root.create_group("rounds");
  g.write("round", column(r.rounds, &RoundRow::round));
  g.write("sim_time_s", column(r.rounds, &RoundRow::sim_time_s));
  g.write("train_loss", column(r.rounds, &RoundRow::train_loss));
  g.write("eval_loss", column(r.rounds, &RoundRow::eval_loss));
  g.write("eval_accuracy", column(r.rounds, &RoundRow::eval_accuracy));
  g.write("wall_s", column(r.rounds, &RoundRow::wall_s));
  g.write("selected", column(r.rounds, &RoundRow::selected));
  g.write("completed", column(r.rounds, &RoundRow::completed));
  g.write("stragglers", column(r.rounds, &RoundRow::stragglers));
  g.write("dropouts", column(r.rounds, &RoundRow::dropouts));
  g.write("duration_s", column(r.rounds, &RoundRow::duration_s));
  g.write("peak_rss_mb", column(r.rounds, &RoundRow::peak_rss_mb));

  write_matrix<int32_t>(root, "participation", r.participation, -1);

  const h5::Group c = root.create_group("clients");
  const ClientTotals& t = r.clients;
  c.write("n_samples", t.n_samples);
  c.write("rounds_joined", t.rounds_joined);
  c.write("updates_accepted", t.updates_accepted);
  c.write("tokens_trained", t.tokens_trained);
  c.write("busy_s", t.busy_s);
  c.write("idle_s", t.idle_s);
  c.write("flops_per_s", t.flops_per_s);
  c.write("bits_per_s", t.bits_per_s);
  if (!t.local_eval_accuracy.empty()) c.write("local_eval_accuracy", t.local_eval_accuracy);

  const h5::Group tl = root.create_group("timeline");
  std::vector<std::string> kinds, ends;
  for (int k = 0; k <= static_cast<int>(JobKind::generate); ++k) kinds.push_back(job_kind_name(static_cast<JobKind>(k)));
  for (int e = 0; e <= static_cast<int>(JobEnd::cancelled); ++e) ends.push_back(job_end_name(static_cast<JobEnd>(e)));
  tl.write_strings("kind_names", kinds);
  tl.write_strings("end_names", ends);
  tl.write("client", column(r.timeline, &TimelineEntry::client));
  tl.write("kind", column(r.timeline, &TimelineEntry::kind));
  tl.write("end", column(r.timeline, &TimelineEntry::end));
  tl.write("round", column(r.timeline, &TimelineEntry::round));
  tl.write("start_s", column(r.timeline, &TimelineEntry::start_s));
  tl.write("end_s", column(r.timeline, &TimelineEntry::end_s));

  if (!r.client_eval_round.empty()) {
    const h5::Group ce = root.create_group("client_eval");
    ce.write("round", r.client_eval_round);
    write_matrix<double>(ce, "accuracy", r.client_eval_accuracy, 0.0);
  }
  if (!r.global_adapter.empty()) root.write<float>("global_adapter", r.global_adapter);
  if (r.write_extra) r.write_extra(root);
  out.commit();
}

RunResults read_results(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kResultsKind, kResultsFormatVersion);
  const h5::Group root = f.root();
  RunResults r;
  r.fedsim_version = root.attr_string("fedsim_version");
  r.config_yaml = root.attr_string("config_yaml");
  r.seed = root.attr_int("seed");
  r.wall_total_s = root.attr_double("wall_total_s");
  r.sim_total_s = root.attr_double("sim_total_s");
  r.events = static_cast<uint64_t>(root.attr_int("events"));
  r.jobs_started = static_cast<uint64_t>(root.attr_int("jobs_started"));

  const h5::Group g = root.open_group("rounds");
  const auto round = g.read<int64_t>("round");
  const size_t n = round.size();
  const auto sim_time = h5::read_column<double>(g, "sim_time_s", n);
  const auto train_loss = h5::read_column<double>(g, "train_loss", n);
  const auto eval_loss = h5::read_column<double>(g, "eval_loss", n);
  const auto eval_acc = h5::read_column<double>(g, "eval_accuracy", n);
  const auto wall = h5::read_column<double>(g, "wall_s", n);
  const auto selected = h5::read_column<int64_t>(g, "selected", n);
  const auto completed = h5::read_column<int64_t>(g, "completed", n);
  const auto stragglers = h5::read_column<int64_t>(g, "stragglers", n);
  const auto dropouts = h5::read_column<int64_t>(g, "dropouts", n);
  const auto duration = h5::read_column<double>(g, "duration_s", n);
  const auto rss = h5::read_column<double>(g, "peak_rss_mb", n);
  for (size_t i = 0; i < n; ++i)
    r.rounds.push_back({round[i], sim_time[i], train_loss[i], eval_loss[i], eval_acc[i], wall[i], selected[i], completed[i],
                        stragglers[i], dropouts[i], duration[i], rss[i]});
  r.participation = read_matrix<int32_t>(root, "participation", -1, true, n, "row of /rounds");

  const h5::Group c = root.open_group("clients");
  ClientTotals& t = r.clients;
  t.n_samples = c.read<int64_t>("n_samples");
  const size_t nc = t.n_samples.size();
  t.rounds_joined = h5::read_column<int64_t>(c, "rounds_joined", nc);
  t.updates_accepted = h5::read_column<int64_t>(c, "updates_accepted", nc);
  t.tokens_trained = h5::read_column<int64_t>(c, "tokens_trained", nc);
  t.busy_s = h5::read_column<double>(c, "busy_s", nc);
  t.idle_s = h5::read_column<double>(c, "idle_s", nc);
  t.flops_per_s = h5::read_column<double>(c, "flops_per_s", nc);
  t.bits_per_s = h5::read_column<double>(c, "bits_per_s", nc);
  if (c.has("local_eval_accuracy")) t.local_eval_accuracy = h5::read_column<double>(c, "local_eval_accuracy", nc);
  r.client_n_samples = t.n_samples;

  const h5::Group tl = root.open_group("timeline");
  const auto client = tl.read<int32_t>("client");
  const size_t nt = client.size();
  const auto kind = h5::read_column<int32_t>(tl, "kind", nt);
  const auto end = h5::read_column<int32_t>(tl, "end", nt);
  const auto tround = h5::read_column<int64_t>(tl, "round", nt);
  const auto start_s = h5::read_column<double>(tl, "start_s", nt);
  const auto end_s = h5::read_column<double>(tl, "end_s", nt);
  for (size_t i = 0; i < nt; ++i) r.timeline.push_back({client[i], kind[i], end[i], tround[i], start_s[i], end_s[i]});

  if (root.has("client_eval")) {
    const h5::Group ce = root.open_group("client_eval");
    r.client_eval_round = ce.read<int64_t>("round");
    r.client_eval_accuracy = read_matrix<double>(ce, "accuracy", 0.0, false, r.client_eval_round.size(),
                                                  "value of /client_eval/round");
  }
  if (root.has("global_adapter")) r.global_adapter = root.read<float>("global_adapter");
  return r;
}

}  // namespace fedsim::sim
