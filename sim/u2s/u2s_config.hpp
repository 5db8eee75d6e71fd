// Config section `u2s` (FedIT-U2S generator job; sim/u2s/README.md). Keys are declared in
// visit_u2s (u2s_config.cpp), with their defaults and docs; the FedIT-U2S paper (Ye et al., 2024) leaves chunk
// size, embedder, k and filtering open, so each is a key here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "sim/config_schema.hpp"
#include "sim/llm/backend.hpp"

namespace fedsim::sim {

enum class U2sTrainOn : uint8_t { generated, true_pairs };         // generated | true
enum class TextSource : uint8_t { synthetic, file };
enum class Selection : uint8_t { retrieval, random, fixed };
enum class GeneratorSelection : uint8_t { retrieval, random, fixed, mixed };  // the first three as Selection
enum class Embedding : uint8_t { tfidf, hidden };
enum class U2sBackend : uint8_t { extractive, model, openai };
enum class GeneratorSource : uint8_t { trained, base };
enum class JoinRule : uint8_t { wait, cutoff };
enum class U2sStart : uint8_t { as_ready, after_all };
const std::vector<std::string>& names(U2sTrainOn);
const std::vector<std::string>& names(TextSource);
const std::vector<std::string>& names(Selection);
const std::vector<std::string>& names(GeneratorSelection);
const std::vector<std::string>& names(Embedding);
const std::vector<std::string>& names(U2sBackend);
const std::vector<std::string>& names(GeneratorSource);
const std::vector<std::string>& names(JoinRule);
const std::vector<std::string>& names(U2sStart);

// What the filters keep (filter.cpp, judge); keys declared by visit_filter.
struct FilterSpec {
  size_t min_question = 8, max_question = 64, min_answer = 1, max_answer = 24;  // bytes
  bool require_grounded = true;  // the answer must occur in the piece
  bool check_truth = true;       // where the corpus has ground truth, the pair must match it
};
void visit_filter(FilterSpec& f, Visitor& v);

struct U2sSection {
  bool enabled() const { return mode; }
  bool mode = false;  // off | on
  // What the clients train on: U2S-generated pairs, or the true pairs of their facts (baseline).
  U2sTrainOn train_on = U2sTrainOn::generated;
  // Client corpora.
  TextSource corpus = TextSource::synthetic;
  std::string corpus_path = "";      // kind corpus HDF5 (for example `fedsim data debian fortunes`)
  // The synthetic world: documents per client, domains, the pool's size (keys declared by
  // datasets::visit_u2s_corpus_spec).
  datasets::U2sCorpusSpec world;
  // Server example pool.
  TextSource pool_source = TextSource::synthetic;  // synthetic (facts about other entities) | file
  std::string pool_path = "";             // sft HDF5: its public split, else its clients' samples
  // Chunking (bytes) and example selection.
  int64_t chunk_size = 64, chunk_overlap = 24;
  Selection selection = Selection::retrieval;
  int64_t k = 2;
  bool prompt_pad = false;  // on: left-pad the examples so the piece starts at a fixed position
  Embedding embedding = Embedding::tfidf;  // tfidf = hashed character n-gram TF-IDF | hidden = base model's hidden states
  int64_t ngram = 3, embed_dim = 4096;
  // Generator.
  U2sBackend backend = U2sBackend::extractive;
  GeneratorSource generator = GeneratorSource::trained;  // model backend: trained (on the pool's demonstrations) | base
  std::string generator_checkpoint = "";  // model backend: a checkpoint instead of either
  // The prompts the trained generator learns from: its examples selected by retrieval (the U2S
  // method), random, fixed, or mixed (each demonstration one of the three). Independent of
  // `selection`, so an ablation over `selection` runs one and the same generator.
  GeneratorSelection generator_selection = GeneratorSelection::retrieval;
  std::string generator_preset = "tiny";
  // Defaults: the recipe measured to form copy heads (experiments/RESULTS.md "FedIT-U2S"): the
  // tiny preset's 4 heads of width 16 never did; 8 heads of width 8 do within 8000 steps.
  int64_t generator_layers = 0, generator_d_model = 0, generator_heads = 8;  // 0 = the preset's
  int64_t generator_seq_len = 224, generator_steps = 8000, generator_batch = 16, generator_warmup = 100;
  int64_t generator_demos = 12000;  // trained generator: server facts it learns from (besides the pool)
  double generator_lr = 5e-3;
  int64_t max_new_tokens = 48;
  double temperature = 0.0;
  FilterSpec filter;  // of generated pairs
  // Scheduling.
  JoinRule join = JoinRule::wait;  // wait: a client trains once its job is done; cutoff: at cutoff_s with what it has
  double cutoff_s = 600.0;
  // as_ready: the server's rounds start at 0 and sample among the clients whose data is ready;
  // after_all: round 0 starts once every client's generation has ended (or given up).
  U2sStart start = U2sStart::as_ready;
  int64_t max_attempts = 3;  // a U2S job that goes offline or fails is retried when the client is back
  llm::OpenAIConfig openai;  // openai backend (keys declared by llm::visit_openai)
  double openai_tokens_per_s = 20.0;  // simulated generation speed of the client's endpoint
  double openai_latency_s = 0.2;      // simulated per-request latency
  std::string save_data = "";  // write the generated data set (kind sft) to this HDF5 path
};

void visit_u2s(U2sSection& s, Visitor& v);

struct ExperimentConfig;
using U2sConfigSection = SectionOf<U2sSection, visit_u2s>;
// The run's u2s section (registered in sim/generators/generators.cpp).
const U2sSection& u2s_of(const ExperimentConfig& c);
U2sSection& u2s_of(ExperimentConfig& c);

}  // namespace fedsim::sim
