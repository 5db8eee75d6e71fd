// The U2S phase in simulated time, and the experiment around it (sim/u2s/README.md).
#pragma once

#include <array>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "common/table.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/jobs.hpp"
#include "sim/results.hpp"
#include "sim/system_model.hpp"
#include "sim/u2s/u2s.hpp"

namespace fedsim::sim::u2s {

// What one client's U2S job did.
struct ClientReport {
  int64_t pieces = 0;     // pieces its corpus was cut into
  int64_t processed = 0;  // pieces a generator answered for in a finished job (or before the cutoff)
  int64_t kept = 0;
  std::array<int64_t, kDropKinds> drops{};
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int64_t attempts = 0;        // generate jobs started
  double gen_time_s = 0.0;     // simulated seconds of its last generate job
  double ready_s = std::numeric_limits<double>::infinity();  // may join training from then on
  std::string status;          // done | cutoff | no pairs | gave up: <why>
  std::vector<datasets::Sample> pairs;
};

struct PhaseInput {
  const datasets::FederatedDataset* corpus = nullptr;  // kind corpus
  const std::vector<PoolExample>* pool = nullptr;
  const Selector* selector = nullptr;  // over *pool
  llm::Backend* backend = nullptr;
  const std::map<std::string, std::string>* truth = nullptr;  // question -> answer, or nullptr
  double flops_per_token = 0.0;  // local generation (prompt and completion tokens); 0 = remote (openai)
  int64_t download_bytes = 0;    // pool (+ generator weights) sent to each client
};

struct PhaseOutput {
  std::vector<ClientReport> clients;
  std::vector<TimelineRow> timeline;
  uint64_t jobs_started = 0;
  std::vector<std::string> messages;  // one line per distinct failure kind, with a count
};

// Runs every client's download -> generate chain on its own event queue and job scheduler with
// the run's system model (same seed: the same client speeds the federation uses).
PhaseOutput run_phase(const ExperimentConfig& c, const PhaseInput& in, const RunHooks& hooks);

// generator.cpp
// The trained generator's shape: generator_preset, with generator_seq_len and any of
// generator_layers / generator_d_model / generator_heads that are not 0.
models::ModelConfig generator_config(const U2sSection& u);
// One demonstration of the trained generator: a document of u.facts_per_doc facts of one domain
// drawn from `demos` (by_domain: their indices per domain), a server filler after a fact with
// u.filler_prob, cut by chunk(u.chunk_size, u.chunk_overlap); a piece holding a whole fact,
// drawn uniformly; `fact` = its first whole fact (the target's canonical pair). UserError if
// chunk_size leaves no piece with a whole fact.
struct Demo {
  std::string piece;
  size_t fact = 0;  // index into demos
};
Demo make_demo(const U2sSection& u, const std::vector<std::vector<size_t>>& by_domain, const std::vector<PoolExample>& demos,
               Rng& rng);
// Trained on demonstrations: pieces of documents made of the server's own facts (`demos`, none
// of them in the pool or a client's text), cut by the run's chunker, with examples selected
// from `pool` by u2s.generator_selection (retrieval with the run's embedding; `hidden` = the
// base for embedding: hidden, else null); target = the canonical pair of the piece's first
// complete fact. `embed_key` identifies the retrieval embedder beyond the u2s keys (the base's
// weights for embedding: hidden) for the cache. Not keyed by u2s.selection.
models::Model trained_generator(const ExperimentConfig& c, const std::vector<PoolExample>& pool,
                                const std::vector<PoolExample>& demos, const models::Model* hidden,
                                const std::string& embed_key, const RunHooks& hooks);

// u2s_experiment.cpp: corpus -> pool -> generation -> federated tuning -> results with /u2s/.
// The per-client columns of /u2s (besides drops, drop_names and messages).
const h5::RowTable<ClientReport>& u2s_clients_table();
void validate_u2s(const ExperimentConfig& c);  // UserError naming the u2s key
// Resume (`control`): the generation phase is deterministic and its generator cached, so it
// runs again and the federation continues from the checkpoint.
RunResults run_u2s_experiment(const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control = {});

}  // namespace fedsim::sim::u2s
