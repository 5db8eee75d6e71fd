// Reading JSON and JSONL files that users hand in, with errors that point into the text:
// "<file>:<line>:<column>: <what was expected>". nlohmann's parser checks the syntax; schema
// errors are located by a small scanner over the (valid) text, walking a Path of object keys
// and array indexes to the offending value. Shared by the data set import (import.cpp) and the
// benchmark readers (benchmarks.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace fedsim::datasets::json_text {

using Json = nlohmann::ordered_json;  // keeps the file's key order

struct Step {  // one step of a JSON path: an object key or an array index
  std::string key;
  size_t index = 0;
  bool is_key = false;
};
using Path = std::vector<Step>;
inline Step key(std::string k) { return {std::move(k), 0, true}; }
inline Step index(size_t i) { return {"", i, false}; }
inline Path operator+(Path p, Step s) {
  p.push_back(std::move(s));
  return p;
}
// The path as readers write it: `English[3].instruction`, `[0].choices[0].turns`.
std::string path_text(const Path& p);

struct Source {
  std::string file, text;
  size_t line_base = 0;  // JSONL: the line of `text` in the file (0-based)
};

// Offset of the value at `path` in `text` (of the enclosing container when a key is missing).
size_t locate(const std::string& text, const Path& path);
UserError error_at(const Source& s, size_t offset, const std::string& msg);
UserError error_at(const Source& s, const Path& path, const std::string& msg);

// The whole file (UserError "<file>: cannot open ..." when it cannot be read).
std::string read_file(const std::string& path);
// Parses s.text; syntax errors and nesting deeper than 64 levels are UserErrors located in it.
Json parse_text(const Source& s);
// 1-based line and column of a byte offset.
std::pair<size_t, size_t> line_col(const std::string& text, size_t offset);
// Offset where nesting passes 64 levels, or npos.
size_t too_deep(const std::string& text);

// The entries of the object at the top of `text`, which must be valid JSON (Json::accept)
// holding an object, in one linear pass and without building it: the key (unescaped), the
// offset of its opening quote, and its value's text [begin, end). Duplicate keys are all listed.
// (nlohmann's ordered_json, which keeps key order, searches every key on each insert: 200,000
// clients took minutes.)
struct ObjectEntry {
  std::string key;
  size_t key_at = 0, begin = 0, end = 0;
};
std::vector<ObjectEntry> object_entries(const std::string& text);
inline std::string type_of(const Json& j) { return j.type_name(); }

// Calls f(source, value) for every non-blank line of a JSONL text (lines numbered from 1 in
// the messages; a trailing '\r' is part of the blank test only).
template <class F>
void for_each_line(const std::string& file, const std::string& text, F&& f) {
  size_t start = 0;
  for (size_t n = 0; start <= text.size(); ++n) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      const Source src{file, line, n};
      f(src, parse_text(src));
    }
    start = end + 1;
  }
}

}  // namespace fedsim::datasets::json_text
