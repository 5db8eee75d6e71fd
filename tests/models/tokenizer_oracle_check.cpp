// The tokenizer oracle (issue 17 item 6): fedsim's tokenizer, loaded from a package's
// tokenizer.json, against the ids that package's own JavaScript encoder wrote
// (tokenizer_oracle/encode.js), sample by sample, with and without the special tokens; then
// decode(encode(x)) == x (== NFC(x) for a tokenizer that normalises to NFC).
//
//   tokenizer_oracle_check TOKENIZER_JSON CORPUS.jsonl EXPECTED.jsonl [--ids-only]
//
// --ids-only: compare ids, skip the round trip (for text with added-token strings, which
// Llama-2's decoder gives back with a space after each, as Hugging Face's does).
// Prints samples, tokens, mismatches, round-trip failures and the encoding rate; exit 1 on
// any mismatch or failed round trip, 2 on bad input.
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "models/text/tokenizer.hpp"
#include "models/text/unicode.hpp"

namespace {

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw fedsim::UserError(path + ": cannot open");
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

std::string show(const std::vector<int32_t>& ids, size_t from) {
  std::string s;
  for (size_t k = from; k < ids.size() && k < from + 8; ++k) s += std::to_string(ids[k]) + " ";
  return s;
}

int run(int argc, char** argv) {
  const bool ids_only = argc == 5 && std::string(argv[4]) == "--ids-only";
  if (argc != 4 && !ids_only) {
    std::cerr << "usage: tokenizer_oracle_check TOKENIZER_JSON CORPUS.jsonl EXPECTED.jsonl [--ids-only]\n";
    return 2;
  }
  const auto tok = fedsim::models::load_tokenizer_json(argv[1]);
  const bool nfc = tok->describe().find("NFC") != std::string::npos;
  const auto corpus = read_jsonl(argv[2]);
  const auto expected = read_jsonl(argv[3]);
  if (corpus.size() != expected.size())
    throw fedsim::UserError(std::string(argv[3]) + ": " + std::to_string(expected.size()) + " rows for " +
                            std::to_string(corpus.size()) + " samples");
  std::vector<std::string> texts;
  for (const auto& j : corpus) texts.push_back(j.get<std::string>());

  // Timed pass: the samples once each, as a training run tokenises its data (cold cache).
  size_t bytes = 0, tokens = 0;
  std::vector<std::vector<int32_t>> ids(texts.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = tok->encode(texts[i], false);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  size_t mismatches = 0, special_mismatches = 0, round_trip = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    bytes += texts[i].size();
    tokens += ids[i].size();
    const auto want = expected[i][0].get<std::vector<int32_t>>();
    if (ids[i] != want) {
      size_t k = 0;
      while (k < ids[i].size() && k < want.size() && ids[i][k] == want[k]) ++k;
      if (++mismatches <= 5)
        std::cout << "MISMATCH sample " << i << " at token " << k << ": " << nlohmann::json(texts[i]).dump().substr(0, 160)
                  << "\n  fedsim: " << show(ids[i], k) << "\n  oracle: " << show(want, k) << "\n";
    }
    if (tok->encode(texts[i], true) != expected[i][1].get<std::vector<int32_t>>()) ++special_mismatches;
    const std::string back = tok->decode(ids[i], false);
    if (!ids_only && back != (nfc ? fedsim::models::text::nfc(texts[i]) : texts[i]) && ++round_trip <= 5)
      std::cout << "ROUND TRIP sample " << i << ": " << nlohmann::json(texts[i]).dump().substr(0, 160) << " -> "
                << nlohmann::json(back).dump().substr(0, 160) << "\n";
  }
  std::cout << tok->describe() << "\n  samples " << texts.size() << ", bytes " << bytes << ", tokens " << tokens
            << ", mismatches " << mismatches << " (with special tokens: " << special_mismatches << ")"
            << ", round-trip failures " << (ids_only ? "not checked" : std::to_string(round_trip))
            << (nfc && !ids_only ? " (against NFC(x))" : "") << "\n  encode: "
            << static_cast<long>(texts.size() / secs) << " samples/s, " << static_cast<long>(tokens / secs)
            << " tokens/s, " << bytes / secs / 1e6 << " MB/s (one thread, cold cache)\n";
  return (mismatches || special_mismatches || round_trip) ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const fedsim::UserError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
