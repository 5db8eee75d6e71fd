// Benchmark readers (benchmarks.hpp): JSONL questions, reference answers and judge prompts,
// the JSON test sets of GPT4-refer and Aya. AdvBench's CSV is in benchmarks_csv.cpp.
#include "datasets/benchmarks.hpp"

#include <map>

#include "datasets/json_text.hpp"

namespace fedsim::datasets {
namespace {

using namespace json_text;

// error_at with the path inside the document first: "at English[3].reference: expected ...".
UserError fail(const Source& src, const Path& p, const std::string& msg) {
  return error_at(src, p, (p.empty() ? "" : "at " + path_text(p) + ": ") + msg);
}

// Typed field access on one JSON object; every error names the field and what was expected.
class Fields {
 public:
  Fields(const Source& src, const Json& obj, Path at, const char* what)
      : src_(src), obj_(obj), at_(std::move(at)), what_(what) {
    if (!obj.is_object()) throw fail(src, at_, std::string("expected a ") + what + " object, found " + type_of(obj));
  }
  const Path& at() const { return at_; }

  bool has(const char* k) const { return obj_.contains(k); }
  std::string str(const char* k) const {
    const Json& v = need(k, "a string");
    if (!v.is_string()) throw fail(src_, at_ + key(k), quoted(k) + " to be a string, found " + type_of(v));
    return v.get<std::string>();
  }
  std::string str_or_empty(const char* k) const { return has(k) ? str(k) : ""; }
  int64_t integer(const char* k) const {
    const Json& v = need(k, "an integer");
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
      throw fail(src_, at_ + key(k), quoted(k) + " to be an integer, found " + shown(v));
    return v.get<int64_t>();
  }
  // A non-empty list of strings.
  std::vector<std::string> strings(const Json& v, const Path& p, const std::string& name) const {
    if (!v.is_array() || v.empty())
      throw fail(src_, p, "expected " + name + " to be a non-empty list of strings, found " + shown(v));
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string())
        throw fail(src_, p + index(i),
                   "expected " + name + "[" + std::to_string(i) + "] to be a string, found " + type_of(v[i]));
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }
  std::vector<std::string> strings(const char* k) const {
    return strings(need(k, "a list of strings"), at_ + key(k), std::string("\"") + k + "\"");
  }

 private:
  const Json& need(const char* k, const char* type) const {
    if (!obj_.contains(k))
      throw fail(src_, at_, std::string("expected a \"") + k + "\" field (" + type + ") in this " + what_);
    return obj_[k];
  }
  static std::string quoted(const char* k) { return std::string("expected \"") + k + "\""; }
  static std::string shown(const Json& v) {
    return v.is_primitive() && !v.is_string() ? type_of(v) + " " + v.dump() : type_of(v);
  }
  const Source& src_;
  const Json& obj_;
  Path at_;
  const char* what_;
};

// Where a JSON document's value starts: "line N" for messages about duplicates.
int line_of(const Source& src, const Path& p) {
  const size_t at = locate(src.text, p);
  int line = 1 + static_cast<int>(src.line_base);
  for (size_t i = 0; i < at && i < src.text.size(); ++i) line += src.text[i] == '\n';
  return line;
}

// Records the first line of every id; a second one is an error at its "question_id".
class UniqueIds {
 public:
  explicit UniqueIds(const char* field) : field_(field) {}
  void add(const Source& src, int64_t id) {
    const int line = static_cast<int>(src.line_base) + 1;
    const auto [it, fresh] = first_.emplace(id, line);
    if (!fresh)
      throw fail(src, Path{key(field_)},
                 std::string(field_) + " " + std::to_string(id) + " appears twice (first on line " +
                     std::to_string(it->second) + "); expected unique " + field_ + "s");
  }

 private:
  const char* field_;
  std::map<int64_t, int> first_;
};

Json parse_document(const Source& src, bool array, const char* expected) {
  Json root = parse_text(src);
  if (array ? !root.is_array() : !root.is_object())
    throw fail(src, Path{}, std::string("expected ") + expected + ", found " + type_of(root));
  return root;
}

}  // namespace

std::vector<BenchQuestion> read_question_jsonl(const std::string& path) {
  std::vector<BenchQuestion> out;
  UniqueIds ids("question_id");
  for_each_line(path, read_file(path), [&](const Source& src, const Json& j) {
    const Fields f(src, j, Path{}, "question");
    BenchQuestion q;
    q.id = f.integer("question_id");
    q.category = f.str("category");
    q.turns = f.strings("turns");
    q.line = static_cast<int>(src.line_base) + 1;
    ids.add(src, q.id);
    out.push_back(std::move(q));
  });
  if (out.empty()) throw UserError(path + ": holds no questions; expected one JSON object per line");
  return out;
}

std::vector<ReferenceAnswer> read_reference_answers(const std::string& path) {
  std::vector<ReferenceAnswer> out;
  UniqueIds ids("question_id");
  for_each_line(path, read_file(path), [&](const Source& src, const Json& j) {
    const Fields f(src, j, Path{}, "reference answer");
    ReferenceAnswer r;
    r.question_id = f.integer("question_id");
    if (!f.has("choices") || !j["choices"].is_array() || j["choices"].empty())
      throw fail(src, f.has("choices") ? Path{key("choices")} : Path{},
                 "expected \"choices\" to be a non-empty list of {\"turns\": [string, ...]}");
    const Fields c(src, j["choices"][0], Path{key("choices"), index(0)}, "choice");
    r.turns = c.strings("turns");
    r.line = static_cast<int>(src.line_base) + 1;
    ids.add(src, r.question_id);
    out.push_back(std::move(r));
  });
  if (out.empty()) throw UserError(path + ": holds no reference answers; expected one JSON object per line");
  return out;
}

std::vector<BenchQuestion> read_refer_testset(const std::string& path) {
  const Source src{path, read_file(path)};
  const Json root = parse_document(src, true, "a list of {\"instruction\": string} test samples");
  std::vector<BenchQuestion> out;
  for (size_t i = 0; i < root.size(); ++i) {
    const Fields f(src, root[i], Path{index(i)}, "test sample");
    BenchQuestion q;
    q.id = static_cast<int64_t>(i) + 1;
    q.turns = {f.str("instruction")};
    q.category = f.str_or_empty("language");
    q.line = line_of(src, f.at());
    out.push_back(std::move(q));
  }
  if (out.empty()) throw fail(src, Path{}, "expected at least one test sample, found an empty list");
  return out;
}

std::vector<BenchQuestion> read_aya_testsets(const std::string& path) {
  const Source src{path, read_file(path)};
  const Json root = parse_document(src, false, "an object {\"<language>\": [{\"instruction\", \"reference\"}, ...]}");
  std::vector<BenchQuestion> out;
  for (const auto& [lang, samples] : root.items()) {
    const Path at{key(lang)};
    if (!samples.is_array())
      throw fail(src, at, "expected a list of test samples for language \"" + lang + "\", found " + type_of(samples));
    for (size_t i = 0; i < samples.size(); ++i) {
      const Fields f(src, samples[i], at + index(i), "test sample");
      BenchQuestion q;
      q.id = static_cast<int64_t>(out.size()) + 1;
      q.category = lang;
      q.turns = {f.str("instruction")};
      q.reference = {f.str("reference")};
      q.line = line_of(src, f.at());
      out.push_back(std::move(q));
    }
  }
  if (out.empty()) throw fail(src, Path{}, "expected at least one language with test samples");
  return out;
}

std::vector<JudgePrompt> read_judge_prompts(const std::string& path) {
  std::vector<JudgePrompt> out;
  std::map<std::string, int> first;
  for_each_line(path, read_file(path), [&](const Source& src, const Json& j) {
    const Fields f(src, j, Path{}, "judge prompt");
    JudgePrompt p;
    p.name = f.str("name");
    p.type = f.str("type");
    p.system_prompt = f.str("system_prompt");
    p.prompt_template = f.str("prompt_template");
    p.output_format = f.str("output_format");
    p.description = f.str_or_empty("description");
    p.category = f.str_or_empty("category");
    p.file = path;
    p.line = static_cast<int>(src.line_base) + 1;
    const auto [it, fresh] = first.emplace(p.name, p.line);
    if (!fresh)
      throw fail(src, Path{key("name")},
                 "judge prompt \"" + p.name + "\" appears twice (first on line " + std::to_string(it->second) +
                     "); expected unique names");
    out.push_back(std::move(p));
  });
  if (out.empty()) throw UserError(path + ": holds no judge prompts; expected one JSON object per line");
  return out;
}

std::vector<BenchQuestion> test_split_questions(const FederatedDataset& d) {
  if (d.test.empty())
    throw UserError("data set '" + d.name + "': the test split is empty; GPT4-refer needs test instructions");
  std::vector<BenchQuestion> out;
  for (size_t i = 0; i < d.test.size(); ++i) {
    const Sample& s = d.test[i];
    BenchQuestion q;
    q.id = static_cast<int64_t>(i) + 1;
    q.turns = {s.instruction};
    if (s.language >= 0 && static_cast<size_t>(s.language) < d.languages.size()) q.category = d.languages[s.language];
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace fedsim::datasets
