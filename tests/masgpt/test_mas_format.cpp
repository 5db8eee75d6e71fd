// MAS text format: the base library parses, round-trips and costs what FORMAT.md says; every
// malformed or over-limit text is rejected with its kind and line.
#include <doctest/doctest.h>

#include <string>

#include "sim/masgpt/library.hpp"
#include "sim/masgpt/mas.hpp"

using namespace fedsim::sim::masgpt;

namespace {

struct Err {
  std::string kind;
  int line = -1;
  std::string what;
};

Err error_of(const std::string& text, const MasLimits& lim = {}) {
  try {
    parse_mas(text, lim);
  } catch (const MasError& e) {
    return {e.kind() == MasError::Kind::malformed ? "malformed" : "over_limits", e.line(), e.what()};
  }
  return {"none", -1, ""};
}

}  // namespace

TEST_CASE("masgpt format: every base MAS parses, round-trips and has the published size") {
  const MasLimits lim;
  const std::vector<std::pair<std::string, int>> calls{{"single", 1}, {"cot", 1},        {"sc", 6},   {"debate", 6},
                                                       {"refine", 3}, {"agentverse", 6}, {"dylan", 7}};
  REQUIRE(base_library().size() == calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    const BaseMas& b = base_library()[i];
    CAPTURE(b.name);
    CHECK(b.name == calls[i].first);
    const Mas m = parse_mas(b.text, lim);
    CHECK(m.calls() == calls[i].second);
    CHECK(to_text(m) == b.text);  // library texts are canonical
    CHECK(to_text(parse_mas(to_text(m), lim)) == to_text(m));
  }
  const Mas sc = parse_mas(fallback_text(), lim);
  CHECK(sc.agents.size() == 2);
  CHECK(sc.agents[0].copies == 5);
  CHECK(sc.agents[0].temperature == doctest::Approx(0.7));
  CHECK(sc.agents[1].inputs == std::vector<std::string>{"s"});
  CHECK(!sc.vote);
}

TEST_CASE("masgpt format: comments, blank lines, fields in any order") {
  const Mas m = parse_mas("# a team\n\nagent b n=8 x2 t=1.25 k=5 : solve it\n  agent c from=b : pick\nanswer vote c,b", {});
  REQUIRE(m.agents.size() == 2);
  CHECK(m.agents[0].copies == 2);
  CHECK(m.agents[0].temperature == doctest::Approx(1.25));
  CHECK(m.agents[0].top_k == 5);
  CHECK(m.agents[0].max_new_tokens == 8);
  CHECK(m.agents[0].instruction == "solve it");
  CHECK(m.vote);
  CHECK(m.answer == std::vector<std::string>{"c", "b"});
  CHECK(to_text(m) == "agent b x2 t=1.25 k=5 n=8 : solve it\nagent c from=b : pick\nanswer vote c,b\n");
}

TEST_CASE("masgpt format: malformed texts name their line") {
  struct Case {
    std::string text;
    int line;
    std::string contains;
  };
  const std::vector<Case> cases{
      {"agent a tmp=1 : solve\nanswer a", 1, "unknown field 'tmp=1'"},
      {"agent a : solve\nagent b from=c : fix\nanswer b", 2, "input 'c' is not an agent defined above"},
      {"agent a : solve\n", 2, "no answer line"},
      {"agent a : solve\nanswer a\nagent b : solve", 3, "text after the answer line"},
      {"agent a : so\tlve\nanswer a", 1, "byte 9 is not printable"},
      {"agent a : solve\nagent a : solve\nanswer vote a", 2, "defined twice"},
      {"agent a : solve\nagent b : solve\nanswer a", 2, "agent 'b' never reaches the answer"},
      {"agent a from=query : solve\nanswer a", 1, "every agent sees the query"},
      {"agent a x3 : solve\nanswer a", 2, "answer without vote takes one agent with one copy"},
      {"agent a t=1e9 : solve\nanswer a", 1, "not a decimal"},
      {"agent a t=2.5 : solve\nanswer a", 1, "above 2"},
      {"agent a t=0.333 : solve\nanswer a", 1, "at most two decimals"},
      {"agent a : \nanswer a", 1, "empty instruction"},
      {"agent a solve\nanswer a", 1, "no ':'"},
      {"agent Query : solve\nanswer Query", 1, "bad agent name"},
      {"agent a : a | b\nanswer a", 1, "'|' in an instruction"},
      {"agent a : solve\nanswer vote a,a", 2, "listed twice"},
      {"let a = 1\nanswer a", 1, "unknown line"},
      {"agent a x0 : solve\nanswer vote a", 1, "at least one copy"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const Err e = error_of(c.text);
    CHECK(e.kind == "malformed");
    CHECK(e.line == c.line);
    CHECK(e.what.find(c.contains) != std::string::npos);
    CHECK(e.what.rfind("line " + std::to_string(c.line) + ": ", 0) == 0);
  }
}

TEST_CASE("masgpt format: limits on copies, calls, agents, tokens, inputs and size") {
  MasLimits lim;  // 8 agents, 12 calls, 8 copies, 32 tokens, 8 inputs, 600 bytes
  Err e = error_of("agent a x9 : solve\nanswer vote a", lim);
  CHECK(e.kind == "over_limits");
  CHECK(e.line == 1);
  e = error_of("agent a x8 : solve\nagent b x5 : solve\nanswer vote a,b", lim);
  CHECK(e.kind == "over_limits");
  CHECK(e.line == 0);
  CHECK(e.what == "13 LLM calls; limit 12");
  std::string many;
  for (int i = 0; i < 9; ++i) many += "agent a" + std::to_string(i) + " : solve\n";
  e = error_of(many + "answer vote a0", lim);
  CHECK(e.kind == "over_limits");
  CHECK(e.line == 9);
  e = error_of("agent a n=33 : solve\nanswer a", lim);
  CHECK(e.kind == "over_limits");
  CHECK(e.line == 1);
  lim.max_inputs = 4;
  e = error_of("agent a x5 : solve\nagent b from=a : pick\nanswer b", lim);
  CHECK(e.kind == "over_limits");
  CHECK(e.line == 2);
  e = error_of(std::string(601, '#'), {});
  CHECK(e.kind == "over_limits");
  CHECK(e.what == "601 bytes of MAS text; limit 600");
}

TEST_CASE("masgpt format: answers are extracted from chain-of-thought outputs") {
  CHECK(extract_answer(" abc => cba ") == "cba");
  CHECK(extract_answer("a => b => c") == "c");
  CHECK(extract_answer("HELLO") == "HELLO");
  CHECK(extract_answer("") == "");
}

TEST_CASE("masgpt library: adjustments change what they say and keep the MAS valid") {
  const MasLimits lim;
  Mas sc = parse_mas(fallback_text(), lim);
  Mas a = sc;
  CHECK(adjust_mas(a, 0));
  CHECK(a.agents[0].instruction == "solve");
  a = sc;
  CHECK(adjust_mas(a, 1));
  CHECK(a.agents[0].temperature == doctest::Approx(0.4));
  a = sc;
  CHECK(adjust_mas(a, 2));
  CHECK(a.agents[0].temperature == doctest::Approx(1.0));
  a = sc;
  CHECK(adjust_mas(a, 3));
  CHECK(a.agents[0].copies == 4);
  CHECK(a.calls() == 5);
  validate_mas(a, lim);
  Mas single = parse_mas(base_mas("single", "t").text, lim);
  Mas s2 = single;
  CHECK(!adjust_mas(s2, 1));  // no sampled agent: nothing to lower
  CHECK(!adjust_mas(s2, 3));  // one copy: nothing to drop
  CHECK(to_text(s2) == to_text(single));
  CHECK(adjust_mas(s2, 4));   // 4 mod 4 = 0: solve -> think
  CHECK(to_text(s2) == "agent a n=32 : think\nanswer a\n");
}
