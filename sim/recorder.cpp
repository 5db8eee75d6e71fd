#include "sim/recorder.hpp"

#include <chrono>
#include <limits>

#include "common/memory.hpp"

namespace fedsim::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

RoundRecorder::RoundRecorder(const ExperimentConfig& cfg, LocalTrainer& trainer, const Aggregator& agg,
                             const RunHooks& hooks, Simulation& sim, RunResults& results)
    : cfg_(cfg), trainer_(trainer), agg_(agg), hooks_(hooks), sim_(sim), results_(results) {
  wall_start_ = now_wall();
}

double RoundRecorder::now_wall() const {
  if (hooks_.wall_clock) return hooks_.wall_clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void RoundRecorder::record(RoundRow row) {
  const int64_t completed = row.round;
  const int n_clients = static_cast<int>(results_.clients.n_samples.size());
  row.sim_time_s = ticks_to_seconds(sim_.now());
  row.eval_loss = row.eval_accuracy = kNaN;
  const int64_t R = cfg_.federation.rounds;
  const bool eval = completed % cfg_.federation.eval_every == 0 || completed == R;
  if (eval && !agg_.local()) {
    const EvalResult e = trainer_.evaluate(agg_.global());
    row.eval_loss = e.loss;
    row.eval_accuracy = e.accuracy;
  } else if (eval) {
    // Local training: the mean over the trained clients of their own adapter's test metrics.
    const auto& local = agg_.local_adapters();
    double loss = 0.0, acc = 0.0;
    std::vector<double> per_client(local.size());
    for (size_t i = 0; i < local.size(); ++i) {
      const EvalResult e = trainer_.evaluate(local[i]);
      loss += e.loss;
      acc += e.accuracy;
      per_client[i] = e.accuracy;
    }
    row.eval_loss = loss / static_cast<double>(local.size());
    row.eval_accuracy = acc / static_cast<double>(local.size());
    if (completed == R) {
      auto& out = results_.clients.local_eval_accuracy;
      out.assign(static_cast<size_t>(n_clients), kNaN);
      for (size_t i = 0; i < per_client.size(); ++i)
        out[local.size() == 1 ? static_cast<size_t>(cfg_.federation.local_client) : i] = per_client[i];
    }
  }
  const int64_t every = cfg_.federation.client_eval_every;
  if (every > 0 && !agg_.local() && (completed % every == 0 || completed == R)) {
    std::vector<double> acc(static_cast<size_t>(n_clients));
    for (int c = 0; c < n_clients; ++c) acc[static_cast<size_t>(c)] = trainer_.client_accuracy(agg_.global(), c);
    results_.client_eval_round.push_back(completed);
    results_.client_eval_accuracy.push_back(std::move(acc));
  }
  row.wall_s = wall_elapsed();
  row.peak_rss_mb = hooks_.peak_rss_mb ? hooks_.peak_rss_mb() : peak_rss_mb();
  results_.rounds.push_back(row);
  sim_.set_progress(completed);
  const int64_t ck = cfg_.experiment.checkpoint_every;
  if (ck > 0 && completed > 0 && completed % ck == 0 && completed < R) sim_.request_checkpoint();
  if (hooks_.on_round) hooks_.on_round(results_.rounds.back(), R + 1);
}

}  // namespace fedsim::sim
