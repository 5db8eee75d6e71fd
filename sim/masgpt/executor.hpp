// Runs MAS on queries against an LLM backend, with call and token accounting, a per-query limit
// in simulated time and the published fallback: a MAS that cannot be parsed, exceeds the limits,
// meets a failing endpoint or runs out of time is counted and the query is retried once with
// Self-Consistency MAS (5 chain-of-thought agents and a decision agent), as MAS-GPT (Ye et al., ICML 2025) does.
//
// Queries are executed together: step s runs agent s of every query's MAS as one backend call
// list, so the model backend batches prompts across queries (and MAS).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/llm/backend.hpp"
#include "sim/masgpt/mas.hpp"

namespace fedsim::sim::masgpt {

enum class Outcome : uint8_t { ok = 0, malformed = 1, over_limits = 2, endpoint_failed = 3, timeout = 4 };
inline constexpr int kOutcomes = 5;
const char* outcome_name(Outcome o);

struct ExecConfig {
  MasLimits limits;
  double time_limit_s = 0.0;        // simulated seconds per query and attempt; 0 = none
  double flops_per_token = 0.0;     // forward FLOPs per prompt or generated token of the agents' LLM
  double server_flops = 50e9;       // FLOP/s of the server running the agents
  double call_latency_s = 0.0;      // fixed cost of every call (an endpoint's round trip)
  uint64_t seed = 1;
  bool fallback = true;
};

struct QueryRun {
  std::string answer;                // final answer ("" when even the fallback failed)
  Outcome outcome = Outcome::ok;     // of the first MAS tried
  bool fell_back = false;            // the fallback ran
  bool fallback_failed = false;      // ... and did not finish either
  int64_t calls = 0, prompt_tokens = 0, completion_tokens = 0;
  double sim_seconds = 0.0;          // simulated time of every call, fallback included
};

// Prompt of one agent (FORMAT.md): "<instruction> <query> | <answer> | <answer> ...", with the
// answers of its input agents in the order of from= (and of their copies).
std::string agent_prompt(const Agent& a, const std::string& query, const std::vector<std::string>& inputs);
// Majority over non-empty answers; ties go to the answer seen first; "" when all are empty.
std::string majority(const std::vector<std::string>& answers);

// texts[i] is parsed (MasError -> counted outcome) and run on queries[i].
std::vector<QueryRun> execute_texts(const std::vector<std::string>& texts, const std::vector<std::string>& queries,
                                    llm::Backend& backend, const ExecConfig& cfg);
// The same MAS on every query.
std::vector<QueryRun> execute_same(const Mas& mas, const std::vector<std::string>& queries, llm::Backend& backend,
                                   const ExecConfig& cfg);

// A backend whose requests fail with probability fail_prob (deterministic in seed and request
// order), for testing what an unreliable endpoint does to a run.
std::unique_ptr<llm::Backend> make_flaky_backend(llm::Backend& inner, double fail_prob, uint64_t seed);

}  // namespace fedsim::sim::masgpt
