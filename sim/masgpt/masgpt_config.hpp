// Config section `masgpt` (MAS-GPT: query -> multi-agent system in one generation;
// sim/masgpt/README.md). Keys are declared in visit_masgpt (masgpt_config.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/config_schema.hpp"
#include "sim/llm/backend.hpp"
#include "sim/masgpt/mas.hpp"

namespace fedsim::sim {

enum class InterGroups : uint8_t { family, set, query };  // queries of one group share the best MAS
enum class AgentsBackend : uint8_t { model, openai };
enum class GeneratorTraining : uint8_t { full, lora };
const std::vector<std::string>& names(InterGroups);
const std::vector<std::string>& names(AgentsBackend);
const std::vector<std::string>& names(GeneratorTraining);

struct MasgptSection {
  bool enabled() const { return mode; }
  bool mode = false;  // off | on
  std::string out = "";      // results file; "" = results/<experiment.name>-masgpt.h5
  // Query pool: benchmark-like sets of synthetic task families, "name=family+family".
  std::vector<std::string> query_sets{"letters=first+last", "case=upper+twice", "order=reverse+sort",
                                      "numbers=length+add"};
  int64_t train_per_family = 60;  // queries per family for data construction
  int64_t test_per_family = 50;   // held-out queries per family for the table
  std::vector<std::string> base{"single", "cot", "sc", "debate", "refine", "agentverse", "dylan"};
  InterGroups inter = InterGroups::family;
  bool intra = true;  // per-query adjustments kept if the score does not drop
  // The agents' LLM: fedsim's model (model.* shapes) trained on the task families in the roles
  // the base MAS use (solve, think, check, fix, pick).
  AgentsBackend backend = AgentsBackend::model;
  llm::OpenAIConfig openai;  // backend openai (keys declared by llm::visit_openai)
  int64_t agents_steps = 1500;
  int64_t agents_batch = 32;
  double agents_lr = 3e-3;
  // The MAS-GPT generator: the agents' LLM further trained on (query, MAS) pairs.
  GeneratorTraining generator_training = GeneratorTraining::full;
  int64_t generator_steps = 400;
  int64_t generator_batch = 16;
  double generator_lr = 1e-3;
  masgpt::MasLimits limits;  // safety limits on any MAS before it runs (FORMAT.md; keys: visit_limits)
  // Costs in simulated time.
  double time_limit_s = 1.0;      // per query and attempt; 0 = none
  double server_gflops = 50.0;    // the server running the agents and the generator
  double call_latency_ms = 0.0;   // per LLM call
  int64_t workers = 4;            // MAS-GPT jobs the server runs at once
  double fail_prob = 0.0;         // injected endpoint failure per call (tests the fallback)
};

void visit_masgpt(MasgptSection& s, Visitor& v);

struct ExperimentConfig;
using MasgptConfigSection = SectionOf<MasgptSection, visit_masgpt>;
// The run's masgpt section (registered in sim/generators/generators.cpp).
const MasgptSection& masgpt_of(const ExperimentConfig& c);
MasgptSection& masgpt_of(ExperimentConfig& c);

}  // namespace fedsim::sim
