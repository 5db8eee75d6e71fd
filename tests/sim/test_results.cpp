#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <unistd.h>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "sim/results.hpp"
#include "tests/sim/results_check.hpp"

using namespace fedsim::sim;

TEST_CASE("results: HDF5 round-trip keeps every field, NaN included") {
  RunResults r;
  r.fedsim_version = "9.9.9";
  r.config_yaml = "experiment:\n  name: \"x\"\n";
  r.seed = 42;
  r.wall_total_s = 3.5;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.sim_total_s = 31.0;
  r.events = 77;
  r.rounds = {{0, 0.0, nan, 2.5, 0.125, 0.01, 0, 0, 0, 0, 0.0},
              {1, 12.75, 1.5, 2.0, 0.25, 0.5, 4, 3, 1, 0, 12.75},
              {2, 30.5, 1.25, nan, nan, 1.0, 4, 2, 0, 2, 17.75}};
  r.participation = {{0, 3, 5, 1}, {1, 2}};  // ragged rows are padded with -1 on disk
  r.clients.resize(6);
  r.clients.n_samples = {10, 20, 30, 40, 50, 60};
  r.clients.rounds_joined = {1, 2, 0, 1, 0, 1};
  r.clients.updates_accepted = {1, 1, 0, 1, 0, 1};
  r.clients.tokens_trained = {512, 1024, 0, 512, 0, 512};
  r.clients.sequences_trained = {8, 16, 0, 8, 0, 8};
  r.clients.no_target_sequences = {0, 3, 0, 1, 0, 0};
  r.clients.busy_s = {1.5, 3.0, 0.0, 2.0, 0.0, 1.0};
  r.clients.idle_s = {29.5, 28.0, 31.0, 29.0, 31.0, 30.0};
  r.clients.flops_per_s = {1e9, 2e9, 3e9, 4e9, 5e9, 6e9};
  r.clients.bits_per_s = {1e6, 2e6, 3e6, 4e6, 5e6, 6e6};
  r.client_n_samples = r.clients.n_samples;
  r.timeline = {{0, 0, 0, 0, 0.0, 0.5}, {3, 1, 2, 1, 13.0, 14.25}};
  r.client_eval_round = {0, 2};
  r.client_eval_accuracy = {{0.0, 0.5, 1.0, 0.25, 0.0, 0.75}, {1.0, 1.0, 0.5, 0.5, 0.25, 0.0}};
  const std::string path = "results_roundtrip.h5";
  write_results(r, path);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp-" + std::to_string(::getpid())));
  const RunResults b = read_results(path);
  CHECK(b.fedsim_version == r.fedsim_version);
  CHECK(b.config_yaml == r.config_yaml);
  CHECK(b.seed == 42);
  CHECK(b.wall_total_s == 3.5);
  REQUIRE(b.rounds.size() == 3);
  CHECK(b.rounds[1].round == 1);
  CHECK(b.rounds[1].sim_time_s == 12.75);
  CHECK(b.rounds[1].train_loss == 1.5);
  CHECK(b.rounds[1].eval_loss == 2.0);
  CHECK(b.rounds[1].eval_accuracy == 0.25);
  CHECK(b.rounds[1].wall_s == 0.5);
  CHECK(std::isnan(b.rounds[0].train_loss));
  CHECK(std::isnan(b.rounds[2].eval_accuracy));
  CHECK(b.rounds[2].selected == 4);
  CHECK(b.rounds[2].completed == 2);
  CHECK(b.rounds[1].stragglers == 1);
  CHECK(b.rounds[2].dropouts == 2);
  CHECK(b.rounds[2].duration_s == 17.75);
  CHECK(b.sim_total_s == 31.0);
  CHECK(b.events == 77);
  CHECK(b.participation == r.participation);
  CHECK(b.client_n_samples == r.client_n_samples);
  CHECK(b.clients.rounds_joined == r.clients.rounds_joined);
  CHECK(b.clients.updates_accepted == r.clients.updates_accepted);
  CHECK(b.clients.tokens_trained == r.clients.tokens_trained);
  CHECK(b.clients.sequences_trained == r.clients.sequences_trained);
  CHECK(b.clients.no_target_sequences == r.clients.no_target_sequences);
  CHECK(b.clients.busy_s == r.clients.busy_s);
  CHECK(b.clients.idle_s == r.clients.idle_s);
  CHECK(b.clients.flops_per_s == r.clients.flops_per_s);
  CHECK(b.clients.bits_per_s == r.clients.bits_per_s);
  CHECK(b.clients.local_eval_accuracy.empty());
  REQUIRE(b.timeline.size() == 2);
  CHECK(b.timeline[1].client == 3);
  CHECK(b.timeline[1].kind == 1);
  CHECK(b.timeline[1].end == 2);
  CHECK(b.timeline[1].round == 1);
  CHECK(b.timeline[1].start_s == 13.0);
  CHECK(b.timeline[1].end_s == 14.25);
  CHECK(b.client_eval_round == r.client_eval_round);
  CHECK(b.client_eval_accuracy == r.client_eval_accuracy);
  std::filesystem::remove(path);
}

TEST_CASE("results: a foreign or truncated file is rejected with a clear error") {
  {
    fedsim::h5::AtomicFile f("foreign.h5");
    fedsim::h5::set_format(f.root(), "something-else", 1);
    f.commit();
  }
  CHECK_THROWS_WITH_AS(read_results("foreign.h5"),
                       "foreign.h5: not a fedsim-results file (root attribute 'format' is missing or differs)",
                       fedsim::UserError);
  {
    fedsim::h5::AtomicFile f("newer.h5");
    fedsim::h5::set_format(f.root(), kResultsKind, 99);
    f.commit();
  }
  CHECK_THROWS_WITH_AS(read_results("newer.h5"),
                       "newer.h5: fedsim-results format_version 99 is not supported; this fedsim reads version 3 "
                       "(regenerate the file with this fedsim)",
                       fedsim::UserError);
  {
    std::FILE* f = std::fopen("truncated.h5", "wb");
    std::fputs("\x89HDF\r\n", f);
    std::fclose(f);
  }
  CHECK_THROWS_WITH_AS(read_results("truncated.h5"), "truncated.h5: not an HDF5 file (truncated or foreign)",
                       fedsim::UserError);
  CHECK_THROWS_WITH_AS(read_results("absent.h5"), "absent.h5: no such file", fedsim::UserError);
  std::filesystem::remove("foreign.h5");
  std::filesystem::remove("newer.h5");
  std::filesystem::remove("truncated.h5");
}

using fedsim::test::documented;
using fedsim::test::names_of;

TEST_CASE("results: experiments/RESULTS.md lists exactly the columns of /rounds, /clients and /timeline") {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src != nullptr);
  std::ifstream in(std::string(src) + "/experiments/RESULTS.md");
  const std::string md((std::istreambuf_iterator<char>(in)), {});
  CHECK(documented(md, "### `/rounds`") == names_of(rounds_table()));
  CHECK(documented(md, "### `/clients`") == names_of(clients_table()));
  std::vector<std::string> timeline{"kind_names", "end_names"};
  for (const auto& n : names_of(timeline_table())) timeline.push_back(n);
  CHECK(documented(md, "### `/timeline`") == timeline);
}
