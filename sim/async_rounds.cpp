// Asynchronous FedBuff (Nguyen et al., "Federated Learning with Buffered Asynchronous
// Aggregation", AISTATS 2022; REFERENCE.md section 4): at most `async_concurrency` clients
// train at once, each from the global adapter of the moment it starts; the server buffers
// updates and applies its rule every K = async_buffer of them, weighting an update of staleness
// s (server versions since its download) by 1/(1+s)^a (a = 0.5 gives 1/sqrt(1+s)); updates
// staler than max_staleness are dropped. A "round" is one server update.
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/federation.hpp"

namespace fedsim::sim {

void Federation::async_fill() {
  if (finished_) return;
  size_t active = 0;
  for (bool f : in_flight_) active += f ? 1 : 0;
  const auto limit = static_cast<size_t>(std::min<int64_t>(cfg_.federation.async_concurrency, n_clients_));
  while (active < limit) {
    const std::vector<int32_t> eligible = online_clients(&in_flight_);
    if (eligible.empty()) {
      const Tick t = next_online_any(&in_flight_);
      if (t != kNever && !retry_pending_) {
        retry_event_ = queue_.schedule(t, kRetryLaunch, -1, 0);
        retry_pending_ = true;
      }
      return;
    }
    Rng rng(seed_, 0, launches_++, Purpose::client_sampling);
    const int32_t c = eligible[static_cast<size_t>(rng.below(eligible.size()))];
    in_flight_[static_cast<size_t>(c)] = true;
    launch(c, version_);
    ++async_joined_;
    ++active;
  }
}

void Federation::async_delivered(size_t slot) {
  Work& w = work_[slot];
  w.active = false;
  in_flight_[static_cast<size_t>(w.client)] = false;
  const int64_t staleness = version_ - w.round;
  if (staleness > cfg_.federation.max_staleness) {
    ++async_stale_;
    free_work_.push_back(slot);
  } else {
    buffer_.push_back(slot);
    buffer_weights_.push_back(std::pow(1.0 + static_cast<double>(staleness), -cfg_.federation.staleness_exponent));
  }
  if (buffer_.size() >= static_cast<size_t>(cfg_.federation.async_buffer)) {
    RoundRow row;
    row.round = version_ + 1;
    row.selected = static_cast<int64_t>(async_joined_);
    row.completed = static_cast<int64_t>(buffer_.size());
    row.stragglers = static_cast<int64_t>(async_stale_);
    row.dropouts = static_cast<int64_t>(async_dropped_);
    row.duration_s = ticks_to_seconds(queue_.now() - last_aggregate_);
    row.train_loss = mean_train_loss(buffer_);
    std::vector<int32_t> clients;
    for (size_t s : buffer_) clients.push_back(work_[s].client);
    aggregate(buffer_, buffer_weights_, version_);
    std::sort(clients.begin(), clients.end());
    results_.participation.push_back(clients);
    for (size_t s : buffer_) free_work_.push_back(s);
    buffer_.clear();
    buffer_weights_.clear();
    async_joined_ = async_stale_ = async_dropped_ = 0;
    last_aggregate_ = queue_.now();
    ++version_;
    record_row(row);
    if (version_ >= cfg_.federation.rounds) {
      // The run is over: work still in flight is cut off (and recorded as cancelled).
      finished_ = true;
      cancel_active();
      if (retry_pending_) {
        queue_.cancel(retry_event_);
        retry_pending_ = false;
      }
      return;
    }
  }
  async_fill();
}

}  // namespace fedsim::sim
