// Buffered asynchronous aggregation, FedBuff (Nguyen et al., "Federated Learning with Buffered
// Asynchronous Aggregation", AISTATS 2022, Algorithm 1): at most `async_concurrency` clients
// train at once, each from the global adapter of the moment it starts; the server buffers
// updates and applies its rule every K = async_buffer of them, weighting an update of staleness
// s (server versions since its download) by 1/(1+s)^a (a = 0.5 gives the paper's 1/sqrt(1+s));
// updates staler than max_staleness are dropped. A "round" is one server update. A replacement
// client starts as soon as one finishes or drops.
#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/config.hpp"
#include "sim/strategy.hpp"

namespace fedsim::sim {
namespace {

class FedBuff : public ServerStrategy {
 public:
  enum Kind : uint32_t { kRetryLaunch, kKinds };

  FedBuff(StrategyHost& host, const ExperimentConfig& cfg)
      : ServerStrategy(host), f_(cfg.federation), seed_(static_cast<uint64_t>(cfg.experiment.seed)),
        in_flight_(static_cast<size_t>(host.n_clients()), false) {}
  uint32_t n_kinds() const override { return kKinds; }
  void start() override { fill(); }
  void on_event(const Event&, uint32_t) override {
    retry_pending_ = false;
    fill();
  }
  void on_delivered(size_t slot) override;
  void on_dropped(size_t, int32_t client) override {
    in_flight_[static_cast<size_t>(client)] = false;
    ++dropped_;
    fill();
  }
  // A free slot waits for an eligible client: its retry, planned from the clients that were
  // ready then (or none), comes forward to now (an event due now, after those already due).
  void on_clients_ready() override {
    if (finished_ || in_flight() >= limit()) return;
    if (retry_pending_) {
      if (sim().queue().pending_time(retry_event_) <= now()) return;
      sim().queue().cancel(retry_event_);
    }
    retry_event_ = schedule(now(), kRetryLaunch, -1, 0);
    retry_pending_ = true;
  }
  Tick precompute_cutoff() const override { return kNever; }
  void save(ArchiveWriter& ar) const override { const_cast<FedBuff*>(this)->fields(ar); }
  void load(ArchiveReader& ar) override {
    fields(ar);
    if (in_flight_.size() != static_cast<size_t>(host_.n_clients()) || buffer_.size() != buffer_weights_.size()) ar.fail();
  }

 private:
  template <class Ar>
  void fields(Ar& ar) {
    ar(version_, launches_, in_flight_, buffer_, buffer_weights_, dropped_, stale_, joined_, last_aggregate_,
       retry_pending_, retry_event_, finished_);
  }
  void fill();
  size_t in_flight() const { return static_cast<size_t>(std::count(in_flight_.begin(), in_flight_.end(), true)); }
  size_t limit() const { return static_cast<size_t>(std::min<int64_t>(f_.async_concurrency, host_.n_clients())); }

  const FederationSection& f_;
  uint64_t seed_;
  int64_t version_ = 0;
  uint64_t launches_ = 0;
  std::vector<bool> in_flight_;
  std::vector<uint64_t> buffer_;  // slots
  std::vector<double> buffer_weights_;
  uint64_t dropped_ = 0, stale_ = 0, joined_ = 0;
  Tick last_aggregate_ = 0;
  bool retry_pending_ = false;
  EventId retry_event_;
  bool finished_ = false;
};

void FedBuff::fill() {
  if (finished_) return;
  size_t active = in_flight();
  while (active < limit()) {
    const std::vector<int32_t> eligible = host_.eligible(&in_flight_);
    if (eligible.empty()) {
      const Tick t = host_.next_eligible(&in_flight_);
      if (t != kNever && !retry_pending_) {
        retry_event_ = schedule(t, kRetryLaunch, -1, 0);
        retry_pending_ = true;
      }
      return;
    }
    Rng rng(seed_, 0, launches_++, Purpose::client_sampling);
    const int32_t c = eligible[static_cast<size_t>(rng.below(eligible.size()))];
    in_flight_[static_cast<size_t>(c)] = true;
    host_.launch(c, version_);
    ++joined_;
    ++active;
  }
}

void FedBuff::on_delivered(size_t slot) {
  in_flight_[static_cast<size_t>(host_.client_of(slot))] = false;
  const int64_t staleness = version_ - host_.round_of(slot);
  if (staleness > f_.max_staleness) {
    ++stale_;
    host_.release(slot);
  } else {
    buffer_.push_back(slot);
    buffer_weights_.push_back(std::pow(1.0 + static_cast<double>(staleness), -f_.staleness_exponent));
  }
  if (buffer_.size() >= static_cast<size_t>(f_.async_buffer)) {
    const std::vector<size_t> buffer(buffer_.begin(), buffer_.end());
    RoundRow row;
    row.round = version_ + 1;
    row.selected = static_cast<int64_t>(joined_);
    row.completed = static_cast<int64_t>(buffer.size());
    row.stragglers = static_cast<int64_t>(stale_);
    row.dropouts = static_cast<int64_t>(dropped_);
    row.duration_s = ticks_to_seconds(now() - last_aggregate_);
    row.train_loss = host_.mean_train_loss(buffer);
    std::vector<int32_t> clients;
    for (size_t s : buffer) clients.push_back(host_.client_of(s));
    host_.aggregate(buffer, buffer_weights_, version_);
    std::sort(clients.begin(), clients.end());
    host_.record_participation(clients);
    for (size_t s : buffer) host_.release(s);
    buffer_.clear();
    buffer_weights_.clear();
    joined_ = stale_ = dropped_ = 0;
    last_aggregate_ = now();
    ++version_;
    host_.record(row);
    if (version_ >= f_.rounds) {
      // The run is over: work still in flight is cut off (and recorded as cancelled).
      finished_ = true;
      host_.cancel_active();
      in_flight_.assign(in_flight_.size(), false);
      if (retry_pending_) {
        sim().queue().cancel(retry_event_);
        retry_pending_ = false;
      }
      return;
    }
  }
  fill();
}

}  // namespace

std::unique_ptr<ServerStrategy> make_fedbuff(StrategyHost& host, const ExperimentConfig& cfg) {
  return std::make_unique<FedBuff>(host, cfg);
}

}  // namespace fedsim::sim
