#include "sim/eval/eval_config.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "common/error.hpp"
#include "sim/algorithms.hpp"
#include "sim/config.hpp"

namespace fedsim::sim {

void visit_eval(EvalSection& s, Visitor& v) {
  static const std::vector<std::string> kBenchmarks{"mtbench", "vicuna", "advbench", "refer", "aya"};
  v.section("eval", "FedLLM-Bench's open-ended evaluation as server jobs of the run (sim/eval/README.md)");
  v.list("benchmarks", s.benchmarks, kBenchmarks,
         "benchmarks to run on the global adapter; [] = off. refer = GPT4-refer");
  v.integer("every", s.every, 0, 1000000, "evaluate every k rounds, and always after the last; 0 = only after the last");
  v.flag("start", s.start, "on = evaluate the starting model (round 0) too", /*off_first=*/true);
  v.text("mtbench_questions", s.mtbench_questions, "MT-Bench question.jsonl");
  v.text("mtbench_references", s.mtbench_references,
         "MT-Bench reference_answer folder (gpt-4.jsonl for judges named gpt-4*, else <judge_model>.jsonl) or one "
         ".jsonl file");
  v.text("vicuna_questions", s.vicuna_questions, "Vicuna bench question.jsonl");
  v.text("judge_prompts", s.judge_prompts, "FastChat judge_prompts.jsonl (mtbench, vicuna)");
  v.text("advbench", s.advbench, "AdvBench advbench.csv (goal,target)");
  v.text("refer_testset", s.refer_testset, "GPT4-refer testset.json; \"\" = the run data set's own test split");
  v.text("aya", s.aya, "Aya test_datasets.json (per language)");
  v.text("judge_url", s.judge_url, "judge: OpenAI-compatible base URL; POST <url>/chat/completions");
  v.text("judge_model", s.judge_model, "judge: model name sent to the endpoint (part of the cache key)");
  v.text("judge_api_key_env", s.judge_api_key_env, "judge: environment variable with a bearer token; \"\" = none");
  v.number("judge_timeout_s", s.judge_timeout_s, 0.001, 86400.0, "judge: per-request timeout (wall clock)");
  v.integer("judge_retries", s.judge_retries, 0, 100, "judge: retries after a timeout, connection error, 429 or 5xx");
  v.number("judge_backoff_s", s.judge_backoff_s, 0.0, 3600.0, "judge: first retry delay, doubled per retry (wall clock)");
  v.number("judge_rpm", s.judge_rpm, 0.0, 1e9, "judge: request rate limit per minute; 0 = unlimited");
  v.number("judge_latency_s", s.judge_latency_s, 0.0, 1e6,
           "simulated: seconds per judge request sent (cache hits cost nothing)");
  v.number("temperature", s.temperature, -1.0, 10.0,
           "answers: sampling temperature for every question; -1 = upstream's per benchmark and category; 0 = greedy");
  v.integer("max_new_tokens", s.max_new_tokens, 0, 1000000,
            "answers: new-token limit; 0 = upstream's (1024, Vicuna 2048); the model's context caps it");
  v.flag("cache", s.cache, "judgment cache: a repeated or resumed evaluation does not ask the judge again");
  v.text("cache_path", s.cache_path, "judgment cache file; \"\" = <experiment.cache_dir>/judge-cache.h5");
}

EvalSection& eval_of(ExperimentConfig& c) { return c.features.get<EvalConfigSection>().value; }
const EvalSection& eval_of(const ExperimentConfig& c) { return eval_of(const_cast<ExperimentConfig&>(c)); }

namespace eval {
namespace {

[[noreturn]] void fail(const ExperimentConfig& c, const std::string& key, const std::string& what) {
  throw UserError(c.source_path + ": eval." + key + ": " + what);
}

// A file the benchmark needs: set, and there.
const std::string& need_file(const ExperimentConfig& c, const char* key, const std::string& path, const char* bench,
                             const char* what) {
  if (path.empty()) fail(c, key, std::string("empty; eval.benchmarks lists ") + bench + ", which needs " + what);
  if (!std::filesystem::is_regular_file(path)) fail(c, key, path + ": no such file (" + what + ")");
  return path;
}

// FedLLM-Bench's gen_judge_mtbench.py reads the references of judges named gpt-4* from
// reference_answer/gpt-4.jsonl; FastChat's gen_judgment.py from <judge model>.jsonl.
std::string references_file(const ExperimentConfig& c) {
  const EvalSection& e = eval_of(c);
  const std::string& p = e.mtbench_references;
  if (p.empty() || !std::filesystem::is_directory(p))
    return need_file(c, "mtbench_references", p, "mtbench", "reference_answer/<model>.jsonl or its folder");
  const std::string name = e.judge_model.rfind("gpt-4", 0) == 0 ? "gpt-4" : e.judge_model;
  const std::string f = p + "/" + name + ".jsonl";
  if (!std::filesystem::is_regular_file(f))
    fail(c, "mtbench_references", f + ": no such file; the folder holds the references by judge model (" +
                                      "gpt-4.jsonl for judges named gpt-4*, else <eval.judge_model>.jsonl)");
  return f;
}

Benchmark load_one(const ExperimentConfig& c, const BenchmarkFiles& f) {
  Benchmark b;
  try {
    b = load_benchmark(f);
  } catch (const UserError& e) {
    throw UserError(c.source_path + ": eval: " + kind_name(f.kind) + ": " + e.what());
  }
  if (b.questions.empty())
    throw UserError(c.source_path + ": eval: " + kind_name(f.kind) + ": " + f.questions + ": no questions");
  return b;
}

}  // namespace

std::vector<Benchmark> load_eval_benchmarks(const ExperimentConfig& c, const datasets::FederatedDataset* data) {
  const EvalSection& e = eval_of(c);
  std::vector<Benchmark> out;
  // In the order of eval.benchmarks (the order of the server's jobs).
  for (const std::string& name : e.benchmarks) {
    BenchmarkFiles f;
    f.kind = parse_kind(name, c.source_path + ": eval.benchmarks");
    switch (f.kind) {
      case BenchmarkKind::mtbench:
        f.questions = need_file(c, "mtbench_questions", e.mtbench_questions, "mtbench", "MT-Bench question.jsonl");
        f.judge_prompts = need_file(c, "judge_prompts", e.judge_prompts, "mtbench", "judge_prompts.jsonl");
        f.references = references_file(c);
        break;
      case BenchmarkKind::vicuna:
        f.questions = need_file(c, "vicuna_questions", e.vicuna_questions, "vicuna", "Vicuna question.jsonl");
        f.judge_prompts = need_file(c, "judge_prompts", e.judge_prompts, "vicuna", "judge_prompts.jsonl");
        break;
      case BenchmarkKind::advbench:
        f.questions = need_file(c, "advbench", e.advbench, "advbench", "advbench.csv");
        break;
      case BenchmarkKind::refer:
        if (e.refer_testset.empty()) {
          if (!data) continue;
          try {
            out.push_back(refer_benchmark("refer", datasets::test_split_questions(*data)));
          } catch (const UserError& err) {
            throw UserError(c.source_path + ": eval.refer_testset: empty, so GPT4-refer asks the data set's test "
                            "split: " + err.what());
          }
          continue;
        }
        f.questions = need_file(c, "refer_testset", e.refer_testset, "refer", "testset.json");
        break;
      case BenchmarkKind::aya:
        f.questions = need_file(c, "aya", e.aya, "aya", "test_datasets.json");
        break;
    }
    out.push_back(load_one(c, f));
  }
  return out;
}

void validate_eval(const ExperimentConfig& c) {
  const EvalSection& e = eval_of(c);
  if (!e.enabled()) return;
  if (c.federation.trainer != TrainerKind::model)
    throw UserError(c.source_path + ": eval.benchmarks: answers need a model, but federation.trainer is none; "
                    "accepted with eval: trainer model (or eval.benchmarks: [])");
  if (c.federation.algorithm == Algorithm::local)
    throw UserError(c.source_path + ": eval.benchmarks: algorithm local has no global adapter to evaluate; accepted "
                    "with eval: any other algorithm (or eval.benchmarks: [])");
  if (e.temperature < 0.0 && e.temperature != -1.0) {
    char v[32];
    std::snprintf(v, sizeof v, "%g", e.temperature);
    fail(c, "temperature", std::string(v) + " is not accepted; accepted: -1 (upstream's) or 0 to 10");
  }
  bool judged = false;
  for (const auto& b : e.benchmarks) judged = judged || b != "advbench";
  if (judged && e.judge_url.empty()) fail(c, "judge_url", "empty; every benchmark but advbench needs a judge");
  if (judged && e.judge_model.empty()) fail(c, "judge_model", "empty; the judge endpoint needs a model name");
  load_eval_benchmarks(c, nullptr);
}

llm::OpenAIConfig judge_endpoint(const ExperimentConfig& c) {
  const EvalSection& e = eval_of(c);
  llm::OpenAIConfig o;
  o.url = e.judge_url;
  o.model = e.judge_model;
  o.timeout_s = e.judge_timeout_s;
  o.retries = static_cast<int>(e.judge_retries);
  o.backoff_s = e.judge_backoff_s;
  o.rpm = e.judge_rpm;
  o.hint = "check eval.judge_url, eval.judge_model and eval.judge_api_key_env";
  if (!e.judge_api_key_env.empty()) {
    const char* key = std::getenv(e.judge_api_key_env.c_str());
    if (!key || !*key)
      fail(c, "judge_api_key_env", "the environment variable " + e.judge_api_key_env +
                                       " is not set; accepted: the name of a set variable holding the judge's key, "
                                       "or \"\" for none");
    o.api_key = key;
  }
  return o;
}

std::string judge_cache_path(const ExperimentConfig& c) {
  const EvalSection& e = eval_of(c);
  return e.cache_path.empty() ? cache_dir(c) + "/judge-cache.h5" : e.cache_path;
}

}  // namespace eval
}  // namespace fedsim::sim
