#include "sim/participations.hpp"

#include "common/error.hpp"
#include "sim/config.hpp"
#include "sim/strategy.hpp"

namespace fedsim::sim {

Participations::Participations(const ExperimentConfig& cfg, const std::vector<int64_t>& n, LocalTrainer& trainer,
                               Aggregator& agg, ClientTotals& totals)
    : cfg_(cfg), n_(n), trainer_(trainer), agg_(agg), totals_(totals) {
  bytes_ = trainer_.adapter_params() * 4;
  batched_ = cfg.federation.execution == Execution::batched && cfg.federation.trainer != TrainerKind::none;
}

int Participations::steps_of(int32_t client) const {
  return local_steps(cfg_.federation, static_cast<int>(n_.size()), n_[static_cast<size_t>(client)]);
}

size_t Participations::launch(int32_t client, int64_t round) {
  size_t slot;
  if (!free_.empty()) {
    slot = static_cast<size_t>(free_.back());
    free_.pop_back();
  } else {
    slot = work_.size();
    work_.emplace_back();
  }
  Work& w = work_[slot];
  w.client = client;
  w.round = round;
  w.start = agg_.start_adapter(client);
  w.active = true;
  w.trained = false;
  w.precomputed = false;
  w.result = {};
  w.job = start_job(client, JobKind::download, round, sim().system().transfer_time(client, bytes_),
                    static_cast<int64_t>(slot));
  ++totals_.rounds_joined[static_cast<size_t>(client)];
  return slot;
}

bool Participations::any_active() const {
  for (const Work& w : work_)
    if (w.active) return true;
  return false;
}

// Batching changes wall time only: a slot's training depends on what it downloaded (start),
// its round's lr and SCAFFOLD correction, all fixed before its train job started (c changes only
// when a round closes, c_i only when the client itself commits), so computing it ahead of its
// completion gives the same result; commit effects wait for the completion. Work computed
// ahead and then cut off (over-commitment, end of an async run) is wasted wall time only.
std::vector<size_t> Participations::train_due(size_t slot) const {
  std::vector<size_t> group{slot};
  if (!batched_) return group;
  const Tick cutoff = strategy_->precompute_cutoff();
  const JobScheduler& jobs = sim().jobs();
  for (size_t s = 0; s < work_.size(); ++s) {
    const Work& o = work_[s];
    if (s == slot || !o.active || o.trained || o.precomputed) continue;
    const Job& j = jobs.job(o.job);
    if (j.kind != JobKind::train || !jobs.ends_done(o.job)) continue;
    if (j.end > cutoff) continue;  // its update would miss the deadline anyway
    group.push_back(s);
  }
  return group;
}

void Participations::train_now(size_t slot) {
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
      t.steps = steps_of(o.client);
      t.adapter = &o.adapter;
      t.lr = round_lr(cfg_.federation, o.round);
      t.hooks = agg_.hooks(o.client, o.start, corrections[i]);
    }
    // A group of one trains alone (train) unless execution is batched: then every group goes
    // through train_many, one client too (packed rows: models/README "Packing").
    const bool alone = tasks.size() == 1 && !batched_;
    const std::vector<LocalResult> results =
        alone ? std::vector<LocalResult>{trainer_.train(tasks[0].client, tasks[0].round, tasks[0].steps,
                                                        *tasks[0].adapter, tasks[0].lr, tasks[0].hooks)}
              : trainer_.train_many(tasks);
    for (size_t i = 0; i < group.size(); ++i) {
      work_[group[i]].result = results[i];
      work_[group[i]].precomputed = true;
    }
  }
  w.precomputed = false;
  w.scaffold_delta = agg_.commit(w.client, w.start, w.adapter, w.result.steps, round_lr(cfg_.federation, w.round));
  w.trained = true;
  totals_.tokens_trained[static_cast<size_t>(w.client)] += w.result.tokens;
  totals_.sequences_trained[static_cast<size_t>(w.client)] += int64_t(w.result.steps) * cfg_.federation.batch_size;
  totals_.no_target_sequences[static_cast<size_t>(w.client)] += w.result.no_target;
}

void Participations::on_job_end(const Job& j, JobEnd how, const Event& ev) {
  const auto slot = static_cast<size_t>(j.tag);
  Work& w = work_[slot];
  totals_.busy_s[static_cast<size_t>(j.client)] += ticks_to_seconds(ev.time - j.start);
  if (how != JobEnd::done) {
    w.active = false;
    free_.push_back(slot);
    strategy_->on_dropped(slot, w.client);
    return;
  }
  const SystemModel& sys = sim().system();
  switch (j.kind) {
    case JobKind::download: {
      const double flops = trainer_.flops_per_token() * static_cast<double>(trainer_.tokens(steps_of(w.client)));
      w.job = start_job(w.client, JobKind::train, w.round, sys.compute_time(w.client, flops), j.tag);
      break;
    }
    case JobKind::train:
      train_now(slot);
      w.job = start_job(w.client, JobKind::upload, w.round, sys.transfer_time(w.client, bytes_), j.tag);
      break;
    case JobKind::upload:
      w.active = false;
      strategy_->on_delivered(slot);
      break;
    default: FEDSIM_ASSERT_MSG(false, "unexpected job kind " << job_kind_name(j.kind));
  }
}

void Participations::cancel_active() {
  for (size_t s = 0; s < work_.size(); ++s) {
    Work& w = work_[s];
    if (!w.active) continue;
    const Job& j = sim().jobs().job(w.job);
    totals_.busy_s[static_cast<size_t>(w.client)] += ticks_to_seconds(now() - j.start);
    sim().jobs().cancel(w.job);
    w.active = false;
    free_.push_back(s);
  }
}

void Participations::load(ArchiveReader& ar) {
  fields(ar);
  const auto n = static_cast<int32_t>(n_.size());
  for (const Work& w : work_)
    if (w.client < -1 || w.client >= n) ar.fail();
  for (uint64_t s : free_)
    if (s >= work_.size()) ar.fail();
}

}  // namespace fedsim::sim
