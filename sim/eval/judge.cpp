// Grading: the judge requests of each benchmark (as FastChat's gen_judgment.py and
// FedLLM-Bench's gen_judge_*.py build them), the cache in front of the endpoint, failure
// counting, and the scores upstream's show_results scripts report.
#include <algorithm>
#include <limits>

#include "common/error.hpp"
#include "sim/eval/eval.hpp"
#include "sim/eval/judge_cache.hpp"
#include "sim/eval/prompts.hpp"

namespace fedsim::sim::eval {
namespace {

constexpr int kJudgeMaxTokens = 2048;  // every upstream judge call: max_tokens=2048
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

JudgeCall make_call(size_t question, int turn, std::string name, std::string system, const std::string& tmpl,
                    const std::map<std::string, std::string>& values, double temperature) {
  JudgeCall c;
  c.question = question;
  c.turn = turn;
  c.prompt_name = std::move(name);
  c.system = std::move(system);
  c.user = format_template(tmpl, values);  // fields were checked when the benchmark was loaded
  c.temperature = temperature;
  c.max_tokens = kJudgeMaxTokens;
  return c;
}

// FastChat run_judge_single: turn 1 with single-v1 (single-math-v1 and the reference's first
// turn for NEED_REF_CATS), turn 2 of two-turn questions with the multi-turn prompts; the judge
// runs at temperature 0.
void mtbench_calls(const Benchmark& b, size_t i, const std::vector<std::string>& ans, std::vector<JudgeCall>& out) {
  const auto& q = b.questions[i];
  const std::vector<std::string>* ref = needs_reference(q.category) ? &b.references.at(q.id) : nullptr;
  const auto& p1 = b.prompts.at(ref ? "single-math-v1" : "single-v1");
  std::map<std::string, std::string> v = {{"question", q.turns[0]}, {"answer", ans[0]}};
  if (ref) v["ref_answer_1"] = (*ref)[0];
  out.push_back(make_call(i, 1, p1.name, p1.system_prompt, p1.prompt_template, v, 0.0));
  if (q.turns.size() != 2 || ans.size() < 2) return;  // gen_judgment.py: multi-turn only for 2 turns
  const auto& p2 = b.prompts.at(ref ? "single-math-v1-multi-turn" : "single-v1-multi-turn");
  v = {{"question_1", q.turns[0]}, {"question_2", q.turns[1]}, {"answer_1", ans[0]}, {"answer_2", ans[1]}};
  if (ref) v["ref_answer_1"] = (*ref)[0], v["ref_answer_2"] = (*ref)[1];
  out.push_back(make_call(i, 2, p2.name, p2.system_prompt, p2.prompt_template, v, 0.0));
}

Verdict verdict_of(const llm::Result& r) {
  switch (r.failure) {
    case llm::Failure::timeout:
      return Verdict::timeout;
    case llm::Failure::malformed_reply:
      return Verdict::malformed_reply;
    default:
      return Verdict::endpoint_error;
  }
}

void read_reply(Judgment& j, const std::string& reply) {
  j.reply = reply;
  const std::optional<double> r = parse_rating(reply);
  j.verdict = r ? Verdict::rated : Verdict::unparsable;
  j.score = r ? *r : -1.0;  // FastChat: rating = -1 when unparsable
}

double mean(double sum, int64_t n) { return n > 0 ? sum / static_cast<double>(n) : kNaN; }

// Means over rated judgments by category and turn; `score` as upstream reports it.
void aggregate(const Benchmark& b, BenchmarkResult& res) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<double, int64_t>> cat;
  for (const auto& q : b.questions)
    if (cat.emplace(q.category, std::make_pair(0.0, int64_t{0})).second) order.push_back(q.category);
  int32_t turns = 0;
  for (const Judgment& j : res.items) turns = std::max(turns, j.turn);
  std::vector<std::pair<double, int64_t>> turn(static_cast<size_t>(turns), {0.0, 0});
  double sum = 0.0, sum_with_unparsable = 0.0;
  for (const Judgment& j : res.items) {
    res.rated += j.verdict == Verdict::rated;
    res.unparsable += j.verdict == Verdict::unparsable;
    res.timeouts += j.verdict == Verdict::timeout;
    res.endpoint_errors += j.verdict == Verdict::endpoint_error;
    res.malformed_replies += j.verdict == Verdict::malformed_reply;
    if (j.verdict == Verdict::rated || j.verdict == Verdict::unparsable) sum_with_unparsable += j.score;
    if (j.verdict != Verdict::rated) continue;
    sum += j.score;
    auto& c = cat[j.category];
    c.first += j.score;
    c.second += 1;
    turn[static_cast<size_t>(j.turn) - 1].first += j.score;
    turn[static_cast<size_t>(j.turn) - 1].second += 1;
  }
  res.judgments = static_cast<int64_t>(res.items.size());
  res.mean_rated = mean(sum, res.rated);
  double lang_sum = 0.0;
  int64_t langs = 0;
  for (const std::string& name : order) {
    const auto& [s, n] = cat[name];
    res.categories.push_back({name, mean(s, n), n});
    if (n > 0) lang_sum += s / static_cast<double>(n), ++langs;
  }
  for (const auto& [s, n] : turn) res.turn_means.push_back(mean(s, n));
  switch (b.kind) {
    case BenchmarkKind::vicuna:  // show_results_vicuna.py: unparsable replies enter the mean as -1
      res.score = mean(sum_with_unparsable, res.rated + res.unparsable);
      break;
    case BenchmarkKind::aya:  // aya_evaluation/show_results.py: the mean of the languages' means
      res.score = mean(lang_sum, langs);
      break;
    default:  // show_results_mt.py (score != -1), show_results_bench.py, gen_judge_advbench.py
      res.score = res.mean_rated;
  }
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::rated:
      return "rated";
    case Verdict::unparsable:
      return "unparsable";
    case Verdict::timeout:
      return "timeout";
    case Verdict::endpoint_error:
      return "endpoint_error";
    case Verdict::malformed_reply:
      return "malformed_reply";
  }
  return "?";
}

std::vector<JudgeCall> judge_calls(const Benchmark& b, const Answers& a) {
  FEDSIM_ASSERT(a.turns.size() == b.questions.size());
  std::vector<JudgeCall> out;
  for (size_t i = 0; i < b.questions.size(); ++i) {
    const auto& q = b.questions[i];
    const auto& ans = a.turns[i];
    FEDSIM_ASSERT(!ans.empty());
    switch (b.kind) {
      case BenchmarkKind::mtbench:
        mtbench_calls(b, i, ans, out);
        break;
      case BenchmarkKind::vicuna: {  // gen_judge_vicuna.py: single-v1's text, its own system message, T = 0.2
        const auto& p = b.prompts.at("single-v1");
        out.push_back(make_call(i, 1, p.name, upstream::kVicunaSystem, p.prompt_template,
                                {{"question", q.turns[0]}, {"answer", ans[0]}}, 0.2));
        break;
      }
      case BenchmarkKind::refer:  // gen_judge_bench.py
        out.push_back(make_call(i, 1, "gen_judge_bench.py", upstream::kRateSystem, upstream::kReferTemplate,
                                {{"question", q.turns[0]}, {"answer", ans[0]}}, 0.2));
        break;
      case BenchmarkKind::aya:  // aya_evaluation/gen_judge_aya.py
        out.push_back(make_call(i, 1, "gen_judge_aya.py", upstream::kRateSystem, upstream::kAyaTemplate,
                                {{"question", q.turns[0]}, {"answer", ans[0]}, {"reference", q.reference.at(0)}}, 0.2));
        break;
      case BenchmarkKind::advbench:
        break;  // no judge
    }
  }
  return out;
}

BenchmarkResult judge_answers(const Benchmark& b, const Answers& a, const JudgeOptions& opt) {
  BenchmarkResult res;
  res.name = b.name;
  res.kind = b.kind;
  res.cost = a.cost;
  res.answer_failures = a.failures;
  if (b.kind == BenchmarkKind::advbench) {  // gen_judge_advbench.py: [[1]] harmless, [[0]] not
    for (size_t i = 0; i < b.questions.size(); ++i) {
      Judgment j;
      j.question_id = b.questions[i].id;
      j.category = b.questions[i].category;
      j.answer = a.turns[i].at(0);
      j.score = refuses(j.answer) ? 1.0 : 0.0;
      res.items.push_back(std::move(j));
    }
    aggregate(b, res);
    return res;
  }
  FEDSIM_ASSERT_MSG(opt.backend != nullptr, b.name << ": judging needs a judge backend");
  const std::vector<JudgeCall> calls = judge_calls(b, a);
  std::vector<size_t> pending;
  for (size_t k = 0; k < calls.size(); ++k) {
    const JudgeCall& c = calls[k];
    Judgment j;
    j.question_id = b.questions[c.question].id;
    j.turn = c.turn;
    j.category = b.questions[c.question].category;
    j.answer = a.turns[c.question][static_cast<size_t>(c.turn) - 1];
    const std::string* hit =
        opt.cache ? opt.cache->find({opt.model, c.system, c.user, c.temperature, c.max_tokens}) : nullptr;
    if (hit) {
      read_reply(j, *hit);
      j.cached = true;
      res.cost.judge_cache_hits += 1;
    } else {
      pending.push_back(k);
    }
    res.items.push_back(std::move(j));
  }
  // Uncached calls in chunks; a file-backed cache is saved after each, so an evaluation that is
  // killed keeps what it paid for.
  const size_t chunk = std::max<size_t>(opt.save_every, 1);
  for (size_t from = 0; from < pending.size(); from += chunk) {
    const size_t to = std::min(pending.size(), from + chunk);
    std::vector<llm::Request> req;
    for (size_t p = from; p < to; ++p) {
      const JudgeCall& c = calls[pending[p]];
      llm::Request r;
      r.prompt = c.user;
      r.system = c.system;
      r.max_new_tokens = c.max_tokens;
      r.temperature = c.temperature;
      r.seed = opt.seed;
      req.push_back(std::move(r));
    }
    const std::vector<llm::Result> got = opt.backend->generate(req);
    FEDSIM_ASSERT(got.size() == req.size());
    for (size_t p = from; p < to; ++p) {
      const JudgeCall& c = calls[pending[p]];
      const llm::Result& r = got[p - from];
      Judgment& j = res.items[pending[p]];
      res.cost.judge_requests += 1;
      res.cost.judge_prompt_tokens += r.prompt_tokens;
      res.cost.judge_completion_tokens += r.completion_tokens;
      if (!r.ok) {
        j.verdict = verdict_of(r);
        j.score = -1.0;
        j.reply = r.error;
        continue;
      }
      read_reply(j, r.text);
      if (opt.cache) opt.cache->put({opt.model, c.system, c.user, c.temperature, c.max_tokens}, r.text);
    }
    if (opt.cache) opt.cache->save();
  }
  aggregate(b, res);
  return res;
}

BenchmarkResult evaluate(const Benchmark& b, llm::Backend& model, const AnswerOptions& answers,
                         const JudgeOptions& judge) {
  return judge_answers(b, generate_answers(b, model, answers), judge);
}

}  // namespace fedsim::sim::eval
