// Import of FedLLM-Bench files (its released JSON: {client: [sample, ...]}) and JSONL into a FederatedDataset.
// Layouts and error conventions: FORMAT.md, "Importing".
#pragma once

#include <string>

#include "datasets/dataset.hpp"

namespace fedsim::datasets {

struct ImportOptions {
  DataKind kind = DataKind::sft;  // sft | multiturn | dpo (corpus: one {"text"} per sample)
  std::string format = "auto";    // json | jsonl | auto (by extension: .jsonl = jsonl)
  std::string test_path;          // optional test-set file (Aya, ChatbotIT or WildChat shape)
  std::string name;               // data set name; default: the file's stem
};

// UserError naming the file, line and column and what was expected for malformed input.
FederatedDataset import_fedllm(const std::string& path, const ImportOptions& opt);
// Reads a test-set file into d.test (languages are added to d.languages as needed).
void import_test_set(const std::string& path, FederatedDataset& d);

}  // namespace fedsim::datasets
