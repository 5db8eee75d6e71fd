// The open-ended evaluation inside a run (in process): a nano model trained for three rounds,
// evaluated after rounds 0, 2 and 3 on the repository's samples by a judge on loopback
// (tests/eval/run_judge.hpp: ratings keyed by the answer, failure modes keyed by the question).
// Every number of /eval is recomputed here from the answers the run wrote and the judge's rule;
// the eval jobs of /timeline sit where the schedule puts them; the training results equal those
// of the same run without evaluation; a second run on the filled cache asks only what failed.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "models/model.hpp"
#include "sim/config.hpp"
#include "sim/eval/eval.hpp"
#include "sim/eval/eval_results.hpp"
#include "sim/experiment.hpp"
#include "sim/results.hpp"
#include "tests/eval/eval_run_util.hpp"
#include "tests/eval/run_judge.hpp"

using namespace fedsim;
using namespace fedsim::sim::eval;
using fedsim::test::answer_rating;

namespace {

sim::RunHooks pinned() {
  sim::RunHooks h;
  h.wall_clock = [] { return 0.0; };
  h.peak_rss_mb = [] { return 0.0; };
  return h;
}

std::string tmp(const std::string& name) {
  std::filesystem::create_directories(FEDSIM_TEST_TMP_DIR);
  return std::string(FEDSIM_TEST_TMP_DIR) + "/" + name;
}

// The run's /eval, through the results file.
std::vector<EvalTables> eval_of_run(const sim::RunResults& r, const std::string& name) {
  const std::string path = tmp(name);
  sim::write_results(r, path);
  return read_eval(path);
}

double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? std::nan("") : s / static_cast<double>(v.size());
}

// What the judge does with an item (run_judge.hpp): the verdict and score fedsim must record.
Verdict expected_verdict(const std::string& bench, int64_t id) {
  if (bench == "mtbench" && id == 4) return Verdict::endpoint_error;  // "Why is the sky blue?"
  if (bench == "vicuna" && id == 3) return Verdict::unparsable;       // "How can I sleep better?"
  if (bench == "refer" && id == 3) return Verdict::malformed_reply;   // "Give a synonym of quick."
  return Verdict::rated;
}

}  // namespace

TEST_CASE("eval in a run: /eval by hand, /timeline eval jobs, training unchanged, the cache across runs") {
  fedsim::test::RunJudge judge;
  const std::string cache = tmp("run-judge-cache.h5");
  std::filesystem::remove(cache);
  const std::string yaml = fedsim::test::eval_run_yaml(judge.url(), cache);
  const sim::ExperimentConfig c = sim::parse_config(yaml, "evalrun.yaml");
  const sim::RunResults run = sim::run_experiment(c, pinned());
  const std::vector<EvalTables> ev = eval_of_run(run, "evalrun.h5");
  REQUIRE(ev.size() == 4);
  const std::vector<std::string> names{"mtbench", "vicuna", "advbench", "refer"};
  const double flops_per_token = models::forward_flops_per_token(sim::model_config(c));

  // Expected items: per benchmark, the judgments per evaluation and their verdicts.
  const std::map<std::string, int64_t> judgments{{"mtbench", 8}, {"vicuna", 3}, {"advbench", 4}, {"refer", 3}};
  int64_t requests_total = 0;
  for (size_t b = 0; b < ev.size(); ++b) {
    const EvalTables& t = ev[b];
    CAPTURE(t.name);
    CHECK(t.name == names[b]);
    REQUIRE(t.rounds.size() == 3);
    // A judgment is cached when the same prompt (question, turn, the answers it shows) got a
    // reply earlier in the run; only delivered replies (rated or unparsable) are kept.
    std::set<std::string> delivered;
    std::map<std::pair<int64_t, int64_t>, std::string> turn1;  // (round, question) -> answer 1
    for (const EvalItemRow& i : t.items)
      if (i.turn == 1) turn1[{i.round, i.question_id}] = i.answer;
    for (size_t k = 0; k < 3; ++k) {
      const EvalRoundRow& r = t.rounds[k];
      CAPTURE(r.round);
      CHECK(r.round == std::vector<int64_t>{0, 2, 3}[k]);
      std::vector<double> rated, turn_rated[2];
      std::map<std::string, std::vector<double>> by_category;
      int64_t n = 0, cached = 0, unparsable = 0, errors = 0, malformed = 0, out_tokens = 0;
      for (const EvalItemRow& i : t.items) {
        if (i.round != r.round) continue;
        ++n;
        const Verdict want = t.name == "advbench" ? Verdict::rated : expected_verdict(t.name, i.question_id);
        CHECK(i.verdict == static_cast<int32_t>(want));
        const double score = t.name == "advbench" ? (refuses(i.answer) ? 1.0 : 0.0)
                             : want == Verdict::rated ? answer_rating(i.answer)
                                                      : -1.0;
        CHECK(i.score == score);
        if (want == Verdict::rated) {
          rated.push_back(score);
          turn_rated[i.turn - 1].push_back(score);
          by_category[i.category].push_back(score);
        }
        unparsable += want == Verdict::unparsable;
        errors += want == Verdict::endpoint_error;
        malformed += want == Verdict::malformed_reply;
        // One token per byte, plus EOS unless the answer reached eval.max_new_tokens (8): the
        // prompts here are short, so the context never fills first.
        out_tokens += static_cast<int64_t>(i.answer.size()) + (i.answer.size() < 8 ? 1 : 0);
        if (t.name != "advbench") {
          const std::string key = std::to_string(i.question_id) + "|" + std::to_string(i.turn) + "|" +
                                  (i.turn == 2 ? turn1[{i.round, i.question_id}] + "|" : "") + i.answer;
          const bool hit = delivered.count(key) > 0;
          CHECK(i.cached == (hit ? 1 : 0));
          cached += hit;
          if (want == Verdict::rated || want == Verdict::unparsable) delivered.insert(key);
        }
      }
      CHECK(n == judgments.at(t.name));
      CHECK(r.judgments == n);
      CHECK(r.questions == (t.name == "mtbench" ? 4 : t.name == "advbench" ? 4 : 3));
      CHECK(r.rated == static_cast<int64_t>(rated.size()));
      CHECK(r.unparsable == unparsable);
      CHECK(r.endpoint_errors == errors);
      CHECK(r.malformed_replies == malformed);
      CHECK(r.timeouts == 0);
      CHECK(r.answer_failures == 0);
      CHECK(r.judge_cache_hits == cached);
      CHECK(r.judge_requests == (t.name == "advbench" ? 0 : n - cached));
      requests_total += r.judge_requests;
      // The figure upstream reports: Vicuna counts an unparsable reply as -1.
      double sum = 0.0;
      for (double x : rated) sum += x;
      const double score = t.name == "vicuna" ? (sum - 1.0) / static_cast<double>(rated.size() + 1) : mean(rated);
      CHECK(r.score == doctest::Approx(score).epsilon(1e-12));
      CHECK(r.mean_rated == doctest::Approx(mean(rated)).epsilon(1e-12));
      size_t turns = 0;
      for (const EvalTurnRow& x : t.turns)
        if (x.round == r.round) {
          CHECK(x.mean == doctest::Approx(mean(turn_rated[x.turn - 1])).epsilon(1e-12));
          ++turns;
        }
      CHECK(turns == (t.name == "mtbench" ? 2u : 1u));
      for (const EvalCategoryRow& x : t.categories)
        if (x.round == r.round) {
          CAPTURE(x.category);
          CHECK(x.rated == static_cast<int64_t>(by_category[x.category].size()));
          if (x.rated > 0) CHECK(x.mean == doctest::Approx(mean(by_category[x.category])).epsilon(1e-12));
          if (x.rated == 0) CHECK(std::isnan(x.mean));
        }
      // Tokens as the model backend counts them: BOS INST prompt RESP (the prompt in bytes,
      // at most the context 64 - 4), then the answer and EOS (none at the limit), for the
      // benchmarks whose answers are kept unstripped. AdvBench's prompt is the goal + ".".
      if (t.name == "vicuna") CHECK(r.prompt_tokens == (28 + 3) + (27 + 3) + (23 + 3));
      if (t.name == "advbench") CHECK(r.prompt_tokens == (27 + 3) + (27 + 3) + (19 + 3) + (23 + 3));
      if (t.name != "mtbench") CHECK(r.generated_tokens == out_tokens);
      // Costs: generation FLOPs over the server's speed, plus the judge's latency per request.
      const double flops = static_cast<double>(r.prompt_tokens + r.generated_tokens) * flops_per_token;
      CHECK(r.generation_flops == doctest::Approx(flops).epsilon(1e-12));
      CHECK(r.generation_s == doctest::Approx(flops / 1e7).epsilon(1e-12));
      CHECK(r.judge_s == doctest::Approx(2.5 * static_cast<double>(r.judge_requests)).epsilon(1e-12));
    }
  }
  // Every request the judge saw was one the results count (no retries: judge_retries 0).
  CHECK(static_cast<int64_t>(judge.seen().size()) == requests_total);

  // /timeline: one server eval job per (round, benchmark), in the server's FIFO order; the first
  // of a round starts when the round ended or when the previous job ended, whichever is later.
  std::vector<sim::TimelineEntry> jobs;
  for (const auto& t : run.timeline)
    if (t.kind == 3) jobs.push_back(t);
  REQUIRE(jobs.size() == 12);
  double free_at = 0.0;
  for (size_t k = 0; k < 12; ++k) {
    const EvalRoundRow& r = ev[k % 4].rounds[k / 4];
    CAPTURE(k);
    CHECK(jobs[k].client == -1);
    CHECK(jobs[k].end == 0);  // done
    CHECK(jobs[k].round == r.round);
    const double ready = run.rounds[static_cast<size_t>(r.round)].sim_time_s;
    CHECK(jobs[k].start_s == doctest::Approx(std::max(ready, free_at)).epsilon(1e-12));
    CHECK(jobs[k].end_s - jobs[k].start_s == doctest::Approx(r.generation_s + r.judge_s).epsilon(1e-6));
    CHECK(r.start_s == jobs[k].start_s);
    CHECK(r.end_s == jobs[k].end_s);
    free_at = jobs[k].end_s;
  }
  CHECK(run.timeline.back().end_s == free_at);  // the last evaluation ends the simulation...
  CHECK(run.sim_total_s < free_at);             // ...after the federation's end (sim_total_s)

  SUBCASE("the training results equal those of the same run without evaluation") {
    const sim::ExperimentConfig off = sim::parse_config(yaml, "evalrun.yaml", {"eval.benchmarks=[]"});
    const sim::RunResults plain = sim::run_experiment(off, pinned());
    fedsim::test::check_same_run(run, plain, /*wall=*/true);
    for (const auto& t : plain.timeline) CHECK(t.kind != 3);
    CHECK(eval_of_run(plain, "plain.h5").empty());
  }
  SUBCASE("a second run on the filled cache asks the judge only what failed, with the same scores") {
    judge.clear();
    const sim::RunResults again = sim::run_experiment(c, pinned());
    const std::vector<EvalTables> ev2 = eval_of_run(again, "evalrun-again.h5");
    REQUIRE(ev2.size() == 4);
    for (size_t b = 0; b < 4; ++b)
      for (size_t k = 0; k < 3; ++k) {
        const EvalRoundRow &x = ev[b].rounds[k], &y = ev2[b].rounds[k];
        CHECK(fedsim::test::same_value(x.score, y.score));
        CHECK(y.judge_requests == y.endpoint_errors + y.malformed_replies);  // failures are asked again
        CHECK(y.judge_cache_hits == y.rated + y.unparsable - (ev[b].name == "advbench" ? y.rated : 0));
      }
    CHECK(judge.seen().size() == 3 * (2 + 1));  // per evaluation: MT-Bench question 4's two turns, refer's item 3
    fedsim::test::check_same_run(run, again, /*wall=*/true);
  }
}
