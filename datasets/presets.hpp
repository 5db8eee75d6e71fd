// Internal to datasets/: the table of calibrated presets (presets.cpp).
#pragma once

#include <cstdint>
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
  // Table 1's total: samples, or conversations for multiturn (what n_i counts upstream). The
  // calibrated counts add up to it exactly at `clients` clients; per_client.mean is its rounding.
  int64_t total;
  Moments per_client, instruction, response, quality;  // Table 1 (lengths in tokens -> bytes)
  std::vector<const char*> languages;
  std::vector<double> language_weights;  // pooled language shares
  bool translate;                        // adds the translation family
  double turns_mean;                     // multiturn: exchanges per conversation (geometric)
  int n_test;                            // FedLLM-Bench test-set sizes
};

const std::vector<Preset>& presets();
// UserError naming data.preset and the accepted names when unknown.
const Preset& find_preset(const std::string& name);

}  // namespace fedsim::datasets::detail
