#include "sim/federation.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "common/error.hpp"
#include "models/hf/hf.hpp"
#include "fedsim_version.hpp"
#include "sim/checkpoint.hpp"

namespace fedsim::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const std::vector<int64_t>& checked_sizes(const ExperimentConfig& cfg, const std::vector<int64_t>& n) {
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i] <= 0) throw UserError(cfg.source_path + ": data: client " + std::to_string(i) + " has no samples");
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
  const uint64_t seed = static_cast<uint64_t>(cfg.experiment.seed);
  sim.add(parts_, 0, seed);  // the participations' jobs draw their failures from the run's seed
  sim.add(*strategy_, strategy_->n_kinds(), seed);
  sim.add(*this, 0, seed);
  ClientTotals& t = results_.clients;
  const auto nc = static_cast<size_t>(n_clients());
  t.resize(nc);
  t.n_samples = n_;
  for (size_t i = 0; i < nc; ++i) {
    t.flops_per_s[i] = sim.system().client(static_cast<int>(i)).flops_per_s;
    t.bits_per_s[i] = sim.system().client(static_cast<int>(i)).bits_per_s;
  }
  results_.client_n_samples = n_;
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
}

std::vector<int32_t> Federation::eligible(const std::vector<bool>* exclude) const {
  std::vector<int32_t> out;
  const Tick now = sim_.now();
  const auto& ready = hooks_.client_ready_ticks;
  for (int32_t c = 0; c < n_clients(); ++c)
    if ((!exclude || !(*exclude)[static_cast<size_t>(c)]) && sim_.system().availability().online(c, now) &&
        (ready.empty() || now >= ready[static_cast<size_t>(c)]))
      out.push_back(c);
  return out;
}

Tick Federation::next_eligible(const std::vector<bool>* exclude) const {
  Tick best = kNever;
  const auto& ready = hooks_.client_ready_ticks;
  for (int32_t c = 0; c < n_clients(); ++c)
    if (!exclude || !(*exclude)[static_cast<size_t>(c)]) {
      // A client that is not ready yet (U2S) becomes eligible at its ready tick.
      const Tick r = ready.empty() ? 0 : ready[static_cast<size_t>(c)];
      if (r != kNever) best = std::min(best, sim_.system().availability().next_online(c, std::max(sim_.now() + 1, r)));
    }
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
}

void Federation::load(ArchiveReader& ar) {
  const size_t n_params = agg_.global().size();
  agg_.fields(ar);
  recorder_.fields(ar);
  const size_t n = n_.size();
  const ClientTotals& t = results_.clients;
  if (agg_.global().size() != n_params)
    throw UserError("checkpoint: saved for another adapter size; it does not match this config");
  if (t.rounds_joined.size() != n || t.updates_accepted.size() != n || t.tokens_trained.size() != n ||
      t.busy_s.size() != n || results_.rounds.empty())
    ar.fail();
}

RunResults Federation::finish() {
  // Every event was consumed; work still marked active would be a lost event.
  FEDSIM_ASSERT_MSG(!parts_.any_active(), "a client still has work at the end of the run");
  // The federation's own end: observers (the open-ended evaluation) may still run after it.
  const double end_s = ticks_to_seconds(sim_.run_end());
  ClientTotals& t = results_.clients;
  for (size_t c = 0; c < n_.size(); ++c) t.idle_s[c] = end_s - t.busy_s[c];
  for (const auto& r : sim_.jobs().timeline())
    results_.timeline.push_back({r.client, static_cast<int32_t>(r.kind), static_cast<int32_t>(r.end), r.round,
                                 ticks_to_seconds(r.start), ticks_to_seconds(r.stop)});
  results_.sim_total_s = end_s;
  results_.events = sim_.run_events();
  results_.jobs_started = sim_.run_jobs_started();
  results_.global_adapter = agg_.global();
  results_.wall_total_s = recorder_.wall_elapsed();
  if (static_cast<int64_t>(results_.rounds.size()) != cfg_.federation.rounds + 1 && hooks_.log)
    hooks_.log("warning: the run ended after " + std::to_string(results_.rounds.size() - 1) + " of " +
               std::to_string(cfg_.federation.rounds) + " rounds: no client came online again");
  return results_;
}

RunResults run_federation(const ExperimentConfig& c, std::vector<int64_t> n, LocalTrainer& trainer, const RunHooks& hooks,
                          const RunControl& control, const RunInputs& inputs) {
  const int n_clients = static_cast<int>(n.size());
  Simulation sim(c.system, n_clients, static_cast<uint64_t>(c.experiment.seed));
  Federation fed(c, std::move(n), trainer, hooks, sim);
  std::vector<std::unique_ptr<RoundObserver>> observers;
  for (const RunFeature& f : run_features())
    if (f.enabled(c)) {
      observers.push_back(f.make(c, inputs, hooks));
      sim.add(*observers.back(), observers.back()->n_kinds(), static_cast<uint64_t>(c.experiment.seed), /*observer=*/true);
      fed.observe(*observers.back());
    }
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
  if (!resumed) fed.start();
  sim.run();
  RunResults r = fed.finish();
  for (const auto& o : observers) o->finish(r);
  return r;
}

RunResults run_experiment(const ExperimentConfig& c, const RunHooks& hooks, const RunControl& control) {
  validate_experiment(c);
  const models::ProductsScope products(products_of(c));
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
  std::vector<int64_t> n;
  for (const auto& cl : data.clients) n.push_back(static_cast<int64_t>(cl.samples.size()));
  RunResults r = run_federation(c, std::move(n), *trainer, hooks, control, RunInputs{&model, &data});
  if (!c.lora.export_dir.empty() && !r.global_adapter.empty()) {
    models::write_peft_adapter(model.config(), lora_config(c), r.global_adapter, c.model.path, c.lora.export_dir);
    if (hooks.log) hooks.log("adapter: PEFT folder " + c.lora.export_dir);
  }
  return r;
}

}  // namespace fedsim::sim
