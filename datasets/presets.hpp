// Internal to datasets/: the table of calibrated presets (presets.cpp).
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.hpp"

namespace fedsim::datasets::detail {

struct Moments {
  double mean, std;
};
struct Preset {
  const char* name;
  DataKind kind;
  int clients;
  Moments per_client, instruction, response, quality;  // Table 1 (lengths in tokens -> bytes)
  std::vector<const char*> languages;
  std::vector<double> language_weights;  // pooled language shares
  bool translate;                        // adds the translation family
  double turns_mean;                     // multiturn: exchanges per conversation
  int n_test;                            // FedLLM-Bench test-set sizes
};

const std::vector<Preset>& presets();
// UserError naming data.preset and the accepted names when unknown.
const Preset& find_preset(const std::string& name);

}  // namespace fedsim::datasets::detail
