// FedIT-U2S (Ye et al., 2024, "Leveraging Unstructured Text Data for Federated Instruction Tuning"): each client cuts its raw text into pieces, picks k
// examples from the server's pool by similarity, prompts a generator for one
// instruction-response pair per piece and keeps the pairs that pass the filters. The pieces
// (text.cpp), the rule-based generator (extractive.cpp), the filters (filter.cpp), the job
// schedule (u2s_phase.cpp) and the experiment around it (u2s_experiment.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "sim/llm/backend.hpp"
#include "sim/u2s/u2s_config.hpp"

namespace fedsim::sim::u2s {

// --- Pieces, embeddings, prompts (text.cpp) ------------------------------------------------
// Pieces of at most `size` bytes. A piece ends at the last sentence end (". ") inside the window,
// else at the last space, else at `size`; the next one starts `overlap` bytes before that end,
// moved forward to the next word start. A piece that would end inside the previous one (nothing
// new) is not made: the next starts right after the previous one instead.
std::vector<std::string> chunk(const std::string& text, size_t size, size_t overlap);

struct PoolExample {
  std::string source;  // the sentence the pair came from ("" when unknown, e.g. a file pool)
  std::string instruction, response;
  int32_t domain = -1;
};

// Hashed character n-gram TF-IDF (Salton & Buckley 1988 weighting: tf * ln((1+N)/(1+df)) + 1),
// L2-normalised, n-grams hashed with FNV-1a into `dim` buckets; idf fitted on the pool's texts.
class TfidfEmbedder {
 public:
  TfidfEmbedder(const std::vector<std::string>& corpus, int n, int dim);
  std::vector<float> embed(const std::string& text) const;

 private:
  std::vector<uint32_t> grams(const std::string& text) const;
  int n_, dim_;
  std::vector<float> idf_;
};
double cosine(const std::vector<float>& a, const std::vector<float>& b);  // of unit vectors: the dot

// Example selection: retrieval = the k pool examples of highest cosine similarity with the
// piece (ties to the lower index); random = k distinct examples from `rng_key`; fixed = the
// first k of the pool. `exclude` (or -1) is left out (the pool item itself, when training).
// Retrieval embeds with hashed n-gram TF-IDF, or, given `hidden`, with that model's mean-pooled
// final hidden states (models::Model::embed; u2s.embedding: hidden).
class Selector {
 public:
  Selector(const std::vector<PoolExample>& pool, Selection mode, int k, int ngram, int dim,
           const models::Model* hidden = nullptr);
  std::vector<size_t> select(const std::string& piece, uint64_t rng_key, long exclude = -1) const;

 private:
  std::vector<float> embed(const std::string& text) const;
  const std::vector<PoolExample>& pool_;
  Selection mode_;
  size_t k_;
  std::unique_ptr<TfidfEmbedder> emb_;
  const models::Model* hidden_ = nullptr;
  std::vector<std::vector<float>> pool_vecs_;
};

// Prompt: "Q:<instruction>\nA:<response>\n" per example, then "T:<piece>\n"; the generator
// answers "Q:<instruction>\nA:<response>".
// pad_to > 0 (u2s.prompt_pad: on): the examples are left-padded with spaces to pad_to bytes, so
// the piece starts at the same position in every prompt.
std::string format_prompt(const std::vector<PoolExample>& pool, const std::vector<size_t>& examples, const std::string& piece,
                          size_t pad_to = 0);
// Bytes of the k longest formatted examples of the pool (the pad that fits any selection).
size_t examples_width(const std::vector<PoolExample>& pool, size_t k);
std::string format_pair(const std::string& instruction, const std::string& response);
std::string piece_of_prompt(const std::string& prompt);  // the text after the last "T:"

// --- Rule-based generator (extractive.cpp) ---------------------------------------------------
// Rewrites the first complete sentence of the piece that a rule applies to (README.md):
//   "<X> <verb>s <Y>."        -> "What does <X> <verb>?"   / <Y>
//   "<X> was <verbed> in <Y>." -> "When was <X> <verbed>?"  / <Y>
//   "<X> is <Y>."             -> "What is <x>?"            / <Y>   (a leading "The" lower-cased)
//   otherwise a cloze: "Complete: <sentence without its last word> ___" / <last word>
// Returns "" when the piece holds no complete sentence.
std::string extract_pair(const std::string& piece);
std::unique_ptr<llm::Backend> make_extractive_backend();

// --- Parsing and filtering (filter.cpp) ------------------------------------------------------
enum class Drop : uint8_t { error, timeout, format, length, duplicate, ungrounded, incorrect, unverifiable, kCount };
const char* drop_name(Drop d);
constexpr size_t kDropKinds = static_cast<size_t>(Drop::kCount);

struct Verdict {
  bool keep = false;
  Drop why = Drop::format;
  std::string instruction, response;
};

// Parses "Q:<q>\nA:<a>" (surrounding whitespace trimmed, text after the answer's line ignored)
// and checks lengths, grounding and truth: `truth` maps questions to true answers where the
// corpus has ground truth (synthetic) and f.check_truth is on, else nullptr. Duplicates are the
// caller's (per client).
Verdict judge(const llm::Result& r, const std::string& piece, const FilterSpec& f,
              const std::map<std::string, std::string>* truth = nullptr);

}  // namespace fedsim::sim::u2s
