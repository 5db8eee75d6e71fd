// Federated instruction data: clients' samples, a held-out test split and a public split.
// Text only: tokenization belongs to the model (DESIGN.md). On disk: HDF5, see FORMAT.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fedsim {
struct Visitor;  // common/schema.hpp
}

namespace fedsim::datasets {

// Version 2 added kind, languages, per-sample language, DPO `rejected`, conversation turns and
// client attributes (FORMAT.md). read_dataset still reads version-1 files (as kind sft).
inline constexpr int64_t kFormatVersion = 3;
inline constexpr const char* kFormatKind = "fedsim-dataset";

// What a sample holds. sft: instruction -> response. multiturn: `turns` is the conversation and
// instruction/response its last exchange. dpo: instruction = prompt, response = chosen,
// `rejected`. corpus: unstructured text in `response`, instruction empty (U2S input).
enum class DataKind { sft, multiturn, dpo, corpus };
const char* kind_name(DataKind k);
// UserError naming `what` (a key or path) for anything but sft, multiturn, dpo, corpus.
DataKind parse_kind(const std::string& s, const std::string& what);

struct Sample {
  std::string instruction;  // prompt text (UTF-8)
  std::string response;     // training target (may be corrupted on low-quality clients); DPO: chosen
  std::string answer;       // ground truth for exact-match scoring ("" = none)
  int32_t task = -1;        // index into FederatedDataset::task_names
  float quality = 1.0f;     // 1 = response equals the ground truth
  int32_t language = -1;    // index into FederatedDataset::languages; -1 = unknown
  std::string rejected;     // DPO only: the dispreferred response
  std::vector<std::string> turns;  // multiturn only: human, gpt, human, gpt, ... (even count)
  // Every field, for field-by-field archives (sim/archive.hpp: U2S checkpoints hold generated pairs).
  template <class Ar>
  void fields(Ar& ar) { ar(instruction, response, answer, task, quality, language, rejected, turns); }
};

struct ClientData {
  std::string name;
  std::vector<Sample> samples;
  // Free-form client attributes (e.g. language, quality, preference, source key); "" = unset.
  std::map<std::string, std::string> attributes;
};

struct FederatedDataset {
  std::string name;                     // generator preset or import source
  DataKind kind = DataKind::sft;
  std::vector<std::string> task_names;  // task families, indexed by Sample::task
  std::vector<std::string> languages;   // language codes, indexed by Sample::language
  std::vector<ClientData> clients;
  std::vector<Sample> test;          // held-out, same task families as the clients
  std::vector<Sample> public_split;  // for pretraining the base model; no client holds it
  std::string generator_yaml;        // the parameters that produced it (cache key, provenance)
  size_t n_samples() const;
};

// How per-client sample counts are drawn (calibrated: the preset's own distribution), how the
// generated data is re-split into clients (natural: as generated) and by which label. Their YAML
// spellings: names() (spec_fields.cpp).
enum class Quantity : uint8_t { calibrated, lognormal, powerlaw, equal };
enum class Partition : uint8_t { natural, iid, dirichlet, shards };
enum class PartitionBy : uint8_t { task, language, length, quality };
const std::vector<std::string>& names(Quantity);
const std::vector<std::string>& names(Partition);
const std::vector<std::string>& names(PartitionBy);

// Synthetic instruction data with ground truth (procedural task families). Task mix per client
// is Dirichlet(alpha) over task families (Hsu et al., "Measuring the effects of non-identical data
// distribution for federated visual classification", 2019); sample counts are lognormal.
struct SyntheticSpec {
  int n_clients = 20;
  double samples_mean = 60.0;  // mean samples per client
  double samples_sigma = 0.6;  // sigma of log(samples) (quantity skew); 0 = equal counts
  int min_samples = 4;
  double dirichlet_alpha = 0.5;    // task-type heterogeneity; large = IID
  std::vector<std::string> tasks;  // task families to use; empty = all
  // Task families of the public (pretraining) split; empty = the same as `tasks`. A base that
  // never saw the clients' families makes federated tuning teach new skills.
  std::vector<std::string> public_tasks;
  int n_test = 200;
  int n_public = 2000;
  uint64_t seed = 1;

  // --- Presets calibrated to FedLLM-Bench Table 1 (presets.cpp). With a preset, the counts,
  // lengths and quality come from the preset's calibration; samples_mean, samples_sigma,
  // min_samples and tasks are ignored, n_clients = 0 means the preset's own client count.
  std::string preset;          // "" (the small-task generator above) or a name in preset_names()
  double length_scale = 1.0;   // multiplies the calibrated text lengths (bytes); (0, 10]
  double language_alpha = 0.1; // Dirichlet over a client's languages (multilingual presets)
  Quantity quantity = Quantity::calibrated;
  double quantity_param = 1.0; // lognormal: log-sigma; powerlaw: Pareto tail exponent (> 1)
  double length_skew = 0.5;    // log-sigma of a per-client length factor (0 = none)
  double quality_skew = 0.5;   // share of quality variance between clients, [0, 1)
  // --- Re-split of the generated data (every generator; partition.cpp). natural = keep.
  Partition partition = Partition::natural;
  PartitionBy partition_by = PartitionBy::task;
  double partition_alpha = 0.5;       // dirichlet
  int shards_per_client = 2;          // shards
};

// The config keys of the fields above (section `data`; n_clients and seed come from
// federation.clients and experiment.seed), each with its default, range and doc.
void visit_synthetic_spec(SyntheticSpec& spec, Visitor& v);

std::vector<std::string> preset_names();
// A preset's defaults: its client count and FedLLM-Bench test-set size (Aya 160, others 50).
SyntheticSpec preset_spec(const std::string& name);
// Sets one field from its text (the CLI's --set key=value); UserError naming the key.
void set_spec_field(SyntheticSpec& spec, const std::string& key, const std::string& value);

// Re-splitting pooled samples into clients (partition.cpp). Conversations and pairs move whole.
struct PartitionSpec {
  int n_clients = 20;
  Partition scheme = Partition::dirichlet;  // iid | dirichlet | shards
  PartitionBy by = PartitionBy::task;       // the label to skew
  double alpha = 0.5;                // dirichlet concentration per label; large = IID
  int shards_per_client = 2;         // shards: McMahan et al. 2017, Sec. 3
  Quantity quantity = Quantity::equal;  // equal | lognormal | powerlaw
  double quantity_param = 1.0;       // lognormal sigma or Pareto exponent
  uint64_t seed = 1;
};
void validate_partition_spec(const PartitionSpec& p, const std::string& key_prefix);
// Pools every client's samples (in client order) and deals them to p.n_clients new clients.
FederatedDataset repartition(const FederatedDataset& d, const PartitionSpec& p);

// Table-1-style summary (stats.cpp). `samples` and the per-client counts are what n_i counts:
// for multiturn whole conversations (as FedLLM-Bench's multi-turn loader); lengths, quality and
// languages are per exchange (human turn = instruction, gpt turn = response).
struct DatasetStats {
  std::string name, kind;
  size_t clients = 0, samples = 0, conversations = 0, exchanges = 0;
  double per_client_mean = 0, per_client_std = 0;
  double instruction_mean = 0, instruction_std = 0;
  double response_mean = 0, response_std = 0;
  double quality_mean = 0, quality_std = 0;
  std::vector<std::pair<std::string, size_t>> languages;  // code, samples
  double task_heterogeneity = 0, language_heterogeneity = 0;
};
DatasetStats dataset_stats(const FederatedDataset& d);
std::string stats_table(const DatasetStats& s);
std::string stats_json(const DatasetStats& s);

// Synthetic texts are short so that BOS INST instruction RESP response EOS fits a 64-token
// byte-level context with room to spare; the generator guarantees these bounds.
inline constexpr size_t kSyntheticMaxInstructionBytes = 24;
inline constexpr size_t kSyntheticMaxResponseBytes = 12;

// Task families in a fixed order (the order never changes; new families go at the end).
// Every instruction reads "<task>: <argument>".
std::vector<std::string> synthetic_task_names();
// Ground truth for one instruction of a synthetic family, e.g. solve_task("add", "add: 12+7")
// == "19". UserError for an unknown family or an instruction the family cannot produce.
std::string solve_task(const std::string& task, const std::string& instruction);
// UserError (naming the config key, e.g. `data.tasks`, the value and what is accepted) for an invalid spec.
void validate_synthetic_spec(const SyntheticSpec& spec);
// Canonical text of every spec field; equal specs give equal text (cache key, provenance).
std::string synthetic_spec_yaml(const SyntheticSpec& spec);
FederatedDataset generate_synthetic(const SyntheticSpec& spec);

// Atomic write (temporary name + rename); read checks format and version.
void write_dataset(const FederatedDataset& d, const std::string& path);
FederatedDataset read_dataset(const std::string& path);

// Mean total-variation distance between each client's task distribution and the pooled one
// (0 = IID, near 1 = every client holds one task). Weighted by client size.
double task_heterogeneity(const FederatedDataset& d);
// The same over Sample::language (samples with language -1 are left out).
double language_heterogeneity(const FederatedDataset& d);

// --- FedIT-U2S corpora (u2s_corpus.cpp; FedIT-U2S, Ye et al., 2024) ---------------------------
// Documents that state facts with known answers in a medicine-like, a knowledge-like and a
// math-like domain; each client's documents follow its Dirichlet(dirichlet_alpha) domain mix.
struct U2sCorpusSpec {
  int n_clients = 10;
  std::vector<std::string> domains;  // subset of u2s_domain_names(); empty = all
  int docs_min = 3, docs_max = 5;    // documents per client, uniform
  int facts_per_doc = 4;
  double dirichlet_alpha = 0.5;  // domain mix per client
  double filler_prob = 0.3;      // a fact-free sentence after a fact
  double repeat_prob = 0.1;      // a fact restated from an earlier document (duplicates)
  int pool_size = 120;           // server example pool: facts about entities no client mentions
  int n_demos = 0;               // more such facts, for training a generator (U2sWorld::demos)
  uint64_t seed = 1;
};
struct U2sFact {
  std::string sentence, question, answer;
  int32_t domain = 0;  // index into u2s_domain_names()
};
struct U2sWorld {
  // kind corpus: client samples are documents (text in `response`, task = domain); `test` is
  // the canonical question of every distinct fact any client states (held-out, answer = truth);
  // `public` is the pool as pairs (it pretrains the base).
  FederatedDataset corpus;
  FederatedDataset true_pairs;  // kind sft: each client's facts as canonical pairs; same test/public
  std::vector<U2sFact> pool;    // the server's example pool with the sentences it came from
  std::vector<U2sFact> demos;   // the server's generator-training facts (disjoint from all above)
};
std::vector<std::string> u2s_domain_names();  // medicine, knowledge, math (task order)
// The config keys of its fields (section `u2s`; n_clients, n_demos and seed come from
// federation.clients, the generator's set-up and experiment.seed).
void visit_u2s_corpus_spec(U2sCorpusSpec& spec, Visitor& v);
void validate_u2s_corpus_spec(const U2sCorpusSpec& spec);  // UserError naming the u2s key
std::string u2s_corpus_spec_yaml(const U2sCorpusSpec& spec);
U2sWorld generate_u2s_world(const U2sCorpusSpec& spec);

}  // namespace fedsim::datasets
