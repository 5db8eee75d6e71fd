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
  sequences_trained.resize(n);
  no_target_sequences.resize(n);
  busy_s.resize(n);
  idle_s.resize(n);
  flops_per_s.resize(n);
  bits_per_s.resize(n);
}

namespace {

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

const h5::RowTable<RoundRow>& rounds_table() {
  static const h5::RowTable<RoundRow> t = h5::RowTable<RoundRow>()
      .col("round", &RoundRow::round, "rounds", "completed rounds k")
      .col("sim_time_s", &RoundRow::sim_time_s, "simulated s", "simulated time when round k ended")
      .col("train_loss", &RoundRow::train_loss, "nats/token", "mean local training loss of round k's aggregated clients, weighted by n_i")
      .col("eval_loss", &RoundRow::eval_loss, "nats/token", "mean cross-entropy of the global model on the test split")
      .col("eval_accuracy", &RoundRow::eval_accuracy, "fraction", "exact-match accuracy on the test split")
      .col("wall_s", &RoundRow::wall_s, "wall s", "wall s since the rounds started")
      .col("selected", &RoundRow::selected, "clients", "clients that started work for round k")
      .col("completed", &RoundRow::completed, "updates", "updates aggregated in round k")
      .col("stragglers", &RoundRow::stragglers, "clients", "cut off by the deadline or over-commitment; async: too stale")
      .col("dropouts", &RoundRow::dropouts, "clients", "went offline or failed mid-task")
      .col("duration_s", &RoundRow::duration_s, "simulated s", "simulated length of round k")
      .col("peak_rss_mb", &RoundRow::peak_rss_mb, "MiB", "peak resident memory of the process so far");
  return t;
}

const h5::ColumnTable<ClientTotals>& clients_table() {
  static const h5::ColumnTable<ClientTotals> t = h5::ColumnTable<ClientTotals>()
      .col("n_samples", &ClientTotals::n_samples, "samples", "each client's number of training samples n_i")
      .col("rounds_joined", &ClientTotals::rounds_joined, "rounds", "participations started")
      .col("updates_accepted", &ClientTotals::updates_accepted, "updates", "updates aggregated")
      .col("tokens_trained", &ClientTotals::tokens_trained, "tokens", "tokens of completed local training")
      .col("sequences_trained", &ClientTotals::sequences_trained, "sequences",
           "sequences (DPO: pairs) of completed local training", /*optional=*/true)
      .col("no_target_sequences", &ClientTotals::no_target_sequences, "sequences",
           "of sequences_trained, those with no response token within model.seq_len (they trained nothing)",
           /*optional=*/true)
      .col("busy_s", &ClientTotals::busy_s, "simulated s", "time in jobs, cut-off ones included")
      .col("idle_s", &ClientTotals::idle_s, "simulated s", "run length minus busy_s")
      .col("flops_per_s", &ClientTotals::flops_per_s, "FLOP/s", "the client's training throughput")
      .col("bits_per_s", &ClientTotals::bits_per_s, "bit/s", "the client's bandwidth (up and down)")
      .col("local_eval_accuracy", &ClientTotals::local_eval_accuracy, "fraction",
           "algorithm local: each client's own adapter on the test split", /*optional=*/true);
  return t;
}

const h5::RowTable<TimelineEntry>& timeline_table() {
  static const h5::RowTable<TimelineEntry> t = h5::RowTable<TimelineEntry>()
      .col("client", &TimelineEntry::client, "", "the job's client (-1 = the server)")
      .col("kind", &TimelineEntry::kind, "", "index into kind_names")
      .col("end", &TimelineEntry::end, "", "index into end_names")
      .col("round", &TimelineEntry::round, "rounds", "the round the job belongs to")
      .col("start_s", &TimelineEntry::start_s, "simulated s", "when it started")
      .col("end_s", &TimelineEntry::end_s, "simulated s", "when it ended");
  return t;
}

void write_results(const RunResults& r, const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::write_header(root, kResultsKind, kResultsFormatVersion, r.fedsim_version);
  root.set_attr("config_yaml", r.config_yaml);
  root.set_attr("seed", r.seed);
  root.set_attr("wall_total_s", r.wall_total_s);
  root.set_attr("sim_total_s", r.sim_total_s);
  root.set_attr("events", static_cast<int64_t>(r.events));
  root.set_attr("jobs_started", static_cast<int64_t>(r.jobs_started));

  rounds_table().write(root.create_group("rounds"), r.rounds);

  write_matrix<int32_t>(root, "participation", r.participation, -1);

  clients_table().write(root.create_group("clients"), r.clients);

  const h5::Group tl = root.create_group("timeline");
  std::vector<std::string> kinds, ends;
  for (int k = 0; k <= static_cast<int>(JobKind::generate); ++k) kinds.push_back(job_kind_name(static_cast<JobKind>(k)));
  for (int e = 0; e <= static_cast<int>(JobEnd::cancelled); ++e) ends.push_back(job_end_name(static_cast<JobEnd>(e)));
  tl.write_strings("kind_names", kinds);
  tl.write_strings("end_names", ends);
  timeline_table().write(tl, r.timeline);

  if (!r.client_eval_round.empty()) {
    const h5::Group ce = root.create_group("client_eval");
    ce.write("round", r.client_eval_round);
    write_matrix<double>(ce, "accuracy", r.client_eval_accuracy, 0.0);
  }
  if (!r.global_adapter.empty()) root.write<float>("global_adapter", r.global_adapter);
  for (const auto& w : r.write_extra) w(root);
  // Read back before the rename: what replaces a previous file (and lets the caller remove the
  // run's checkpoint) is a complete results file.
  out.commit([](const std::string& tmp) { read_results(tmp); });
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

  r.rounds = rounds_table().read(root.open_group("rounds"));
  const size_t n = r.rounds.size();
  r.participation = read_matrix<int32_t>(root, "participation", -1, true, n, "row of /rounds");

  clients_table().read(root.open_group("clients"), r.clients);
  r.client_n_samples = r.clients.n_samples;

  r.timeline = timeline_table().read(root.open_group("timeline"));

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
