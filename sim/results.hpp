// Results of one run, and their HDF5 file (layout: experiments/RESULTS.md). Written atomically:
// a temporary name, then a rename once complete.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/table.hpp"

namespace fedsim::sim {

// Version 3: text without the global heap, a checksum per dataset (common/h5.hpp).
inline constexpr int64_t kResultsFormatVersion = 3;
inline constexpr const char* kResultsKind = "fedsim-results";

// Row k describes the global model after k completed rounds; row 0 is the starting model.
// Values that do not apply (train_loss in row 0, eval where it was skipped) are NaN.
struct RoundRow {
  int64_t round = 0;
  double sim_time_s = 0.0;
  double train_loss = 0.0;
  double eval_loss = 0.0;
  double eval_accuracy = 0.0;
  double wall_s = 0.0;
  int64_t selected = 0;    // clients that started work for this round (async: since the last aggregation)
  int64_t completed = 0;   // updates aggregated
  int64_t stragglers = 0;  // cut off by the deadline or by over-commitment; async: too stale
  int64_t dropouts = 0;    // went offline or failed mid-task
  double duration_s = 0.0; // simulated length of the round
  double peak_rss_mb = 0.0; // peak resident memory of the process so far (MiB)
  template <class Ar>
  void fields(Ar& ar) {
    ar(round, sim_time_s, train_loss, eval_loss, eval_accuracy, wall_s, selected, completed, stragglers, dropouts,
       duration_s, peak_rss_mb);
  }
};

// Per-client totals over the run.
struct ClientTotals {
  std::vector<int64_t> n_samples;        // n_i
  std::vector<int64_t> rounds_joined;    // participations started
  std::vector<int64_t> updates_accepted; // updates that reached the server and were aggregated
  std::vector<int64_t> tokens_trained;   // tokens of completed local training
  std::vector<int64_t> sequences_trained;    // sequences (DPO: pairs) of completed local training
  std::vector<int64_t> no_target_sequences;  // of those, with no response token within model.seq_len
  std::vector<double> busy_s;            // simulated seconds in jobs (including cut-off ones)
  std::vector<double> idle_s;            // simulated run length minus busy_s
  std::vector<double> flops_per_s, bits_per_s;  // the system model's draw
  std::vector<double> local_eval_accuracy;      // algorithm local: each client's own adapter on the test split
  void resize(size_t n);
};

struct TimelineEntry {
  int32_t client = -1;
  int32_t kind = 0;  // job_kind_name
  int32_t end = 0;   // job_end_name
  int64_t round = 0;
  double start_s = 0.0, end_s = 0.0;
};

struct RunResults {
  std::string fedsim_version;
  std::string config_yaml;  // resolved config
  int64_t seed = 0;
  std::vector<RoundRow> rounds;
  std::vector<std::vector<int32_t>> participation;  // per completed round, sampled client ids (sorted)
  std::vector<int64_t> client_n_samples;            // per client (= clients.n_samples)
  ClientTotals clients;
  std::vector<TimelineEntry> timeline;
  std::vector<int64_t> client_eval_round;            // rounds at which clients were evaluated
  std::vector<std::vector<double>> client_eval_accuracy;  // (points, clients)
  double wall_total_s = 0.0;
  double sim_total_s = 0.0;
  uint64_t events = 0;        // queue events processed
  uint64_t jobs_started = 0;  // every job leaves exactly one timeline row
  std::vector<float> global_adapter;  // the final global adapter (models/ layout); empty: trainer none
  // Features' writers of their own groups (U2S: /u2s; the open-ended evaluation: /eval), called
  // in order on the root before the commit.
  std::vector<std::function<void(const h5::Group& root)>> write_extra;
};

// The tables of the results file, one descriptor per column (experiments/RESULTS.md lists them;
// tests/sim/test_results.cpp checks that it lists exactly these).
const h5::RowTable<RoundRow>& rounds_table();         // /rounds
const h5::ColumnTable<ClientTotals>& clients_table();  // /clients
const h5::RowTable<TimelineEntry>& timeline_table();  // /timeline (besides kind_names, end_names)

void write_results(const RunResults& r, const std::string& path);
RunResults read_results(const std::string& path);

}  // namespace fedsim::sim
