// FedLLM-Bench's open-ended evaluation (rui-ye/FedLLM-Bench, evaluation/open_ended/): answers
// by the model under test, graded 1-10 by an LLM judge (MT-Bench, Vicuna bench, GPT4-refer,
// Aya) or by the refusal-prefix rule (AdvBench). What each benchmark asks and every departure
// from the upstream scripts: sim/eval/README.md.
//
// Pure functions of their inputs, with no clock or event queue: the simulator schedules an
// evaluation as a job, calls evaluate() (or generate_answers() then judge_answers()), charges
// simulated time from BenchmarkResult::cost and writes the result. Judge failures (endpoint
// errors, timeouts, malformed replies) are counted in the result, never thrown.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datasets/benchmarks.hpp"
#include "sim/llm/backend.hpp"

namespace fedsim::sim::eval {

class JudgmentCache;  // judge_cache.hpp

enum class BenchmarkKind { mtbench, vicuna, advbench, refer, aya };
constexpr int archive_enum_count(BenchmarkKind) { return 5; }  // checkpoints (sim/archive.hpp)
const char* kind_name(BenchmarkKind k);  // mtbench, vicuna, advbench, refer, aya
// UserError naming `what` (a key or path), the value and the accepted names.
BenchmarkKind parse_kind(const std::string& s, const std::string& what);

// Where a benchmark's files are.
struct BenchmarkFiles {
  BenchmarkKind kind = BenchmarkKind::mtbench;
  std::string name;           // results group /eval/<name>; "" = kind_name(kind)
  std::string questions;      // question.jsonl | advbench.csv | testset.json | test_datasets.json
  std::string references;     // MT-Bench: reference_answer/<model>.jsonl
  std::string judge_prompts;  // MT-Bench and Vicuna: judge_prompts.jsonl
};

struct Benchmark {
  BenchmarkKind kind = BenchmarkKind::mtbench;
  std::string name;
  std::vector<datasets::BenchQuestion> questions;
  std::map<int64_t, std::vector<std::string>> references;  // MT-Bench: reference turns by question id
  std::map<std::string, datasets::JudgePrompt> prompts;    // MT-Bench, Vicuna: the prompts used, by name
};
// Reads and cross-checks the files (UserError naming the file, line and what was expected):
// MT-Bench needs a reference answer with as many turns as the question for every question of
// a reference category, and the judge prompts its grading uses with no placeholder it cannot fill.
Benchmark load_benchmark(const BenchmarkFiles& files);
// GPT4-refer on questions from elsewhere (a data set's own test split).
Benchmark refer_benchmark(std::string name, std::vector<datasets::BenchQuestion> questions);

// FastChat's categories that are graded against a reference (common.py NEED_REF_CATS).
bool needs_reference(const std::string& category);

// Decoding of one question as upstream generates its answers.
struct Decoding {
  double temperature = 0.7;  // < 1e-4: greedy
  int max_new_tokens = 1024;
  bool strip = false;  // MT-Bench: FastChat strips the answer's surrounding whitespace
  std::string suffix;  // appended to the instruction (AdvBench: ".")
};
Decoding decoding_for(BenchmarkKind kind, const std::string& category);

// --- answers --------------------------------------------------------------------------------
struct Message {
  std::string role;  // "user" | "assistant"
  std::string content;
};
using Conversation = std::vector<Message>;
// Turns a conversation that ends with a user message into the conversation the answering
// backend is given (fedsim's model renders it through its chat template, an endpoint gets its
// turns as messages). A chat template plugs in here: model_layout(model).
using PromptFormat = std::function<models::Conversation(const Conversation&)>;
// For single-turn templates (fedsim-bytes, alpaca): the contents joined by blank lines as one
// user turn. With context > 0 (a byte-level model's max_seq) and a text beyond context - 4
// bytes (what the byte layout keeps), the oldest history bytes are dropped so the last user
// turn stays whole; a last turn that alone is too long is passed on as it is (the model keeps
// its start).
PromptFormat byte_layout(int context = 0);
// For multi-turn templates: the turns as they are; the model's template renders them and the
// model drops the oldest exchanges that do not fit its context (models::Model::generate_chat).
PromptFormat chat_layout();
// The layout of a model's chat template: chat_layout for a multi-turn template; for a
// single-turn one byte_layout(max_seq) with the byte-level tokenizer, byte_layout() (the model
// cuts by its own tokens) with any other.
PromptFormat model_layout(const models::Model& m);

struct EvalCost {
  int64_t generate_calls = 0;    // backend generate() calls (each batches a turn's questions)
  int64_t prompt_tokens = 0;     // tokens the answering model read, as its backend counts them
  int64_t generated_tokens = 0;  // tokens it produced
  int64_t judge_requests = 0;    // requests sent to the judge (cache hits excluded)
  int64_t judge_cache_hits = 0;
  int64_t judge_prompt_tokens = 0;  // as the endpoint reports them
  int64_t judge_completion_tokens = 0;
  template <class Ar>
  void fields(Ar& ar) {
    ar(generate_calls, prompt_tokens, generated_tokens, judge_requests, judge_cache_hits, judge_prompt_tokens,
       judge_completion_tokens);
  }
};

struct AnswerOptions {
  PromptFormat format = byte_layout();
  uint64_t seed = 0;  // sampling streams derive from (seed, benchmark kind, round, turn)
  int64_t round = 0;
  // Decoding overrides (config eval.temperature, eval.max_new_tokens): >= 0 replaces upstream's
  // temperature of every question, > 0 its max_new_tokens; otherwise decoding_for's.
  double temperature = -1.0;
  int max_new_tokens = 0;
};
struct Answers {
  std::vector<std::vector<std::string>> turns;  // [question][turn]
  int64_t failures = 0;  // answers the backend could not produce (recorded as "ERROR", as FastChat)
  EvalCost cost;
};
// Python's str.strip(): whitespace as str.isspace() defines it (ASCII, \x1c-\x1f and the
// Unicode spaces), at both ends of UTF-8 text.
std::string python_strip(const std::string& s);
// Every question's turns in order; turn t of every question goes in one generate() call, and
// MT-Bench's second turn sees the conversation so far (question 1, its answer, question 2).
Answers generate_answers(const Benchmark& b, llm::Backend& model, const AnswerOptions& opt);

// --- judging --------------------------------------------------------------------------------
// One request to the judge: FastChat's (system, user) pair for a question's turn.
struct JudgeCall {
  size_t question = 0;      // index into Benchmark::questions
  int turn = 1;             // 1-based
  std::string prompt_name;  // judge_prompts.jsonl name, or the upstream script it comes from
  std::string system, user;
  double temperature = 0.0;
  int max_tokens = 2048;
};
std::vector<JudgeCall> judge_calls(const Benchmark& b, const Answers& a);

// The rating in a judge's reply as FastChat reads it (common.py run_judge_single): the first
// "[[x]]", else the first "[x]", x = digits with an optional decimal part; nullopt otherwise.
std::optional<double> parse_rating(const std::string& judgment);
// AdvBench's rule (gen_judge_advbench.py): harmless when any refusal marker occurs anywhere in
// the output, case-insensitively.
bool refuses(const std::string& output);
const std::vector<std::string>& refusal_markers();

enum class Verdict : int32_t { rated = 0, unparsable = 1, timeout = 2, endpoint_error = 3, malformed_reply = 4 };
constexpr int archive_enum_count(Verdict) { return 5; }
const char* verdict_name(Verdict v);

struct Judgment {
  int64_t question_id = 0;
  int32_t turn = 1;
  std::string category;
  double score = -1.0;  // rating (AdvBench: 1 refused, 0 complied); -1 unless rated
  Verdict verdict = Verdict::rated;
  bool cached = false;
  std::string answer, reply;  // the judged answer (last turn) and the judge's reply
  template <class Ar>
  void fields(Ar& ar) { ar(question_id, turn, category, score, verdict, cached, answer, reply); }
};
struct CategoryScore {
  std::string category;
  double mean = 0.0;  // over rated judgments; NaN when none
  int64_t rated = 0;
  template <class Ar>
  void fields(Ar& ar) { ar(category, mean, rated); }
};
struct BenchmarkResult {
  std::string name;
  BenchmarkKind kind = BenchmarkKind::mtbench;
  double score = 0.0;                     // the figure upstream reports (README: per benchmark); NaN when none
  double mean_rated = 0.0;                // mean over rated judgments; NaN when none
  std::vector<CategoryScore> categories;  // in order of first appearance
  std::vector<double> turn_means;         // per judged turn (MT-Bench: 2), over rated judgments; NaN when none
  int64_t judgments = 0, rated = 0, unparsable = 0, timeouts = 0, endpoint_errors = 0, malformed_replies = 0;
  int64_t answer_failures = 0;
  std::vector<Judgment> items;
  EvalCost cost;
  template <class Ar>
  void fields(Ar& ar) {
    ar(name, kind, score, mean_rated, categories, turn_means, judgments, rated, unparsable, timeouts, endpoint_errors,
       malformed_replies, answer_failures, items, cost);
  }
};

struct JudgeOptions {
  llm::Backend* backend = nullptr;  // the judge endpoint; unused (may be null) for AdvBench
  std::string model = "gpt-4";      // the judge model's name: part of the cache key
  JudgmentCache* cache = nullptr;   // optional
  uint64_t seed = 0;                // sent with every request
  size_t save_every = 32;           // a file-backed cache is saved after this many new replies
};
BenchmarkResult judge_answers(const Benchmark& b, const Answers& a, const JudgeOptions& opt);
BenchmarkResult evaluate(const Benchmark& b, llm::Backend& model, const AnswerOptions& answers,
                         const JudgeOptions& judge);

}  // namespace fedsim::sim::eval
