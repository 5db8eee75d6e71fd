#include "sim/masgpt/masgpt_config.hpp"

#include "sim/config.hpp"

namespace fedsim::sim {

FEDSIM_ENUM_NAMES(InterGroups, "family", "set", "query")
FEDSIM_ENUM_NAMES(AgentsBackend, "model", "openai")
FEDSIM_ENUM_NAMES(GeneratorTraining, "full", "lora")

void visit_masgpt(MasgptSection& s, Visitor& v) {
  static const std::vector<std::string> kBase{"single", "cot", "sc", "debate", "refine", "agentverse", "dylan"};
  v.section("masgpt", "MAS-GPT: query-adaptive multi-agent systems generated and executed as jobs (sim/masgpt/README.md)");
  v.flag("mode", s.mode, "on = fedsim masgpt run builds the data, trains the generator and runs the jobs",
         /*off_first=*/true);
  v.text("out", s.out, "results file of fedsim masgpt run; empty = results/<experiment.name>-masgpt.h5");
  v.list("query_sets", s.query_sets, {}, "benchmark-like query sets, name=family+family (synthetic task families)");
  v.integer("train_per_family", s.train_per_family, 1, 100000, "queries per family for the data construction");
  v.integer("test_per_family", s.test_per_family, 1, 100000, "held-out queries per family for the table");
  v.list("base", s.base, kBase, "base MAS run on every query (FORMAT.md, library.cpp)");
  v.pick("inter", s.inter, "inter-consistency groups: queries of one group share the best MAS");
  v.flag("intra", s.intra, "intra-consistency: per-query adjustments kept if the score does not drop");
  v.pick("backend", s.backend, "the agents' LLM: fedsim's model or an OpenAI-compatible endpoint");
  llm::visit_openai(s.openai, v);
  v.integer("agents_steps", s.agents_steps, 0, 1000000, "full-parameter steps training the agents' LLM (cached)");
  v.integer("agents_batch", s.agents_batch, 1, 4096, "sequences per step for the agents' LLM");
  v.number("agents_lr", s.agents_lr, 0.0, 1.0, "peak learning rate for the agents' LLM (cosine to 10%)");
  v.pick("generator_training", s.generator_training, "MAS-GPT generator: full fine-tune or LoRA (lora.*)");
  v.integer("generator_steps", s.generator_steps, 0, 1000000, "training steps of the generator (cached)");
  v.integer("generator_batch", s.generator_batch, 1, 4096, "(query, MAS) pairs per generator step");
  v.number("generator_lr", s.generator_lr, 0.0, 1.0, "peak learning rate of the generator");
  masgpt::visit_limits(s.limits, v);
  v.number("time_limit_s", s.time_limit_s, 0.0, kConfigHuge, "simulated seconds per query and attempt (0 = none)");
  v.number("server_gflops", s.server_gflops, 1e-6, kConfigHuge, "FLOP/s (x1e9) of the server running agents and generator");
  v.number("call_latency_ms", s.call_latency_ms, 0.0, kConfigHuge, "fixed simulated cost of every LLM call");
  v.integer("workers", s.workers, 1, 100000, "MAS-GPT query jobs the server runs at once");
  v.number("fail_prob", s.fail_prob, 0.0, 1.0, "injected endpoint failure probability per call (fallback test)");
}

MasgptSection& masgpt_of(ExperimentConfig& c) { return c.features.get<MasgptConfigSection>().value; }
const MasgptSection& masgpt_of(const ExperimentConfig& c) { return masgpt_of(const_cast<ExperimentConfig&>(c)); }

}  // namespace fedsim::sim
