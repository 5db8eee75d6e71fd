// Synchronous rounds with over-commitment and an optional deadline, as FedScale's aggregator
// (Lai et al., "FedScale", ICML 2022, section 3: select 1.3x the target, keep the first
// finishers): round r selects ceil(f*m) clients, keeps the first m updates to arrive and cuts
// off the rest; with a deadline the round closes then with whatever has arrived.
#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "sim/algorithms.hpp"
#include "sim/config.hpp"
#include "sim/sampler.hpp"
#include "sim/strategy.hpp"

namespace fedsim::sim {
namespace {

class SyncRounds : public ServerStrategy {
 public:
  enum Kind : uint32_t { kRoundStart, kDeadline, kKinds };

  SyncRounds(StrategyHost& host, const ExperimentConfig& cfg)
      : ServerStrategy(host),
        f_(cfg.federation),
        seed_(static_cast<uint64_t>(cfg.experiment.seed)),
        local_(algorithm_info(cfg.federation.algorithm).rule == ServerRuleKind::keep_local) {}
  uint32_t n_kinds() const override { return kKinds; }
  void start() override { schedule(now(), kRoundStart, -1, 0); }
  void on_event(const Event& ev, uint32_t kind) override {
    if (kind == kRoundStart) {
      waiting_ = false;
      round_start(ev.payload);
    } else {
      deadline_pending_ = false;
      close_round();
    }
  }
  void on_delivered(size_t slot) override {
    arrived_.push_back(slot);
    if (arrived_.size() >= target_ || arrived_.size() + dropped_ == selected_) close_round();
  }
  void on_dropped(size_t, int32_t) override {
    ++dropped_;
    if (arrived_.size() + dropped_ == selected_) close_round();
  }
  // Waiting for an eligible client: look again now, not at the wake-up planned from the clients
  // that were ready then (as a round start scheduled now, after the events already due now).
  void on_clients_ready() override {
    if (!waiting_) return;
    const Tick at = sim().queue().pending_time(wake_);
    if (at >= 0 && at <= now()) return;
    sim().queue().cancel(wake_);
    wake_ = schedule(now(), kRoundStart, -1, round_);
  }
  Tick precompute_cutoff() const override {
    return deadline_pending_ ? round_started_ + seconds_to_ticks(f_.deadline_s) : kNever;
  }
  void save(ArchiveWriter& ar) const override { const_cast<SyncRounds*>(this)->fields(ar); }
  void load(ArchiveReader& ar) override {
    fields(ar);
    for (const auto* v : {&arrived_, &in_round_})
      for (uint64_t s : *v)
        if (s > (1u << 24)) ar.fail();
  }

 private:
  template <class Ar>
  void fields(Ar& ar) {
    ar(round_, round_started_, target_, selected_, dropped_, arrived_, in_round_, deadline_event_, deadline_pending_,
       waiting_, wake_);
  }
  std::vector<int32_t> choose(int64_t round, int m, int k, bool* wait);
  void round_start(int64_t round);
  void close_round();

  const FederationSection& f_;
  uint64_t seed_;
  bool local_;
  int64_t round_ = 0;
  Tick round_started_ = 0;
  uint64_t target_ = 0, selected_ = 0, dropped_ = 0;
  std::vector<uint64_t> arrived_, in_round_;  // slots
  EventId deadline_event_;
  bool deadline_pending_ = false;
  bool waiting_ = false;  // round_ could not start: no client was eligible
  EventId wake_;          // while waiting: the round start at the next eligible tick (if any)
};

std::vector<int32_t> SyncRounds::choose(int64_t round, int m, int k, bool* wait) {
  const int n = host_.n_clients();
  std::vector<int32_t> chosen;
  if (local_) {
    if (f_.local_client >= 0) return {static_cast<int32_t>(f_.local_client)};
    for (int c = 0; c < n; ++c) chosen.push_back(c);
    return chosen;
  }
  if (f_.sampling == Sampling::fedllm_bench)  // exactly the published selection; offline picks drop out at once
    return sample_clients(Sampling::fedllm_bench, seed_, round, n, k);
  // FedScale-style: sample among the clients online now; wait if none is.
  const std::vector<int32_t> online = host_.eligible(nullptr);
  if (online.empty()) {
    const Tick t = host_.next_eligible(nullptr);
    wake_ = t != kNever ? schedule(t, kRoundStart, -1, round) : EventId{};
    waiting_ = *wait = true;
    return {};
  }
  (void)m;
  const auto take = static_cast<int32_t>(std::min<size_t>(static_cast<size_t>(k), online.size()));
  for (int32_t i : sample_clients(Sampling::uniform, seed_, round, static_cast<int32_t>(online.size()), take))
    chosen.push_back(online[static_cast<size_t>(i)]);
  return chosen;
}

void SyncRounds::round_start(int64_t round) {
  round_ = round;
  round_started_ = now();
  const int n = host_.n_clients();
  const int m = static_cast<int>(std::min<int64_t>(f_.clients_per_round, n));
  const int k = std::min(n, static_cast<int>(std::ceil(f_.overcommit * m - 1e-9)));
  bool wait = false;
  const std::vector<int32_t> chosen = choose(round, m, k, &wait);
  if (wait) return;
  host_.record_participation(chosen);
  selected_ = chosen.size();
  target_ = local_ ? chosen.size() : std::min(static_cast<size_t>(m), chosen.size());
  dropped_ = 0;
  arrived_.clear();
  in_round_.clear();
  for (int32_t c : chosen) in_round_.push_back(host_.launch(c, round));
  if (f_.deadline_s > 0.0) {
    deadline_event_ = schedule_in(seconds_to_ticks(f_.deadline_s), kDeadline, -1, round);
    deadline_pending_ = true;
  }
}

void SyncRounds::close_round() {
  if (deadline_pending_) {
    sim().queue().cancel(deadline_event_);
    deadline_pending_ = false;
  }
  int64_t stragglers = 0;
  for (uint64_t s : in_round_) stragglers += host_.active(s) ? 1 : 0;
  host_.cancel_active();  // late updates are discarded
  RoundRow row;
  row.round = round_ + 1;
  row.selected = static_cast<int64_t>(selected_);
  row.completed = static_cast<int64_t>(arrived_.size());
  row.stragglers = stragglers;
  row.dropouts = static_cast<int64_t>(dropped_);
  row.duration_s = ticks_to_seconds(now() - round_started_);
  const std::vector<size_t> arrived(arrived_.begin(), arrived_.end());
  row.train_loss = host_.mean_train_loss(arrived);
  host_.aggregate(arrived, std::vector<double>(arrived.size(), 1.0), round_);
  for (size_t s : arrived) host_.release(s);
  arrived_.clear();
  in_round_.clear();
  host_.record(row);
  if (round_ + 1 < f_.rounds) schedule_in(0, kRoundStart, -1, round_ + 1);
}

}  // namespace

std::unique_ptr<ServerStrategy> make_sync_rounds(StrategyHost& host, const ExperimentConfig& cfg) {
  return std::make_unique<SyncRounds>(host, cfg);
}

std::unique_ptr<ServerStrategy> make_strategy(StrategyHost& host, const ExperimentConfig& cfg) {
  return cfg.federation.mode == ServerMode::async ? make_fedbuff(host, cfg) : make_sync_rounds(host, cfg);
}

}  // namespace fedsim::sim
