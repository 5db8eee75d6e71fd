#include "sim/federation.hpp"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <memory>
#include <numeric>
#include <sstream>

#include "common/error.hpp"
#include "models/hf/hf.hpp"
#include "fedsim_version.hpp"
#include "sim/checkpoint.hpp"
#include "sim/experiment.hpp"
#include "sim/mpi/comm.hpp"
#include "sim/mpi/rank_trainer.hpp"

namespace fedsim::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const std::vector<int64_t>& checked_sizes(const ExperimentConfig& cfg, const std::vector<int64_t>& n) {
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i] <= 0 && n[i] != kDataPending)
      throw UserError(cfg.source_path + ": data: client " + std::to_string(i) + " has no samples");
  return n;
}

}  // namespace

Federation::Federation(const ExperimentConfig& cfg, std::vector<int64_t> n_samples, LocalTrainer& trainer,
                       const RunHooks& hooks, Simulation& sim)
    : cfg_(cfg),
      n_(std::move(n_samples)),
      hooks_(hooks),
      sim_(sim),
      agg_(cfg, checked_sizes(cfg, n_), trainer.initial_adapter()),
      recorder_(cfg, trainer, agg_, hooks, sim, results_),
      parts_(cfg, n_, trainer, agg_, results_.clients),
      strategy_(make_strategy(*this, cfg)) {
  FEDSIM_ASSERT_MSG(!(cfg.federation.mode == ServerMode::async && !agg_.algorithm().async_ok),
                    "validate_experiment missed " << agg_.algorithm().name);
  parts_.set_strategy(*strategy_);
  for (int64_t x : n_) {
    ready_.push_back(x != kDataPending);
    pending_ = pending_ || x == kDataPending;
  }
  const uint64_t seed = static_cast<uint64_t>(cfg.experiment.seed);
  sim.add(parts_, 0, seed);  // the participations' jobs draw their failures from the run's seed
  sim.add(*strategy_, strategy_->n_kinds(), seed);
  sim.add(*this, 0, seed);
  ClientTotals& t = results_.clients;
  const auto nc = static_cast<size_t>(n_clients());
  t.resize(nc);
  for (size_t i = 0; i < nc; ++i) {
    t.flops_per_s[i] = sim.system().client(static_cast<int>(i)).flops_per_s;
    t.bits_per_s[i] = sim.system().client(static_cast<int>(i)).bits_per_s;
  }
  results_.fedsim_version = FEDSIM_VERSION_STRING;
  results_.config_yaml = to_yaml(cfg);
  results_.seed = cfg.experiment.seed;
  sim.queue().reserve(4 * static_cast<size_t>(std::max<int64_t>(cfg.federation.clients_per_round,
                                                                cfg.federation.async_concurrency)) + 8);
  if (hooks_.log && parts_.batched())
    hooks_.log(std::string("execution: batched: ") +
               (cfg.federation.mode == ServerMode::async
                    ? "clients in flight whose train jobs are due to complete train together, each from the adapter "
                      "it downloaded"
                    : "a round's clients whose train jobs are due to complete train together") +
               (cfg.federation.deadline_s > 0.0 && cfg.federation.mode != ServerMode::async
                    ? "; train jobs due after the deadline are not computed ahead (they are cut off)"
                    : "") +
               "; results equal sequential execution");
}

void Federation::start() {
  RoundRow first;
  first.train_loss = kNaN;
  record(first);
  strategy_->start();
}

void Federation::record(RoundRow row) {
  recorder_.record(row);
  for (RoundObserver* o : observers_) o->on_round(row.round, agg_.global());
  if (row.round == cfg_.federation.rounds && on_done_) on_done_();
}

void Federation::set_client_data(int32_t client, int64_t n, bool trains) {
  const auto c = static_cast<size_t>(client);
  FEDSIM_ASSERT_MSG(n_.at(c) == kDataPending && n > 0, "client " << client << ": data announced twice or empty");
  n_[c] = n;
  agg_.set_client_data(client, n, trains);
  if (!trains) return;
  ready_[c] = true;
  strategy_->on_clients_ready();
}

std::vector<int32_t> Federation::eligible(const std::vector<bool>* exclude) const {
  std::vector<int32_t> out;
  const Tick now = sim_.now();
  for (int32_t c = 0; c < n_clients(); ++c)
    if ((!exclude || !(*exclude)[static_cast<size_t>(c)]) && ready_[static_cast<size_t>(c)] &&
        sim_.system().availability().online(c, now))
      out.push_back(c);
  return out;
}

// Clients whose data is not there yet are left out: their arrival wakes the strategy
// (set_client_data -> ServerStrategy::on_clients_ready).
Tick Federation::next_eligible(const std::vector<bool>* exclude) const {
  Tick best = kNever;
  for (int32_t c = 0; c < n_clients(); ++c)
    if ((!exclude || !(*exclude)[static_cast<size_t>(c)]) && ready_[static_cast<size_t>(c)])
      best = std::min(best, sim_.system().availability().next_online(c, sim_.now() + 1));
  return best;
}

double Federation::mean_train_loss(const std::vector<size_t>& slots) const {
  double loss = 0.0, weight = 0.0;
  for (size_t s : slots) {
    const auto& w = parts_.work(s);
    loss += static_cast<double>(n_[static_cast<size_t>(w.client)]) * w.result.loss;
    weight += static_cast<double>(n_[static_cast<size_t>(w.client)]);
  }
  return weight > 0 ? loss / weight : kNaN;
}

void Federation::aggregate(const std::vector<size_t>& slots, const std::vector<double>& extra, int64_t round) {
  std::vector<ClientUpdate> ups;
  for (size_t s : slots) {
    auto& w = parts_.work(s);
    ups.push_back({w.client, &w.start, &w.adapter, &w.scaffold_delta});
  }
  agg_.aggregate(ups, extra, round, results_.clients.updates_accepted);
}

void Federation::save(ArchiveWriter& ar) const {
  const_cast<Aggregator&>(agg_).fields(ar);
  const_cast<RoundRecorder&>(recorder_).fields(ar);
  if (pending_) const_cast<Federation*>(this)->roster_fields(ar);
}

void Federation::load(ArchiveReader& ar) {
  const size_t n_params = agg_.global().size();
  agg_.fields(ar);
  recorder_.fields(ar);
  const size_t n = n_.size();
  if (pending_) {
    roster_fields(ar);
    if (n_.size() != n || ready_.size() != n) ar.fail();
    // The aggregator learns the sizes announced before the checkpoint, as it did then.
    for (size_t c = 0; c < n; ++c) {
      if (n_[c] == kDataPending) {
        if (ready_[c]) ar.fail();
        continue;
      }
      if (n_[c] <= 0) ar.fail();
      agg_.set_client_data(static_cast<int32_t>(c), n_[c], ready_[c]);
    }
  }
  const ClientTotals& t = results_.clients;
  if (agg_.global().size() != n_params)
    throw UserError("checkpoint: saved for another adapter size; it does not match this config");
  if (t.rounds_joined.size() != n || t.updates_accepted.size() != n || t.tokens_trained.size() != n ||
      t.sequences_trained.size() != n || t.no_target_sequences.size() != n ||
      t.busy_s.size() != n || (results_.rounds.empty() && !pending_))  // u2s.start: after_all starts late
    ar.fail();
}

RunResults Federation::finish() {
  // Every event was consumed; work still marked active would be a lost event.
  FEDSIM_ASSERT_MSG(!parts_.any_active(), "a client still has work at the end of the run");
  // The federation's own end: observers (the open-ended evaluation) may still run after it.
  const double end_s = ticks_to_seconds(sim_.run_end());
  ClientTotals& t = results_.clients;
  for (size_t c = 0; c < n_.size(); ++c) t.idle_s[c] = end_s - t.busy_s[c];
  t.n_samples = n_;  // kDataPending for a client whose data never arrived
  results_.client_n_samples = n_;
  for (const auto& r : sim_.jobs().timeline())
    results_.timeline.push_back({r.client, static_cast<int32_t>(r.kind), static_cast<int32_t>(r.end), r.round,
                                 ticks_to_seconds(r.start), ticks_to_seconds(r.stop)});
  results_.sim_total_s = end_s;
  results_.events = sim_.run_events();
  results_.jobs_started = sim_.run_jobs_started();
  results_.global_adapter = agg_.global();
  results_.wall_total_s = recorder_.wall_elapsed();
  const int64_t seqs = std::accumulate(t.sequences_trained.begin(), t.sequences_trained.end(), int64_t{0});
  const int64_t empty = std::accumulate(t.no_target_sequences.begin(), t.no_target_sequences.end(), int64_t{0});
  if (empty > 0 && hooks_.log) {
    std::ostringstream os;
    os << "warning: " << empty << " of " << seqs << " local training sequences (" << std::fixed << std::setprecision(1)
       << 100.0 * double(empty) / double(std::max<int64_t>(seqs, 1))
       << "%) had no response token within model.seq_len = "
       << (cfg_.model.seq_len > 0 ? cfg_.model.seq_len : int64_t(model_config(cfg_).max_seq))
       << " tokens and trained nothing (per client: /clients/no_target_sequences); a larger model.seq_len keeps them";
    hooks_.log(os.str());
  }
  if (static_cast<int64_t>(results_.rounds.size()) != cfg_.federation.rounds + 1 && hooks_.log)
    hooks_.log("warning: the run ended after " + std::to_string(results_.rounds.size() - 1) + " of " +
               std::to_string(cfg_.federation.rounds) + " rounds: no client came online again");
  return results_;
}

std::vector<std::unique_ptr<RoundObserver>> observe_run_features(Simulation& sim, Federation& fed,
                                                                 const ExperimentConfig& c, const RunInputs& inputs,
                                                                 const RunHooks& hooks) {
  std::vector<std::unique_ptr<RoundObserver>> observers;
  for (const RunFeature& f : run_features())
    if (f.enabled(c)) {
      observers.push_back(f.make(c, inputs, hooks));
      sim.add(*observers.back(), observers.back()->n_kinds(), static_cast<uint64_t>(c.experiment.seed), /*observer=*/true);
      fed.observe(*observers.back());
    }
  return observers;
}

void run_resumable(Simulation& sim, const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control,
                   const std::function<void()>& start) {
  const std::string& ck = control.checkpoint_file;
  sim.set_checkpointing(ck, to_yaml(c));
  bool resumed = false;
  if (!ck.empty() && control.resume && std::filesystem::exists(ck)) {
    const SimCheckpoint saved = read_checkpoint(ck);
    if (saved.config_yaml != to_yaml(c))
      throw UserError(ck + ": holds the checkpoint of another config; resuming it would mix two runs" + fresh_hint() +
                      " or choose another --out");
    if (hooks.log) hooks.log("resuming from " + ck + " after round " + std::to_string(saved.completed_rounds));
    try {
      sim.load_state(saved.state);
    } catch (const UserError& e) {
      throw UserError(ck + ": " + e.what() + fresh_hint());
    }
    resumed = true;
  }
  if (!resumed) start();
  sim.run();
}

RunResults run_federation(const ExperimentConfig& c, std::vector<int64_t> n, LocalTrainer& trainer, const RunHooks& hooks,
                          const RunControl& control, const RunInputs& inputs) {
  const int n_clients = static_cast<int>(n.size());
  Simulation sim(c.system, n_clients, static_cast<uint64_t>(c.experiment.seed));
  Federation fed(c, std::move(n), trainer, hooks, sim);
  const auto observers = observe_run_features(sim, fed, c, inputs, hooks);
  run_resumable(sim, c, hooks, control, [&fed] { fed.start(); });
  RunResults r = fed.finish();
  for (const auto& o : observers) o->finish(r);
  return r;
}

namespace {

// Whether a run's training can be spread over MPI ranks: real training of the federation itself
// (a generator's experiment or a system-only run has no train jobs to spread).
bool spread_over_ranks(const ExperimentConfig& c, const RunHooks& hooks) {
  std::string why;
  for (const ExperimentKind& k : experiment_kinds())
    if (k.enabled(c)) why = std::string("a ") + k.name + " experiment";
  if (c.federation.trainer == TrainerKind::none) why = "federation.trainer: none";
  if (why.empty()) return true;
  if (hooks.log && mpi::is_root())
    hooks.log("MPI: " + why + " runs on rank 0 alone; ranks 1-" + std::to_string(mpi::size() - 1) + " idle");
  return false;
}

}  // namespace

RunResults run_experiment(const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control) {
  validate_experiment(c);
  const models::ProductsScope products(products_of(c));
  const bool over_ranks = control.over_ranks && mpi::size() > 1 && spread_over_ranks(c, hooks);
  if (control.over_ranks && !over_ranks && !mpi::is_root()) return {};  // rank 0 runs it alone
  for (const ExperimentKind& k : experiment_kinds())
    if (k.enabled(c)) return k.run(c, hooks, control);  // U2S: clients generate their data first
  if (c.federation.trainer == TrainerKind::none) {
    // System-only studies need the clients' data sizes, not a model.
    std::vector<int64_t> n;
    for (const auto& cl : prepare_data(c, hooks).clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
    auto trainer = make_null_trainer(c);
    return run_federation(c, std::move(n), *trainer, hooks, control);
  }
  const datasets::FederatedDataset data = prepare_data(c, hooks);
  models::Model model = prepare_model(c, data, hooks);
  auto trainer = make_model_trainer(c, data, model);
  std::unique_ptr<LocalTrainer> ranks;  // rank 0's trainer when training is spread over MPI ranks
  if (over_ranks) {
    if (!mpi::is_root()) {
      serve_rank_training(*trainer);
      return {};
    }
    ranks = make_rank_trainer(*trainer, hooks.log);
  }
  std::vector<int64_t> n;
  for (const auto& cl : data.clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
  RunResults r = run_federation(c, std::move(n), ranks ? *ranks : *trainer, hooks, control, RunInputs{&model, &data});
  if (!c.lora.export_dir.empty() && !r.global_adapter.empty()) {
    models::write_peft_adapter(model.config(), lora_config(c), r.global_adapter, c.model.path, c.lora.export_dir);
    if (hooks.log) hooks.log("adapter: PEFT folder " + c.lora.export_dir);
  }
  return r;
}

}  // namespace fedsim::sim
