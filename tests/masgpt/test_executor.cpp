// Executor: prompts, voting, accounting, and the counted outcomes (malformed, over the limits,
// failing endpoint, timeout) that send a query to the fallback. The LLM is a rule-based fake
// whose answers are known, so every number is exact.
#include <doctest/doctest.h>

#include <string>

#include "fake_llm.hpp"
#include "sim/masgpt/executor.hpp"
#include "sim/masgpt/library.hpp"

using namespace fedsim::sim;
using namespace fedsim::sim::masgpt;
using fedsim::test::FakeLlm;

namespace {

ExecConfig cfg() {
  ExecConfig c;
  c.flops_per_token = 1e6;
  c.server_flops = 1e9;  // 1 ms per token
  return c;
}

}  // namespace

TEST_CASE("masgpt executor: prompts and majority vote") {
  Agent a;
  a.instruction = "fix";
  CHECK(agent_prompt(a, "add: 1+2", {"3", "4"}) == "fix add: 1+2 | 3 | 4");
  CHECK(agent_prompt(a, "add: 1+2", {}) == "fix add: 1+2");
  CHECK(majority({"a", "b", "b", "a"}) == "a");  // tie: seen first
  CHECK(majority({"", "", "b"}) == "b");           // empty answers do not vote
  CHECK(majority({"", ""}) == "");
  CHECK(majority({"x", "y", "y"}) == "y");
}

TEST_CASE("masgpt executor: every base MAS on easy and hard queries, with exact accounting") {
  FakeLlm llm;
  const std::vector<std::string> q{"upper: abc", "reverse: zoo"};  // right, wrong
  const MasLimits lim;
  for (const BaseMas& b : base_library()) {
    CAPTURE(b.name);
    const Mas m = parse_mas(b.text, lim);
    const std::vector<QueryRun> runs = execute_same(m, q, llm, cfg());
    CHECK(runs[0].answer == "ABC");
    CHECK(runs[1].answer != "ooz");
    for (const QueryRun& r : runs) {
      CHECK(r.outcome == Outcome::ok);
      CHECK(!r.fell_back);
      CHECK(r.calls == m.calls());
      CHECK(r.sim_seconds == doctest::Approx(1e-3 * static_cast<double>(r.prompt_tokens + r.completion_tokens)));
    }
  }
  // single on "upper: abc": prompt "solve upper: abc" (16 bytes + 3), answer "ABC" + EOS.
  const std::vector<QueryRun> r = execute_same(parse_mas("agent a : solve\nanswer a", lim), {"upper: abc"}, llm, cfg());
  CHECK(r[0].prompt_tokens == 19);
  CHECK(r[0].completion_tokens == 4);
  // refine: solve, check "ok", fix given both: the fix prompt carries the draft and the verdict.
  const std::vector<QueryRun> rf = execute_same(parse_mas(base_mas("refine", "t").text, lim), {"first: dog"}, llm, cfg());
  CHECK(rf[0].answer == "d");
  CHECK(rf[0].calls == 3);
}

TEST_CASE("masgpt executor: malformed and over-limit MAS are counted and fall back to self-consistency") {
  FakeLlm llm;
  const std::vector<std::string> texts{"agent a : solve\nanswer a", "agent a tmp=2 : solve\nanswer a",
                                       "agent a x8 : solve\nagent b x8 : solve\nanswer vote a,b", ""};
  const std::vector<std::string> q(4, "last: cat");
  const std::vector<QueryRun> runs = execute_texts(texts, q, llm, cfg());
  CHECK(runs[0].outcome == Outcome::ok);
  CHECK(runs[0].calls == 1);
  CHECK(runs[1].outcome == Outcome::malformed);
  CHECK(runs[2].outcome == Outcome::over_limits);
  CHECK(runs[3].outcome == Outcome::malformed);
  for (size_t i = 1; i < 4; ++i) {
    CHECK(runs[i].fell_back);
    CHECK(!runs[i].fallback_failed);
    CHECK(runs[i].calls == 6);  // nothing ran before the fallback's 5 + 1 calls
    CHECK(runs[i].answer == "t");
  }
  CHECK(llm.requests == 1 + 3 * 6);
}

TEST_CASE("masgpt executor: a failing endpoint is counted; the fallback runs, and its failure too") {
  FakeLlm llm;
  llm.fail_roles = "solve";
  const Mas single = parse_mas("agent a : solve\nanswer a", {});
  std::vector<QueryRun> runs = execute_same(single, {"upper: ab"}, llm, cfg());
  CHECK(runs[0].outcome == Outcome::endpoint_failed);
  CHECK(runs[0].fell_back);
  CHECK(!runs[0].fallback_failed);  // the fallback thinks and picks: no solve calls
  CHECK(runs[0].answer == "AB");
  CHECK(runs[0].calls == 1 + 6);
  llm.fail_roles = "solve think";
  runs = execute_same(single, {"upper: ab"}, llm, cfg());
  CHECK(runs[0].outcome == Outcome::endpoint_failed);
  CHECK(runs[0].fallback_failed);
  CHECK(runs[0].answer == "");
  CHECK(runs[0].calls == 1 + 5);  // the fallback's pick never ran
  ExecConfig no_fb = cfg();
  no_fb.fallback = false;
  runs = execute_same(single, {"upper: ab"}, llm, no_fb);
  CHECK(runs[0].fallback_failed);
  CHECK(!runs[0].fell_back);
  CHECK(runs[0].calls == 1);
}

TEST_CASE("masgpt executor: the per-query time limit stops a MAS and counts a timeout") {
  FakeLlm llm;
  ExecConfig c = cfg();
  // single: 19 + 4 tokens = 23 ms; two agents: 23 + 27 ms; the fallback: 5 x 30 ms in its first step.
  c.time_limit_s = 0.030;
  std::vector<QueryRun> runs = execute_same(parse_mas("agent a : solve\nanswer a", {}), {"upper: abc"}, llm, c);
  CHECK(runs[0].outcome == Outcome::ok);
  runs = execute_same(parse_mas("agent a : solve\nagent b from=a : fix\nanswer b", {}), {"upper: abc"}, llm, c);
  CHECK(runs[0].outcome == Outcome::timeout);
  CHECK(runs[0].fell_back);
  CHECK(runs[0].fallback_failed);  // the fallback's calls run out of time as well
  CHECK(runs[0].answer == "");
}

TEST_CASE("masgpt executor: the flaky backend fails a deterministic share of calls") {
  FakeLlm llm;
  auto flaky = make_flaky_backend(llm, 1.0, 7);
  const std::vector<QueryRun> runs = execute_same(parse_mas("agent a : solve\nanswer a", {}), {"upper: ab", "first: cd"}, *flaky, cfg());
  for (const QueryRun& r : runs) {
    CHECK(r.outcome == Outcome::endpoint_failed);
    CHECK(r.fallback_failed);
  }
  CHECK(llm.requests == 0);
  auto half = make_flaky_backend(llm, 0.5, 7);
  std::vector<std::string> q(200, "upper: ab");
  int failed = 0;
  for (const QueryRun& r : execute_same(parse_mas("agent a : solve\nanswer a", {}), q, *half, cfg()))
    failed += r.outcome == Outcome::endpoint_failed ? 1 : 0;
  CHECK(failed > 70);
  CHECK(failed < 130);
}
