// Benchmarks from their files, checked against what their grading needs, and the decoding
// settings upstream answers them with.
#include <algorithm>
#include <set>

#include "common/error.hpp"
#include "sim/eval/eval.hpp"
#include "sim/eval/prompts.hpp"

namespace fedsim::sim::eval {
namespace {

constexpr BenchmarkKind kKinds[] = {BenchmarkKind::mtbench, BenchmarkKind::vicuna, BenchmarkKind::advbench,
                                    BenchmarkKind::refer, BenchmarkKind::aya};

// The judge prompts single-answer grading uses (FastChat gen_judgment.py make_judge_single) and
// the fields run_judge_single fills for each.
struct PromptUse {
  const char* name;
  std::set<std::string> fields;
};
const std::vector<PromptUse>& mtbench_prompts() {
  static const std::vector<PromptUse> uses = {
      {"single-v1", {"question", "answer"}},
      {"single-math-v1", {"question", "answer", "ref_answer_1"}},
      {"single-v1-multi-turn", {"question_1", "question_2", "answer_1", "answer_2"}},
      {"single-math-v1-multi-turn",
       {"question_1", "question_2", "answer_1", "answer_2", "ref_answer_1", "ref_answer_2"}}};
  return uses;
}

std::string require_path(const std::string& path, const std::string& bench, const char* key, const char* what) {
  if (path.empty()) throw UserError(bench + ": " + key + ": a file is required (" + what + ")");
  return path;
}

// Checks a prompt the way FastChat would fail on it, but at load time, naming its line.
void check_prompt(const datasets::JudgePrompt& p, const std::set<std::string>& fields) {
  const std::string where = p.file + ":" + std::to_string(p.line) + ": judge prompt '" + p.name + "': ";
  if (p.type != "single")
    throw UserError(where + "type is '" + p.type + "'; single-answer grading needs type 'single'");
  if (p.output_format != "[[rating]]")
    throw UserError(where + "output_format is '" + p.output_format + "'; single-answer grading reads '[[rating]]'");
  try {
    for (const std::string& f : template_fields(p.prompt_template))
      if (!fields.count(f)) {
        std::string ok;
        for (const auto& a : fields) ok += (ok.empty() ? "{" : ", {") + a + "}";
        throw UserError("the field {" + f + "} cannot be filled; accepted: " + ok);
      }
  } catch (const UserError& e) {
    throw UserError(where + "prompt_template: " + e.what());
  }
}

std::map<std::string, datasets::JudgePrompt> load_prompts(const std::string& path, const std::vector<PromptUse>& uses) {
  std::map<std::string, datasets::JudgePrompt> all;
  for (auto& p : datasets::read_judge_prompts(path)) all.emplace(p.name, std::move(p));
  std::map<std::string, datasets::JudgePrompt> out;
  for (const PromptUse& u : uses) {
    const auto it = all.find(u.name);
    if (it == all.end())
      throw UserError(path + ": no judge prompt named '" + u.name +
                      "'; single-answer grading needs it (FastChat's judge_prompts.jsonl has it)");
    check_prompt(it->second, u.fields);
    out.emplace(u.name, it->second);
  }
  return out;
}

// MT-Bench: every question of a reference category needs a reference with as many turns as
// the question grades (FastChat gen_judgment.py check_data; turn 2 reads ref turns[1]).
void attach_references(Benchmark& b, const std::string& path) {
  const bool any = std::any_of(b.questions.begin(), b.questions.end(),
                               [](const datasets::BenchQuestion& q) { return needs_reference(q.category); });
  if (!any) return;
  require_path(path, b.name, "references",
               "MT-Bench grades math, reasoning and coding against reference_answer/<model>.jsonl");
  std::map<int64_t, int> line;
  for (auto& r : datasets::read_reference_answers(path)) {
    line[r.question_id] = r.line;
    b.references[r.question_id] = std::move(r.turns);
  }
  for (const auto& q : b.questions) {
    if (!needs_reference(q.category)) continue;
    const auto it = b.references.find(q.id);
    if (it == b.references.end())
      throw UserError(path + ": no reference answer for question_id " + std::to_string(q.id) + " (category " +
                      q.category + "); MT-Bench grades math, reasoning and coding against one");
    const size_t graded = std::min<size_t>(q.turns.size(), 2);
    if (it->second.size() < graded)
      throw UserError(path + ":" + std::to_string(line[q.id]) + ": the reference answer of question_id " +
                      std::to_string(q.id) + " has " + std::to_string(it->second.size()) + " turn(s); expected " +
                      std::to_string(graded) + " (one per graded turn)");
  }
}

}  // namespace

const char* kind_name(BenchmarkKind k) {
  switch (k) {
    case BenchmarkKind::mtbench:
      return "mtbench";
    case BenchmarkKind::vicuna:
      return "vicuna";
    case BenchmarkKind::advbench:
      return "advbench";
    case BenchmarkKind::refer:
      return "refer";
    case BenchmarkKind::aya:
      return "aya";
  }
  return "?";
}

BenchmarkKind parse_kind(const std::string& s, const std::string& what) {
  std::string names;
  for (BenchmarkKind k : kKinds) {
    if (s == kind_name(k)) return k;
    names += (names.empty() ? "" : ", ") + std::string(kind_name(k));
  }
  throw UserError(what + ": '" + s + "' is not a benchmark; accepted: " + names);
}

bool needs_reference(const std::string& category) {
  return category == "math" || category == "reasoning" || category == "coding" || category == "arena-hard-200";
}

Decoding decoding_for(BenchmarkKind kind, const std::string& category) {
  Decoding d;  // gen_model_answer.py / gen_answer_bench.py / gen_answer_aya.py: do_sample, T = 0.7
  switch (kind) {
    case BenchmarkKind::mtbench: {
      // FastChat common.py temperature_config; other categories 0.7 (gen_model_answer.py);
      // --max-new-token 1024; the answer is strip()ped.
      static const std::map<std::string, double> t = {{"writing", 0.7}, {"roleplay", 0.7},   {"extraction", 0.0},
                                                      {"math", 0.0},    {"coding", 0.0},     {"reasoning", 0.0},
                                                      {"stem", 0.1},    {"humanities", 0.1}, {"arena-hard-200", 0.0}};
      const auto it = t.find(category);
      d.temperature = it == t.end() ? 0.7 : it->second;
      d.strip = true;
      break;
    }
    case BenchmarkKind::vicuna:
      d.max_new_tokens = 2048;
      break;
    case BenchmarkKind::advbench:
      d.suffix = ".";
      break;  // template.format(example["instruction"] + '.')
    case BenchmarkKind::refer:
    case BenchmarkKind::aya:
      break;
  }
  return d;
}

Benchmark load_benchmark(const BenchmarkFiles& f) {
  Benchmark b;
  b.kind = f.kind;
  b.name = f.name.empty() ? kind_name(f.kind) : f.name;
  switch (f.kind) {
    case BenchmarkKind::mtbench:
      b.questions =
          datasets::read_question_jsonl(require_path(f.questions, b.name, "questions", "MT-Bench question.jsonl"));
      b.prompts = load_prompts(require_path(f.judge_prompts, b.name, "judge_prompts", "judge_prompts.jsonl"),
                               mtbench_prompts());
      attach_references(b, f.references);
      break;
    case BenchmarkKind::vicuna:
      b.questions =
          datasets::read_question_jsonl(require_path(f.questions, b.name, "questions", "Vicuna question.jsonl"));
      b.prompts = load_prompts(require_path(f.judge_prompts, b.name, "judge_prompts", "judge_prompts.jsonl"),
                               {mtbench_prompts()[0]});
      break;
    case BenchmarkKind::advbench:
      b.questions = datasets::read_advbench_csv(require_path(f.questions, b.name, "questions", "advbench.csv"));
      break;
    case BenchmarkKind::refer:
      b.questions = datasets::read_refer_testset(require_path(f.questions, b.name, "questions", "testset.json"));
      break;
    case BenchmarkKind::aya:
      b.questions = datasets::read_aya_testsets(require_path(f.questions, b.name, "questions", "test_datasets.json"));
      break;
  }
  return b;
}

Benchmark refer_benchmark(std::string name, std::vector<datasets::BenchQuestion> questions) {
  FEDSIM_ASSERT(!questions.empty());
  Benchmark b;
  b.kind = BenchmarkKind::refer;
  b.name = std::move(name);
  b.questions = std::move(questions);
  return b;
}

}  // namespace fedsim::sim::eval
