// U2S generation as jobs on the run's Simulation: every client downloads the pool (and the
// generator's weights for the model backend), then runs one generate job over all its pieces.
// The job's simulated length is its tokens (prompt and completion) x the generator's forward
// FLOPs per token over the client's speed, or for a remote endpoint the per-request latency plus
// completion tokens over its speed. Text is generated when the generate job starts (its length
// depends on it) and judged when it ends; a job that goes offline or fails is retried when the
// client is back, up to u2s.max_attempts, and its text is kept (generation is deterministic, so
// redoing it would give the same bits). With join: cutoff, generation stops at cutoff_s and
// pieces past it are not generated at all. Generated text is state: a checkpoint keeps it, so
// a resumed run (even against an endpoint) continues with the same bits.
#include <algorithm>
#include <set>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/u2s/u2s_phase.hpp"

namespace fedsim::sim::u2s {
namespace {

constexpr size_t kGenBatch = 32;  // pieces per backend call

std::string escaped(std::string t) {
  for (size_t p = 0; (p = t.find('\n', p)) != std::string::npos;) t.replace(p, 1, "\\n");
  return t;
}

}  // namespace

Generation::Generation(const ExperimentConfig& c, const PhaseInput& in, datasets::FederatedDataset& data, Federation& fed,
                       Simulation& sim, const RunHooks& hooks)
    : c_(c), u_(u2s_of(c)), in_(in), data_(data), fed_(fed), hooks_(hooks), seed_(static_cast<uint64_t>(c.experiment.seed)) {
  cutoff_t_ = seconds_to_ticks(u_.cutoff_s);
  pad_to_ = u_.prompt_pad ? examples_width(*in.pool, static_cast<size_t>(u_.k)) : 0;
  truth_ = u_.filter.check_truth ? in.truth : nullptr;
  const size_t n = in.corpus->clients.size();
  FEDSIM_ASSERT(data.clients.size() == n);
  st_.resize(n);
  reports_.resize(n);
  for (size_t ci = 0; ci < n; ++ci) {
    ClientState& s = st_[ci];
    for (const auto& doc : in.corpus->clients[ci].samples)
      for (auto& p : chunk(doc.response, static_cast<size_t>(u_.chunk_size), static_cast<size_t>(u_.chunk_overlap))) {
        s.pieces.push_back(std::move(p));
        s.domain.push_back(doc.task);
      }
    reports_[ci].pieces = static_cast<int64_t>(s.pieces.size());
  }
  sim.add(*this, kKinds, stream_key(seed_, 0, 0, Purpose::generation));
}

void Generation::start() {
  for (size_t ci = 0; ci < st_.size(); ++ci) {
    const Tick t = sim().system().availability().next_online(static_cast<int>(ci), 0);
    if (t == kNever)
      give_up(static_cast<int>(ci), "never online");
    else
      st_[ci].next = schedule(t, kStart, static_cast<int32_t>(ci), 0);
  }
}

// Generates pieces until their simulated cost exceeds `budget`; returns how many fit and their ticks.
size_t Generation::generate(int ci, Tick budget, Tick* ticks) {
  ClientState& s = st_[static_cast<size_t>(ci)];
  size_t fit = 0;
  Tick total = 0;
  for (;;) {
    while (fit < s.results.size() && total + s.cost[fit] <= budget) total += s.cost[fit++];
    if (fit < s.results.size() || s.results.size() == s.pieces.size()) break;
    const size_t from = s.results.size(), to = std::min(s.pieces.size(), from + kGenBatch);
    std::vector<llm::Request> reqs;
    for (size_t p = from; p < to; ++p) {
      const uint64_t key = stream_key(seed_, static_cast<uint64_t>(ci), p, Purpose::generation);
      llm::Request r;
      r.prompt = format_prompt(*in_.pool, in_.selector->select(s.pieces[p], key), s.pieces[p], pad_to_);
      r.max_new_tokens = static_cast<int>(u_.max_new_tokens);
      r.temperature = u_.temperature;
      r.seed = key;
      reqs.push_back(std::move(r));
    }
    std::vector<llm::Result> res = in_.backend->generate(reqs);
    FEDSIM_ASSERT_MSG(res.size() == reqs.size(), "backend " << in_.backend->name() << " returned " << res.size()
                                                            << " results for " << reqs.size() << " requests");
    for (auto& r : res) {
      const auto tok = static_cast<double>(r.prompt_tokens + r.completion_tokens);
      s.cost.push_back(in_.flops_per_token > 0
                           ? sim().system().compute_time(ci, tok * in_.flops_per_token)
                           : seconds_to_ticks(u_.openai_latency_s + static_cast<double>(r.completion_tokens) / u_.openai_tokens_per_s));
      s.results.push_back(std::move(r));
    }
  }
  *ticks = total;
  return fit;
}

void Generation::start_client(int ci) {
  ClientReport& r = reports_[static_cast<size_t>(ci)];
  const bool cutoff = u_.join == JoinRule::cutoff;
  if (cutoff && now() >= cutoff_t_) return give_up(ci, "no job finished before the cutoff");
  if (++r.attempts > u_.max_attempts)
    return give_up(ci, "offline or failed in all " + std::to_string(u_.max_attempts) + " attempts");
  ClientState& s = st_[static_cast<size_t>(ci)];
  s.busy = true;
  if (!s.downloaded) {
    s.job = start_job(ci, JobKind::download, -1, sim().system().transfer_time(ci, in_.download_bytes), 0);
    return;
  }
  Tick ticks = 0;
  const size_t fit = generate(ci, cutoff ? cutoff_t_ - now() : kNever, &ticks);
  const bool cut = cutoff && fit < s.pieces.size();
  s.job = start_job(ci, JobKind::generate, -1, cut ? cutoff_t_ - now() : ticks, static_cast<int64_t>(fit));
}

void Generation::finish_client(int ci, size_t fit, Tick began) {
  const ClientState& s = st_[static_cast<size_t>(ci)];
  ClientReport& r = reports_[static_cast<size_t>(ci)];
  std::set<std::string> seen;
  for (size_t p = 0; p < fit; ++p) {
    const llm::Result& res = s.results[p];
    r.prompt_tokens += res.prompt_tokens;
    r.completion_tokens += res.completion_tokens;
    Verdict v = judge(res, s.pieces[p], u_.filter, truth_);
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
  r.gen_time_s = ticks_to_seconds(now() - began);
  r.status = fit < s.pieces.size() ? "cutoff" : "done";
  attach(ci);
  if (r.pairs.empty()) {
    r.status = "no pairs";
    messages_.push_back("u2s: client " + std::to_string(ci) + " kept no pair from " + std::to_string(fit) +
                        " pieces; it will not train");
    return announce(ci, false);
  }
  // join: cutoff: every client with pairs trains from cutoff_s on, whenever its job ended.
  const Tick ready = u_.join == JoinRule::cutoff ? std::max(now(), cutoff_t_) : now();
  r.ready_s = ticks_to_seconds(ready);
  if (ready == now()) return announce(ci, true);
  st_[static_cast<size_t>(ci)].next = schedule(ready, kReady, ci, 0);
}

void Generation::give_up(int ci, const std::string& why) {
  ClientReport& r = reports_[static_cast<size_t>(ci)];
  r.status = "gave up: " + why;
  messages_.push_back("u2s: client " + std::to_string(ci) + " " + r.status + "; it will not train");
  attach(ci);
  announce(ci, false);
}

void Generation::attach(int ci) {
  const ClientReport& r = reports_[static_cast<size_t>(ci)];
  auto& samples = data_.clients[static_cast<size_t>(ci)].samples;
  samples = r.pairs;
  if (samples.empty()) samples.push_back(data_.public_split.front());  // never trained on
}

void Generation::announce(int ci, bool trains) {
  fed_.set_client_data(ci, static_cast<int64_t>(data_.clients[static_cast<size_t>(ci)].samples.size()), trains);
  if (++announced_ < st_.size()) return;
  int64_t total = 0;
  for (const ClientReport& r : reports_) total += r.kept;
  if (hooks_.log) {
    if (total == 0)  // not an error: the run ends after round 0 and /u2s tells why
      hooks_.log("u2s: warning: no client kept any generated pair, so no client trains; HINT: check the generator "
                 "(u2s.backend) and the filters (u2s.min_question ... u2s.check_truth) against /u2s/drops");
    hooks_.log("u2s: " + std::to_string(total) + " pairs kept over " + std::to_string(st_.size()) + " clients");
  }
  if (u_.start == U2sStart::after_all) fed_.start();
}

void Generation::on_event(const Event& ev, uint32_t kind) {
  if (kind == kReady) return announce(ev.client, true);
  start_client(ev.client);
}

void Generation::on_job_end(const Job& j, JobEnd how, const Event&) {
  ClientState& s = st_[static_cast<size_t>(j.client)];
  s.busy = false;
  if (how == JobEnd::done && j.kind == JobKind::download) {
    s.downloaded = true;
    --reports_[static_cast<size_t>(j.client)].attempts;  // the download is not a generate attempt
    return start_client(j.client);
  }
  if (how == JobEnd::done) {
    finish_client(j.client, static_cast<size_t>(j.tag), j.start);
    // A finished generate job is a point worth resuming from: its text cost the most wall time.
    if (c_.experiment.checkpoint_every > 0) sim().request_checkpoint();
    return;
  }
  const Tick back = sim().system().availability().next_online(j.client, now() + 1);
  if (back == kNever)
    give_up(j.client, std::string("went ") + job_end_name(how) + " and never came back online");
  else
    s.next = schedule(back, kStart, j.client, 0);
}

void Generation::stop() {
  for (size_t ci = 0; ci < st_.size(); ++ci) {
    ClientState& s = st_[ci];
    sim().queue().cancel(s.next);  // a no-op once it ran
    if (s.busy) sim().jobs().cancel(s.job);
    s.busy = false;
    ClientReport& r = reports_[ci];
    if (!r.status.empty()) continue;
    r.status = "stopped: training ended";
    messages_.push_back("u2s: client " + std::to_string(ci) + " was still generating when training ended");
    attach(static_cast<int>(ci));
    announce(static_cast<int>(ci), false);
  }
}

void Generation::load(ArchiveReader& ar) {
  const size_t n = st_.size();
  std::vector<ClientState> cut(n);
  for (size_t ci = 0; ci < n; ++ci) std::swap(cut[ci], st_[ci]);  // keep the pieces; read the rest
  fields(ar);
  if (st_.size() != n || reports_.size() != n || announced_ > n) ar.fail();
  for (size_t ci = 0; ci < n; ++ci) {
    ClientState& s = st_[ci];
    s.pieces = std::move(cut[ci].pieces);
    s.domain = std::move(cut[ci].domain);
    if (s.results.size() > s.pieces.size() || s.cost.size() != s.results.size()) ar.fail();
    if (!reports_[ci].status.empty()) attach(static_cast<int>(ci));  // its data as the federation had it
  }
}

PhaseOutput Generation::finish() const {
  PhaseOutput out{reports_, messages_};
  // One line per kind of backend failure, with a count and the first message.
  std::map<Drop, std::pair<int64_t, std::string>> failures;
  for (size_t ci = 0; ci < st_.size(); ++ci)
    for (size_t p = 0; p < static_cast<size_t>(reports_[ci].processed); ++p)
      if (!st_[ci].results[p].ok) {
        auto& e = failures[judge(st_[ci].results[p], "", u_.filter, truth_).why];
        if (e.first++ == 0) e.second = st_[ci].results[p].error;
      }
  for (const auto& [why, e] : failures)
    out.messages.push_back("u2s: " + std::to_string(e.first) + " generator requests dropped as " + drop_name(why) +
                           ", first: " + e.second);
  if (hooks_.log) {
    for (const auto& m : out.messages) hooks_.log(m);
    // A few generations verbatim, so a user sees what the generator makes of the pieces.
    const ClientState& s = st_.front();
    for (size_t p = 0; p < std::min<size_t>(3, s.results.size()); ++p)
      hooks_.log("u2s: example: '" + escaped(s.pieces[p]) + "' -> '" +
                 escaped(s.results[p].ok ? s.results[p].text : "error: " + s.results[p].error) + "'");
  }
  return out;
}

}  // namespace fedsim::sim::u2s
