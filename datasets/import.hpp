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

// What the tolerant multi-turn reading dropped (FORMAT.md, "Importing").
struct ImportReport {
  size_t leading_gpt_turns = 0;     // a conversation's first turn from gpt (no prompt before it)
  size_t trailing_human_turns = 0;  // a conversation's last human turn (no reply after it)
  size_t empty_conversations = 0;   // conversations left with no exchange (not imported)
  size_t turns() const { return leading_gpt_turns + trailing_human_turns; }
};

// UserError naming the file, line and column and what was expected for malformed input.
// `report`, when given, receives what the reading dropped.
FederatedDataset import_fedllm(const std::string& path, const ImportOptions& opt, ImportReport* report = nullptr);
// Reads a test-set file into d.test (languages are added to d.languages as needed).
void import_test_set(const std::string& path, FederatedDataset& d);

}  // namespace fedsim::datasets
