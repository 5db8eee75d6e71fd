// MAS-GPT results file (HDF5, layout in sim/masgpt/README.md) and the paper-style table.
#include <cstdio>
#include <sstream>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "fedsim_version.hpp"
#include "sim/masgpt/masgpt.hpp"

namespace fedsim::sim::masgpt {

const h5::ColumnTable<MasgptResults>& queries_table() {
  static const h5::ColumnTable<MasgptResults> t = h5::ColumnTable<MasgptResults>()
      .col("query", &MasgptResults::test_queries, "", "the held-out query")
      .col("mas", &MasgptResults::generated, "", "the MAS text MAS-GPT generated for it")
      .col("answer", &MasgptResults::answers, "", "the executed MAS's answer")
      .col("correct", &MasgptResults::correct, "", "1 = the answer equals the reference");
  return t;
}

void write_masgpt_results(const MasgptResults& r, const std::string& path) {
  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::write_header(root, kResultsFormatKind, kResultsFormatVersion);
  root.set_attr("config_yaml", r.config_yaml);
  root.set_attr("data_path", r.data_path);
  root.set_attr("queries", r.queries);
  root.set_attr("fallbacks", r.fallbacks);
  root.set_attr("fallback_failed", r.fallback_failed);
  root.set_attr("distinct_mas", r.distinct_mas);
  root.set_attr("generation_calls", r.generation_calls);
  root.set_attr("makespan_s", r.makespan_s);
  root.set_attr("wall_s", r.wall_s);
  root.write_strings("set_names", r.sets);
  std::vector<std::string> names;
  std::vector<double> acc, avg, calls, tokens;
  for (const MethodRow& row : r.rows) {
    names.push_back(row.name);
    acc.insert(acc.end(), row.accuracy.begin(), row.accuracy.end());
    avg.push_back(row.average);
    calls.push_back(row.calls_per_query);
    tokens.push_back(row.tokens_per_query);
  }
  const h5::Group t = root.create_group("table");
  t.write_strings("method", names);
  t.write("accuracy", acc, {static_cast<hsize_t>(names.size()), static_cast<hsize_t>(r.sets.size())});
  t.write("average", avg);
  t.write("calls_per_query", calls);
  t.write("tokens_per_query", tokens);
  std::vector<std::string> on;
  for (int i = 0; i < kOutcomes; ++i) on.push_back(outcome_name(static_cast<Outcome>(i)));
  root.write_strings("outcome_names", on);
  root.write("outcomes", std::vector<int64_t>(r.outcomes.begin(), r.outcomes.end()));
  root.write_strings("chosen", r.chosen);
  queries_table().write(root.create_group("queries"), r);
  const h5::Group tl = root.create_group("timeline");
  std::vector<int32_t> kind, client;
  std::vector<int64_t> round, start, stop;
  for (const TimelineRow& row : r.timeline) {
    kind.push_back(static_cast<int32_t>(row.kind));
    client.push_back(row.client);
    round.push_back(row.round);
    start.push_back(row.start);
    stop.push_back(row.stop);
  }
  tl.write("kind", kind);
  tl.write("client", client);
  tl.write("query", round);
  tl.write("start_tick", start);
  tl.write("stop_tick", stop);
  out.commit();
}

MasgptResults read_masgpt_results(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kResultsFormatKind, kResultsFormatVersion);
  const h5::Group root = f.root();
  MasgptResults r;
  r.config_yaml = root.attr_string("config_yaml");
  r.data_path = root.attr_string("data_path");
  r.queries = root.attr_int("queries");
  r.fallbacks = root.attr_int("fallbacks");
  r.fallback_failed = root.attr_int("fallback_failed");
  r.distinct_mas = root.attr_int("distinct_mas");
  r.generation_calls = root.attr_double("generation_calls");
  r.makespan_s = root.attr_double("makespan_s");
  r.wall_s = root.attr_double("wall_s");
  r.sets = root.read_strings("set_names");
  const h5::Group t = root.open_group("table");
  const std::vector<std::string> names = t.read_strings("method");
  const std::vector<double> acc = t.read<double>("accuracy"), avg = t.read<double>("average"),
                            calls = t.read<double>("calls_per_query"), tokens = t.read<double>("tokens_per_query");
  const size_t ns = r.sets.size();
  if (acc.size() != names.size() * ns || avg.size() != names.size() || calls.size() != names.size() ||
      tokens.size() != names.size())
    throw UserError(path + ": /table has inconsistent shapes; HINT: rerun fedsim masgpt run");
  for (size_t i = 0; i < names.size(); ++i)
    r.rows.push_back({names[i], std::vector<double>(acc.begin() + static_cast<long>(i * ns), acc.begin() + static_cast<long>((i + 1) * ns)),
                      avg[i], calls[i], tokens[i]});
  const std::vector<int64_t> oc = root.read<int64_t>("outcomes");
  if (oc.size() != static_cast<size_t>(kOutcomes)) throw UserError(path + ": /outcomes must have " + std::to_string(kOutcomes) + " entries");
  for (int i = 0; i < kOutcomes; ++i) r.outcomes[static_cast<size_t>(i)] = oc[static_cast<size_t>(i)];
  r.chosen = root.read_strings("chosen");
  queries_table().read(root.open_group("queries"), r);
  return r;
}

std::string format_table(const MasgptResults& r) {
  std::ostringstream o;
  char buf[64];
  o << "method      ";
  for (const std::string& s : r.sets) {
    std::snprintf(buf, sizeof buf, " %9.9s", s.c_str());
    o << buf;
  }
  o << "   average  calls/query  tokens/query\n";
  for (const MethodRow& row : r.rows) {
    std::snprintf(buf, sizeof buf, "%-12s", row.name.c_str());
    o << buf;
    for (double a : row.accuracy) {
      std::snprintf(buf, sizeof buf, " %9.1f", 100.0 * a);
      o << buf;
    }
    std::snprintf(buf, sizeof buf, " %9.1f %12.2f %13.1f\n", 100.0 * row.average, row.calls_per_query, row.tokens_per_query);
    o << buf;
  }
  o << "(accuracy in %, per query set; mas-gpt calls include its one generation as " << r.generation_calls
    << " call)\n";
  o << "mas-gpt outcomes over " << r.queries << " queries:";
  for (int i = 0; i < kOutcomes; ++i) o << " " << outcome_name(static_cast<Outcome>(i)) << " " << r.outcomes[static_cast<size_t>(i)];
  o << "; fallbacks " << r.fallbacks << " (failed " << r.fallback_failed << "); distinct MAS " << r.distinct_mas << "\n";
  o << "inter-consistency choices:";
  for (const std::string& s : r.chosen) o << " [" << s << "]";
  std::snprintf(buf, sizeof buf, "\nsimulated makespan of MAS-GPT jobs %.3f s; wall %.1f s\n", r.makespan_s, r.wall_s);
  o << buf;
  return o.str();
}

}  // namespace fedsim::sim::masgpt
