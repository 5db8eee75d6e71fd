// U2S generation as a process on the run's Simulation, next to the federation that trains on
// what it generates, and the experiment around both (sim/u2s/README.md).
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
#include "sim/federation.hpp"
#include "sim/jobs.hpp"
#include "sim/results.hpp"
#include "sim/simulation.hpp"
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
  std::string status;          // "" while generating; done | cutoff | no pairs | gave up: <why>
  std::vector<datasets::Sample> pairs;
  template <class Ar>
  void fields(Ar& ar) {
    ar(pieces, processed, kept, drops, prompt_tokens, completion_tokens, attempts, gen_time_s, ready_s, status, pairs);
  }
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
  std::vector<std::string> messages;  // one line per client left out and per failure kind, with a count
};

// Every client's download -> generate chain, a process on the federation's Simulation (the same
// queue, clock and system model; its own job stream, so its dropout draws do not shift the
// federation's). A client whose job ends with pairs gets them as its training data in `data`
// and is announced to the federation (Federation::set_client_data) when it may train: at the
// job's end (join: wait) or at cutoff_s (join: cutoff); one that keeps nothing or gives up is
// announced as never training (it holds one pool pair, so the data set stays valid). With
// u2s.start: after_all the federation starts once every client is announced.
class Generation : public Process {
 public:
  Generation(const ExperimentConfig& c, const PhaseInput& in, datasets::FederatedDataset& data, Federation& fed,
             Simulation& sim, const RunHooks& hooks);
  void start();  // a fresh run: every client starts when it is first online
  // Training is over: clients still generating stop (their jobs are cut off, recorded as
  // cancelled) and are announced as never training, so the run ends with its training.
  void stop();
  // After the run: the reports and the messages, also logged with a few generations verbatim.
  PhaseOutput finish() const;

  void on_event(const Event& ev, uint32_t kind) override;
  void on_job_end(const Job& job, JobEnd how, const Event& ev) override;
  void save(ArchiveWriter& ar) const override { const_cast<Generation*>(this)->fields(ar); }
  void load(ArchiveReader& ar) override;

 private:
  enum Kind : uint32_t { kStart, kReady, kKinds };
  struct ClientState {
    std::vector<std::string> pieces;   // from the corpus (not state: cut again on resume)
    std::vector<int32_t> domain;
    std::vector<llm::Result> results;  // generated so far (a prefix of pieces)
    std::vector<Tick> cost;            // simulated ticks per generated piece
    bool downloaded = false;
    EventId next;       // its last (re)start or ready event
    uint32_t job = 0;   // its job, while busy
    bool busy = false;
    template <class Ar>
    void fields(Ar& ar) { ar(results, cost, downloaded, next, job, busy); }
  };
  template <class Ar>
  void fields(Ar& ar) { ar(st_, reports_, messages_, announced_); }

  size_t generate(int ci, Tick budget, Tick* ticks);
  void start_client(int ci);
  void finish_client(int ci, size_t fit, Tick began);
  void give_up(int ci, const std::string& why);
  void attach(int ci);             // the client's training data: its pairs (or one pool pair)
  void announce(int ci, bool trains);

  const ExperimentConfig& c_;
  const U2sSection& u_;
  PhaseInput in_;
  const std::map<std::string, std::string>* truth_;  // the filter's ground truth, or nullptr
  datasets::FederatedDataset& data_;
  Federation& fed_;
  const RunHooks& hooks_;
  uint64_t seed_;
  Tick cutoff_t_;
  size_t pad_to_;
  std::vector<ClientState> st_;
  std::vector<ClientReport> reports_;
  std::vector<std::string> messages_;
  uint64_t announced_ = 0;  // clients the federation has heard of
};

// generator.cpp
// The trained generator's shape: generator_preset, with generator_seq_len and any of
// generator_layers / generator_d_model / generator_heads that are not 0.
models::ModelConfig generator_config(const U2sSection& u);
// One demonstration of the trained generator: a document of u.world.facts_per_doc facts of one domain
// drawn from `demos` (by_domain: their indices per domain), a server filler after a fact with
// u.world.filler_prob, cut by chunk(u.chunk_size, u.chunk_overlap); a piece holding a whole fact,
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

// u2s_experiment.cpp: corpus -> pool -> generation and federated tuning on one timeline ->
// results with /u2s/.
// The per-client columns of /u2s (besides drops, drop_names and messages).
const h5::RowTable<ClientReport>& u2s_clients_table();
void validate_u2s(const ExperimentConfig& c);  // UserError naming the u2s key
// Resume (`control`): the checkpoint holds the generation's state with the federation's, so a
// run killed during generation or training continues from where it was.
RunResults run_u2s_experiment(const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control = {});

}  // namespace fedsim::sim::u2s
