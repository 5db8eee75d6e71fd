// Base MAS re-expressed in the MAS text format. Sizes follow the published designs scaled to a
// 12-call limit: self-consistency is MAS-GPT's fallback (5 CoT agents + 1 decision agent = 6
// calls); LLM-debate is 3 agents x 2 rounds; DyLAN's layered network keeps 4 agents, an
// agent-ranking step and a second, smaller layer.
#include <cmath>
#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "sim/masgpt/library.hpp"

namespace fedsim::sim::masgpt {

const std::vector<BaseMas>& base_library() {
  static const std::vector<BaseMas> lib{
      {"single", "agent a : solve\nanswer a\n"},
      {"cot", "agent a n=32 : think\nanswer a\n"},
      {"sc", "agent s x5 t=0.7 n=32 : think\nagent d from=s : pick\nanswer d\n"},
      {"debate", "agent r1 x3 t=0.7 : solve\nagent r2 x3 t=0.7 from=r1 : fix\nanswer vote r2\n"},
      {"refine", "agent g : solve\nagent c from=g : check\nagent r from=g,c : fix\nanswer r\n"},
      // AgentVerse-like: a recruited team of differently instructed experts, a decision agent
      // and an evaluator whose verdict drives one revision.
      {"agentverse",
       "agent e1 : solve\nagent e2 n=32 : think\nagent e3 t=0.5 : solve\nagent d from=e1,e2,e3 : pick\n"
       "agent v from=d : check\nagent f from=d,v : fix\nanswer f\n"},
      // DyLAN-like: layer 1, a ranking agent that picks the best response, layer 2 refines it,
      // and the final answer is a vote over the ranked and refined responses.
      {"dylan",
       "agent l1 x4 t=0.8 : solve\nagent rk from=l1 : pick\nagent l2 x2 t=0.5 from=rk : fix\n"
       "answer vote rk,l2\n"},
  };
  return lib;
}

std::vector<std::string> base_names() {
  std::vector<std::string> n;
  for (const BaseMas& b : base_library()) n.push_back(b.name);
  return n;
}

const BaseMas& base_mas(const std::string& name, const std::string& key) {
  for (const BaseMas& b : base_library())
    if (b.name == name) return b;
  std::string acc;
  for (const BaseMas& b : base_library()) acc += (acc.empty() ? "" : ", ") + b.name;
  throw UserError(key + ": unknown base MAS '" + name + "'; accepted: " + acc);
}

const std::string& fallback_text() { return base_mas("sc", "fallback").text; }

bool adjust_mas(Mas& m, uint64_t pick) {
  switch (pick % 4) {
    case 0: {
      Agent& a = m.agents.front();
      if (a.instruction == "solve") {
        a.instruction = "think";
        a.max_new_tokens = std::max(a.max_new_tokens, 32);
      } else if (a.instruction == "think") {
        a.instruction = "solve";
      } else {
        return false;
      }
      return true;
    }
    case 1:
    case 2: {
      bool changed = false;
      for (Agent& a : m.agents) {
        if (a.temperature <= 0.0) continue;
        const double t = a.temperature + (pick % 4 == 1 ? -0.3 : 0.3);
        a.temperature = std::clamp(static_cast<double>(std::lround(t * 100.0)) / 100.0, 0.0, 2.0);
        changed = true;
      }
      return changed;
    }
    default: {
      auto it = std::max_element(m.agents.begin(), m.agents.end(),
                                 [](const Agent& a, const Agent& b) { return a.copies < b.copies; });
      if (it->copies <= 2) return false;
      it->copies -= 1;
      return true;
    }
  }
}

}  // namespace fedsim::sim::masgpt
