// Internal to datasets/: the procedural task families behind generate_synthetic().
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/rng.hpp"

namespace fedsim::datasets::detail {

struct TaskInstance {
  std::string instruction;  // "<task>: <argument>"
  std::string answer;       // ground truth
};

int n_task_families();
const char* task_family_name(int family);
// Index of a family by name, -1 when unknown.
int find_task_family(const std::string& name);
// Draws one instance of `family` from `rng` (which the caller derives per sample).
TaskInstance make_task_instance(int family, Rng& rng);

// Shared by the generators (synthetic.cpp, presets.cpp, partition.cpp).
std::string format_double(double x);  // shortest round-trip decimal, integers without a point
std::vector<double> dirichlet(Rng& rng, double alpha, size_t k);
std::vector<double> dirichlet(Rng& rng, const std::vector<double>& alpha);
size_t draw_categorical(Rng& rng, const std::vector<double>& p);
std::string client_name(int i, int n_clients);  // client_000 ..., zero-padded to a common width

}  // namespace fedsim::datasets::detail
namespace fedsim::datasets {
struct FederatedDataset;
struct SyntheticSpec;
}  // namespace fedsim::datasets
namespace fedsim::datasets::detail {

// presets.cpp: the calibrated presets and the fields SyntheticSpec gained for them.
void validate_extension_fields(const SyntheticSpec& s);
std::string preset_spec_yaml(const SyntheticSpec& s);
FederatedDataset generate_preset(const SyntheticSpec& s);
// "" when partition is natural, else the partition lines of generator_yaml.
std::string partition_yaml(const SyntheticSpec& s);
// Re-splits the generated clients when s.partition is not natural.
FederatedDataset apply_partition(FederatedDataset d, const SyntheticSpec& s);

}  // namespace fedsim::datasets::detail
