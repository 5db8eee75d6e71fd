#include "sim/federation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <filesystem>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.hpp"
#include "common/memory.hpp"
#include "common/rng.hpp"
#include "fedsim_version.hpp"
#include "models/hf/hf.hpp"
#include "sim/sampler.hpp"
#include "sim/u2s/u2s_phase.hpp"

namespace fedsim::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ServerRuleSpec rule_spec(const ExperimentConfig& c) {
  ServerRuleSpec s;
  s.algorithm = c.federation.algorithm;
  s.beta1 = c.federation.server_beta1;
  s.beta2 = c.federation.server_beta2;
  s.eta = c.federation.server_eta;
  s.tau = c.federation.server_tau;
  return s;
}

bool is_fedopt(const std::string& a) { return a == "fedadagrad" || a == "fedyogi" || a == "fedadam"; }

}  // namespace

double Federation::dp_sigma(double lr, double clip, double total_samples, int n_clients, int m, int64_t rounds, double eps,
                            double delta) {
  const double D = 2.0 * lr * clip / (total_samples / n_clients);
  const double q = static_cast<double>(m) / n_clients;
  return D * std::sqrt(2.0 * q * static_cast<double>(rounds) * std::log(1.0 / delta)) / eps;
}

Federation::Federation(const ExperimentConfig& cfg, std::vector<int64_t> n_samples, LocalTrainer& trainer,
                       const RunHooks& hooks)
    : cfg_(cfg),
      n_(std::move(n_samples)),
      trainer_(trainer),
      hooks_(hooks),
      seed_(static_cast<uint64_t>(cfg.experiment.seed)),
      n_clients_(static_cast<int>(n_.size())),
      system_(system_spec(cfg), n_clients_, seed_),
      jobs_(queue_, system_, seed_, true),
      rule_(make_server_rule(rule_spec(cfg))) {
  const std::string& a = cfg.federation.algorithm;
  local_ = a == "local";
  uniform_weights_ = cfg.federation.weighting == "uniform" || (cfg.federation.weighting == "auto" && is_fedopt(a));
  FEDSIM_ASSERT_MSG(!(cfg.federation.mode == "async" && (local_ || a == "scaffold")), "validate_experiment missed " << a);
  for (int i = 0; i < n_clients_; ++i)
    if (n_[static_cast<size_t>(i)] <= 0) throw UserError(cfg.source_path + ": data: client " + std::to_string(i) + " has no samples");
  global_ = trainer_.initial_adapter();
  bytes_ = trainer_.adapter_params() * 4;
  if (a == "scaffold") scaffold_ = std::make_unique<Scaffold>(n_clients_, global_.size());
  batched_ = cfg.federation.execution == "batched" && cfg.federation.trainer != "none";
  if (local_) {
    const size_t n_local = cfg.federation.local_client >= 0 ? 1 : static_cast<size_t>(n_clients_);
    local_adapters_.assign(n_local, global_);
  }
  ClientTotals& t = results_.clients;
  t.resize(static_cast<size_t>(n_clients_));
  t.n_samples = n_;
  for (int i = 0; i < n_clients_; ++i) {
    t.flops_per_s[static_cast<size_t>(i)] = system_.client(i).flops_per_s;
    t.bits_per_s[static_cast<size_t>(i)] = system_.client(i).bits_per_s;
  }
  results_.client_n_samples = n_;
  in_flight_.assign(static_cast<size_t>(n_clients_), false);
  queue_.reserve(4 * static_cast<size_t>(std::max<int64_t>(cfg.federation.clients_per_round, cfg.federation.async_concurrency)) + 8);
}

int Federation::local_steps(int32_t client) const {
  if (cfg_.federation.local_steps_mode == "fixed") return static_cast<int>(cfg_.federation.local_steps);
  // FedLLM-Bench's data-proportional steps: every client sees about `local_epochs` passes over
  // its data during the run, being sampled R*m/N times (REFERENCE.md section 2, Fed-ChatbotPA).
  const double N = n_clients_, m = std::min<double>(cfg_.federation.clients_per_round, N);
  const double R = static_cast<double>(cfg_.federation.rounds), B = static_cast<double>(cfg_.federation.batch_size);
  const double steps = std::ceil(cfg_.federation.local_epochs * static_cast<double>(n_[static_cast<size_t>(client)]) * N / (R * m) / B);
  return static_cast<int>(std::max(1.0, std::min(steps, 1e6)));
}

double Federation::round_lr(int64_t round) const {
  return cosine_lr(cfg_.federation.lr, cfg_.federation.lr_min, round, cfg_.federation.rounds);
}

// Mean local training loss of the updates in `slots`, weighted by data size n_i (NaN if none).
double Federation::mean_train_loss(const std::vector<size_t>& slots) const {
  double loss = 0.0, weight = 0.0;
  for (size_t s : slots) {
    const Work& w = work_[s];
    loss += static_cast<double>(n_[static_cast<size_t>(w.client)]) * w.result.loss;
    weight += static_cast<double>(n_[static_cast<size_t>(w.client)]);
  }
  return weight > 0 ? loss / weight : kNaN;
}

double Federation::base_weight(int32_t client) const {
  return uniform_weights_ ? 1.0 : static_cast<double>(n_[static_cast<size_t>(client)]);
}

size_t Federation::launch(int32_t client, int64_t round) {
  size_t slot;
  if (!free_work_.empty()) {
    slot = free_work_.back();
    free_work_.pop_back();
  } else {
    slot = work_.size();
    work_.emplace_back();
  }
  Work& w = work_[slot];
  w.client = client;
  w.round = round;
  w.start = local_ ? local_adapters_[local_adapters_.size() == 1 ? 0 : static_cast<size_t>(client)] : global_;
  w.active = true;
  w.trained = false;
  w.precomputed = false;
  w.result = {};
  w.job = jobs_.start(client, JobKind::download, round, system_.transfer_time(client, bytes_), static_cast<int64_t>(slot));
  ++results_.clients.rounds_joined[static_cast<size_t>(client)];
  return slot;
}

// Batching changes wall time only: a slot's training depends on what it downloaded (start),
// its round's lr and SCAFFOLD correction, all fixed before its train job started (c changes only
// when a round closes, c_i only when the client itself commits), so computing it ahead of its
// completion gives the same result; commit effects wait for the completion. Work computed
// ahead and then cut off (over-commitment, end of an async run) is wasted wall time only.
std::vector<size_t> Federation::train_due(size_t slot) const {
  std::vector<size_t> group{slot};
  if (!batched_) return group;
  const bool deadline = cfg_.federation.mode != "async" && deadline_pending_;
  const Tick closes = round_started_ + (deadline ? seconds_to_ticks(cfg_.federation.deadline_s) : 0);
  for (size_t s = 0; s < work_.size(); ++s) {
    const Work& o = work_[s];
    if (s == slot || !o.active || o.trained || o.precomputed) continue;
    const Job& j = jobs_.job(o.job);
    if (j.kind != JobKind::train || !jobs_.ends_done(o.job)) continue;
    if (deadline && j.end > closes) continue;  // its update would miss the deadline anyway
    group.push_back(s);
  }
  return group;
}

void Federation::train_now(size_t slot) {
  Work& w = work_[slot];
  if (!w.precomputed) {
    const std::vector<size_t> group = train_due(slot);
    std::vector<TrainTask> tasks(group.size());
    std::vector<std::vector<float>> corrections(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      Work& o = work_[group[i]];
      o.adapter = o.start;
      TrainTask& t = tasks[i];
      t.client = o.client;
      t.round = o.round;
      t.steps = local_steps(o.client);
      t.adapter = &o.adapter;
      t.lr = round_lr(o.round);
      if (cfg_.federation.algorithm == "fedprox") {
        t.hooks.prox_mu = static_cast<float>(cfg_.federation.prox_mu);
        t.hooks.prox_anchor = &o.start;
      }
      if (scaffold_) {
        corrections[i] = scaffold_->correction(o.client);
        t.hooks.scaffold_correction = &corrections[i];
      }
    }
    const std::vector<LocalResult> results =
        tasks.size() == 1 ? std::vector<LocalResult>{trainer_.train(tasks[0].client, tasks[0].round, tasks[0].steps,
                                                                    *tasks[0].adapter, tasks[0].lr, tasks[0].hooks)}
                          : trainer_.train_many(tasks);
    for (size_t i = 0; i < group.size(); ++i) {
      work_[group[i]].result = results[i];
      work_[group[i]].precomputed = true;
    }
  }
  w.precomputed = false;
  const double lr = round_lr(w.round);
  if (scaffold_) w.scaffold_delta = scaffold_->client_update(w.client, w.start, w.adapter, w.result.steps, lr);
  w.trained = true;
  results_.clients.tokens_trained[static_cast<size_t>(w.client)] += w.result.tokens;
}

void Federation::on_job_end(const Event& ev) {
  JobEnd how;
  const Job j = jobs_.finish(ev, &how);
  const auto slot = static_cast<size_t>(j.tag);
  Work& w = work_[slot];
  results_.clients.busy_s[static_cast<size_t>(j.client)] += ticks_to_seconds(ev.time - j.start);
  const bool async = cfg_.federation.mode == "async";
  if (how != JobEnd::done) {
    w.active = false;
    free_work_.push_back(slot);
    if (async) {
      in_flight_[static_cast<size_t>(w.client)] = false;
      ++async_dropped_;
      async_fill();
    } else {
      sync_dropped(slot);
    }
    return;
  }
  switch (j.kind) {
    case JobKind::download: {
      const double flops = trainer_.flops_per_token() * static_cast<double>(trainer_.tokens(local_steps(w.client)));
      w.job = jobs_.start(w.client, JobKind::train, w.round, system_.compute_time(w.client, flops), j.tag);
      break;
    }
    case JobKind::train:
      train_now(slot);
      w.job = jobs_.start(w.client, JobKind::upload, w.round, system_.transfer_time(w.client, bytes_), j.tag);
      break;
    case JobKind::upload:
      if (async)
        async_delivered(slot);
      else
        sync_delivered(slot);
      break;
    default: FEDSIM_ASSERT_MSG(false, "unexpected job kind " << job_kind_name(j.kind));
  }
}

void Federation::cancel_active() {
  for (size_t s = 0; s < work_.size(); ++s) {
    Work& w = work_[s];
    if (!w.active) continue;
    const Job& j = jobs_.job(w.job);
    results_.clients.busy_s[static_cast<size_t>(w.client)] += ticks_to_seconds(queue_.now() - j.start);
    jobs_.cancel(w.job);
    w.active = false;
    in_flight_[static_cast<size_t>(w.client)] = false;
    free_work_.push_back(s);
  }
}

// Aggregates the updates in `slots` (taken in client-id order) with weights
// base_weight_i / sum(base_weight) * extra_i: the extra factors (FedBuff's staleness weights) are
// not normalised away, so an all-stale buffer moves the model less.
void Federation::aggregate(const std::vector<size_t>& slots, const std::vector<double>& extra, int64_t round) {
  if (slots.empty()) return;
  std::vector<size_t> order(slots.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return work_[slots[a]].client < work_[slots[b]].client; });
  if (cfg_.privacy.mechanism == "gaussian") {
    // Real clipping of each update to norm C, which OpenFedLLM omits (REFERENCE.md section 3),
    // then Gaussian noise on the clipped update.
    const double sigma = dp_sigma(round_lr(round), cfg_.privacy.clip,
                                  static_cast<double>(std::accumulate(n_.begin(), n_.end(), int64_t{0})), n_clients_,
                                  static_cast<int>(std::min<int64_t>(cfg_.federation.clients_per_round, n_clients_)),
                                  cfg_.federation.rounds, cfg_.privacy.epsilon, cfg_.privacy.delta);
    for (size_t s : slots) {
      Work& w = work_[s];
      double norm2 = 0.0;
      for (size_t k = 0; k < w.adapter.size(); ++k) {
        const double d = static_cast<double>(w.adapter[k]) - w.start[k];
        norm2 += d * d;
      }
      const double scale = std::min(1.0, cfg_.privacy.clip / (std::sqrt(norm2) + 1e-12));
      Rng rng(seed_, static_cast<uint64_t>(w.client), static_cast<uint64_t>(round), Purpose::dp_noise);
      for (size_t k = 0; k < w.adapter.size(); ++k) {
        const double d = (static_cast<double>(w.adapter[k]) - w.start[k]) * scale + sigma * rng.normal();
        w.adapter[k] = static_cast<float>(w.start[k] + d);
      }
    }
  }
  double base_total = 0.0;
  for (size_t s : slots) base_total += base_weight(work_[s].client);
  std::vector<WeightedUpdate> ups;
  std::vector<std::vector<float>> scaffold_deltas;
  for (size_t i : order) {
    const Work& w = work_[slots[i]];
    ups.push_back({base_weight(w.client) / base_total * extra[i], &w.adapter, &w.start});
    if (scaffold_) scaffold_deltas.push_back(w.scaffold_delta);
    ++results_.clients.updates_accepted[static_cast<size_t>(w.client)];
  }
  if (!global_.empty()) rule_->apply(global_, mean_delta(ups, /*normalise=*/false));
  if (scaffold_) scaffold_->server_update(scaffold_deltas);
}

void Federation::record_row(RoundRow row) {
  const int64_t completed = row.round;
  row.sim_time_s = ticks_to_seconds(queue_.now());
  row.eval_loss = row.eval_accuracy = kNaN;
  const int64_t R = cfg_.federation.rounds;
  const bool eval = completed % cfg_.federation.eval_every == 0 || completed == R;
  if (eval && !local_) {
    const EvalResult e = trainer_.evaluate(global_);
    row.eval_loss = e.loss;
    row.eval_accuracy = e.accuracy;
  } else if (eval) {
    // Local training: the mean over the trained clients of their own adapter's test metrics.
    double loss = 0.0, acc = 0.0;
    std::vector<double> per_client(local_adapters_.size());
    for (size_t i = 0; i < local_adapters_.size(); ++i) {
      const EvalResult e = trainer_.evaluate(local_adapters_[i]);
      loss += e.loss;
      acc += e.accuracy;
      per_client[i] = e.accuracy;
    }
    row.eval_loss = loss / static_cast<double>(local_adapters_.size());
    row.eval_accuracy = acc / static_cast<double>(local_adapters_.size());
    if (completed == R) {
      auto& out = results_.clients.local_eval_accuracy;
      out.assign(static_cast<size_t>(n_clients_), kNaN);
      for (size_t i = 0; i < per_client.size(); ++i)
        out[local_adapters_.size() == 1 ? static_cast<size_t>(cfg_.federation.local_client) : i] = per_client[i];
    }
  }
  const int64_t every = cfg_.federation.client_eval_every;
  if (every > 0 && !local_ && (completed % every == 0 || completed == R)) {
    std::vector<double> acc(static_cast<size_t>(n_clients_));
    for (int c = 0; c < n_clients_; ++c) acc[static_cast<size_t>(c)] = trainer_.client_accuracy(global_, c);
    results_.client_eval_round.push_back(completed);
    results_.client_eval_accuracy.push_back(std::move(acc));
  }
  row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  row.peak_rss_mb = peak_rss_mb();
  results_.rounds.push_back(row);
  const int64_t ck = cfg_.experiment.checkpoint_every;
  checkpoint_due_ = ck > 0 && completed > 0 && completed % ck == 0 && completed < R;
  if (hooks_.on_round) hooks_.on_round(results_.rounds.back(), R + 1);
}

std::vector<int32_t> Federation::online_clients(const std::vector<bool>* exclude) const {
  std::vector<int32_t> out;
  for (int32_t c = 0; c < n_clients_; ++c)
    if ((!exclude || !(*exclude)[static_cast<size_t>(c)]) && system_.availability().online(c, queue_.now()) &&
        (hooks_.client_ready_ticks.empty() || queue_.now() >= hooks_.client_ready_ticks[static_cast<size_t>(c)]))
      out.push_back(c);
  return out;
}

Tick Federation::next_online_any(const std::vector<bool>* exclude) const {
  Tick best = kNever;
  for (int32_t c = 0; c < n_clients_; ++c)
    if (!exclude || !(*exclude)[static_cast<size_t>(c)]) {
      // A client that is not ready yet (U2S) becomes eligible at its ready tick.
      const Tick ready = hooks_.client_ready_ticks.empty() ? 0 : hooks_.client_ready_ticks[static_cast<size_t>(c)];
      if (ready != kNever) best = std::min(best, system_.availability().next_online(c, std::max(queue_.now() + 1, ready)));
    }
  return best;
}

void Federation::dispatch(const Event& ev) {
  switch (ev.kind) {
    case JobScheduler::kJobDone:
    case JobScheduler::kJobOffline:
    case JobScheduler::kJobFailed: on_job_end(ev); break;
    case kRoundStart: sync_round_start(ev.payload); break;
    case kDeadline:
      deadline_pending_ = false;
      sync_close_round();
      break;
    case kRetryLaunch:
      retry_pending_ = false;
      async_fill();
      break;
    default: FEDSIM_ASSERT_MSG(false, "unknown event kind " << ev.kind);
  }
}

RunResults Federation::run(const std::vector<uint8_t>* resume, const std::string& checkpoint_file) {
  const FaultPlan fault = FaultPlan::from_env();
  wall_start_ = std::chrono::steady_clock::now();
  results_.fedsim_version = FEDSIM_VERSION_STRING;
  results_.config_yaml = to_yaml(cfg_);
  results_.seed = cfg_.experiment.seed;
  if (hooks_.log && batched_)
    hooks_.log(std::string("execution: batched: ") +
               (cfg_.federation.mode == "async"
                    ? "clients in flight whose train jobs are due to complete train together, each from the adapter "
                      "it downloaded"
                    : "a round's clients whose train jobs are due to complete train together") +
               (cfg_.federation.deadline_s > 0.0 && cfg_.federation.mode != "async"
                    ? "; train jobs due after the deadline are not computed ahead (they are cut off)"
                    : "") +
               "; results equal sequential execution");
  if (resume) {
    restore_state(*resume);
    wall_start_ -= std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(wall_offset_));
  } else {
    RoundRow start;
    start.train_loss = kNaN;
    record_row(start);
    if (cfg_.federation.mode == "async")
      async_fill();
    else
      queue_.schedule(0, kRoundStart, -1, 0);
  }
  auto checkpoint = [&] {
    wall_offset_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
    write_checkpoint(checkpoint_file, {results_.config_yaml, results_.rounds.back().round, save_state()});
  };
  Event ev;
  while (queue_.pop(ev)) {
    ++events_;
    dispatch(ev);
    if (static_cast<int64_t>(events_) == fault.kill_after_events) std::raise(SIGKILL);
    if (static_cast<int64_t>(events_) == fault.term_after_events) std::raise(SIGTERM);
    if (checkpoint_file.empty()) continue;
    if (checkpoint_due_ && queue_.pending() > 0) checkpoint();
    checkpoint_due_ = false;
    if (stop_signal() != 0 && queue_.pending() > 0) {
      checkpoint();
      throw Interrupted{stop_signal(), checkpoint_file};
    }
  }
  // Every event was consumed; work still marked active would be a lost event.
  for (const Work& w : work_) FEDSIM_ASSERT_MSG(!w.active, "client " << w.client << " still has work at the end of the run");
  const double end_s = ticks_to_seconds(queue_.now());
  for (int c = 0; c < n_clients_; ++c)
    results_.clients.idle_s[static_cast<size_t>(c)] = end_s - results_.clients.busy_s[static_cast<size_t>(c)];
  for (const auto& t : jobs_.timeline())
    results_.timeline.push_back({t.client, static_cast<int32_t>(t.kind), static_cast<int32_t>(t.end), t.round,
                                 ticks_to_seconds(t.start), ticks_to_seconds(t.stop)});
  results_.sim_total_s = end_s;
  results_.events = events_;
  results_.jobs_started = jobs_.started();
  results_.global_adapter = global_;
  results_.wall_total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  if (static_cast<int64_t>(results_.rounds.size()) != cfg_.federation.rounds + 1 && hooks_.log)
    hooks_.log("warning: the run ended after " + std::to_string(results_.rounds.size() - 1) + " of " +
               std::to_string(cfg_.federation.rounds) + " rounds: no client came online again");
  return results_;
}

RunResults run_federation(const ExperimentConfig& c, std::vector<int64_t> n, LocalTrainer& trainer, const RunHooks& hooks,
                          const RunControl& control) {
  Federation fed(c, std::move(n), trainer, hooks);
  const std::string& ck = control.checkpoint_file;
  if (!ck.empty() && control.resume && std::filesystem::exists(ck)) {
    const SimCheckpoint saved = read_checkpoint(ck);
    if (saved.config_yaml == to_yaml(c)) {
      if (hooks.log) hooks.log("resuming from " + ck + " after round " + std::to_string(saved.completed_rounds));
      return fed.run(&saved.state, ck);
    }
    if (hooks.log) hooks.log("warning: " + ck + " holds a checkpoint of another config; starting from round 0");
  }
  return fed.run(nullptr, ck);
}

RunResults run_experiment(const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control) {
  validate_experiment(c);
  if (c.u2s.enabled()) return u2s::run_u2s_experiment(c, hooks, control);  // clients generate their data first
  if (c.federation.trainer == "none") {
    // System-only studies need the clients' data sizes, not a model.
    std::vector<int64_t> n;
    for (const auto& cl : prepare_data(c, hooks).clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
    auto trainer = make_null_trainer(c);
    return run_federation(c, std::move(n), *trainer, hooks, control);
  }
  const datasets::FederatedDataset data = prepare_data(c, hooks);
  models::Model model = prepare_model(c, data, hooks);
  auto trainer = make_model_trainer(c, data, model);
  std::vector<int64_t> n;
  for (const auto& cl : data.clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
  RunResults r = run_federation(c, std::move(n), *trainer, hooks, control);
  if (!c.lora.export_dir.empty() && !r.global_adapter.empty()) {
    models::write_peft_adapter(model.config(), lora_config(c), r.global_adapter, c.model.path, c.lora.export_dir);
    if (hooks.log) hooks.log("adapter: PEFT folder " + c.lora.export_dir);
  }
  return r;
}

}  // namespace fedsim::sim
