#include "datasets/json_text.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace fedsim::datasets::json_text {
namespace {

// --- locating a value in (syntactically valid) JSON text --------------------------------------
size_t skip_ws(const std::string& t, size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  return i;
}
size_t skip_string(const std::string& t, size_t i) {  // t[i] == '"'; returns past the closing quote
  for (++i; i < t.size() && t[i] != '"'; ++i)
    if (t[i] == '\\') ++i;
  return i + 1;
}
size_t skip_value(const std::string& t, size_t i) {
  if (t[i] == '"') return skip_string(t, i);
  if (t[i] == '{' || t[i] == '[') {
    int depth = 0;
    for (; i < t.size(); ++i) {
      if (t[i] == '"') { i = skip_string(t, i) - 1; continue; }
      if (t[i] == '{' || t[i] == '[') ++depth;
      if ((t[i] == '}' || t[i] == ']') && --depth == 0) return i + 1;
    }
    return i;
  }
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\n') ++i;
  return i;
}

}  // namespace

std::pair<size_t, size_t> line_col(const std::string& t, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < std::min(offset, t.size()); ++i) {
    if (t[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return {line, col};
}

// FedLLM-Bench layouts nest at most 5 levels. Deeper nesting only costs stack: nlohmann's copy
// and dump recurse once per level, so a file of a million '[' would overflow it.
namespace {
constexpr int kMaxDepth = 64;
}  // namespace
size_t too_deep(const std::string& t) {
  int depth = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '"') {
      i = skip_string(t, i) - 1;
    } else if (t[i] == '{' || t[i] == '[') {
      if (++depth > kMaxDepth) return i;
    } else if (t[i] == '}' || t[i] == ']') {
      --depth;
    }
  }
  return std::string::npos;
}

std::vector<ObjectEntry> object_entries(const std::string& t) {
  std::vector<ObjectEntry> out;
  size_t i = skip_ws(t, 0);
  FEDSIM_ASSERT_MSG(i < t.size() && t[i] == '{', "object_entries: the text does not hold an object");
  i = skip_ws(t, i + 1);
  while (i < t.size() && t[i] != '}') {
    ObjectEntry e;
    e.key_at = i;
    const size_t key_end = skip_string(t, i);
    e.key = Json::parse(t.begin() + static_cast<long>(i), t.begin() + static_cast<long>(key_end)).get<std::string>();
    e.begin = skip_ws(t, skip_ws(t, key_end) + 1);  // past ':'
    e.end = skip_value(t, e.begin);
    out.push_back(std::move(e));
    i = skip_ws(t, out.back().end);
    if (i < t.size() && t[i] == ',') i = skip_ws(t, i + 1);
  }
  return out;
}

std::string path_text(const Path& p) {
  std::string s;
  for (const Step& step : p) {
    if (!step.is_key) s += "[" + std::to_string(step.index) + "]";
    else s += (s.empty() ? "" : ".") + step.key;
  }
  return s;
}

size_t locate(const std::string& t, const Path& path) {
  size_t i = skip_ws(t, 0);
  for (const Step& step : path) {
    const char open = t[i];
    if (open != (step.is_key ? '{' : '[')) return i;
    const size_t container = i;
    i = skip_ws(t, i + 1);
    bool found = false;
    for (size_t n = 0; i < t.size() && t[i] != '}' && t[i] != ']'; ++n) {
      bool match = !step.is_key && n == step.index;
      if (step.is_key) {
        const size_t end = skip_string(t, i);
        match = Json::parse(t.substr(i, end - i)).get<std::string>() == step.key;
        i = skip_ws(t, skip_ws(t, end) + 1);  // past ':'
      }
      if (match) { found = true; break; }
      i = skip_ws(t, skip_value(t, i));
      if (t[i] == ',') i = skip_ws(t, i + 1);
    }
    if (!found) return container;
  }
  return i;
}

UserError error_at(const Source& s, size_t offset, const std::string& msg) {
  const auto [line, col] = line_col(s.text, offset);
  return UserError(s.file + ":" + std::to_string(line + s.line_base) + ":" + std::to_string(col) + ": " + msg);
}
UserError error_at(const Source& s, const Path& path, const std::string& msg) {
  return error_at(s, locate(s.text, path), msg);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open (no such file or not readable)");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

Json parse_text(const Source& s) {
  if (const size_t at = too_deep(s.text); at != std::string::npos)
    throw error_at(s, at, "nesting deeper than " + std::to_string(kMaxDepth) + " levels; a sample nests at most 5");
  try {
    return Json::parse(s.text);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    const size_t colon = what.find(": ", what.find("parse error"));
    what = colon == std::string::npos ? what : what.substr(colon + 2);
    throw error_at(s, e.byte > 0 ? e.byte - 1 : 0, "invalid JSON: " + what);
  } catch (const Json::out_of_range& e) {
    // A number beyond double's range ("number overflow parsing '1e400'"); no offset is given,
    // so point at the first occurrence of the number's text.
    const std::string what = e.what();
    const size_t q = what.find('\''), q_end = what.rfind('\'');
    const std::string number = q != std::string::npos && q_end > q ? what.substr(q + 1, q_end - q - 1) : "";
    const size_t at = number.empty() ? 0 : s.text.find(number);
    throw error_at(s, at == std::string::npos ? 0 : at,
                   "invalid JSON: the number " + number + " is out of range; accepted: numbers within +-1.8e308");
  }
}

}  // namespace fedsim::datasets::json_text
