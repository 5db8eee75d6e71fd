#include "sim/aggregator.hpp"

#include <cmath>

#include "common/error.hpp"

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
  if (s.algorithm == "fedavgm") return std::make_unique<FedAvgMRule>(s.beta1);
  if (s.algorithm == "fedadagrad") return std::make_unique<FedOptRule>(FedOptRule::Kind::adagrad, s);
  if (s.algorithm == "fedyogi") return std::make_unique<FedOptRule>(FedOptRule::Kind::yogi, s);
  if (s.algorithm == "fedadam") return std::make_unique<FedOptRule>(FedOptRule::Kind::adam, s);
  if (s.algorithm == "fedavg" || s.algorithm == "fedprox" || s.algorithm == "scaffold" || s.algorithm == "feddpo" ||
      s.algorithm == "local")
    return std::make_unique<AverageRule>();
  throw UserError("federation.algorithm: '" + s.algorithm +
                  "' is not accepted; accepted: local, fedavg, fedprox, scaffold, fedavgm, fedadagrad, fedyogi, "
                  "fedadam, feddpo");
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

}  // namespace fedsim::sim
