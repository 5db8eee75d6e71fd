#include "sim/masgpt/masgpt.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/error.hpp"
#include "sim/simulation.hpp"
#include "sim/experiment.hpp"
#include "sim/masgpt/construct.hpp"
#include "sim/masgpt/library.hpp"
#include "sim/system_model.hpp"

namespace fedsim::sim::masgpt {
namespace {

MethodRow score_row(const std::string& name, const std::vector<Query>& qs, const std::vector<QueryRun>& runs,
                    size_t n_sets, double extra_calls) {
  MethodRow row;
  row.name = name;
  std::vector<double> right(n_sets, 0.0), n(n_sets, 0.0);
  double calls = 0.0, tokens = 0.0;
  for (size_t i = 0; i < qs.size(); ++i) {
    const auto s = static_cast<size_t>(qs[i].set);
    n[s] += 1.0;
    right[s] += runs[i].answer == qs[i].answer ? 1.0 : 0.0;
    calls += static_cast<double>(runs[i].calls);
    tokens += static_cast<double>(runs[i].prompt_tokens + runs[i].completion_tokens);
  }
  for (size_t s = 0; s < n_sets; ++s) {
    row.accuracy.push_back(n[s] > 0.0 ? right[s] / n[s] : 0.0);
    row.average += row.accuracy.back() / static_cast<double>(n_sets);
  }
  const double nq = static_cast<double>(std::max<size_t>(qs.size(), 1));
  row.calls_per_query = calls / nq + extra_calls;
  row.tokens_per_query = tokens / nq;
  return row;
}

// MAS-GPT's queries as server jobs, a process on the Simulation: per query a generate job (the
// MAS) then an eval job (its execution), at most `workers` queries at once. The model work was
// done batched beforehand; server jobs cannot go offline or drop out, so replaying their costs
// on the engine's timeline loses nothing.
class QueryJobs : public Process {
 public:
  QueryJobs(const std::vector<double>& gen_s, const std::vector<double>& exec_s) : gen_s_(gen_s), exec_s_(exec_s) {}
  void start_query() {
    if (next_ >= gen_s_.size()) return;
    start_job(-1, JobKind::generate, static_cast<int64_t>(next_), seconds_to_ticks(gen_s_[next_]),
              static_cast<int64_t>(next_));
    ++next_;
  }
  void on_job_end(const Job& j, JobEnd how, const Event&) override {
    FEDSIM_ASSERT(how == JobEnd::done);
    if (j.kind == JobKind::generate)
      start_job(-1, JobKind::eval, j.round, seconds_to_ticks(exec_s_[static_cast<size_t>(j.tag)]), j.tag);
    else
      start_query();
  }
  void save(ArchiveWriter& ar) const override { ar(next_); }
  void load(ArchiveReader& ar) override { ar(next_); }

 private:
  const std::vector<double>& gen_s_;
  const std::vector<double>& exec_s_;
  uint64_t next_ = 0;
};

double schedule_jobs(const std::vector<double>& gen_s, const std::vector<double>& exec_s, int64_t workers,
                     uint64_t seed, std::vector<TimelineRow>* timeline) {
  Simulation sim(SystemSpec{}, 1, seed);
  QueryJobs jobs(gen_s, exec_s);
  sim.add(jobs, 0, seed);
  for (int64_t w = 0; w < workers; ++w) jobs.start_query();
  sim.run();
  *timeline = sim.jobs().timeline();
  return ticks_to_seconds(sim.now());
}

}  // namespace

std::string masgpt_results_path(const ExperimentConfig& c) {
  return masgpt_of(c).out.empty() ? "results/" + c.experiment.name + "-masgpt.h5" : masgpt_of(c).out;
}

MasgptResults run_masgpt(const ExperimentConfig& c, const Log& log) {
  const auto wall0 = std::chrono::steady_clock::now();
  const MasgptSection& m = masgpt_of(c);
  const std::vector<QuerySet> sets = parse_query_sets(m.query_sets);
  for (const std::string& b : m.base) base_mas(b, "masgpt.base");
  const auto seed = static_cast<uint64_t>(c.experiment.seed);
  MasgptResults r;
  r.config_yaml = to_yaml(c);
  for (const QuerySet& s : sets) r.sets.push_back(s.name);

  std::string agents_path;
  const models::Model agents = agents_llm(c, sets, log, &agents_path);
  // The agents' LLM: fedsim's model, or the endpoint (the local model then only seeds the generator).
  std::unique_ptr<llm::Backend> model_backend;
  if (m.backend == AgentsBackend::openai) {
    llm::OpenAIConfig oc = m.openai;
    oc.hint = "check masgpt.openai_url and masgpt.openai_model";
    llm::resolve_api_key(oc, c.source_path + ": masgpt.openai_api_key_env");
    model_backend = llm::make_openai_backend(oc);
  } else {
    model_backend = llm::make_model_backend(agents, nullptr);
  }
  std::unique_ptr<llm::Backend> flaky;
  llm::Backend* backend = model_backend.get();
  if (m.fail_prob > 0.0) {
    flaky = make_flaky_backend(*model_backend, m.fail_prob, seed);
    backend = flaky.get();
  }
  ExecConfig exec;
  exec.limits = m.limits;
  exec.time_limit_s = m.time_limit_s;
  exec.flops_per_token = models::forward_flops_per_token(agents.config());
  exec.server_flops = m.server_gflops * 1e9;
  exec.call_latency_s = m.call_latency_ms * 1e-3;
  exec.seed = seed;

  // Data construction on pool 0.
  const std::vector<Query> build_q = make_queries(sets, m.train_per_family, seed, 0);
  ConstructConfig cc{m.base, m.inter, m.intra, seed};
  const MasDataset data = construct(sets, build_q, *backend, exec, cc, log);
  const std::string out = masgpt_results_path(c);
  const std::filesystem::path outp(out);
  r.data_path = (outp.parent_path() / (outp.stem().string() + "-data.h5")).string();
  if (!outp.parent_path().empty()) std::filesystem::create_directories(outp.parent_path());
  write_mas_dataset(data, r.data_path);
  {
    std::vector<std::string> fams = family_names(sets);
    std::set<std::pair<int32_t, int32_t>> seen;
    for (size_t i = 0; i < data.queries.size(); ++i)
      if (seen.insert({data.queries[i].family, data.chosen[i]}).second)
        r.chosen.push_back(fams[static_cast<size_t>(data.queries[i].family)] + ": " +
                           data.base[static_cast<size_t>(data.chosen[i])]);
  }

  // Held-out evaluation (pool 1) of every base MAS.
  const std::vector<Query> test_q = make_queries(sets, m.test_per_family, seed, 1);
  std::vector<std::string> texts;
  for (const Query& q : test_q) texts.push_back(q.text);
  for (const std::string& b : m.base) {
    const std::vector<QueryRun> runs = execute_same(parse_mas(base_mas(b, "masgpt.base").text, exec.limits), texts, *backend, exec);
    r.rows.push_back(score_row(b, test_q, runs, sets.size(), 0.0));
    if (log) log("masgpt: " + b + " held-out average " + std::to_string(r.rows.back().average));
  }

  // The generator: one greedy generation per query, then its MAS runs (fallback: SC).
  std::optional<std::vector<float>> adapter;
  const models::Model gen = train_generator(c, agents_path, training_pairs(data), log, &adapter);
  models::GenerateConfig g;
  g.max_new_tokens = gen.config().max_seq;
  g.temperature = 0.0f;
  std::vector<models::Conversation> queries;
  for (const std::string& t : texts) queries.push_back(models::Conversation{"", {{models::Role::user, t}}});
  const std::vector<models::Generation> gens = gen.generate_chat(adapter ? &*adapter : nullptr, queries, g);
  for (const models::Generation& x : gens) r.generated.push_back(x.text);
  const std::vector<QueryRun> runs = execute_texts(r.generated, texts, *backend, exec);
  r.rows.push_back(score_row("mas-gpt", test_q, runs, sets.size(), r.generation_calls));
  r.queries = static_cast<int64_t>(test_q.size());
  std::vector<double> gen_s, exec_s;
  for (size_t i = 0; i < test_q.size(); ++i) {
    const QueryRun& q = runs[i];
    r.outcomes[static_cast<size_t>(q.outcome)] += 1;
    r.fallbacks += q.fell_back ? 1 : 0;
    r.fallback_failed += q.fallback_failed ? 1 : 0;
    r.test_queries.push_back(test_q[i].text);
    r.answers.push_back(q.answer);
    r.correct.push_back(q.answer == test_q[i].answer ? 1 : 0);
    const double gen_tokens = static_cast<double>(gens[i].prompt_tokens + gens[i].new_tokens);
    gen_s.push_back(gen_tokens * models::forward_flops_per_token(gen.config()) / exec.server_flops + exec.call_latency_s);
    exec_s.push_back(q.sim_seconds);
  }
  r.distinct_mas = static_cast<int64_t>(std::set<std::string>(r.generated.begin(), r.generated.end()).size());
  r.makespan_s = schedule_jobs(gen_s, exec_s, m.workers, seed, &r.timeline);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return r;
}

}  // namespace fedsim::sim::masgpt
