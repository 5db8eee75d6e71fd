// Small tokenizer.json files the tests write themselves, with vocabularies and merges small
// enough to work the expected ids out by hand.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "models/text/split_regex.hpp"
#include "models/text/tokenizer.hpp"
#include "models/text/unicode.hpp"

namespace fedsim::test {

using nlohmann::json;

// A file under a per-process temporary folder; returns its path.
inline std::string write_temp(const std::string& name, const std::string& content) {
  const auto dir = std::filesystem::temp_directory_path() / ("fedsim-test-text-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / std::filesystem::path(name).parent_path());
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

// The byte-level form of a byte string ("Ġ" for a space), as GPT-2's vocabularies write tokens.
inline std::string bl(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) models::text::utf8_append(out, models::text::byte_to_unicode()[b]);
  return out;
}

// Byte-level BPE: ids 0-255 are the bytes (id = byte value), then the merges' tokens in order
// (id 256 + rank), then `added` (ids from 1000). Split with the Llama-3 regex, then ByteLevel.
inline json byte_level_json(const std::vector<std::pair<std::string, std::string>>& merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[bl(std::string(1, static_cast<char>(b)))] = b;
  json m = json::array();
  int id = 256;
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(bl(a + b))) vocab[bl(a + b)] = id++;
    m.push_back(bl(a) + " " + bl(b));
  }
  return json{
      {"version", "1.0"},
      {"added_tokens", json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", models::text::split_regex_pattern(models::text::SplitRegex::llama3)}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"byte_fallback", false}, {"vocab", vocab},
        {"merges", m}}}};
}

inline void add_token(json& j, int id, const std::string& content, bool special, bool lstrip = false, bool rstrip = false) {
  j["added_tokens"].push_back({{"id", id},
                               {"content", content},
                               {"single_word", false},
                               {"lstrip", lstrip},
                               {"rstrip", rstrip},
                               {"normalized", false},
                               {"special", special}});
}

// SentencePiece-style BPE as Llama-2 / Mistral ship it: <unk> <s> </s>, <0x00>..<0xFF> (ids
// 3..258), then `pieces` from 259 on; merges as given; Prepend + Replace normalizer, no
// pre-tokenizer, byte fallback, TemplateProcessing "<s> $A", the Replace/ByteFallback/Fuse/Strip
// decoder.
inline json sentencepiece_json(const std::vector<std::string>& pieces, const std::vector<std::string>& merges) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  for (size_t k = 0; k < pieces.size(); ++k) vocab[pieces[k]] = 259 + static_cast<int>(k);
  json j = {
      {"version", "1.0"},
      {"added_tokens", json::array()},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", json::array()},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true},
        {"vocab", vocab}, {"merges", merges}}}};
  add_token(j, 0, "<unk>", true);
  add_token(j, 1, "<s>", true);
  add_token(j, 2, "</s>", true);
  return j;
}

inline std::shared_ptr<const models::TextTokenizer> load_json(const std::string& name, const json& j) {
  return models::load_tokenizer_json(write_temp(name, j.dump()));
}

}  // namespace fedsim::test
