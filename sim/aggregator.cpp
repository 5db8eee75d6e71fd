#include "sim/aggregator.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"

namespace fedsim::sim {

void AverageRule::apply(std::vector<float>& x, const std::vector<double>& d) {
  FEDSIM_ASSERT(x.size() == d.size());
  for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(static_cast<double>(x[k]) + d[k]);
}

void FedAvgMRule::apply(std::vector<float>& x, const std::vector<double>& d) {
  FEDSIM_ASSERT(x.size() == d.size());
  if (m_.empty()) {
    m_ = d;
  } else {
    for (size_t k = 0; k < d.size(); ++k) m_[k] = b1_ * m_[k] + (1.0 - b1_) * d[k];
  }
  for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(static_cast<double>(x[k]) + m_[k]);
}

void FedOptRule::apply(std::vector<float>& x, const std::vector<double>& d) {
  FEDSIM_ASSERT(x.size() == d.size());
  const double b1 = s_.beta1, b2 = s_.beta2, eta = s_.eta, tau = s_.tau;
  const bool first = m_.empty();
  if (first) {
    m_ = d;
    v_.assign(d.size(), tau * tau);
  } else {
    for (size_t k = 0; k < d.size(); ++k) m_[k] = b1 * m_[k] + (1.0 - b1) * d[k];
  }
  for (size_t k = 0; k < d.size(); ++k) {
    double step;
    switch (kind_) {
      case Kind::adagrad:
        v_[k] += d[k] * d[k];
        step = eta * d[k] / (std::sqrt(v_[k]) + tau);
        break;
      case Kind::yogi: {
        const double m2 = m_[k] * m_[k];
        const double diff = v_[k] - m2;
        const double sign = diff > 0 ? 1.0 : (diff < 0 ? -1.0 : 0.0);
        v_[k] -= (1.0 - b2) * m2 * sign;
        step = eta * m_[k] / (std::sqrt(v_[k]) + tau);
        break;
      }
      case Kind::adam:
      default:
        v_[k] = b2 * v_[k] + (1.0 - b2) * m_[k] * m_[k];
        step = eta * m_[k] / (std::sqrt(v_[k]) + tau);
        break;
    }
    x[k] = static_cast<float>(static_cast<double>(x[k]) + step);
  }
}

std::unique_ptr<ServerRule> make_server_rule(const ServerRuleSpec& s) {
  switch (s.kind) {
    case ServerRuleKind::keep_local: return nullptr;
    case ServerRuleKind::average: return std::make_unique<AverageRule>();
    case ServerRuleKind::avgm: return std::make_unique<FedAvgMRule>(s.beta1);
    case ServerRuleKind::adagrad: return std::make_unique<FedOptRule>(FedOptRule::Kind::adagrad, s);
    case ServerRuleKind::yogi: return std::make_unique<FedOptRule>(FedOptRule::Kind::yogi, s);
    case ServerRuleKind::adam: return std::make_unique<FedOptRule>(FedOptRule::Kind::adam, s);
  }
  FEDSIM_ASSERT_MSG(false, "unknown server rule " << static_cast<int>(s.kind));
}

std::vector<double> mean_delta(const std::vector<WeightedUpdate>& updates, bool normalise) {
  FEDSIM_ASSERT(!updates.empty());
  double total = 0.0;
  for (const auto& u : updates) {
    FEDSIM_ASSERT(u.weight > 0.0 && u.adapter && u.start && u.adapter->size() == u.start->size());
    total += u.weight;
  }
  std::vector<double> d(updates.front().adapter->size(), 0.0);
  for (const auto& u : updates) {
    const double w = normalise ? u.weight / total : u.weight;
    const float* y = u.adapter->data();
    const float* x = u.start->data();
    for (size_t k = 0; k < d.size(); ++k) d[k] += w * (static_cast<double>(y[k]) - static_cast<double>(x[k]));
  }
  return d;
}

std::vector<float> Scaffold::correction(int client) const {
  const auto& ci = ci_.at(static_cast<size_t>(client));
  std::vector<float> out(c_);
  if (!ci.empty())
    for (size_t k = 0; k < out.size(); ++k) out[k] -= ci[k];
  return out;
}

const std::vector<float>& Scaffold::c_i(int client) const { return ci_.at(static_cast<size_t>(client)); }

std::vector<float> Scaffold::client_update(int client, const std::vector<float>& x, const std::vector<float>& y,
                                           int steps, double lr) {
  FEDSIM_ASSERT(steps > 0 && lr > 0.0 && x.size() == c_.size() && y.size() == c_.size());
  auto& ci = ci_.at(static_cast<size_t>(client));
  if (ci.empty()) ci.assign(c_.size(), 0.0f);
  std::vector<float> contribution(c_.size());
  const double scale = 1.0 / (static_cast<double>(steps) * lr);
  for (size_t k = 0; k < c_.size(); ++k) {
    const double new_ci = (static_cast<double>(x[k]) - y[k]) * scale - (static_cast<double>(c_[k]) - ci[k]);
    contribution[k] = static_cast<float>(new_ci - ci[k]);
    ci[k] = static_cast<float>(new_ci);
  }
  return contribution;
}

void Scaffold::server_update(const std::vector<std::vector<float>>& contributions) {
  std::vector<double> acc(c_.size(), 0.0);
  for (const auto& d : contributions)
    for (size_t k = 0; k < acc.size(); ++k) acc[k] += d[k];
  for (size_t k = 0; k < acc.size(); ++k) c_[k] = static_cast<float>(c_[k] + acc[k] / static_cast<double>(n_));
}

double dp_sigma(double lr, double clip, double total_samples, int n_clients, int m, int64_t rounds, double eps,
                double delta) {
  const double D = 2.0 * lr * clip / (total_samples / n_clients);
  const double q = static_cast<double>(m) / n_clients;
  return D * std::sqrt(2.0 * q * static_cast<double>(rounds) * std::log(1.0 / delta)) / eps;
}

Aggregator::Aggregator(const ExperimentConfig& cfg, const std::vector<int64_t>& n, std::vector<float> initial)
    : cfg_(cfg), algo_(algorithm_info(cfg.federation.algorithm)), n_(n), global_(std::move(initial)) {
  const FederationSection& f = cfg.federation;
  int64_t total = 0;
  for (int64_t x : n_)
    if (x != kDataPending) total += x, ++holders_;
  total_n_ = static_cast<double>(total);
  uniform_weights_ = f.weighting == ClientWeights::uniform ||
                     (f.weighting == ClientWeights::by_algorithm && algo_.weighting == Weighting::uniform);
  rule_ = make_server_rule({algo_.rule, f.server_beta1, f.server_beta2, f.server_eta, f.server_tau});
  if (algo_.scaffold) scaffold_ = std::make_unique<Scaffold>(static_cast<int>(n_.size()), global_.size());
  if (local()) local_.assign(f.local_client >= 0 ? 1 : n_.size(), global_);
}

void Aggregator::set_client_data(int32_t client, int64_t n, bool holds_data) {
  int64_t& slot = n_.at(static_cast<size_t>(client));
  FEDSIM_ASSERT_MSG(slot == kDataPending, "client " << client << " announced its data twice");
  slot = n;
  if (holds_data) {
    total_n_ += static_cast<double>(n);
    ++holders_;
  }
}

const std::vector<float>& Aggregator::start_adapter(int32_t client) const {
  if (!local()) return global_;
  return local_[local_.size() == 1 ? 0 : static_cast<size_t>(client)];
}

models::LocalHooks Aggregator::hooks(int32_t client, const std::vector<float>& start, std::vector<float>& correction) const {
  models::LocalHooks h;
  if (algo_.prox) {
    h.prox_mu = static_cast<float>(cfg_.federation.prox_mu);
    h.prox_anchor = &start;
  }
  if (scaffold_) {
    correction = scaffold_->correction(client);
    h.scaffold_correction = &correction;
  }
  return h;
}

std::vector<float> Aggregator::commit(int32_t client, const std::vector<float>& start, const std::vector<float>& adapter,
                                      int steps, double lr) {
  if (!scaffold_) return {};
  return scaffold_->client_update(client, start, adapter, steps, lr);
}

double Aggregator::base_weight(int32_t client) const {
  return uniform_weights_ ? 1.0 : static_cast<double>(n_[static_cast<size_t>(client)]);
}

// Clips the update y_i - x_i to L2 norm C, then adds N(0, sigma^2) per entry. Upstream's C only
// enters sigma and nothing is clipped (sim/README.md "Differential privacy"); fedsim clips.
// FedLLM-Bench's sigma takes the constant initial learning rate (fed_global.py, gaussian_noise);
// privacy.noise_lr: round scales it with the round's lr instead. N and samples count the
// clients holding data now: every client, unless their data arrives during the run (U2S).
void Aggregator::privatise(const ClientUpdate& u, int64_t round) const {
  const FederationSection& f = cfg_.federation;
  const int n_clients = holders_;
  const double noise_lr = cfg_.privacy.noise_lr == NoiseLr::round ? cosine_lr(f.lr, f.lr_min, round, f.rounds) : f.lr;
  const double sigma = dp_sigma(noise_lr, cfg_.privacy.clip, total_n_, n_clients,
                                static_cast<int>(std::min<int64_t>(f.clients_per_round, n_clients)), f.rounds,
                                cfg_.privacy.epsilon, cfg_.privacy.delta);
  std::vector<float>& y = *u.adapter;
  const std::vector<float>& x = *u.start;
  double norm2 = 0.0;
  for (size_t k = 0; k < y.size(); ++k) {
    const double d = static_cast<double>(y[k]) - x[k];
    norm2 += d * d;
  }
  const double scale = std::min(1.0, cfg_.privacy.clip / (std::sqrt(norm2) + 1e-12));
  Rng rng(static_cast<uint64_t>(cfg_.experiment.seed), static_cast<uint64_t>(u.client), static_cast<uint64_t>(round),
          Purpose::dp_noise);
  for (size_t k = 0; k < y.size(); ++k) {
    const double d = (static_cast<double>(y[k]) - x[k]) * scale + sigma * rng.normal();
    y[k] = static_cast<float>(x[k] + d);
  }
}

void Aggregator::aggregate(const std::vector<ClientUpdate>& ups, const std::vector<double>& extra, int64_t round,
                           std::vector<int64_t>& accepted) {
  if (ups.empty()) return;
  if (local()) {
    for (const ClientUpdate& u : ups) {
      local_[local_.size() == 1 ? 0 : static_cast<size_t>(u.client)] = *u.adapter;
      ++accepted[static_cast<size_t>(u.client)];
    }
    return;
  }
  std::vector<size_t> order(ups.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ups[a].client < ups[b].client; });
  if (cfg_.privacy.mechanism == Mechanism::gaussian)
    for (const ClientUpdate& u : ups) privatise(u, round);
  double base_total = 0.0;
  for (const ClientUpdate& u : ups) base_total += base_weight(u.client);
  std::vector<WeightedUpdate> weighted;
  std::vector<std::vector<float>> scaffold_deltas;
  for (size_t i : order) {
    const ClientUpdate& u = ups[i];
    weighted.push_back({base_weight(u.client) / base_total * extra[i], u.adapter, u.start});
    if (scaffold_) scaffold_deltas.push_back(*u.scaffold_delta);
    ++accepted[static_cast<size_t>(u.client)];
  }
  if (!global_.empty()) rule_->apply(global_, mean_delta(weighted, /*normalise=*/false));
  if (scaffold_) scaffold_->server_update(scaffold_deltas);
}

}  // namespace fedsim::sim
