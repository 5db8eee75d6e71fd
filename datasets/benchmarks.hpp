// Readers for the open-ended benchmarks of FedLLM-Bench (rui-ye/FedLLM-Bench,
// evaluation/open_ended/), in their upstream file formats: MT-Bench and Vicuna question.jsonl,
// MT-Bench reference_answer/*.jsonl, AdvBench advbench.csv, the GPT4-refer test sets
// (chatbot/wildchat testset.json, or a data set's own test split), Aya's per-language
// test_datasets.json and FastChat's judge_prompts.jsonl. Layouts: FORMAT.md, "Benchmarks".
//
// Text only; what is asked of a judge lives in sim/eval. A malformed file is a UserError
// "<file>:<line>:<column>: ..." naming the line (JSONL, CSV) or the line and the path inside the
// document (JSON: `English[3].instruction`) and what was expected. Fields a reader does not use
// are ignored, as upstream ignores them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"

namespace fedsim::datasets {

// One benchmark item, whatever the file it came from.
struct BenchQuestion {
  int64_t id = 0;                      // MT-Bench/Vicuna question_id; else the 1-based item number in file order
  std::string category;                // MT-Bench/Vicuna category; Aya and WildChat: the language; else ""
  std::vector<std::string> turns;      // the user's turns in order (MT-Bench 2, others 1)
  std::vector<std::string> reference;  // Aya: the human reference; AdvBench: the `target`; else empty
  int line = 0;                        // 1-based line where the item starts in its file (0: not from a file)
};

// A reference answer of reference_answer/<model>.jsonl: choices[0].turns of one question.
struct ReferenceAnswer {
  int64_t question_id = 0;
  std::vector<std::string> turns;
  int line = 0;
};

// One line of judge_prompts.jsonl (FastChat's format).
struct JudgePrompt {
  std::string name;  // single-v1, single-math-v1, single-v1-multi-turn, ...
  std::string type;  // single | pairwise
  std::string system_prompt;
  std::string prompt_template;  // Python str.format template: {question}, {answer}, ...
  std::string description;      // optional in the file ("" when absent)
  std::string category;         // optional in the file
  std::string output_format;    // "[[rating]]" for single-answer grading
  std::string file;             // where it came from, for messages
  int line = 0;
};

// MT-Bench and Vicuna: one {"question_id": int, "category": string, "turns": [string, ...]}
// per line (non-empty turns); blank lines are skipped; question ids are unique.
std::vector<BenchQuestion> read_question_jsonl(const std::string& path);
// MT-Bench reference answers: one {"question_id": int, "choices": [{"turns": [string, ...]}, ...]}
// per line; the first choice is the reference (FastChat: choices[0]["turns"]); ids unique.
std::vector<ReferenceAnswer> read_reference_answers(const std::string& path);
// AdvBench: RFC 4180 CSV with the header `goal,target` (quoted fields, "" escapes, line breaks
// inside quotes, CRLF); blank lines skipped. turns = {goal}, reference = {target}.
std::vector<BenchQuestion> read_advbench_csv(const std::string& path);
// GPT4-refer test sets: [{"instruction": string, "language"?: string}, ...] (ChatbotIT,
// WildChat); category = language ("" without).
std::vector<BenchQuestion> read_refer_testset(const std::string& path);
// Aya: {"<language>": [{"instruction": string, "reference": string}, ...], ...}; languages in
// the file's order, category = language, ids numbered through the whole file.
std::vector<BenchQuestion> read_aya_testsets(const std::string& path);
// judge_prompts.jsonl: name, type, system_prompt, prompt_template and output_format are
// required strings, description and category optional strings; names unique.
std::vector<JudgePrompt> read_judge_prompts(const std::string& path);
// GPT4-refer on a data set's own test split: its instructions in order, category = the
// sample's language name ("" when unknown), ids 1..n. UserError naming the data set if empty.
std::vector<BenchQuestion> test_split_questions(const FederatedDataset& d);

}  // namespace fedsim::datasets
