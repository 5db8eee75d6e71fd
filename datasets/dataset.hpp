// Federated instruction data: clients' samples, a held-out test split and a public split.
// Text only: tokenization belongs to the model (DESIGN.md). On disk: HDF5, see FORMAT.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::datasets {

inline constexpr int64_t kFormatVersion = 1;
inline constexpr const char* kFormatKind = "fedsim-dataset";

struct Sample {
  std::string instruction;  // prompt text (UTF-8)
  std::string response;     // training target (may be corrupted on low-quality clients)
  std::string answer;       // ground truth for exact-match scoring
  int32_t task = -1;        // index into FederatedDataset::task_names
  float quality = 1.0f;     // 1 = response equals the ground truth
};

struct ClientData {
  std::string name;
  std::vector<Sample> samples;
};

struct FederatedDataset {
  std::string name;                     // generator preset or import source
  std::vector<std::string> task_names;  // task families, indexed by Sample::task
  std::vector<ClientData> clients;
  std::vector<Sample> test;          // held-out, same task families as the clients
  std::vector<Sample> public_split;  // for pretraining the base model; no client holds it
  std::string generator_yaml;        // the parameters that produced it (cache key, provenance)
  size_t n_samples() const;
};

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
  int n_test = 200;
  int n_public = 2000;
  uint64_t seed = 1;
};

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

}  // namespace fedsim::datasets
