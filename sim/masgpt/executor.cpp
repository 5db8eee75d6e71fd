#include "sim/masgpt/executor.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/masgpt/library.hpp"

namespace fedsim::sim::masgpt {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::malformed: return "malformed";
    case Outcome::over_limits: return "over_limits";
    case Outcome::endpoint_failed: return "endpoint_failed";
    case Outcome::timeout: return "timeout";
  }
  return "?";
}

std::string agent_prompt(const Agent& a, const std::string& query, const std::vector<std::string>& inputs) {
  std::string p = a.instruction + " " + query;
  for (const std::string& in : inputs) p += " | " + in;
  return p;
}

std::string majority(const std::vector<std::string>& answers) {
  std::map<std::string, int> count;
  std::string best;
  int best_n = 0;
  for (const std::string& a : answers) {
    if (a.empty()) continue;
    const int n = ++count[a];
    if (n > best_n) {
      best_n = n;
      best = a;
    }
  }
  // A later answer only wins by exceeding the count, so ties go to the one seen first.
  if (best_n > 0) {
    for (const std::string& a : answers)
      if (!a.empty() && count[a] == best_n) return a;
  }
  return best;
}

namespace {

struct Attempt {
  const Mas* mas = nullptr;
  std::vector<std::vector<std::string>> outputs;  // per agent, per copy: extracted answers
  bool alive = true;
  Outcome outcome = Outcome::ok;
};

// Runs attempts[i] on queries[i] (only those with a MAS) and adds the costs to runs[i].
void run_attempts(std::vector<Attempt>& at, const std::vector<std::string>& queries, llm::Backend& backend,
                  const ExecConfig& cfg, uint64_t attempt, std::vector<QueryRun>& runs) {
  size_t steps = 0;
  for (Attempt& a : at)
    if (a.mas) {
      a.outputs.assign(a.mas->agents.size(), {});
      steps = std::max(steps, a.mas->agents.size());
    }
  std::vector<double> spent(at.size(), 0.0);
  for (size_t s = 0; s < steps; ++s) {
    std::vector<llm::Request> req;
    std::vector<size_t> owner;
    for (size_t q = 0; q < at.size(); ++q) {
      const Attempt& a = at[q];
      if (!a.mas || !a.alive || s >= a.mas->agents.size()) continue;
      const Agent& ag = a.mas->agents[s];
      std::vector<std::string> in;
      for (const std::string& src : ag.inputs)
        for (const std::string& o : a.outputs[static_cast<size_t>(a.mas->agent_index(src))]) in.push_back(o);
      const std::string prompt = agent_prompt(ag, queries[q], in);
      for (int c = 0; c < ag.copies; ++c) {
        llm::Request r;
        r.prompt = prompt;
        r.max_new_tokens = ag.max_new_tokens;
        r.temperature = ag.temperature;
        r.top_k = ag.top_k;
        // One seed per (step, attempt, copy): copies differ on any backend, and the model
        // backend still batches every query's copy c together.
        r.seed = stream_key(cfg.seed, s, attempt * 64 + static_cast<uint64_t>(c), Purpose::generation);
        req.push_back(std::move(r));
        owner.push_back(q);
      }
    }
    if (req.empty()) break;
    const std::vector<llm::Result> res = backend.generate(req);
    FEDSIM_ASSERT(res.size() == req.size());
    for (size_t i = 0; i < res.size(); ++i) {
      const size_t q = owner[i];
      Attempt& a = at[q];
      QueryRun& run = runs[q];
      run.calls += 1;
      run.prompt_tokens += res[i].prompt_tokens;
      run.completion_tokens += res[i].completion_tokens;
      const double cost = static_cast<double>(res[i].prompt_tokens + res[i].completion_tokens) * cfg.flops_per_token /
                              cfg.server_flops + cfg.call_latency_s;
      run.sim_seconds += cost;
      spent[q] += cost;
      if (!a.alive) continue;
      if (!res[i].ok) {
        a.alive = false;
        a.outcome = Outcome::endpoint_failed;
      } else if (cfg.time_limit_s > 0.0 && spent[q] > cfg.time_limit_s) {
        a.alive = false;
        a.outcome = Outcome::timeout;
      } else {
        a.outputs[s].push_back(extract_answer(res[i].text));
      }
    }
  }
  for (size_t q = 0; q < at.size(); ++q) {
    Attempt& a = at[q];
    if (!a.mas || !a.alive) continue;
    std::vector<std::string> votes;
    for (const std::string& n : a.mas->answer)
      for (const std::string& o : a.outputs[static_cast<size_t>(a.mas->agent_index(n))]) votes.push_back(o);
    runs[q].answer = a.mas->vote ? majority(votes) : votes.front();
  }
}

std::vector<QueryRun> execute_with(std::vector<Attempt> at, const std::vector<std::string>& queries,
                                   llm::Backend& backend, const ExecConfig& cfg) {
  std::vector<QueryRun> runs(queries.size());
  run_attempts(at, queries, backend, cfg, 0, runs);
  const Mas fb = parse_mas(fallback_text(), cfg.limits);
  std::vector<Attempt> retry(at.size());
  bool any = false;
  for (size_t q = 0; q < at.size(); ++q) {
    const bool failed = !at[q].mas || !at[q].alive;
    if (!failed) continue;
    runs[q].outcome = at[q].mas ? at[q].outcome : runs[q].outcome;
    runs[q].answer.clear();
    if (!cfg.fallback) {
      runs[q].fallback_failed = true;
      continue;
    }
    runs[q].fell_back = true;
    retry[q].mas = &fb;
    any = true;
  }
  if (!any) return runs;
  run_attempts(retry, queries, backend, cfg, 1, runs);
  for (size_t q = 0; q < at.size(); ++q)
    if (retry[q].mas && !retry[q].alive) runs[q].fallback_failed = true;
  return runs;
}

}  // namespace

std::vector<QueryRun> execute_texts(const std::vector<std::string>& texts, const std::vector<std::string>& queries,
                                    llm::Backend& backend, const ExecConfig& cfg) {
  FEDSIM_ASSERT(texts.size() == queries.size());
  std::vector<std::optional<Mas>> parsed(texts.size());
  std::vector<Outcome> pre(texts.size(), Outcome::ok);
  for (size_t i = 0; i < texts.size(); ++i) {
    try {
      parsed[i] = parse_mas(texts[i], cfg.limits);
    } catch (const MasError& e) {
      pre[i] = e.kind() == MasError::Kind::malformed ? Outcome::malformed : Outcome::over_limits;
    }
  }
  std::vector<Attempt> at(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) at[i].mas = parsed[i] ? &*parsed[i] : nullptr;
  std::vector<QueryRun> runs = execute_with(std::move(at), queries, backend, cfg);
  for (size_t i = 0; i < texts.size(); ++i)
    if (!parsed[i]) runs[i].outcome = pre[i];
  return runs;
}

std::vector<QueryRun> execute_same(const Mas& mas, const std::vector<std::string>& queries, llm::Backend& backend,
                                   const ExecConfig& cfg) {
  validate_mas(mas, cfg.limits);
  std::vector<Attempt> at(queries.size());
  for (Attempt& a : at) a.mas = &mas;
  return execute_with(std::move(at), queries, backend, cfg);
}

namespace {

class FlakyBackend : public llm::Backend {
 public:
  FlakyBackend(llm::Backend& inner, double p, uint64_t seed) : inner_(inner), p_(p), seed_(seed) {}
  std::string name() const override { return inner_.name() + "+flaky"; }
  std::vector<llm::Result> generate(const std::vector<llm::Request>& requests) override {
    std::vector<llm::Result> out(requests.size());
    std::vector<llm::Request> pass;
    std::vector<size_t> where;
    for (size_t i = 0; i < requests.size(); ++i) {
      Rng rng(seed_, 0, n_++, Purpose::generation);
      if (rng.uniform() < p_) {
        out[i].ok = false;
        out[i].error = "injected endpoint failure";
        out[i].prompt_tokens = static_cast<int64_t>(requests[i].prompt.size());
      } else {
        pass.push_back(requests[i]);
        where.push_back(i);
      }
    }
    if (!pass.empty()) {
      std::vector<llm::Result> r = inner_.generate(pass);
      for (size_t j = 0; j < r.size(); ++j) out[where[j]] = std::move(r[j]);
    }
    return out;
  }

 private:
  llm::Backend& inner_;
  double p_;
  uint64_t seed_;
  uint64_t n_ = 0;
};

}  // namespace

std::unique_ptr<llm::Backend> make_flaky_backend(llm::Backend& inner, double fail_prob, uint64_t seed) {
  return std::make_unique<FlakyBackend>(inner, fail_prob, seed);
}

}  // namespace fedsim::sim::masgpt
