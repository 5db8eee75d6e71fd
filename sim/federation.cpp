#include "sim/federation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "datasets/common/error.hpp"
#include "datasets/common/rng.hpp"
#include "fedsim_version.hpp"

namespace fedsim::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kEvalBatch = 32;

SystemSpec system_spec(const ExperimentConfig& c) {
  SystemSpec s;
  s.compute_gflops = c.system.compute_gflops;
  s.compute_sigma = c.system.compute_sigma;
  s.bandwidth_mbps = c.system.bandwidth_mbps;
  s.bandwidth_sigma = c.system.bandwidth_sigma;
  s.latency_ms = c.system.latency_ms;
  return s;
}

models::Batch batch_of(const std::vector<datasets::Sample>& samples, const std::vector<size_t>& idx, int T) {
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(idx.size());
  for (size_t i : idx) pairs.emplace_back(samples[i].instruction, samples[i].response);
  return models::make_sft_batch(pairs, T);
}

}  // namespace

std::vector<int32_t> Federation::sample_clients(uint64_t seed, int64_t round, int n_clients, int m) {
  std::vector<int32_t> ids(static_cast<size_t>(n_clients));
  std::iota(ids.begin(), ids.end(), 0);
  if (m >= n_clients) return ids;
  Rng rng(seed, 0, static_cast<uint64_t>(round), Purpose::client_sampling);
  for (int i = 0; i < m; ++i) {  // partial Fisher-Yates
    const auto j = static_cast<size_t>(i) + rng.below(static_cast<uint64_t>(n_clients - i));
    std::swap(ids[static_cast<size_t>(i)], ids[j]);
  }
  ids.resize(static_cast<size_t>(m));
  std::sort(ids.begin(), ids.end());
  return ids;
}

Federation::Federation(const ExperimentConfig& cfg, const datasets::FederatedDataset& data, models::Model& model,
                       const RunHooks& hooks)
    : cfg_(cfg),
      data_(data),
      model_(model),
      hooks_(hooks),
      system_(system_spec(cfg), static_cast<int>(data.clients.size()), static_cast<uint64_t>(cfg.experiment.seed)),
      aggregator_(make_aggregator(cfg.federation.algorithm)),
      T_(model.config().max_seq) {
  const auto seed = static_cast<uint64_t>(cfg.experiment.seed);
  global_ = model_.init_adapter(stream_key(seed, 0, 0, Purpose::adapter_init));
  for (size_t i = 0; i < data_.clients.size(); ++i)
    if (data_.clients[i].samples.empty())
      throw UserError(cfg.source_path + ": data: client " + data_.clients[i].name + " has no samples");
  if (data_.test.empty()) throw UserError(cfg.source_path + ": data: the data set has no test split to evaluate on");
  for (size_t start = 0; start < data_.test.size(); start += kEvalBatch) {
    std::vector<size_t> idx;
    for (size_t i = start; i < std::min(start + kEvalBatch, data_.test.size()); ++i) idx.push_back(i);
    eval_batches_.push_back(batch_of(data_.test, idx, T_));
  }
  for (const auto& c : data_.clients) results_.client_n_samples.push_back(static_cast<int64_t>(c.samples.size()));
  queue_.reserve(4 * static_cast<size_t>(cfg.federation.clients_per_round) + 4);
}

void Federation::evaluate_into(RoundRow& row) const {
  double loss_sum = 0.0, correct = 0.0, tokens = 0.0, seqs = 0.0;
  for (const auto& b : eval_batches_) {
    const models::EvalStats s = model_.evaluate(&global_, b);
    const double n_tok = static_cast<double>(std::count_if(b.targets.begin(), b.targets.end(), [](int32_t t) { return t >= 0; }));
    loss_sum += s.mean_loss * n_tok;
    tokens += n_tok;
    correct += s.accuracy * static_cast<double>(s.sequences);
    seqs += static_cast<double>(s.sequences);
  }
  row.eval_loss = tokens > 0 ? loss_sum / tokens : kNaN;
  row.eval_accuracy = seqs > 0 ? correct / seqs : kNaN;
}

void Federation::record_row(int64_t completed, double train_loss, bool eval) {
  RoundRow row;
  row.round = completed;
  row.sim_time_s = ticks_to_seconds(queue_.now());
  row.train_loss = train_loss;
  row.eval_loss = row.eval_accuracy = kNaN;
  if (eval) evaluate_into(row);
  row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  results_.rounds.push_back(row);
  if (hooks_.on_round) hooks_.on_round(row, cfg_.federation.rounds + 1);
}

RunResults Federation::run() {
  wall_start_ = std::chrono::steady_clock::now();
  results_.fedsim_version = FEDSIM_VERSION_STRING;
  results_.config_yaml = to_yaml(cfg_);
  results_.seed = cfg_.experiment.seed;
  record_row(0, kNaN, true);
  queue_.schedule(0, kRoundStart, -1, 0);
  Event ev;
  while (queue_.pop(ev)) {
    switch (ev.kind) {
      case kRoundStart: on_round_start(ev.payload); break;
      case kDownloadDone: on_download_done(ev.client, ev.payload); break;
      case kTrainDone:
        queue_.schedule_in(system_.transfer_time(ev.client, model_.n_adapter_params() * 4), kUploadDone, ev.client,
                           ev.payload);
        break;
      case kUploadDone: on_upload_done(ev.client, ev.payload); break;
      default: FEDSIM_ASSERT_MSG(false, "unknown event kind " << ev.kind);
    }
  }
  FEDSIM_ASSERT_MSG(static_cast<int64_t>(results_.rounds.size()) == cfg_.federation.rounds + 1,
                    "run ended after " << results_.rounds.size() - 1 << " of " << cfg_.federation.rounds << " rounds");
  results_.wall_total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  return results_;
}

void Federation::on_round_start(int64_t round) {
  const int n = static_cast<int>(data_.clients.size());
  const int m = static_cast<int>(std::min<int64_t>(cfg_.federation.clients_per_round, n));
  const std::vector<int32_t> chosen = sample_clients(static_cast<uint64_t>(cfg_.experiment.seed), round, n, m);
  results_.participation.push_back(chosen);
  slots_.assign(chosen.size(), Slot{});
  arrived_ = 0;
  const int64_t bytes = model_.n_adapter_params() * 4;
  for (size_t k = 0; k < chosen.size(); ++k) {
    slots_[k].client = chosen[k];
    queue_.schedule_in(system_.transfer_time(chosen[k], bytes), kDownloadDone, chosen[k], round);
  }
}

Federation::Slot& Federation::slot_of(int32_t client) {
  for (auto& s : slots_)
    if (s.client == client) return s;
  FEDSIM_ASSERT_MSG(false, "client " << client << " is not in this round");
  return slots_.front();  // unreachable
}

// OpenFedLLM's local data draw (REFERENCE.md section 2): each sampled client takes
// min(batch * local_steps, n_i) of its samples, in an order seeded by (seed, client, round),
// and cycles through them for local_steps batches.
std::vector<models::Batch> Federation::local_batches(int32_t client, int64_t round) const {
  const auto& samples = data_.clients[static_cast<size_t>(client)].samples;
  const size_t n = samples.size();
  const auto B = static_cast<size_t>(cfg_.federation.batch_size);
  const auto K = static_cast<size_t>(cfg_.federation.local_steps);
  const size_t take = std::min(B * K, n);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  Rng rng(static_cast<uint64_t>(cfg_.experiment.seed), static_cast<uint64_t>(client), static_cast<uint64_t>(round),
          Purpose::batch_draw);
  for (size_t i = 0; i < take; ++i) std::swap(order[i], order[i + rng.below(n - i)]);
  std::vector<models::Batch> batches;
  batches.reserve(K);
  for (size_t s = 0; s < K; ++s) {
    std::vector<size_t> idx(B);
    for (size_t j = 0; j < B; ++j) idx[j] = order[(s * B + j) % take];
    batches.push_back(batch_of(samples, idx, T_));
  }
  return batches;
}

void Federation::on_download_done(int32_t client, int64_t round) {
  Slot& slot = slot_of(client);
  slot.adapter = global_;  // every client starts from the global adapter
  models::OptimConfig opt;
  opt.weight_decay = static_cast<float>(cfg_.federation.weight_decay);
  opt.grad_clip = static_cast<float>(cfg_.federation.grad_clip);
  const double lr = cosine_lr(cfg_.federation.lr, cfg_.federation.lr_min, round, cfg_.federation.rounds);
  const auto seed = static_cast<uint64_t>(cfg_.experiment.seed);
  const models::TrainStats st =
      model_.train_adapter(slot.adapter, local_batches(client, round), static_cast<float>(lr), opt,
                           stream_key(seed, static_cast<uint64_t>(client), static_cast<uint64_t>(round), Purpose::dropout));
  slot.loss = st.mean_loss;
  slot.tokens = st.tokens;
  const double flops = model_.train_flops_per_token() * static_cast<double>(st.tokens);
  queue_.schedule_in(system_.compute_time(client, flops), kTrainDone, client, round);
}

void Federation::on_upload_done(int32_t client, int64_t round) {
  (void)client;
  if (++arrived_ < slots_.size()) return;
  std::vector<ClientUpdate> updates;
  double loss = 0.0, weight = 0.0;
  for (const auto& s : slots_) {  // slots are in client-id order
    const int64_t n_i = results_.client_n_samples[static_cast<size_t>(s.client)];
    updates.push_back({s.client, n_i, &s.adapter});
    loss += static_cast<double>(n_i) * s.loss;
    weight += static_cast<double>(n_i);
  }
  aggregator_->aggregate(global_, updates);
  const int64_t completed = round + 1;
  const bool eval = completed % cfg_.federation.eval_every == 0 || completed == cfg_.federation.rounds;
  record_row(completed, loss / weight, eval);
  if (completed < cfg_.federation.rounds) queue_.schedule_in(0, kRoundStart, -1, completed);
}

RunResults run_experiment(const ExperimentConfig& c, const RunHooks& hooks) {
  const datasets::FederatedDataset data = prepare_data(c, hooks);
  models::Model model = prepare_model(c, data, hooks);
  Federation fed(c, data, model, hooks);
  return fed.run();
}

}  // namespace fedsim::sim
