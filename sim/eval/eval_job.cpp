#include "sim/eval/eval_job.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/error.hpp"
#include "sim/eval/eval_config.hpp"

namespace fedsim::sim::eval {
namespace {

const models::Model& model_of(const ExperimentConfig& c, const RunInputs& in) {
  // validate_eval refuses trainer none; a caller that passes no model is a wiring error.
  FEDSIM_ASSERT_MSG(in.model != nullptr, c.source_path << ": eval needs the run's model (RunInputs)");
  return *in.model;
}

std::string score_text(double x) {
  if (std::isnan(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

}  // namespace

EvalRun::EvalRun(const ExperimentConfig& c, const RunInputs& in, const RunHooks& hooks)
    : cfg_(c), model_(model_of(c, in)), hooks_(hooks), benchmarks_(load_eval_benchmarks(c, in.data)) {
  const EvalSection& e = eval_of(c);
  bool judged = false;
  for (const Benchmark& b : benchmarks_) judged = judged || b.kind != BenchmarkKind::advbench;
  if (judged) judge_ = llm::make_openai_backend(judge_endpoint(c));
  if (e.cache) {
    const std::string path = judge_cache_path(c);
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    try {
      cache_ = std::make_unique<JudgmentCache>(path);
    } catch (const UserError& err) {
      throw UserError(c.source_path + ": eval.cache_path: " + err.what() + "; HINT: delete the file or set eval.cache_path");
    }
  }
  flops_per_token_ = models::forward_flops_per_token(model_.config());
  done_.resize(benchmarks_.size());
}

bool EvalRun::due(const ExperimentConfig& c, int64_t round) {
  const EvalSection& e = eval_of(c);
  if (round == 0) return e.start;
  return round == c.federation.rounds || (e.every > 0 && round % e.every == 0);
}

void EvalRun::on_round(int64_t round, const std::vector<float>& global) {
  if (!due(cfg_, round)) return;
  const EvalSection& e = eval_of(cfg_);
  // The round's snapshot answers now; the server's job that charges for it may start later.
  const auto model = llm::make_model_backend(model_, &global);
  AnswerOptions ao;
  ao.format = model_layout(model_);  // the model's chat template
  ao.seed = static_cast<uint64_t>(cfg_.experiment.seed);
  ao.round = round;
  ao.temperature = e.temperature;
  ao.max_new_tokens = static_cast<int>(e.max_new_tokens);
  JudgeOptions jo;
  jo.backend = judge_.get();
  jo.model = e.judge_model;
  jo.cache = cache_.get();
  jo.seed = static_cast<uint64_t>(cfg_.experiment.seed);
  for (size_t i = 0; i < benchmarks_.size(); ++i) {
    Pending p;
    p.benchmark = i;
    EvalRecord& r = p.record;
    r.round = round;
    r.result = evaluate(benchmarks_[i], *model, ao, jo);
    const EvalCost& cost = r.result.cost;
    r.generation_flops = static_cast<double>(cost.prompt_tokens + cost.generated_tokens) * flops_per_token_;
    r.generation_s = r.generation_flops / (cfg_.system.server_gflops * 1e9);
    r.judge_s = static_cast<double>(cost.judge_requests) * e.judge_latency_s;
    if (hooks_.log) {
      const BenchmarkResult& b = r.result;
      const int64_t failed = b.timeouts + b.endpoint_errors + b.malformed_replies;
      hooks_.log("eval: round " + std::to_string(round) + " " + b.name + " score " + score_text(b.score) + " (" +
                 std::to_string(b.rated) + "/" + std::to_string(b.judgments) + " rated, " + std::to_string(b.unparsable) +
                 " unparsable, " + std::to_string(failed) + " judge failures, " + std::to_string(cost.judge_requests) +
                 " requests, " + std::to_string(cost.judge_cache_hits) + " cache hits)");
    }
    queue_.push_back(std::move(p));
  }
  start_next();
}

void EvalRun::start_next() {
  if (running_ || queue_.empty()) return;
  const Pending& p = queue_.front();
  start_job(-1, JobKind::eval, p.record.round, seconds_to_ticks(p.record.generation_s + p.record.judge_s),
            static_cast<int64_t>(p.benchmark));
  running_ = true;
}

void EvalRun::on_job_end(const Job& job, JobEnd how, const Event& ev) {
  // Server jobs neither go offline nor drop out (JobScheduler::start draws those for clients).
  FEDSIM_ASSERT(how == JobEnd::done && running_ && !queue_.empty());
  Pending p = std::move(queue_.front());
  FEDSIM_ASSERT(static_cast<int64_t>(p.benchmark) == job.tag && p.record.round == job.round);
  queue_.erase(queue_.begin());
  running_ = false;
  p.record.start_s = ticks_to_seconds(job.start);
  p.record.end_s = ticks_to_seconds(ev.time);
  done_[p.benchmark].push_back(std::move(p.record));
  start_next();
}

void EvalRun::finish(RunResults& results) {
  FEDSIM_ASSERT_MSG(queue_.empty() && !running_, "an eval job was left at the end of the run");
  std::vector<EvalTables> tables;
  for (size_t i = 0; i < benchmarks_.size(); ++i)
    tables.push_back(eval_tables(benchmarks_[i].name, benchmarks_[i].kind, benchmarks_[i].questions.size(), done_[i]));
  const std::string judge_model = eval_of(cfg_).judge_model;
  results.write_extra.push_back(
      [tables = std::move(tables), judge_model](const h5::Group& root) { write_eval(root, judge_model, tables); });
}

void EvalRun::save(ArchiveWriter& ar) const { ar(queue_, running_, done_); }

void EvalRun::load(ArchiveReader& ar) {
  ar(queue_, running_, done_);
  bool ok = done_.size() == benchmarks_.size() && (!running_ || !queue_.empty());
  for (const Pending& p : queue_) ok = ok && p.benchmark < benchmarks_.size();
  if (!ok) ar.fail();
}

}  // namespace fedsim::sim::eval
