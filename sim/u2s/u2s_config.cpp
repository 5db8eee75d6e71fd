#include "sim/u2s/u2s_config.hpp"

#include "sim/config.hpp"

namespace fedsim::sim {

FEDSIM_ENUM_NAMES(U2sTrainOn, "generated", "true")
FEDSIM_ENUM_NAMES(TextSource, "synthetic", "file")
FEDSIM_ENUM_NAMES(Selection, "retrieval", "random", "fixed")
FEDSIM_ENUM_NAMES(GeneratorSelection, "retrieval", "random", "fixed", "mixed")
FEDSIM_ENUM_NAMES(Embedding, "tfidf", "hidden")
FEDSIM_ENUM_NAMES(U2sBackend, "extractive", "model", "openai")
FEDSIM_ENUM_NAMES(GeneratorSource, "trained", "base")
FEDSIM_ENUM_NAMES(JoinRule, "wait", "cutoff")
FEDSIM_ENUM_NAMES(U2sStart, "as_ready", "after_all")

void visit_filter(FilterSpec& f, Visitor& v) {
  v.integer("min_question", f.min_question, 0, 100000, "filter: shortest instruction in bytes");
  v.integer("max_question", f.max_question, 1, 100000, "filter: longest instruction in bytes");
  v.integer("min_answer", f.min_answer, 0, 100000, "filter: shortest response in bytes");
  v.integer("max_answer", f.max_answer, 1, 100000, "filter: longest response in bytes");
  v.flag("require_grounded", f.require_grounded, "filter: the response must occur in the piece");
  v.flag("check_truth", f.check_truth, "filter: with ground truth (synthetic corpus), drop wrong or unknown questions");
}

void visit_u2s(U2sSection& s, Visitor& v) {
  v.section("u2s", "FedIT-U2S: clients turn their own raw text into instruction data (sim/u2s/README.md)");
  v.flag("mode", s.mode, "on = every client runs a U2S generation job before training", /*off_first=*/true);
  v.pick("train_on", s.train_on, "generated = U2S pairs; true = the true pairs of the clients' facts (baseline)");
  v.pick("corpus", s.corpus, "synthetic = documents stating facts with known answers; file = u2s.corpus_path");
  v.text("corpus_path", s.corpus_path, "HDF5 data set of kind corpus (e.g. fedsim data debian fortunes)");
  datasets::visit_u2s_corpus_spec(s.world, v);
  v.pick("pool_source", s.pool_source, "server example pool: synthetic (other entities) or u2s.pool_path");
  v.text("pool_path", s.pool_path, "sft HDF5 pool: its public split, else all its client samples");
  v.integer("chunk_size", s.chunk_size, 16, 100000, "piece length in bytes (cut at a sentence end or space)");
  v.integer("chunk_overlap", s.chunk_overlap, 0, 100000, "bytes each piece repeats from the previous one (< chunk_size)");
  v.pick("selection", s.selection, "few-shot examples: retrieval = top-k cosine; random; fixed = the first k");
  v.integer("k", s.k, 0, 16, "examples per prompt");
  v.flag("prompt_pad", s.prompt_pad, "on = left-pad the examples with spaces to the k longest pool examples' length, so the piece starts at the same position in every prompt");
  v.pick("embedding", s.embedding, "retrieval embedding: hashed character n-gram TF-IDF, or hidden = mean-pooled final hidden states of the base model");
  v.integer("ngram", s.ngram, 1, 8, "tfidf: character n-gram length");
  v.integer("embed_dim", s.embed_dim, 16, 1 << 20, "tfidf: hashed dimensions");
  v.pick("backend", s.backend, "generator: extractive rules, fedsim's model, or an OpenAI-compatible endpoint");
  v.pick("generator", s.generator, "model backend: trained on the pool's demonstrations (cached) or the base");
  v.text("generator_checkpoint", s.generator_checkpoint, "model backend: generator checkpoint; overrides u2s.generator");
  v.pick("generator_selection", s.generator_selection,
           "trained generator: how its demonstrations' examples are selected (mixed = each one of the three); independent of u2s.selection");
  v.text("generator_preset", s.generator_preset, "trained generator: model preset");
  v.integer("generator_layers", s.generator_layers, 0, 64, "trained generator: layers; 0 = the preset's");
  v.integer("generator_d_model", s.generator_d_model, 0, 4096, "trained generator: width (MLP 4x); 0 = the preset's");
  v.integer("generator_heads", s.generator_heads, 0, 64, "trained generator: attention heads (divide the width); 0 = the preset's");
  v.integer("generator_seq_len", s.generator_seq_len, 32, 4096, "trained generator: context length (prompt + pair)");
  v.integer("generator_steps", s.generator_steps, 0, 10000000, "trained generator: full-parameter steps on demonstrations");
  v.integer("generator_demos", s.generator_demos, 0, 10000000,
            "trained generator: server-side facts on other entities to learn from, besides the pool");
  v.integer("generator_batch", s.generator_batch, 1, 4096, "trained generator: batch size");
  v.number("generator_lr", s.generator_lr, 1e-9, 1.0, "trained generator: peak learning rate (cosine to 10%)");
  v.integer("generator_warmup", s.generator_warmup, 0, 10000000, "trained generator: steps of linear learning-rate warmup");
  v.integer("max_new_tokens", s.max_new_tokens, 1, 4096, "generation limit per piece");
  v.number("temperature", s.temperature, 0.0, 10.0, "0 = greedy");
  visit_filter(s.filter, v);
  v.pick("join", s.join, "wait = a client trains once its U2S job is done; cutoff = all at cutoff_s with what they have");
  v.number("cutoff_s", s.cutoff_s, 0.0, 1e12, "join cutoff: simulated seconds of generation before training starts");
  v.pick("start", s.start,
         "as_ready = rounds start at 0 among the clients whose data is ready (generation and training share the "
         "timeline); after_all = round 0 starts once every client's generation has ended");
  v.integer("max_attempts", s.max_attempts, 1, 1000, "U2S job attempts per client (offline or failed jobs are retried)");
  llm::visit_openai(s.openai, v);
  v.number("openai_tokens_per_s", s.openai_tokens_per_s, 1e-6, 1e12, "simulated: completion tokens per second of the endpoint");
  v.number("openai_latency_s", s.openai_latency_s, 0.0, 1e6, "simulated: latency per request");
  v.text("save_data", s.save_data, "write the generated data set (kind sft, FORMAT.md) here; \"\" = don't");
}

U2sSection& u2s_of(ExperimentConfig& c) { return c.features.get<U2sConfigSection>().value; }
const U2sSection& u2s_of(const ExperimentConfig& c) { return u2s_of(const_cast<ExperimentConfig&>(c)); }

}  // namespace fedsim::sim
