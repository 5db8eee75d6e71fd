// FedLLM-Bench JSON/JSONL importers (datasets/import.cpp). Input: one byte of options (bits 0-1
// data kind, bit 2 JSONL instead of JSON, bit 3 the bytes are a test-set file next to a fixed
// training file), then the file's bytes. An import that succeeds must write and read back
// (write_dataset / read_dataset) without error: what the importer accepts, fedsim can store.
#include <string>

#include "datasets/dataset.hpp"
#include "datasets/import.hpp"
#include "fuzz_common.hpp"

using namespace fedsim;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t opt = data[0];
  datasets::ImportOptions o;
  o.kind = static_cast<datasets::DataKind>(opt & 3);
  o.format = opt & 4 ? "jsonl" : "json";
  std::string train;
  if (opt & 8) {
    static const char kTrain[] = R"({"c": [{"instruction": "i", "response": "r", "prompt": "p", "chosen": "c",
      "rejected": "x", "text": "t", "conversations": [{"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}]}]})";
    o.format = "json";
    train = fuzz::write_scratch("train.json", reinterpret_cast<const uint8_t*>(kTrain), sizeof kTrain - 1);
    o.test_path = fuzz::write_scratch("test.json", data + 1, size - 1);
  } else {
    train = fuzz::write_scratch(o.format == "json" ? "train.json" : "train.jsonl", data + 1, size - 1);
  }
  datasets::FederatedDataset d;
  if (!fuzz::expect_user_error_only([&] { d = datasets::import_fedllm(train, o); })) return 0;
  const std::string h5 = fuzz::scratch_dir() + "/imported.h5";
  datasets::write_dataset(d, h5);  // no UserError expected: the importer made the names storable
  const datasets::FederatedDataset back = datasets::read_dataset(h5);
  FEDSIM_ASSERT(back.clients.size() == d.clients.size() && back.n_samples() == d.n_samples());
  return 0;
}
