// The pieces of MAS-GPT that need text and models: the query pool with verifiable answers (from
// the synthetic task families, datasets::solve_task), the agents' LLM (fedsim's model trained on
// those families in the roles the MAS use) and the MAS-GPT generator (the agents' LLM trained on
// (query, MAS) pairs). Models are cached under the experiment's cache_dir by what determines them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "models/model.hpp"
#include "sim/config.hpp"

namespace fedsim::sim::masgpt {

struct QuerySet {
  std::string name;
  std::vector<std::string> families;
};
// "name=family+family" entries of masgpt.query_sets; UserError naming the key.
std::vector<QuerySet> parse_query_sets(const std::vector<std::string>& specs);

struct Query {
  std::string text;    // "<family>: <argument>"
  std::string answer;  // ground truth (solve_task)
  int32_t family = 0;  // index into the flattened family list of the sets
  int32_t set = 0;     // index into the sets
};
// per_family queries of every family of every set, from the (seed, pool) stream; pool 0 is the
// construction pool, 1 the held-out pool, 2 the agents' training data.
std::vector<Query> make_queries(const std::vector<QuerySet>& sets, int64_t per_family, uint64_t seed, uint64_t pool);
std::vector<std::string> family_names(const std::vector<QuerySet>& sets);

// One training example of the agents' LLM in a role (FORMAT.md, "The agents' LLM"): solve,
// think (restates the argument, then "=> answer"), check (ok/no for a candidate), fix and pick
// (the answer given noisy candidates). Drawn from rng.
std::pair<std::string, std::string> role_example(const Query& q, Rng& rng);

using Log = std::function<void(const std::string&)>;

// Model shapes for MAS-GPT (model.* of the config).
models::ModelConfig masgpt_model_config(const ExperimentConfig& c);
// The agents' LLM: loaded from the cache or trained (masgpt.agents_*). Returns its path too.
models::Model agents_llm(const ExperimentConfig& c, const std::vector<QuerySet>& sets, const Log& log,
                         std::string* path);

// The generator: the agents' LLM trained on (query, MAS text) pairs; LoRA training fills
// *adapter, full training leaves it empty. Cached by the pairs' content.
models::Model train_generator(const ExperimentConfig& c, const std::string& agents_path,
                              const std::vector<std::pair<std::string, std::string>>& pairs, const Log& log,
                              std::optional<std::vector<float>>* adapter);

}  // namespace fedsim::sim::masgpt
