// Judge prompt text inside sim/eval: Python's str.format for the templates of
// judge_prompts.jsonl, and the prompts FedLLM-Bench's scripts carry in their code.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace fedsim::sim::eval {

// Python's str.format restricted to named fields, as FastChat fills judge_prompts.jsonl:
// "{name}" is replaced by values.at(name), "{{" and "}}" are literal braces. A field Python
// would read otherwise ("{0}", "{a.b}", "{a!r}", "{a:>5}"), a lone "}" or an unclosed "{" is
// an error; so is a field missing from `values` (Python: KeyError). Errors are UserError
// with the message only; callers prefix the file and prompt name.
std::string format_template(const std::string& tmpl, const std::map<std::string, std::string>& values);
// The field names a template uses, in order of appearance (duplicates kept).
std::vector<std::string> template_fields(const std::string& tmpl);

// Prompts of FedLLM-Bench's judge scripts (evaluation/open_ended/), quoted from their code.
namespace upstream {
// gen_judge_vicuna.py: system message (its user template equals single-v1's).
extern const char* const kVicunaSystem;
// gen_judge_bench.py (GPT4-refer) and aya_evaluation/gen_judge_aya.py: system message.
extern const char* const kRateSystem;
// gen_judge_bench.py: {question}, {answer}.
extern const char* const kReferTemplate;
// aya_evaluation/gen_judge_aya.py: {question}, {answer}, {reference}.
extern const char* const kAyaTemplate;
}  // namespace upstream

}  // namespace fedsim::sim::eval
