// Synchronous rounds with over-commitment and an optional deadline (REFERENCE.md section 4,
// FedScale): select ceil(f*m) clients, keep the first m updates to arrive, cut off the rest;
// with a deadline the round closes then with whatever has arrived.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "sim/federation.hpp"
#include "sim/sampler.hpp"

namespace fedsim::sim {

void Federation::sync_round_start(int64_t round) {
  round_ = round;
  round_started_ = queue_.now();
  const int m = static_cast<int>(std::min<int64_t>(cfg_.federation.clients_per_round, n_clients_));
  const int k = std::min(n_clients_, static_cast<int>(std::ceil(cfg_.federation.overcommit * m - 1e-9)));
  std::vector<int32_t> chosen;
  if (local_) {
    if (cfg_.federation.local_client >= 0) {
      chosen = {static_cast<int32_t>(cfg_.federation.local_client)};
    } else {
      chosen.resize(static_cast<size_t>(n_clients_));
      for (int c = 0; c < n_clients_; ++c) chosen[static_cast<size_t>(c)] = c;
    }
  } else if (cfg_.federation.sampling == "fedllm-bench") {
    // Exactly the published selection; clients that are offline drop out at once.
    chosen = sample_clients("fedllm-bench", seed_, round, n_clients_, k);
  } else {
    // FedScale-style: sample among the clients online now; wait if none is.
    const std::vector<int32_t> online = online_clients(nullptr);
    if (online.empty()) {
      const Tick t = next_online_any(nullptr);
      if (t != kNever) queue_.schedule(t, kRoundStart, -1, round);
      return;
    }
    const auto take = static_cast<int32_t>(std::min<size_t>(static_cast<size_t>(k), online.size()));
    for (int32_t i : sample_clients("uniform", seed_, round, static_cast<int32_t>(online.size()), take))
      chosen.push_back(online[static_cast<size_t>(i)]);
  }
  results_.participation.push_back(chosen);
  selected_ = chosen.size();
  target_ = local_ ? chosen.size() : std::min(static_cast<size_t>(m), chosen.size());
  dropped_ = 0;
  arrived_.clear();
  in_round_.clear();
  for (int32_t c : chosen) in_round_.push_back(launch(c, round));
  if (cfg_.federation.deadline_s > 0.0) {
    deadline_event_ = queue_.schedule_in(seconds_to_ticks(cfg_.federation.deadline_s), kDeadline, -1, round);
    deadline_pending_ = true;
  }
}

void Federation::sync_delivered(size_t slot) {
  work_[slot].active = false;
  arrived_.push_back(slot);
  if (arrived_.size() >= target_ || arrived_.size() + dropped_ == selected_) sync_close_round();
}

void Federation::sync_dropped(size_t) {
  ++dropped_;
  if (arrived_.size() + dropped_ == selected_) sync_close_round();
}

void Federation::sync_close_round() {
  if (deadline_pending_) {
    queue_.cancel(deadline_event_);
    deadline_pending_ = false;
  }
  size_t stragglers = 0;
  for (size_t s : in_round_) stragglers += work_[s].active ? 1 : 0;
  cancel_active();  // late updates are discarded
  RoundRow row;
  row.round = round_ + 1;
  row.selected = static_cast<int64_t>(selected_);
  row.completed = static_cast<int64_t>(arrived_.size());
  row.stragglers = static_cast<int64_t>(stragglers);
  row.dropouts = static_cast<int64_t>(dropped_);
  row.duration_s = ticks_to_seconds(queue_.now() - round_started_);
  row.train_loss = mean_train_loss(arrived_);
  if (local_) {
    for (size_t s : arrived_) {
      const Work& w = work_[s];
      local_adapters_[local_adapters_.size() == 1 ? 0 : static_cast<size_t>(w.client)] = w.adapter;
      ++results_.clients.updates_accepted[static_cast<size_t>(w.client)];
    }
  } else {
    aggregate(arrived_, std::vector<double>(arrived_.size(), 1.0), round_);
  }
  for (size_t s : arrived_) free_work_.push_back(s);
  arrived_.clear();
  in_round_.clear();
  record_row(row);
  if (round_ + 1 < cfg_.federation.rounds) queue_.schedule_in(0, kRoundStart, -1, round_ + 1);
}

}  // namespace fedsim::sim
