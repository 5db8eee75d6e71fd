// The U2S phase as jobs: every client downloads the pool (and the generator's weights for the
// model backend), then runs one generate job over all its pieces. The job's simulated length is
// its tokens (prompt and completion) x the generator's forward FLOPs per token over the client's
// speed, or for a remote endpoint the per-request latency plus completion tokens over its
// speed. Text is generated when the generate job starts (its length depends on it) and judged
// when it ends; a job that goes offline or fails is retried when the client is back, up to
// u2s.max_attempts, and its text is kept (generation is deterministic, so redoing it would give
// the same bits). With join: cutoff, generation stops at cutoff_s and pieces past it are not
// generated at all.
#include <algorithm>
#include <functional>
#include <set>

#include "common/stop.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/u2s/u2s_phase.hpp"
#include "sim/experiment.hpp"
#include "sim/simulation.hpp"

namespace fedsim::sim::u2s {
namespace {

constexpr size_t kGenBatch = 32;  // pieces per backend call

// The phase's events as a process on its own Simulation (the engine's loop): a client's (re)start
// event, and the ends of its download and generate jobs. The phase runs before the federation
// and is not checkpointed: a resumed U2S run generates again, deterministically.
class PhaseProcess : public Process {
 public:
  std::function<void(int client)> on_start;
  std::function<void(const Job& job, JobEnd how)> on_end;
  void on_event(const Event& ev, uint32_t) override { on_start(ev.client); }
  void on_job_end(const Job& job, JobEnd how, const Event&) override { on_end(job, how); }
  void save(ArchiveWriter&) const override { FEDSIM_ASSERT_MSG(false, "the U2S phase is not checkpointed"); }
  void load(ArchiveReader&) override { FEDSIM_ASSERT_MSG(false, "the U2S phase is not checkpointed"); }
  using Process::schedule;
  using Process::start_job;
};

struct ClientState {
  std::vector<std::string> pieces;
  std::vector<int32_t> domain;
  std::vector<llm::Result> results;  // generated so far (a prefix of pieces)
  std::vector<Tick> cost;            // simulated ticks per generated piece
  bool downloaded = false;
};

}  // namespace


PhaseOutput run_phase(const ExperimentConfig& c, const PhaseInput& in, const RunHooks& hooks) {
  const U2sSection& u = u2s_of(c);
  const auto seed = static_cast<uint64_t>(c.experiment.seed);
  const auto n = static_cast<int>(in.corpus->clients.size());
  const bool cutoff = u.join == JoinRule::cutoff;
  const Tick cutoff_t = seconds_to_ticks(u.cutoff_s);
  Simulation sim(c.system, n, seed);
  PhaseProcess proc;
  sim.add(proc, 1, stream_key(seed, 0, 0, Purpose::generation));
  const SystemModel& sys = sim.system();
  const Selector& sel = *in.selector;
  const size_t pad_to = u.prompt_pad ? examples_width(*in.pool, static_cast<size_t>(u.k)) : 0;
  FilterSpec f;
  f.min_question = static_cast<size_t>(u.min_question);
  f.max_question = static_cast<size_t>(u.max_question);
  f.min_answer = static_cast<size_t>(u.min_answer);
  f.max_answer = static_cast<size_t>(u.max_answer);
  f.require_grounded = u.require_grounded;
  f.truth = u.check_truth ? in.truth : nullptr;

  PhaseOutput out;
  out.clients.resize(static_cast<size_t>(n));
  std::vector<ClientState> st(static_cast<size_t>(n));
  for (int ci = 0; ci < n; ++ci) {
    ClientState& s = st[static_cast<size_t>(ci)];
    for (const auto& doc : in.corpus->clients[static_cast<size_t>(ci)].samples)
      for (auto& p : chunk(doc.response, static_cast<size_t>(u.chunk_size), static_cast<size_t>(u.chunk_overlap))) {
        s.pieces.push_back(std::move(p));
        s.domain.push_back(doc.task);
      }
    out.clients[static_cast<size_t>(ci)].pieces = static_cast<int64_t>(s.pieces.size());
  }

  // Generates pieces until their simulated cost exceeds `budget`; returns how many fit and their ticks.
  auto generate = [&](int ci, Tick budget, Tick* ticks) {
    ClientState& s = st[static_cast<size_t>(ci)];
    size_t fit = 0;
    Tick total = 0;
    for (;;) {
      check_stop();  // a batch of generations can take seconds (SIGINT/SIGTERM, common/stop.hpp)
      while (fit < s.results.size() && total + s.cost[fit] <= budget) total += s.cost[fit++];
      if (fit < s.results.size() || s.results.size() == s.pieces.size()) break;
      const size_t from = s.results.size(), to = std::min(s.pieces.size(), from + kGenBatch);
      std::vector<llm::Request> reqs;
      for (size_t p = from; p < to; ++p) {
        llm::Request r;
        r.prompt = format_prompt(*in.pool, sel.select(s.pieces[p], stream_key(seed, static_cast<uint64_t>(ci), p, Purpose::generation)),
                                 s.pieces[p], pad_to);
        r.max_new_tokens = static_cast<int>(u.max_new_tokens);
        r.temperature = u.temperature;
        r.seed = stream_key(seed, static_cast<uint64_t>(ci), p, Purpose::generation);
        reqs.push_back(std::move(r));
      }
      std::vector<llm::Result> res = in.backend->generate(reqs);
      FEDSIM_ASSERT_MSG(res.size() == reqs.size(), "backend " << in.backend->name() << " returned " << res.size() << " results for "
                                                              << reqs.size() << " requests");
      for (size_t j = 0; j < res.size(); ++j) {
        const auto tok = static_cast<double>(res[j].prompt_tokens + res[j].completion_tokens);
        s.cost.push_back(in.flops_per_token > 0
                             ? sys.compute_time(ci, tok * in.flops_per_token)
                             : seconds_to_ticks(u.openai_latency_s + static_cast<double>(res[j].completion_tokens) / u.openai_tokens_per_s));
        s.results.push_back(std::move(res[j]));
      }
    }
    *ticks = total;
    return fit;
  };

  auto give_up = [&](int ci, const std::string& why) {
    ClientReport& r = out.clients[static_cast<size_t>(ci)];
    r.status = "gave up: " + why;
    out.messages.push_back("u2s: client " + std::to_string(ci) + " " + r.status + "; it will not train");
  };
  auto start = [&](int ci) {
    ClientReport& r = out.clients[static_cast<size_t>(ci)];
    if (cutoff && sim.now() >= cutoff_t) return give_up(ci, "no job finished before the cutoff");
    if (++r.attempts > u.max_attempts)
      return give_up(ci, "offline or failed in all " + std::to_string(u.max_attempts) + " attempts");
    if (!st[static_cast<size_t>(ci)].downloaded) {
      proc.start_job(ci, JobKind::download, 0, sys.transfer_time(ci, in.download_bytes), 0);
      return;
    }
    Tick ticks = 0;
    const size_t fit = generate(ci, cutoff ? cutoff_t - sim.now() : kNever, &ticks);
    const bool cut = cutoff && fit < st[static_cast<size_t>(ci)].pieces.size();
    proc.start_job(ci, JobKind::generate, 0, cut ? cutoff_t - sim.now() : ticks, static_cast<int64_t>(fit));
  };
  auto finish = [&](int ci, size_t fit, Tick began) {
    ClientState& s = st[static_cast<size_t>(ci)];
    ClientReport& r = out.clients[static_cast<size_t>(ci)];
    std::set<std::string> seen;
    for (size_t p = 0; p < fit; ++p) {
      const llm::Result& res = s.results[p];
      r.prompt_tokens += res.prompt_tokens;
      r.completion_tokens += res.completion_tokens;
      Verdict v = judge(res, s.pieces[p], f);
      if (v.keep && !seen.insert(v.instruction).second) v = Verdict{false, Drop::duplicate, {}, {}};
      if (!v.keep) {
        ++r.drops[static_cast<size_t>(v.why)];
        continue;
      }
      datasets::Sample smp;
      smp.instruction = v.instruction;
      smp.response = smp.answer = v.response;
      smp.task = s.domain[p];
      r.pairs.push_back(std::move(smp));
    }
    r.processed = static_cast<int64_t>(fit);
    r.kept = static_cast<int64_t>(r.pairs.size());
    r.gen_time_s = ticks_to_seconds(sim.now() - began);
    r.status = fit < s.pieces.size() ? "cutoff" : "done";
    if (r.pairs.empty()) {
      r.status = "no pairs";
      out.messages.push_back("u2s: client " + std::to_string(ci) + " kept no pair from " + std::to_string(fit) +
                             " pieces; it will not train");
    } else {
      r.ready_s = ticks_to_seconds(cutoff ? std::max(sim.now(), cutoff_t) : sim.now());
    }
  };

  for (int ci = 0; ci < n; ++ci) {
    const Tick t = sys.availability().next_online(ci, 0);
    if (t == kNever) {
      give_up(ci, "never online");
    } else {
      proc.schedule(t, 0, ci, 0);
    }
  }
  proc.on_start = start;
  proc.on_end = [&](const Job& j, JobEnd how) {
    if (how == JobEnd::done && j.kind == JobKind::download) {
      st[static_cast<size_t>(j.client)].downloaded = true;
      --out.clients[static_cast<size_t>(j.client)].attempts;  // the download is not a generate attempt
      start(j.client);
    } else if (how == JobEnd::done) {
      finish(j.client, static_cast<size_t>(j.tag), j.start);
    } else {
      const Tick back = sys.availability().next_online(j.client, sim.now() + 1);
      if (back == kNever)
        give_up(j.client, std::string("went ") + job_end_name(how) + " and never came back online");
      else
        proc.schedule(back, 0, j.client, 0);
    }
  };
  sim.run();
  // One line per kind of backend failure, with a count and the first message.
  std::map<Drop, std::pair<int64_t, std::string>> failures;
  for (size_t ci = 0; ci < st.size(); ++ci)
    for (size_t p = 0; p < static_cast<size_t>(out.clients[ci].processed); ++p)
      if (!st[ci].results[p].ok) {
        auto& e = failures[judge(st[ci].results[p], "", f).why];
        if (e.first++ == 0) e.second = st[ci].results[p].error;
      }
  for (const auto& [why, e] : failures)
    out.messages.push_back("u2s: " + std::to_string(e.first) + " generator requests dropped as " + drop_name(why) +
                           ", first: " + e.second);
  if (hooks.log) {
    for (const auto& m : out.messages) hooks.log(m);
    // A few generations verbatim, so a user sees what the generator makes of the pieces.
    const auto esc = [](std::string t) {
      for (size_t p = 0; (p = t.find('\n', p)) != std::string::npos;) t.replace(p, 1, "\\n");
      return t;
    };
    for (size_t p = 0; !st.empty() && p < std::min<size_t>(3, st[0].results.size()); ++p)
      hooks.log("u2s: example: '" + esc(st[0].pieces[p]) + "' -> '" +
                esc(st[0].results[p].ok ? st[0].results[p].text : "error: " + st[0].results[p].error) + "'");
  }
  out.timeline = sim.jobs().timeline();
  out.jobs_started = sim.jobs().started();
  return out;
}

}  // namespace fedsim::sim::u2s
