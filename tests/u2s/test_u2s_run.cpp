// configs/u2s.yaml end to end (shortened) with each backend; the openai one against a local
// server that also answers with garbage, errors and stalls. Counts are asserted, not timings.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/h5.hpp"
#include "datasets/dataset.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/results.hpp"
#include "sim/u2s/u2s_phase.hpp"
#include "tests/u2s/http_server.hpp"

using namespace fedsim;
using fedsim::test::HttpReply;

namespace {

struct U2sFile {
  std::vector<int64_t> pieces, processed, kept, drops, attempts;
  std::vector<std::string> status, messages, drop_names;
  std::vector<double> base_acc, final_acc;
  int64_t drop(size_t reason) const {
    int64_t s = 0;
    for (size_t i = reason; i < drops.size(); i += drop_names.size()) s += drops[i];
    return s;
  }
};

sim::ExperimentConfig short_config(std::vector<std::string> sets) {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src);
  std::filesystem::create_directories(FEDSIM_TEST_TMP_DIR);
  for (const char* s : {"federation.clients=4", "federation.clients_per_round=2", "federation.rounds=2",
                        "federation.local_steps=4", "model.pretrain_steps=40", "model.preset=nano"})
    sets.emplace_back(s);
  sets.push_back(std::string("experiment.cache_dir=") + FEDSIM_TEST_TMP_DIR + "/cache");
  return sim::load_config(std::string(src) + "/configs/u2s.yaml", sets);
}

U2sFile run_and_read(const sim::ExperimentConfig& c, const std::string& name, sim::RunResults* out = nullptr) {
  sim::RunResults r = sim::run_experiment(c, {});
  const std::string path = std::string(FEDSIM_TEST_TMP_DIR) + "/" + name + ".h5";
  sim::write_results(r, path);
  const h5::File f = h5::File::open_read(path);
  const h5::Group g = f.root().open_group("u2s");
  U2sFile u;
  u.pieces = g.read<int64_t>("pieces");
  u.processed = g.read<int64_t>("processed");
  u.kept = g.read<int64_t>("kept");
  u.drops = g.read<int64_t>("drops");
  u.attempts = g.read<int64_t>("attempts");
  u.status = g.read_strings("status");
  u.messages = g.read_strings("messages");
  u.drop_names = g.read_strings("drop_names");
  u.base_acc = g.open_group("eval").read<double>("base_accuracy");
  u.final_acc = g.open_group("eval").read<double>("final_accuracy");
  if (out) *out = std::move(r);
  return u;
}

// Every piece a client processed is either kept or dropped for one reason.
void check_accounting(const U2sFile& u) {
  REQUIRE(u.drop_names.size() == sim::u2s::kDropKinds);
  for (size_t c = 0; c < u.kept.size(); ++c) {
    int64_t dropped = 0;
    for (size_t d = 0; d < sim::u2s::kDropKinds; ++d) dropped += u.drops[c * sim::u2s::kDropKinds + d];
    CHECK(u.kept[c] + dropped == u.processed[c]);
    CHECK(u.processed[c] <= u.pieces[c]);
  }
}

}  // namespace

TEST_CASE("u2s extractive: every client generates, trains and the counts add up") {
  sim::RunResults r;
  const U2sFile u = run_and_read(short_config({}), "u2s-extractive", &r);
  REQUIRE(u.kept.size() == 4);
  check_accounting(u);
  for (size_t c = 0; c < 4; ++c) {
    CHECK(u.status[c] == "done");
    CHECK(u.kept[c] > 0);
    CHECK(u.processed[c] == u.pieces[c]);
  }
  CHECK(u.base_acc.size() == 3);
  CHECK(r.rounds.size() == 3);
  // The U2S jobs are in the timeline: one download and one generate job per client.
  size_t gen = 0;
  for (const auto& t : r.timeline) gen += t.kind == static_cast<int32_t>(sim::JobKind::generate);
  CHECK(gen == 4);
  CHECK(r.jobs_started == r.timeline.size());
}

TEST_CASE("u2s start: as_ready interleaves generation and training on one timeline; after_all waits for every client") {
  const double inf = std::numeric_limits<double>::infinity();
  for (const std::string start : {"as_ready", "after_all"}) {
    CAPTURE(start);
    sim::RunResults r;
    const U2sFile u = run_and_read(short_config({"u2s.start=" + start}), "u2s-" + start, &r);
    std::vector<double> gen_end(4, inf), first_job(4, inf);
    double last_gen = 0.0, first_fed = inf, prev_end = 0.0;
    for (const auto& t : r.timeline) {
      CHECK(t.end_s >= prev_end);  // one timeline: rows in the order their jobs ended
      prev_end = t.end_s;
      const auto c = static_cast<size_t>(t.client);
      if (t.round == -1) {  // U2S jobs
        if (t.kind == static_cast<int32_t>(sim::JobKind::generate) && t.end == static_cast<int32_t>(sim::JobEnd::done)) {
          gen_end[c] = t.end_s;
          last_gen = std::max(last_gen, t.end_s);
        }
      } else {
        first_job[c] = std::min(first_job[c], t.start_s);
        first_fed = std::min(first_fed, t.start_s);
      }
    }
    for (size_t c = 0; c < 4; ++c) {
      CHECK(u.status[c] == "done");
      CHECK(first_job[c] >= gen_end[c]);  // a client trains only once its data is there
    }
    REQUIRE(first_fed < inf);
    if (start == "as_ready") {
      CHECK(r.rounds[0].sim_time_s == 0.0);  // the server starts at once and waits for ready clients
      CHECK(first_fed < last_gen);           // training began while others still generated
    } else {
      CHECK(r.rounds[0].sim_time_s == last_gen);
      CHECK(first_fed == last_gen);
    }
  }
}

TEST_CASE("u2s as_ready: clients still generating when training ends are stopped, and the run ends with training") {
  // Diurnal availability: most clients are offline at 0 and generate hours later, long after
  // two rounds among the first ready clients are over.
  sim::RunResults r;
  const U2sFile u = run_and_read(short_config({"system.availability=diurnal", "system.online_hours=6"}), "u2s-stopped", &r);
  check_accounting(u);
  size_t stopped = 0;
  for (size_t c = 0; c < 4; ++c) {
    if (u.status[c] != "stopped: training ended") continue;
    ++stopped;
    CHECK(u.kept[c] == 0);
    CHECK(u.processed[c] == 0);
    CHECK(r.clients.rounds_joined[c] == 0);
  }
  CHECK(stopped > 0);
  CHECK(stopped < 4);
  REQUIRE(r.rounds.size() == 3);
  CHECK(r.sim_total_s == r.rounds.back().sim_time_s);
  for (const auto& t : r.timeline) CHECK(t.end_s <= r.sim_total_s);
  size_t lines = 0;
  for (const auto& m : u.messages) lines += m.find("still generating when training ended") != std::string::npos;
  CHECK(lines == stopped);
}

TEST_CASE("u2s save_data writes the generated data set, pool with its domains as the public split") {
  const std::string path = std::string(FEDSIM_TEST_TMP_DIR) + "/u2s-generated.h5";
  const U2sFile u = run_and_read(short_config({"u2s.save_data=" + path}), "u2s-save");
  const datasets::FederatedDataset d = datasets::read_dataset(path);
  REQUIRE(d.clients.size() == 4);
  for (size_t c = 0; c < 4; ++c) CHECK(static_cast<int64_t>(d.clients[c].samples.size()) == u.kept[c]);
  REQUIRE(d.public_split.size() == 120);
  for (const auto& s : d.public_split) CHECK((s.task >= 0 && s.task < 3));
}

TEST_CASE("u2s save_data with a file pool: the pool's pairs, which have no domain, are saved under task 'none'") {
  const std::string dir = std::string(FEDSIM_TEST_TMP_DIR);
  datasets::FederatedDataset pool;
  pool.name = "pool";
  pool.kind = datasets::DataKind::sft;
  pool.task_names = {"qa"};
  pool.public_split = {{"What is the capital of Zorland?", "Mirat", "Mirat", 0, 1.0f, -1, {}, {}},
                       {"What does Kelvex treat?", "gout", "gout", 0, 1.0f, -1, {}, {}}};
  pool.clients.push_back({"c0", {{"What is 2 plus 2?", "4", "4", 0, 1.0f, -1, {}, {}}}, {}});
  datasets::write_dataset(pool, dir + "/u2s-file-pool.h5");
  const std::string path = dir + "/u2s-generated-file-pool.h5";
  run_and_read(short_config({"u2s.pool_source=file", "u2s.pool_path=" + dir + "/u2s-file-pool.h5", "u2s.pool_size=2",
                             "u2s.save_data=" + path}),
               "u2s-save-file-pool");
  const datasets::FederatedDataset d = datasets::read_dataset(path);
  REQUIRE(d.task_names.size() == 4);
  CHECK(d.task_names.back() == "none");
  REQUIRE(d.public_split.size() == 2);
  for (const auto& s : d.public_split) CHECK(s.task == 3);
  CHECK(d.public_split[1].instruction == "What does Kelvex treat?");
}

TEST_CASE("u2s with a file corpus and a file pool: the pool's held-out questions keep their task and language names") {
  // As `fedsim data debian fortunes` text with a pool file that brings the test split: the
  // indices of either file's name lists are renamed into the generated data set's (a language
  // index of the pool file used to be taken as one of the corpus's and failed the writer).
  const std::string dir = std::string(FEDSIM_TEST_TMP_DIR);
  datasets::FederatedDataset corpus;
  corpus.name = "texts";
  corpus.kind = datasets::DataKind::corpus;
  corpus.task_names = {"fortune"};
  corpus.languages = {"en", "de"};
  const char* texts[] = {"Zorvex treats gout. The capital of Belmor is Tiran. Many people agree.",
                         "Belmor was founded in 1742. 12 plus 7 is 19. A day for firm decisions.",
                         "The dose of Kavo is 20 mg. Records confirm it. 5 times 6 is 30.",
                         "The capital of Ardin is Vost. Mirab treats flu. This is widely known."};
  for (int c = 0; c < 4; ++c)
    corpus.clients.push_back({"c" + std::to_string(c), {{"", texts[c], "", 0, 1.0f, c % 2, {}, {}}}, {}});
  datasets::write_dataset(corpus, dir + "/u2s-file-corpus.h5");
  datasets::FederatedDataset pool;
  pool.name = "pool";
  pool.kind = datasets::DataKind::sft;
  pool.task_names = {"trivia", "arithmetic"};
  pool.languages = {"fr", "de"};
  pool.public_split = {{"What is the capital of Zorland?", "Mirat", "Mirat", 0, 1.0f, 0, {}, {}},
                       {"What is 2 plus 3?", "5", "5", 1, 1.0f, 1, {}, {}}};
  pool.clients.push_back({"c0", {{"What is 2 plus 2?", "4", "4", 1, 1.0f, 1, {}, {}}}, {}});
  pool.test = {{"What is the capital of Belmor?", "Tiran", "Tiran", 0, 1.0f, 0, {}, {}},
               {"What is 12 plus 7?", "19", "19", 1, 1.0f, 1, {}, {}}};
  datasets::write_dataset(pool, dir + "/u2s-file-pool2.h5");
  const std::string path = dir + "/u2s-generated-file-corpus.h5";
  const U2sFile u = run_and_read(short_config({"u2s.corpus=file", "u2s.corpus_path=" + dir + "/u2s-file-corpus.h5",
                                               "u2s.pool_source=file", "u2s.pool_path=" + dir + "/u2s-file-pool2.h5",
                                               "u2s.pool_size=2", "u2s.save_data=" + path}),
                                 "u2s-file-corpus");
  check_accounting(u);
  const datasets::FederatedDataset d = datasets::read_dataset(path);
  CHECK(d.task_names == std::vector<std::string>{"fortune", "trivia", "arithmetic", "none"});
  CHECK(d.languages == std::vector<std::string>{"en", "de", "fr"});
  REQUIRE(d.test.size() == 2);
  CHECK(d.test[0].task == 1);
  CHECK(d.test[0].language == 2);
  CHECK(d.test[1].task == 2);
  CHECK(d.test[1].language == 1);
  for (const auto& s : d.public_split) CHECK(s.task == 3);
  // Per-domain evaluation covers the pool's test tasks (one question each); the corpus's own
  // task has no held-out question.
  REQUIRE(u.base_acc.size() == 3);
  CHECK(std::isnan(u.base_acc[0]));
  CHECK_FALSE(std::isnan(u.base_acc[1]));
  CHECK_FALSE(std::isnan(u.base_acc[2]));
}

TEST_CASE("u2s with dropouts: failed jobs are retried, and a client that gives up is reported, not lost") {
  const U2sFile u = run_and_read(short_config({"system.dropout_prob=0.6", "u2s.max_attempts=2"}), "u2s-dropouts");
  check_accounting(u);
  size_t gave_up = 0;
  for (size_t c = 0; c < 4; ++c) {
    if (u.status[c].rfind("gave up", 0) == 0) {
      ++gave_up;
      CHECK(u.kept[c] == 0);
    } else {
      CHECK(u.status[c] == "done");
    }
  }
  CHECK(u.messages.size() >= gave_up);
  CHECK(std::accumulate(u.attempts.begin(), u.attempts.end(), int64_t{0}) > 4);  // some retried
}

TEST_CASE("u2s openai: against a local server with garbage, errors and timeouts every client still trains") {
  // Request i: every 5th garbage, every 7th HTTP 500, every 9th stalls past the timeout; the
  // rest answer like the extractive generator would.
  fedsim::test::TestServer s(
      [](int i, const std::string& body) {
        if (i % 5 == 4) return HttpReply{200, "%%% garbage %%%", 0, false};
        if (i % 7 == 6) return HttpReply{500, R"({"error":"overloaded"})", 0, false};
        if (i % 9 == 8) return HttpReply{200, "{}", 400, false};
        const auto j = nlohmann::json::parse(body);
        const std::string pair = sim::u2s::extract_pair(sim::u2s::piece_of_prompt(j["messages"][1]["content"]));
        nlohmann::json rep = {{"choices", {{{"message", {{"role", "assistant"}, {"content", pair}}}}}}};
        return HttpReply{200, rep.dump(), 0, false};
      },
      2000, 120.0);
  // after_all: the endpoint's simulated latency makes generation outlast two rounds of training;
  // training starts once every client is done, so every request is made and counted.
  const U2sFile u = run_and_read(short_config({"u2s.backend=openai", "u2s.openai_url=" + s.url(), "u2s.openai_timeout_s=0.1",
                                               "u2s.openai_retries=0", "u2s.openai_backoff_s=0", "u2s.start=after_all"}),
                                 "u2s-openai");
  check_accounting(u);
  const int64_t pieces = std::accumulate(u.pieces.begin(), u.pieces.end(), int64_t{0});
  CHECK(s.requests() == pieces);  // one request per piece, no retries
  // Garbage and HTTP 500 are `error`, stalls `timeout`; the exact counts follow the schedule.
  int64_t garbage_or_500 = 0, stalls = 0;
  for (int i = 0; i < pieces; ++i) {
    if (i % 5 == 4 || i % 7 == 6)
      ++garbage_or_500;
    else if (i % 9 == 8)
      ++stalls;
  }
  CHECK(u.drop(static_cast<size_t>(sim::u2s::Drop::error)) == garbage_or_500);
  CHECK(u.drop(static_cast<size_t>(sim::u2s::Drop::timeout)) == stalls);
  for (size_t c = 0; c < 4; ++c) CHECK(u.kept[c] > 0);
  bool explained = false;
  for (const auto& m : u.messages) explained = explained || m.find("dropped as timeout") != std::string::npos;
  CHECK(explained);
}

TEST_CASE("u2s model backend: a (briefly) trained generator runs through the same pipeline") {
  const U2sFile u = run_and_read(short_config({"u2s.backend=model", "u2s.generator_steps=20", "u2s.generator_preset=nano",
                                               "u2s.generator_seq_len=160", "u2s.max_new_tokens=40",
                                               "u2s.generator_demos=200"}),
                                 "u2s-model");
  check_accounting(u);
  for (size_t c = 0; c < 4; ++c) CHECK(u.processed[c] == u.pieces[c]);
}

TEST_CASE("u2s model backend: runs that differ only in the clients' selection share one trained generator") {
  // The retrieval-vs-random ablation compares example selection with the same generator weights:
  // u2s.selection is not part of the generator's training or its cache key; generator_selection is.
  const std::vector<std::string> gen{"u2s.backend=model", "u2s.generator_steps=6", "u2s.generator_preset=nano",
                                     "u2s.generator_seq_len=160", "u2s.max_new_tokens=8", "u2s.generator_demos=60",
                                     "federation.rounds=1"};
  auto trained = [&](std::vector<std::string> extra, const std::string& cache) {
    std::vector<std::string> sets = gen;
    sets.insert(sets.end(), extra.begin(), extra.end());
    sim::ExperimentConfig c = short_config(sets);
    c.experiment.cache_dir = std::string(FEDSIM_TEST_TMP_DIR) + "/" + cache;
    bool fresh = false, cached = false;
    sim::RunHooks hooks;
    hooks.log = [&](const std::string& line) {
      fresh = fresh || line.find("u2s: generator: built, cached at") != std::string::npos;
      cached = cached || line.find("u2s: generator: cached ") != std::string::npos;
    };
    sim::run_experiment(c, hooks);
    REQUIRE(fresh != cached);
    return fresh;
  };
  std::filesystem::remove_all(std::string(FEDSIM_TEST_TMP_DIR) + "/cache-gensel");
  CHECK(trained({"u2s.selection=retrieval"}, "cache-gensel"));
  CHECK_FALSE(trained({"u2s.selection=random"}, "cache-gensel"));
  CHECK_FALSE(trained({"u2s.selection=fixed"}, "cache-gensel"));
  CHECK(trained({"u2s.generator_selection=mixed"}, "cache-gensel"));
  CHECK_FALSE(trained({"u2s.generator_selection=mixed", "u2s.selection=random"}, "cache-gensel"));
}

TEST_CASE("u2s config errors name the key") {
  CHECK_THROWS_WITH_AS(sim::validate_experiment(short_config({"u2s.chunk_overlap=64"})), doctest::Contains("u2s.chunk_overlap"),
                       UserError);
  CHECK_THROWS_WITH_AS(sim::validate_experiment(short_config({"federation.sampling=fedllm-bench"})),
                       doctest::Contains("sampling"), UserError);
  CHECK_THROWS_WITH_AS(sim::validate_experiment(short_config({"u2s.docs_min=9"})), doctest::Contains("u2s.docs_min"), UserError);
  CHECK_THROWS_WITH_AS(sim::validate_experiment(short_config({"u2s.backend=model", "u2s.generator_heads=3"})),
                       doctest::Contains("u2s.generator_heads: 3 does not divide the generator width 64"), UserError);
  CHECK_THROWS_WITH_AS(sim::validate_experiment(short_config({"u2s.embedding=bert"})), doctest::Contains("u2s.embedding"), UserError);
}
