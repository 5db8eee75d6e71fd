// FedLLM-Bench JSON ({client_key: [sample, ...]}, clients in the object's order) and JSONL (one
// sample per line with a "client" field) -> FederatedDataset. Syntax is checked by nlohmann's
// parser; schema errors are located by a small scanner over the text (json_locate below) so
// that every message reads "<file>:<line>:<column>: expected ...".
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "common/error.hpp"
#include "datasets/import.hpp"

namespace fedsim::datasets {
namespace {

using Json = nlohmann::ordered_json;
struct Step {  // one step of a JSON path: an object key or an array index
  std::string key;
  size_t index = 0;
  bool is_key = false;
};
using Path = std::vector<Step>;

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
// Offset of the value at `path` (of the key itself when the last step names a missing key).
size_t json_locate(const std::string& t, size_t i, const Path& path) {
  i = skip_ws(t, i);
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

struct Source {
  std::string file, text;
  size_t line_base = 0;  // JSONL: the line of `text` in the file (0-based)
};
std::pair<size_t, size_t> line_col(const std::string& t, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < std::min(offset, t.size()); ++i) {
    if (t[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return {line, col};
}
UserError error_at(const Source& s, size_t offset, const std::string& msg) {
  const auto [line, col] = line_col(s.text, offset);
  return UserError(s.file + ":" + std::to_string(line + s.line_base) + ":" + std::to_string(col) + ": " + msg);
}
UserError error_at(const Source& s, const Path& path, const std::string& msg) {
  return error_at(s, json_locate(s.text, 0, path), msg);
}

// FedLLM-Bench layouts nest at most 5 levels. Deeper nesting only costs stack: nlohmann's copy
// and dump recurse once per level, so a file of a million '[' would overflow it.
constexpr int kMaxDepth = 64;
size_t too_deep(const std::string& t) {  // offset where nesting passes kMaxDepth, or npos
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

std::string type_of(const Json& j) { return j.type_name(); }

// Reads the fields of one sample object into `out` according to `kind`.
class SampleReader {
 public:
  SampleReader(FederatedDataset& d) : d_(d) {}
  ImportReport report;  // turns and conversations dropped so far

  Sample read(const Source& src, const Json& j, const Path& at, DataKind kind) {
    if (!j.is_object()) throw error_at(src, at, "expected a sample object, found " + type_of(j));
    auto str = [&](const char* key, bool required) -> std::string {
      Path p = at;
      p.push_back({key, 0, true});
      if (!j.contains(key)) {
        if (required) throw error_at(src, at, std::string("expected a \"") + key + "\" field (a string) in this sample");
        return "";
      }
      if (!j[key].is_string()) throw error_at(src, p, std::string("expected \"") + key + "\" to be a string, found " + type_of(j[key]));
      return j[key].get<std::string>();
    };
    Sample s;
    switch (kind) {
      case DataKind::sft:
        s.instruction = str("instruction", true);
        s.response = str("response", true);
        break;
      case DataKind::dpo:
        s.instruction = str("prompt", true);
        s.response = str("chosen", true);
        s.rejected = str("rejected", true);
        break;
      case DataKind::corpus: s.response = str("text", true); break;
      case DataKind::multiturn: read_conversation(src, j, at, s); break;
    }
    s.answer = str("answer", false);
    const std::string task = str("task", false), lang = str("language", false);
    s.task = index_of(d_.task_names, task.empty() ? "general" : task);
    s.language = lang.empty() ? -1 : index_of(d_.languages, lang);
    if (j.contains("quality")) {
      Path p = at;
      p.push_back({"quality", 0, true});
      const Json& q = j["quality"];
      if (!q.is_number() || !(std::isfinite(q.get<double>()) && q.get<double>() >= 0 && q.get<double>() <= 1))
        throw error_at(src, p, "expected \"quality\" to be a number in [0, 1], found " + q.dump());
      s.quality = q.get<float>();
    }
    return s;
  }

 private:
  static int32_t index_of(std::vector<std::string>& names, const std::string& name) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) it = names.insert(names.end(), name);
    return static_cast<int32_t>(it - names.begin());
  }

  // As FedLLM-Bench's multi-turn loader (data_module.py, preprocess): a leading gpt turn is
  // dropped, then turns must alternate from human; a last human turn (no reply) is kept there
  // as masked context and dropped here, which trains the same (it follows every target).
  void read_conversation(const Source& src, const Json& j, const Path& at, Sample& s) {
    Path p = at;
    p.push_back({"conversations", 0, true});
    if (!j.contains("conversations")) throw error_at(src, at, "expected a \"conversations\" field (a list of turns)");
    const Json& turns = j["conversations"];
    if (!turns.is_array() || turns.empty())
      throw error_at(src, p, "expected \"conversations\" to be a non-empty list of {\"from\", \"value\"} turns");
    size_t first = 0;
    for (size_t k = 0; k < turns.size(); ++k) {
      Path tp = p;
      tp.push_back({"", k, false});
      const Json& t = turns[k];
      if (!t.is_object() || !t.contains("from") || !t.contains("value") || !t["value"].is_string() ||
          !(t["from"] == "human" || t["from"] == "gpt"))
        throw error_at(src, tp, "expected a turn {\"from\": \"human\"|\"gpt\", \"value\": string}");
      if (k == 0 && t["from"] == "gpt") {
        first = 1;
        ++report.leading_gpt_turns;
        continue;
      }
      const char* want = (k - first) % 2 == 0 ? "human" : "gpt";
      if (t["from"] != want) {
        tp.push_back({"from", 0, true});
        throw error_at(src, tp, std::string("expected \"from\": \"") + want +
                                    "\" (turns alternate from the first human turn), found " + t["from"].dump());
      }
      s.turns.push_back(t["value"].get<std::string>());
    }
    if (s.turns.size() % 2 != 0) {
      s.turns.pop_back();
      ++report.trailing_human_turns;
    }
    if (s.turns.empty()) return;  // no exchange left: the caller drops the conversation
    s.instruction = s.turns[s.turns.size() - 2];
    s.response = s.turns.back();
  }
  FederatedDataset& d_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open (no such file or not readable)");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

ClientData& client_for(FederatedDataset& d, std::unordered_map<std::string, size_t>& index, const std::string& key) {
  if (const auto it = index.find(key); it != index.end()) return d.clients[it->second];
  index[key] = d.clients.size();
  ClientData c;
  c.attributes["key"] = key;
  const bool storable = !key.empty() && key != "." && key.find('/') == std::string::npos && key.find('\0') == std::string::npos;
  c.name = storable ? key : "client_" + std::to_string(d.clients.size());
  d.clients.push_back(std::move(c));
  return d.clients.back();
}

// A conversation left without an exchange (only a gpt turn, or only a human one) is dropped and
// counted: it holds no target. Upstream keeps it in n_i with every label masked.
void add_sample(ClientData& c, Sample s, DataKind kind, SampleReader& reader) {
  if (kind == DataKind::multiturn && s.turns.empty()) {
    ++reader.report.empty_conversations;
    return;
  }
  c.samples.push_back(std::move(s));
}

}  // namespace

FederatedDataset import_fedllm(const std::string& path, const ImportOptions& opt, ImportReport* report) {
  FederatedDataset d;
  d.kind = opt.kind;
  d.name = opt.name.empty() ? std::filesystem::path(path).stem().string() : opt.name;
  d.generator_yaml = "generator: import\nsource: " + std::filesystem::path(path).filename().string() +
                     "\nkind: " + kind_name(opt.kind) + "\n";
  const std::string format = opt.format == "auto" ? (path.size() > 6 && path.substr(path.size() - 6) == ".jsonl" ? "jsonl" : "json") : opt.format;
  if (format != "json" && format != "jsonl")
    throw UserError("--format: '" + opt.format + "' is not accepted; expected json, jsonl or auto");
  SampleReader reader(d);
  std::unordered_map<std::string, size_t> index;
  const std::string text = read_file(path);
  if (format == "json") {
    const Source src{path, text};
    const Json root = parse_text(src);
    if (root.is_array()) {  // a local-run file (utils/benchmark_dataset.py): one client, named by the file
      ClientData& c = client_for(d, index, std::filesystem::path(path).stem().string());
      for (size_t i = 0; i < root.size(); ++i)
        add_sample(c, reader.read(src, root[i], Path{{"", i, false}}, opt.kind), opt.kind, reader);
    } else if (root.is_object()) {
      for (const auto& [key, samples] : root.items()) {
        const Path at{{key, 0, true}};
        if (!samples.is_array())
          throw error_at(src, at, "expected a list of samples for client \"" + key + "\", found " + type_of(samples));
        ClientData& c = client_for(d, index, key);
        for (size_t i = 0; i < samples.size(); ++i) {
          Path sp = at;
          sp.push_back({"", i, false});
          add_sample(c, reader.read(src, samples[i], sp, opt.kind), opt.kind, reader);
        }
      }
    } else {
      throw error_at(src, Path{},
                     "expected an object {\"client key\": [sample, ...]} or a list of samples (one client), found " +
                         type_of(root));
    }
  } else {
    std::istringstream lines(text);
    std::string line;
    for (size_t n = 0; std::getline(lines, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const Source src{path, line, n};
      const Json j = parse_text(src);
      if (!j.is_object()) throw error_at(src, Path{}, "expected one sample object per line, found " + type_of(j));
      if (!j.contains("client") || !(j["client"].is_string() || j["client"].is_number_integer()))
        throw error_at(src, Path{{"client", 0, true}}, "expected a \"client\" field (string or integer) naming the sample's client");
      const std::string key = j["client"].is_string() ? j["client"].get<std::string>() : j["client"].dump();
      add_sample(client_for(d, index, key), reader.read(src, j, Path{}, opt.kind), opt.kind, reader);
    }
  }
  if (report) *report = reader.report;
  if (d.clients.empty()) throw UserError(path + ": holds no clients; expected at least one client with samples");
  if (d.task_names.empty()) d.task_names.push_back("general");
  if (!opt.test_path.empty()) import_test_set(opt.test_path, d);
  return d;
}

void import_test_set(const std::string& path, FederatedDataset& d) {
  const Source src{path, read_file(path)};
  const Json root = parse_text(src);
  SampleReader reader(d);
  auto add = [&](const Json& j, const Path& at, const std::string& language) {
    if (!j.is_object()) throw error_at(src, at, "expected a test sample object, found " + type_of(j));
    Json s = j;
    if (!s.contains("response")) s["response"] = s.contains("reference") ? s["reference"] : Json("");
    if (!s.contains("answer") && s.contains("reference")) s["answer"] = s["reference"];
    if (!language.empty()) s["language"] = language;
    for (const char* k : {"response", "answer"})
      if (s.contains(k) && !s[k].is_string()) throw error_at(src, at, std::string("expected \"reference\" to be a string"));
    Sample smp = reader.read(src, s, at, DataKind::sft);
    if (d.kind == DataKind::multiturn) smp.turns = {smp.instruction, smp.response};
    d.test.push_back(std::move(smp));
  };
  if (root.is_array()) {  // ChatbotIT [{instruction}], WildChat [{instruction, language}]
    for (size_t i = 0; i < root.size(); ++i) add(root[i], Path{{"", i, false}}, "");
  } else if (root.is_object()) {  // Aya {language: [{instruction, reference}]}
    for (const auto& [lang, samples] : root.items()) {
      if (!samples.is_array()) throw error_at(src, Path{{lang, 0, true}}, "expected a list of test samples for language \"" + lang + "\"");
      for (size_t i = 0; i < samples.size(); ++i) add(samples[i], Path{{lang, 0, true}, {"", i, false}}, lang);
    }
  } else {
    throw error_at(src, Path{}, "expected a list of test samples or an object {language: [samples]}, found " + type_of(root));
  }
}

}  // namespace fedsim::datasets
