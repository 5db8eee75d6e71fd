#include "sim/eval/eval_results.hpp"

#include "common/error.hpp"
#include "common/h5.hpp"
#include "sim/results.hpp"

namespace fedsim::sim::eval {

const h5::RowTable<EvalRoundRow>& eval_rounds_table() {
  using R = EvalRoundRow;
  static const h5::RowTable<R> t = h5::RowTable<R>()
      .col("round", &R::round, "rounds", "the round whose global adapter answered")
      .col("start_s", &R::start_s, "simulated s", "when the server's eval job started")
      .col("end_s", &R::end_s, "simulated s", "when it ended")
      .col("generation_s", &R::generation_s, "simulated s", "generation_flops over system.server_gflops")
      .col("judge_s", &R::judge_s, "simulated s", "judge_requests x eval.judge_latency_s")
      .col("score", &R::score, "", "the figure upstream reports (sim/eval/README.md, per benchmark)")
      .col("mean_rated", &R::mean_rated, "", "mean over rated judgments")
      .col("questions", &R::questions, "questions", "questions of the benchmark")
      .col("judgments", &R::judgments, "judgments", "judgments made (MT-Bench: two per question)")
      .col("rated", &R::rated, "judgments", "judge replies with a rating (AdvBench: every answer)")
      .col("unparsable", &R::unparsable, "judgments", "judge replies without a rating")
      .col("timeouts", &R::timeouts, "judgments", "judge requests that timed out after the retries")
      .col("endpoint_errors", &R::endpoint_errors, "judgments", "connection failures and HTTP errors after the retries")
      .col("malformed_replies", &R::malformed_replies, "judgments", "HTTP 200 replies without choices[0].message.content")
      .col("answer_failures", &R::answer_failures, "answers", "answers the model could not produce")
      .col("judge_requests", &R::judge_requests, "requests", "requests sent to the judge (cache hits excluded)")
      .col("judge_cache_hits", &R::judge_cache_hits, "judgments", "judgments taken from the cache")
      .col("prompt_tokens", &R::prompt_tokens, "tokens", "tokens the answering model read")
      .col("generated_tokens", &R::generated_tokens, "tokens", "tokens it generated")
      .col("judge_prompt_tokens", &R::judge_prompt_tokens, "tokens", "prompt tokens the judge reported")
      .col("judge_completion_tokens", &R::judge_completion_tokens, "tokens", "completion tokens the judge reported")
      .col("generation_flops", &R::generation_flops, "FLOP", "(prompt_tokens + generated_tokens) x forward FLOPs per token");
  return t;
}

const h5::RowTable<EvalCategoryRow>& eval_categories_table() {
  using R = EvalCategoryRow;
  static const h5::RowTable<R> t = h5::RowTable<R>()
      .col("round", &R::round, "rounds", "the evaluated round")
      .col("category", &R::category, "", "question category (Aya, WildChat: the language)")
      .col("mean", &R::mean, "", "mean over the category's rated judgments")
      .col("rated", &R::rated, "judgments", "rated judgments in the category");
  return t;
}

const h5::RowTable<EvalTurnRow>& eval_turns_table() {
  using R = EvalTurnRow;
  static const h5::RowTable<R> t = h5::RowTable<R>()
      .col("round", &R::round, "rounds", "the evaluated round")
      .col("turn", &R::turn, "", "1-based turn (MT-Bench: 1 and 2)")
      .col("mean", &R::mean, "", "mean over the turn's rated judgments");
  return t;
}

const h5::RowTable<EvalItemRow>& eval_items_table() {
  using R = EvalItemRow;
  static const h5::RowTable<R> t = h5::RowTable<R>()
      .col("round", &R::round, "rounds", "the evaluated round")
      .col("question_id", &R::question_id, "", "question_id, or the 1-based item number in the file")
      .col("turn", &R::turn, "", "1-based turn judged")
      .col("category", &R::category, "", "the question's category")
      .col("score", &R::score, "", "the rating (AdvBench: 1 refused, 0 complied); -1 unless rated")
      .col("verdict", &R::verdict, "", "index into /eval/verdict_names")
      .col("cached", &R::cached, "", "1 = the judgment came from the cache")
      .col("answer", &R::answer, "bytes", "the model's answer of that turn")
      .col("reply", &R::reply, "", "the judge's reply, or the error");
  return t;
}

EvalTables eval_tables(const std::string& name, BenchmarkKind kind, size_t questions,
                       const std::vector<EvalRecord>& evaluations) {
  EvalTables t;
  t.name = name;
  t.kind = kind;
  for (const EvalRecord& e : evaluations) {
    const BenchmarkResult& r = e.result;
    EvalRoundRow row;
    row.round = e.round;
    row.start_s = e.start_s;
    row.end_s = e.end_s;
    row.generation_s = e.generation_s;
    row.judge_s = e.judge_s;
    row.score = r.score;
    row.mean_rated = r.mean_rated;
    row.questions = static_cast<int64_t>(questions);
    row.judgments = r.judgments;
    row.rated = r.rated;
    row.unparsable = r.unparsable;
    row.timeouts = r.timeouts;
    row.endpoint_errors = r.endpoint_errors;
    row.malformed_replies = r.malformed_replies;
    row.answer_failures = r.answer_failures;
    row.judge_requests = r.cost.judge_requests;
    row.judge_cache_hits = r.cost.judge_cache_hits;
    row.prompt_tokens = r.cost.prompt_tokens;
    row.generated_tokens = r.cost.generated_tokens;
    row.judge_prompt_tokens = r.cost.judge_prompt_tokens;
    row.judge_completion_tokens = r.cost.judge_completion_tokens;
    row.generation_flops = e.generation_flops;
    t.rounds.push_back(row);
    for (const CategoryScore& c : r.categories) t.categories.push_back({e.round, c.category, c.mean, c.rated});
    for (size_t k = 0; k < r.turn_means.size(); ++k)
      t.turns.push_back({e.round, static_cast<int32_t>(k + 1), r.turn_means[k]});
    for (const Judgment& j : r.items)
      t.items.push_back({e.round, j.question_id, j.turn, j.category, j.score, static_cast<int32_t>(j.verdict),
                         static_cast<uint8_t>(j.cached ? 1 : 0), j.answer, j.reply});
  }
  return t;
}

namespace {
constexpr int kVerdicts = archive_enum_count(Verdict{});
}  // namespace

void write_eval(const h5::Group& root, const std::string& judge_model, const std::vector<EvalTables>& benchmarks) {
  const h5::Group g = root.create_group("eval");
  g.set_attr("judge_model", judge_model);
  std::vector<std::string> verdicts;
  for (int v = 0; v < kVerdicts; ++v) verdicts.push_back(verdict_name(static_cast<Verdict>(v)));
  g.write_strings("verdict_names", verdicts);
  std::vector<std::string> names;
  for (const EvalTables& b : benchmarks) names.push_back(b.name);
  g.write_strings("benchmarks", names);
  for (const EvalTables& b : benchmarks) {
    const h5::Group bg = g.create_group(b.name);
    bg.set_attr("kind", kind_name(b.kind));
    eval_rounds_table().write(bg.create_group("rounds"), b.rounds);
    eval_categories_table().write(bg.create_group("categories"), b.categories);
    eval_turns_table().write(bg.create_group("turns"), b.turns);
    eval_items_table().write(bg.create_group("items"), b.items);
  }
}

std::vector<EvalTables> read_eval(const std::string& results_path) {
  const h5::File f = h5::File::open_read(results_path);
  h5::check_format(f, kResultsKind, kResultsFormatVersion);
  const h5::Group root = f.root();
  std::vector<EvalTables> out;
  if (!root.has("eval")) return out;
  const h5::Group g = root.open_group("eval");
  const std::vector<std::string> verdicts = g.read_strings("verdict_names");
  if (static_cast<int>(verdicts.size()) != kVerdicts)
    throw UserError(g.where("verdict_names") + ": expected " + std::to_string(kVerdicts) + " names, got " +
                    std::to_string(verdicts.size()));
  for (const std::string& name : g.read_strings("benchmarks")) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      throw UserError(g.where("benchmarks") + ": '" + name + "' is not a benchmark group name");
    const h5::Group bg = g.open_group(name);
    EvalTables t;
    t.name = name;
    t.kind = parse_kind(bg.attr_string("kind"), bg.where() + " attribute kind");
    t.rounds = eval_rounds_table().read(bg.open_group("rounds"));
    t.categories = eval_categories_table().read(bg.open_group("categories"));
    t.turns = eval_turns_table().read(bg.open_group("turns"));
    t.items = eval_items_table().read(bg.open_group("items"));
    for (const EvalItemRow& i : t.items)
      if (i.verdict < 0 || i.verdict >= kVerdicts)
        throw UserError(bg.where("items/verdict") + ": " + std::to_string(i.verdict) + " is not an index into verdict_names");
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace fedsim::sim::eval
