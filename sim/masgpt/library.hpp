// The base MAS library (MAS-GPT, Ye et al., ICML 2025: base systems such as CoT, Self-Consistency, LLM-Debate, Self-Refine, AgentVerse and DyLAN re-expressed as executable MAS)
// and the query-level adjustments of intra-consistency. Instructions are the roles the agents'
// LLM is trained to follow (agents_llm.hpp): solve, think, check, fix, pick.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/masgpt/mas.hpp"

namespace fedsim::sim::masgpt {

struct BaseMas {
  std::string name;  // single, cot, sc, debate, refine, agentverse, dylan
  std::string text;  // MAS text (FORMAT.md)
};

// Every base MAS, in a fixed order (table rows, data set columns).
const std::vector<BaseMas>& base_library();
std::vector<std::string> base_names();
// UserError naming `key` for an unknown name.
const BaseMas& base_mas(const std::string& name, const std::string& key);
// The published fallback: Self-Consistency, 5 chain-of-thought agents + 1 decision agent.
const std::string& fallback_text();

// One adjustment of `m` to a query, drawn by `pick` (any integer; the adjustment is
// pick mod the number of kinds): switch the first agent's instruction solve <-> think, lower or
// raise every sampling temperature by 0.3, or drop one copy of the largest agent. Returns false
// when the drawn kind does not apply (the MAS is then left unchanged).
bool adjust_mas(Mas& m, uint64_t pick);

}  // namespace fedsim::sim::masgpt
