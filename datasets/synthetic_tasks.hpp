// Internal to datasets/: the procedural task families behind generate_synthetic().
#pragma once

#include <string>

#include "datasets/common/rng.hpp"

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

}  // namespace fedsim::datasets::detail
