// Shared by the tests that compare runs or document results files: two runs' results field by
// field, and the columns a Markdown table in experiments/RESULTS.md lists.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "sim/results.hpp"

namespace fedsim::test {

inline bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Everything of two runs but /eval, /timeline's eval jobs and config_yaml; wall-clock fields
// (wall_s, peak_rss_mb) only with `wall` (pinned through RunHooks).
inline void check_same_run(const sim::RunResults& a, const sim::RunResults& b, bool wall) {
  REQUIRE(a.rounds.size() == b.rounds.size());
  for (size_t i = 0; i < a.rounds.size(); ++i) {
    const sim::RoundRow &x = a.rounds[i], &y = b.rounds[i];
    CAPTURE(i);
    CHECK(x.round == y.round);
    CHECK(same_value(x.sim_time_s, y.sim_time_s));
    CHECK(same_value(x.train_loss, y.train_loss));
    CHECK(same_value(x.eval_loss, y.eval_loss));
    CHECK(same_value(x.eval_accuracy, y.eval_accuracy));
    CHECK(x.selected == y.selected);
    CHECK(x.completed == y.completed);
    CHECK(x.stragglers == y.stragglers);
    CHECK(x.dropouts == y.dropouts);
    CHECK(same_value(x.duration_s, y.duration_s));
    if (wall) CHECK(same_value(x.wall_s, y.wall_s));
    if (wall) CHECK(same_value(x.peak_rss_mb, y.peak_rss_mb));
  }
  CHECK(a.participation == b.participation);
  const sim::ClientTotals &p = a.clients, &q = b.clients;
  CHECK(p.n_samples == q.n_samples);
  CHECK(p.rounds_joined == q.rounds_joined);
  CHECK(p.updates_accepted == q.updates_accepted);
  CHECK(p.tokens_trained == q.tokens_trained);
  CHECK(p.sequences_trained == q.sequences_trained);
  CHECK(p.no_target_sequences == q.no_target_sequences);
  CHECK(p.busy_s == q.busy_s);
  CHECK(p.idle_s == q.idle_s);
  CHECK(p.flops_per_s == q.flops_per_s);
  CHECK(p.bits_per_s == q.bits_per_s);
  CHECK(a.global_adapter == b.global_adapter);
  CHECK(a.client_eval_accuracy == b.client_eval_accuracy);
  CHECK(a.sim_total_s == b.sim_total_s);
  CHECK(a.events == b.events);
  CHECK(a.jobs_started == b.jobs_started);
  std::vector<sim::TimelineEntry> x, y;
  for (const auto& t : a.timeline)
    if (t.kind != 3) x.push_back(t);  // 3 = eval
  for (const auto& t : b.timeline)
    if (t.kind != 3) y.push_back(t);
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(i);
    CHECK(x[i].client == y[i].client);
    CHECK(x[i].kind == y[i].kind);
    CHECK(x[i].end == y[i].end);
    CHECK(x[i].round == y[i].round);
    CHECK(x[i].start_s == y[i].start_s);
    CHECK(x[i].end_s == y[i].end_s);
  }
}

// The names in the first column of the table under `heading` in a Markdown file (backticked).
inline std::vector<std::string> documented(const std::string& md, const std::string& heading) {
  std::vector<std::string> names;
  size_t at = md.find("\n" + heading);
  REQUIRE(at != std::string::npos);
  at = md.find("\n|", at);
  at = md.find('\n', at + 1);  // the header row
  at = md.find('\n', at + 1);  // the |---| row
  while (at != std::string::npos && at + 1 < md.size() && md[at + 1] == '|') {
    const size_t b = md.find('`', at), e = md.find('`', b + 1);
    names.push_back(md.substr(b + 1, e - b - 1));
    at = md.find('\n', at + 1);
  }
  return names;
}

// A column-descriptor table's column names, in order.
template <class Table>
std::vector<std::string> names_of(const Table& t) {
  std::vector<std::string> out;
  for (const auto& c : t.columns()) out.push_back(c.name);
  return out;
}

}  // namespace fedsim::test
