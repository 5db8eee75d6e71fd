// The tokenizer oracle (issue 17 item 6): fedsim's tokenizer, loaded from a package's
// tokenizer.json, against the ids that package's own JavaScript encoder wrote
// (tokenizer_oracle/encode.js).
//
//   tokenizer_oracle_check TOKENIZER_JSON CORPUS.jsonl EXPECTED.jsonl [--ids-only]
//     every sample's ids, without and with the post-processor's special tokens, then
//     decode(encode(x)) == x (== NFC(x) for a tokenizer that normalises to NFC);
//     --ids-only: no round trip (text with added-token strings, which Llama-2's decoder gives
//     back with a space after each, as Hugging Face's does)
//   tokenizer_oracle_check TOKENIZER_JSON CHATS.jsonl EXPECTED.jsonl --chat TEMPLATE
//     every conversation's generation prompt (tokenize_prompt) against the package's
//     apply_chat_template
//
// Prints counts and the encoding rate; exit 1 on any mismatch, 2 on bad input.
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "models/text/batch.hpp"
#include "models/text/unicode.hpp"

namespace {

using fedsim::models::TextTokenizer;
using Ids = std::vector<int32_t>;

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw fedsim::UserError(path + ": cannot open");
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// Reports the first few differences; returns whether got == want.
bool same(const Ids& got, const Ids& want, const std::string& what, size_t& failures) {
  if (got == want) return true;
  size_t k = 0;
  while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
  if (++failures <= 5) {
    std::cout << "MISMATCH " << what.substr(0, 160) << "\n  at token " << k << ", fedsim:";
    for (size_t i = k; i < got.size() && i < k + 8; ++i) std::cout << " " << got[i];
    std::cout << "\n  at token " << k << ", oracle:";
    for (size_t i = k; i < want.size() && i < k + 8; ++i) std::cout << " " << want[i];
    std::cout << "\n";
  }
  return false;
}

int check_text(const TextTokenizer& tok, const std::vector<nlohmann::json>& corpus,
               const std::vector<nlohmann::json>& expected, bool round_trip) {
  const bool nfc = tok.describe().find("NFC") != std::string::npos;
  std::vector<std::string> texts;
  for (const auto& j : corpus) texts.push_back(j.get<std::string>());
  // Timed: every sample once, as a run tokenises its data (cold cache, one thread).
  std::vector<Ids> ids(texts.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = tok.encode(texts[i], false);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  size_t bytes = 0, tokens = 0, mismatches = 0, special_mismatches = 0, trips = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    bytes += texts[i].size();
    tokens += ids[i].size();
    const std::string what = "sample " + std::to_string(i) + " " + nlohmann::json(texts[i]).dump();
    same(ids[i], expected[i][0].get<Ids>(), what, mismatches);
    same(tok.encode(texts[i], true), expected[i][1].get<Ids>(), what + " (with special tokens)", special_mismatches);
    const std::string back = tok.decode(ids[i], false);
    if (round_trip && back != (nfc ? fedsim::models::text::nfc(texts[i]) : texts[i]) && ++trips <= 5)
      std::cout << "ROUND TRIP " << what.substr(0, 160) << " -> " << nlohmann::json(back).dump().substr(0, 160) << "\n";
  }
  std::cout << "  samples " << texts.size() << ", bytes " << bytes << ", tokens " << tokens << ", mismatches "
            << mismatches << " (with special tokens: " << special_mismatches << "), round-trip failures "
            << (round_trip ? std::to_string(trips) + (nfc ? " (decode(encode(x)) == NFC(x))" : "") : "not checked")
            << "\n  encode: " << static_cast<long>(texts.size() / secs) << " samples/s, "
            << static_cast<long>(tokens / secs) << " tokens/s, " << bytes / secs / 1e6 << " MB/s\n";
  return (mismatches || special_mismatches || trips) ? 1 : 0;
}

int check_chats(const TextTokenizer& tok, const std::string& name, const std::vector<nlohmann::json>& chats,
                const std::vector<nlohmann::json>& expected) {
  using namespace fedsim::models;
  const ChatTemplate& t = chat_template(name);
  size_t mismatches = 0, tokens = 0;
  for (size_t i = 0; i < chats.size(); ++i) {
    Conversation c{chats[i].at("system").get<std::string>(), {}};
    for (const auto& turn : chats[i].at("turns"))
      c.turns.push_back({c.turns.size() % 2 ? Role::assistant : Role::user, turn.get<std::string>()});
    const Ids ids = tokenize_prompt(tok, t, c);
    tokens += ids.size();
    same(ids, expected[i].get<Ids>(), "conversation " + std::to_string(i) + " " + chats[i].dump(), mismatches);
  }
  std::cout << "  chat template " << name << ": conversations " << chats.size() << ", tokens " << tokens
            << ", mismatches " << mismatches << "\n";
  return mismatches ? 1 : 0;
}

int run(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const bool ids_only = args.size() == 4 && args[3] == "--ids-only";
  const bool chat = args.size() == 5 && args[3] == "--chat";
  if (args.size() != 3 && !ids_only && !chat) {
    std::cerr << "usage: tokenizer_oracle_check TOKENIZER_JSON CORPUS.jsonl EXPECTED.jsonl [--ids-only | --chat TEMPLATE]\n";
    return 2;
  }
  const auto tok = fedsim::models::load_tokenizer_json(args[0]);
  const auto corpus = read_jsonl(args[1]);
  const auto expected = read_jsonl(args[2]);
  if (corpus.size() != expected.size())
    throw fedsim::UserError(args[2] + ": " + std::to_string(expected.size()) + " rows for " +
                            std::to_string(corpus.size()) + " in " + args[1]);
  std::cout << tok->describe() << ", " << args[1] << "\n";
  return chat ? check_chats(*tok, args[4], corpus, expected) : check_text(*tok, corpus, expected, !ids_only);
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
