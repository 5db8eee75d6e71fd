// Data construction (query pool, role data, inter- and intra-consistency, the HDF5 data set) and
// a small end-to-end run of the whole pipeline from a config.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "common/error.hpp"
#include "datasets/dataset.hpp"
#include "fake_llm.hpp"
#include "sim/config.hpp"
#include "sim/masgpt/construct.hpp"
#include "sim/masgpt/library.hpp"
#include "sim/masgpt/masgpt.hpp"

using namespace fedsim::sim;
using namespace fedsim::sim::masgpt;
using fedsim::UserError;

namespace {

std::string temp_dir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("fedsim-masgpt-" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

std::string error_of(const std::vector<std::string>& specs) {
  try {
    parse_query_sets(specs);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("masgpt queries: sets, verifiable answers, determinism") {
  const std::vector<QuerySet> sets = parse_query_sets({"a=upper+add", "b=sort"});
  REQUIRE(sets.size() == 2);
  CHECK(family_names(sets) == std::vector<std::string>{"upper", "add", "sort"});
  const std::vector<Query> q = make_queries(sets, 7, 3, 0);
  REQUIRE(q.size() == 21);
  for (const Query& x : q) CHECK(x.answer == fedsim::datasets::solve_task(family_names(sets)[static_cast<size_t>(x.family)], x.text));
  CHECK(q[7].text.rfind("add: ", 0) == 0);
  CHECK(q[7].set == 0);
  CHECK(q[14].set == 1);
  CHECK(make_queries(sets, 7, 3, 0)[5].text == q[5].text);
  CHECK(make_queries(sets, 7, 3, 1)[5].text != q[5].text);  // another pool, other queries
  CHECK(error_of({"a=upper", "b=upper"}).find("appears in two sets") != std::string::npos);
  CHECK(error_of({"a=uper"}) .find("unknown task family 'uper'") != std::string::npos);
  CHECK(error_of({"noequals"}).find("is not name=family+family") != std::string::npos);
}

TEST_CASE("masgpt agents' LLM data: every role example is well formed") {
  const std::vector<Query> q = make_queries(parse_query_sets({"x=reverse+add+length"}), 20, 1, 2);
  fedsim::Rng rng(5);
  int roles[5] = {0, 0, 0, 0, 0};
  const char* names[5] = {"solve ", "think ", "check ", "fix ", "pick "};
  for (int i = 0; i < 2000; ++i) {
    const Query& x = q[static_cast<size_t>(i) % q.size()];
    const auto [prompt, target] = role_example(x, rng);
    CHECK(prompt.size() + target.size() + 4 <= 160);
    int r = -1;
    for (int k = 0; k < 5; ++k)
      if (prompt.rfind(names[k], 0) == 0) r = k;
    REQUIRE(r >= 0);
    ++roles[r];
    if (r == 0 || r >= 3) CHECK(target == x.answer);
    if (r == 1) CHECK(extract_answer(target) == x.answer);
    if (r == 2) CHECK((target == "ok") == (prompt.substr(prompt.rfind(" | ") + 3) == x.answer));
  }
  for (int n : roles) CHECK(n > 100);
}

TEST_CASE("masgpt construction: inter-consistency picks the best MAS per family; intra keeps non-drops") {
  fedsim::test::FakeLlm llm;
  llm.solve_blind = "sort";  // only MAS that think get sort right
  const std::vector<QuerySet> sets = parse_query_sets({"s1=upper", "s2=sort"});
  const std::vector<Query> q = make_queries(sets, 10, 1, 0);
  ExecConfig exec;
  exec.flops_per_token = 1.0;
  ConstructConfig cc{base_names(), fedsim::sim::InterGroups::family, true, 9};
  const MasDataset d = construct(sets, q, llm, exec, cc, nullptr);
  REQUIRE(d.chosen.size() == 20);
  // upper: every MAS ties, single is among the cheapest and first; sort: cot (1 call) is right
  // wherever anything is, and cheaper than sc and agentverse.
  for (size_t i = 0; i < 10; ++i) CHECK(d.base[static_cast<size_t>(d.chosen[i])] == "single");
  for (size_t i = 10; i < 20; ++i) CHECK(d.base[static_cast<size_t>(d.chosen[i])] == "cot");
  const size_t nb = d.base.size();
  int64_t single_sort = 0, cot_sort = 0;
  for (size_t i = 10; i < 20; ++i) {
    single_sort += d.scores[i * nb + 0];
    cot_sort += d.scores[i * nb + 1];
  }
  CHECK(single_sort == 0);
  CHECK(cot_sort > 0);
  // Adjustments of single and cot apply only as solve <-> think (kind 0). For upper both score
  // the same, so every tried one is kept; for sort, cot -> single drops a right answer.
  int64_t kept_upper = 0, tried = d.adjustments_tried;
  CHECK(tried > 0);
  for (size_t i = 0; i < 20; ++i) {
    if (!d.adjusted[i]) {
      CHECK(d.mas[i] == base_mas(d.base[static_cast<size_t>(d.chosen[i])], "t").text);
      continue;
    }
    if (i < 10) {
      CHECK(d.mas[i] == "agent a n=32 : think\nanswer a\n");
      ++kept_upper;
    } else {
      CHECK(d.scores[i * nb + 1] == 0);  // kept only where cot was wrong anyway
    }
  }
  CHECK(kept_upper > 0);

  const std::string path = temp_dir("data") + "/d.h5";
  write_mas_dataset(d, path);
  const MasDataset r = read_mas_dataset(path);
  CHECK(r.mas == d.mas);
  CHECK(r.scores == d.scores);
  CHECK(r.chosen == d.chosen);
  CHECK(r.adjusted == d.adjusted);
  CHECK(r.adjustments_tried == d.adjustments_tried);
  CHECK(r.queries.size() == d.queries.size());
  CHECK(r.queries[13].text == d.queries[13].text);
  CHECK(r.queries[13].answer == d.queries[13].answer);
  CHECK(training_pairs(r)[3] == std::make_pair(d.queries[3].text, d.mas[3]));
  CHECK_THROWS_AS(read_masgpt_results(path), UserError);  // a data set is not a results file
}

TEST_CASE("masgpt config: configs/masgpt.yaml loads and bad keys are named") {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src != nullptr);
  const ExperimentConfig c = load_config(std::string(src) + "/configs/masgpt.yaml");
  CHECK(masgpt_of(c).mode);
  CHECK(masgpt_of(c).base.size() == 7);
  CHECK(c.model.seq_len == 192);
  CHECK_THROWS_WITH_AS(parse_config("masgpt:\n  base: [single, swarm]\n", "t.yaml"),
                       doctest::Contains("masgpt.base"), UserError);
  CHECK_THROWS_WITH_AS(parse_config("masgpt:\n  max_calls: 3\n", "t.yaml"), doctest::Contains("max_calls"), UserError);
}

TEST_CASE("masgpt pipeline: a tiny run end to end, and its results file") {
  const std::string dir = temp_dir("run");
  ExperimentConfig c = parse_config(
      "experiment:\n  seed: 3\n  cache_dir: " + dir + "/cache\nmodel:\n  seq_len: 192\nmasgpt:\n  mode: on\n  out: " + dir +
          "/r.h5\n  query_sets: [a=upper, b=add]\n  train_per_family: 3\n  test_per_family: 2\n  agents_steps: 8\n"
          "  generator_steps: 3\n  time_limit_s: 0\n  fail_prob: 0.2\n",
      "t.yaml");
  const MasgptResults r = run_masgpt(c, nullptr);
  REQUIRE(r.rows.size() == 8);
  CHECK(r.rows.back().name == "mas-gpt");
  CHECK(r.queries == 4);
  int64_t total = 0;
  for (int64_t n : r.outcomes) total += n;
  CHECK(total == 4);
  CHECK(r.fallbacks == 4 - r.outcomes[0]);
  CHECK(r.generated.size() == 4);
  CHECK(r.timeline.size() == 8);  // a generate and an eval job per query
  CHECK(r.makespan_s > 0.0);
  CHECK(std::filesystem::exists(r.data_path));
  CHECK(read_mas_dataset(r.data_path).queries.size() == 6);
  write_masgpt_results(r, dir + "/r.h5");
  const MasgptResults back = read_masgpt_results(dir + "/r.h5");
  CHECK(back.rows.size() == 8);
  CHECK(back.rows[2].accuracy == r.rows[2].accuracy);
  CHECK(back.rows[2].calls_per_query == r.rows[2].calls_per_query);
  CHECK(back.outcomes == r.outcomes);
  CHECK(back.generated == r.generated);
  CHECK(format_table(back).find("mas-gpt") != std::string::npos);
  // Same config and seed, same bits (models come from the cache the first run filled).
  const MasgptResults again = run_masgpt(c, nullptr);
  CHECK(again.generated == r.generated);
  CHECK(again.answers == r.answers);
  CHECK(again.rows[6].average == r.rows[6].average);
}
