// A JSON value with its path in the file, so that every error names the file and the key
// (tokenizer_json.cpp, tokenizer_model.cpp). Internal to models/text.
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.hpp"
#include "models/text/hf_tokenizer.hpp"

namespace fedsim::models::text {

// A JSON value and its path in the file, for messages.
struct Node {
  const nlohmann::json& j;
  std::string key;
  const std::string& file;

  [[noreturn]] void fail(const std::string& what) const {
    throw UserError(file + ": " + (key.empty() ? "" : key + ": ") + what);
  }
  Node at(const char* k) const {
    if (!j.is_object()) fail("expected an object");
    const auto it = j.find(k);
    if (it == j.end()) throw UserError(file + ": " + sub(k) + ": missing");
    return Node{*it, sub(k), file};
  }
  bool has(const char* k) const { return j.is_object() && j.contains(k) && !j.at(k).is_null(); }
  Node item(size_t i) const {
    if (!j.is_array() || i >= j.size()) fail("expected an array of at least " + std::to_string(i + 1) + " items");
    return Node{j[i], key + "[" + std::to_string(i) + "]", file};
  }
  std::string sub(const char* k) const { return key.empty() ? k : key + "." + k; }
  std::string str() const {
    if (!j.is_string()) fail("expected a string, found " + j.dump().substr(0, 60));
    return j.get<std::string>();
  }
  bool boolean() const {
    if (!j.is_boolean()) fail("expected true or false, found " + j.dump().substr(0, 60));
    return j.get<bool>();
  }
  int64_t integer() const {
    if (!j.is_number_integer()) fail("expected an integer, found " + j.dump().substr(0, 60));
    return j.get<int64_t>();
  }
  const nlohmann::json& array() const {
    if (!j.is_array()) fail("expected an array");
    return j;
  }
  // Optional members with defaults.
  bool flag(const char* k, bool def) const { return has(k) ? at(k).boolean() : def; }
  std::string text(const char* k, const std::string& def) const { return has(k) ? at(k).str() : def; }
  std::string type() const { return at("type").str(); }
  [[noreturn]] void unsupported(const std::string& what, const char* accepted) const {
    fail("'" + what + "' is not supported; accepted: " + accepted);
  }
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw UserError(path + ": cannot open the file");
  const std::streamoff size = in.tellg();
  if (size < 0) throw UserError(path + ": cannot read the file");
  std::string s(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  if (!in) throw UserError(path + ": cannot read the file");
  return s;
}

inline nlohmann::json parse_json_file(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw UserError(path + ": not valid JSON: " + e.what());
  }
}

// tokenizer_model.cpp: the BPE model (tokens, merges, options) from the root object, and the
// unit-form vocabulary, BOS/EOS/PAD/UNK and summary once the rest of the file is read.
void read_bpe_model(const Node& root, HfConfig& c);
void finish_config(HfConfig& c);

}  // namespace fedsim::models::text
