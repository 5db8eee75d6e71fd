// The open-ended evaluation through the fedsim binary: bad eval configs are exit 2 before any
// training, naming the key, file and line; a run stopped or killed while eval jobs are in flight
// resumes to the same results without paying the judge twice; `fedsim results summary` shows
// the final scores. The judge is tests/eval/run_judge.hpp on loopback, in this process.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <array>
#include <map>
#include <sstream>

#include "sim/config.hpp"
#include "sim/eval/eval_results.hpp"
#include "sim/experiment.hpp"
#include "sim/results.hpp"
#include "tests/eval/eval_run_util.hpp"
#include "tests/eval/run_judge.hpp"

using namespace fedsim;
using namespace fedsim::sim::eval;
using fedsim::test::error_of;
using fedsim::test::sample;

namespace {

struct Status {
  int code = -1;    // exit code, or 128 + the signal that ended it
  std::string err;  // its stderr
  std::string out;  // its stdout
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

Status fedsim_cli(const std::string& args, const std::string& fault = "") {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const std::string env = fault.empty() ? "" : "FEDSIM_FAULT=" + fault + " ";
  const int st = std::system((env + bin + " " + args + " >evalcli.out 2>evalcli.err").c_str());
  Status s;
  if (WIFEXITED(st)) s.code = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) s.code = 128 + WTERMSIG(st);
  s.err = slurp("evalcli.err");
  s.out = slurp("evalcli.out");
  return s;
}

std::string write_config(const std::string& name, const std::string& yaml) {
  std::ofstream(name) << yaml;
  return name;
}

void check_same_eval(const std::vector<EvalTables>& a, const std::vector<EvalTables>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    CAPTURE(a[k].name);
    REQUIRE(a[k].rounds.size() == b[k].rounds.size());
    for (size_t i = 0; i < a[k].rounds.size(); ++i) {
      const EvalRoundRow &x = a[k].rounds[i], &y = b[k].rounds[i];
      CHECK(fedsim::test::same_value(x.score, y.score));
      CHECK(x.judge_requests == y.judge_requests);
      CHECK(x.judge_cache_hits == y.judge_cache_hits);
      CHECK(x.start_s == y.start_s);
      CHECK(x.end_s == y.end_s);
      CHECK(x.generation_flops == y.generation_flops);
    }
    REQUIRE(a[k].items.size() == b[k].items.size());
    for (size_t i = 0; i < a[k].items.size(); ++i) {
      CHECK(a[k].items[i].answer == b[k].items[i].answer);
      CHECK(a[k].items[i].reply == b[k].items[i].reply);
      CHECK(a[k].items[i].cached == b[k].items[i].cached);
    }
  }
}

// No prompt that got a reply was asked again (failures may be).
void check_paid_once(fedsim::test::RunJudge& judge) {
  std::map<std::string, int> asked;
  for (const auto& s : judge.seen())
    if (s.delivered) asked[s.user] += 1;
  for (const auto& kv : asked) {  // (no structured binding: CAPTURE's lambda cannot capture one in C++17)
    CAPTURE(kv.first);
    CHECK(kv.second == 1);
  }
}

}  // namespace

TEST_CASE("eval config: each mistake names the key, the file and the line; fedsim validate exits 2") {
  const std::string ok = fedsim::test::eval_run_yaml("http://127.0.0.1:1/v1", "unused-cache.h5");
  auto err = [&](const std::vector<std::string>& set) {
    return error_of([&] { sim::validate_experiment(sim::parse_config(ok, "e.yaml", set)); });
  };
  CHECK(err({}) == "(no error)");
  const std::string bad = fedsim::test::scratch_file(
      "bad_vicuna.jsonl", "{\"question_id\": 1, \"category\": \"generic\", \"turns\": [\"Hi?\"]}\n{\"question_id\": 2,\n");
  CHECK(err({"eval.vicuna_questions=" + bad}).rfind("e.yaml: eval: vicuna: " + bad + ":2:", 0) == 0);
  CHECK(err({"eval.advbench=/no/such.csv"}) == "e.yaml: eval.advbench: /no/such.csv: no such file (advbench.csv)");
  CHECK(err({"eval.mtbench_questions="}) ==
        "e.yaml: eval.mtbench_questions: empty; eval.benchmarks lists mtbench, which needs MT-Bench question.jsonl");
  CHECK(err({"eval.mtbench_references=" + std::string(FEDSIM_EVAL_SAMPLES)}) ==
        "e.yaml: eval.mtbench_references: " + std::string(FEDSIM_EVAL_SAMPLES) +
            "/judge-x.jsonl: no such file; the folder holds the references by judge model (gpt-4.jsonl for judges "
            "named gpt-4*, else <eval.judge_model>.jsonl)");
  CHECK(err({"eval.benchmarks=[mtbench, bleu]"}) ==
        "--set eval.benchmarks=[mtbench, bleu]: eval.benchmarks: 'bleu' is not accepted; accepted: mtbench, vicuna, advbench, refer, aya");
  CHECK(err({"eval.temperature=-0.5"}) ==
        "e.yaml: eval.temperature: -0.5 is not accepted; accepted: -1 (upstream's) or 0 to 10");
  CHECK(err({"eval.every=-1"}) == "--set eval.every=-1: eval.every: -1 is out of range; accepted: 0 to 1000000");
  CHECK(err({"federation.trainer=none"}) ==
        "e.yaml: eval.benchmarks: answers need a model, but federation.trainer is none; accepted with eval: trainer "
        "model (or eval.benchmarks: [])");
  CHECK(err({"eval.judge_url="}) == "e.yaml: eval.judge_url: empty; every benchmark but advbench needs a judge");
  CHECK(err({"eval.judge_url=", "eval.benchmarks=[advbench]"}) == "(no error)");
  // Through the binary: exit 2 and the message, before anything is computed.
  const std::string cfg = write_config("eval-bad.yaml", ok);
  const Status v = fedsim_cli("validate " + cfg + " --set eval.vicuna_questions=" + bad);
  CHECK(v.code == 2);
  CHECK(v.err.find("eval-bad.yaml: eval: vicuna: " + bad + ":2:") != std::string::npos);
  std::filesystem::remove("eval-bad.h5");
  const Status r = fedsim_cli("run " + cfg + " --out eval-bad.h5 --set eval.judge_api_key_env=FEDSIM_TEST_NO_SUCH_KEY");
  CHECK(r.code == 2);
  CHECK(r.err.find("eval-bad.yaml: eval.judge_api_key_env: the environment variable FEDSIM_TEST_NO_SUCH_KEY is not "
                   "set") != std::string::npos);
  CHECK(r.err.find("round 1/") == std::string::npos);  // no round was trained
  CHECK_FALSE(std::filesystem::exists("eval-bad.h5"));
}

TEST_CASE("eval through the binary: resume with eval jobs in flight, the judge paid once, the summary") {
  fedsim::test::RunJudge judge;
  // Judge requests take 1000 simulated s, so the eval jobs of round 0 are still running when the
  // federation ends, and every checkpoint holds eval jobs in flight or waiting.
  auto config = [&](const std::string& name, const std::string& cache) {
    std::filesystem::remove(cache);
    return write_config(name, fedsim::test::eval_run_yaml(judge.url(), cache, /*checkpoint_every=*/1, 1000.0));
  };
  std::filesystem::remove_all("evalcli-ref");
  const std::string ref_cfg = config("evalcli-ref.yaml", "evalcli-ref-cache.h5");
  REQUIRE(fedsim_cli("run " + ref_cfg + " --out evalcli-ref/ref.h5").code == 0);
  const sim::RunResults want = sim::read_results("evalcli-ref/ref.h5");
  const std::vector<EvalTables> want_eval = read_eval("evalcli-ref/ref.h5");
  REQUIRE(want_eval.size() == 4);
  CHECK(want.timeline.back().end_s > 8000.0);  // the evaluation outlasts the federation
  CHECK(want.sim_total_s < 1000.0);

  SUBCASE("fedsim results summary shows each benchmark's last score") {
    const Status s = fedsim_cli("results summary evalcli-ref/ref.h5");
    REQUIRE(s.code == 0);
    CHECK(s.out.find("open-ended evaluation (last evaluated round):") != std::string::npos);
    // rated/all, unparsable and judge failures of the judge's failure modes (run_judge.hpp).
    const std::map<std::string, std::array<int, 4>> counts{
        {"mtbench", {6, 8, 0, 2}}, {"vicuna", {2, 3, 1, 0}}, {"advbench", {4, 4, 0, 0}}, {"refer", {2, 3, 0, 1}}};
    for (const EvalTables& t : want_eval) {
      const auto& n = counts.at(t.name);
      char score[32], cols[96];
      std::snprintf(score, sizeof score, "%.3f", t.rounds.back().score);
      const std::string rated = std::to_string(n[0]) + "/" + std::to_string(n[1]);
      std::snprintf(cols, sizeof cols, " %6d %7s %11s %9d %10d ", 3, score, rated.c_str(), n[2], n[3]);
      std::istringstream lines(s.out);
      std::string line, found;
      while (std::getline(lines, line))
        if (line.rfind("ref.h5", 0) == 0 && line.find(" " + t.name + " ") != std::string::npos) found = line;
      CAPTURE(t.name);
      CAPTURE(s.out);
      CHECK(found.find(cols) != std::string::npos);
      if (t.name == "mtbench") CHECK(found.find(" / ") != std::string::npos);  // two turn means
    }
  }

  const char* faults[] = {"term_after_events=8", "tail", "kill_in_checkpoint=2"};
  for (const char* f : faults) {
    std::string fault = f;
    if (fault == "tail") fault = "term_after_events=" + std::to_string(want.events + 3);  // only eval jobs left
    CAPTURE(fault);
    judge.clear();
    const std::string cfg = config("evalcli-resume.yaml", "evalcli-resume-cache.h5");
    const std::string out = "evalcli-resume.h5";
    std::filesystem::remove(out);
    std::filesystem::remove(out + ".ckpt");
    const Status first = fedsim_cli("run " + cfg + " --out " + out, fault);
    CHECK(first.code == 128 + (fault.rfind("term", 0) == 0 ? SIGTERM : SIGKILL));
    CHECK_FALSE(std::filesystem::exists(out));
    const Status second = fedsim_cli("run " + cfg + " --out " + out);
    REQUIRE(second.code == 0);
    CHECK(second.err.find("resuming from") != std::string::npos);
    const sim::RunResults got = sim::read_results(out);
    fedsim::test::check_same_run(want, got, /*wall=*/false);
    const std::vector<EvalTables> got_eval = read_eval(out);
    check_paid_once(judge);
    if (fault.rfind("term", 0) == 0) {
      // Stopped with eval jobs in flight: the checkpoint held their results, nothing is redone.
      check_same_eval(want_eval, got_eval);
      CHECK(got.timeline.size() == want.timeline.size());
      continue;
    }
    // Killed while writing the checkpoint after round 2: round 2 ran again from the checkpoint
    // of round 1 and its evaluation found every delivered judgment in the cache.
    REQUIRE(got_eval.size() == 4);
    for (size_t b = 0; b < 4; ++b) {
      CAPTURE(got_eval[b].name);
      const EvalRoundRow &x = want_eval[b].rounds[1], &y = got_eval[b].rounds[1];
      REQUIRE(y.round == 2);
      CHECK(y.score == x.score);
      CHECK(y.judge_requests == x.endpoint_errors + x.malformed_replies);
      CHECK(y.judge_cache_hits == x.judge_cache_hits + x.judge_requests - y.judge_requests);
      CHECK(y.judge_s == doctest::Approx(1000.0 * static_cast<double>(y.judge_requests)));
      for (size_t k : {size_t{0}, size_t{2}}) CHECK(want_eval[b].rounds[k].score == got_eval[b].rounds[k].score);
      REQUIRE(want_eval[b].items.size() == got_eval[b].items.size());
      for (size_t i = 0; i < want_eval[b].items.size(); ++i) {
        CHECK(want_eval[b].items[i].answer == got_eval[b].items[i].answer);
        CHECK(want_eval[b].items[i].score == got_eval[b].items[i].score);
        CHECK(want_eval[b].items[i].verdict == got_eval[b].items[i].verdict);
      }
    }
  }
}
