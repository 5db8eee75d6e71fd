// /eval/<benchmark>/ in the results file: the column descriptors round-trip through a results
// file, experiments/RESULTS.md lists exactly their columns, and a bad file is a UserError.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "common/h5.hpp"
#include "sim/eval/eval_results.hpp"
#include "sim/results.hpp"
#include "tests/eval/eval_test_util.hpp"
#include "tests/sim/results_check.hpp"

using namespace fedsim;
using namespace fedsim::sim::eval;
using fedsim::test::documented;
using fedsim::test::names_of;

namespace {

std::string results_with(const std::vector<EvalTables>& t, const std::string& name) {
  sim::RunResults r;
  r.fedsim_version = "test";
  r.rounds.resize(1);
  r.write_extra.push_back([t](const h5::Group& root) { write_eval(root, "judge-x", t); });
  const std::string path = fedsim::test::scratch_file(name, "");
  sim::write_results(r, path);
  return path;
}

}  // namespace

TEST_CASE("eval tables: a results file keeps every field of /eval, NaN and non-UTF-8 answers included") {
  BenchmarkResult r;
  r.name = "mtbench";
  r.score = 6.5;
  r.mean_rated = 6.5;
  r.categories = {{"writing", 6.5, 2}, {"math", std::nan(""), 0}};
  r.turn_means = {7.0, 6.0};
  r.judgments = 3;
  r.rated = 2;
  r.endpoint_errors = 1;
  r.cost.judge_requests = 2;
  r.cost.judge_cache_hits = 1;
  r.cost.prompt_tokens = 40;
  r.cost.generated_tokens = 9;
  Judgment a;
  a.question_id = 81;
  a.category = "writing";
  a.score = 7;
  a.answer = "caf\xE9 \x80!";  // Latin-1 bytes: not UTF-8
  a.reply = "Rating: [[7]]";
  Judgment b = a;
  b.turn = 2;
  b.score = 6;
  b.cached = true;
  Judgment c;
  c.question_id = 111;
  c.category = "math";
  c.verdict = Verdict::endpoint_error;
  c.reply = "HTTP 500";
  r.items = {a, b, c};
  EvalRecord rec;
  rec.round = 4;
  rec.start_s = 12.5;
  rec.end_s = 20.0;
  rec.generation_flops = 3e9;
  rec.generation_s = 2.5;
  rec.judge_s = 5.0;
  rec.result = r;
  const EvalTables t = eval_tables("mtbench", BenchmarkKind::mtbench, 2, {rec});
  const EvalTables empty = eval_tables("advbench", BenchmarkKind::advbench, 5, {});
  const std::vector<EvalTables> got = read_eval(results_with({t, empty}, "tables.h5"));
  REQUIRE(got.size() == 2);
  CHECK(got[0].name == "mtbench");
  CHECK(got[1].name == "advbench");
  CHECK(got[1].kind == BenchmarkKind::advbench);
  CHECK(got[1].rounds.empty());
  REQUIRE(got[0].rounds.size() == 1);
  const EvalRoundRow& x = got[0].rounds[0];
  CHECK(x.round == 4);
  CHECK(x.start_s == 12.5);
  CHECK(x.end_s == 20.0);
  CHECK(x.generation_s == 2.5);
  CHECK(x.judge_s == 5.0);
  CHECK(x.score == 6.5);
  CHECK(x.questions == 2);
  CHECK(x.judgments == 3);
  CHECK(x.rated == 2);
  CHECK(x.endpoint_errors == 1);
  CHECK(x.judge_requests == 2);
  CHECK(x.judge_cache_hits == 1);
  CHECK(x.prompt_tokens == 40);
  CHECK(x.generated_tokens == 9);
  CHECK(x.generation_flops == 3e9);
  REQUIRE(got[0].categories.size() == 2);
  CHECK(got[0].categories[0].category == "writing");
  CHECK(got[0].categories[0].mean == 6.5);
  CHECK(std::isnan(got[0].categories[1].mean));
  REQUIRE(got[0].turns.size() == 2);
  CHECK(got[0].turns[1].turn == 2);
  CHECK(got[0].turns[1].mean == 6.0);
  REQUIRE(got[0].items.size() == 3);
  CHECK(got[0].items[0].answer == "caf\xE9 \x80!");
  CHECK(got[0].items[0].question_id == 81);
  CHECK(got[0].items[1].turn == 2);
  CHECK(got[0].items[1].cached == 1);
  CHECK(got[0].items[2].verdict == static_cast<int32_t>(Verdict::endpoint_error));
  CHECK(got[0].items[2].score == -1.0);
  CHECK(got[0].items[2].reply == "HTTP 500");
  for (const auto& i : got[0].items) CHECK(i.round == 4);
  // A run without evaluation has no /eval.
  CHECK(read_eval(results_with({}, "none.h5")).size() == 0);
}

TEST_CASE("eval tables: a verdict outside verdict_names or a table of the wrong length is a UserError") {
  EvalTables t = eval_tables("vicuna", BenchmarkKind::vicuna, 1, {});
  t.items.push_back({0, 1, 1, "generic", 5.0, 9, 0, "a", "r"});
  const std::string path = results_with({t}, "bad-verdict.h5");
  CHECK(fedsim::test::error_of([&] { read_eval(path); }) ==
        path + ":/eval/vicuna/items/verdict: 9 is not an index into verdict_names");
  {
    const h5::File f = h5::File::open_read(path);
    CHECK(f.root().open_group("eval").attr_string("judge_model") == "judge-x");
  }
  // /eval/refer/turns with a `turn` column one value short of `round`.
  const std::string p2 = fedsim::test::scratch_file("bad-length.h5", "");
  {
    h5::AtomicFile out(p2);
    h5::write_header(out.root(), sim::kResultsKind, sim::kResultsFormatVersion);
    write_eval(out.root(), "judge-x", {eval_tables("refer", BenchmarkKind::refer, 1, {})});
    const h5::Group turns = out.root().open_group("eval").open_group("refer").open_group("turns");
    H5Ldelete(turns.id(), "round", H5P_DEFAULT);
    H5Ldelete(turns.id(), "turn", H5P_DEFAULT);
    turns.write("round", std::vector<int64_t>{0, 0});
    turns.write("turn", std::vector<int32_t>{1});
    out.commit();
  }
  CHECK(fedsim::test::error_of([&] { read_eval(p2); }) == p2 + ":/eval/refer/turns/turn: expected 2 values, got 1");
}

TEST_CASE("eval tables: experiments/RESULTS.md lists exactly the columns of /eval/<name>/ tables") {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src != nullptr);
  std::ifstream in(std::string(src) + "/experiments/RESULTS.md");
  const std::string md((std::istreambuf_iterator<char>(in)), {});
  CHECK(documented(md, "#### `/eval/<name>/rounds`") == names_of(eval_rounds_table()));
  CHECK(documented(md, "#### `/eval/<name>/categories`") == names_of(eval_categories_table()));
  CHECK(documented(md, "#### `/eval/<name>/turns`") == names_of(eval_turns_table()));
  CHECK(documented(md, "#### `/eval/<name>/items`") == names_of(eval_items_table()));
}
