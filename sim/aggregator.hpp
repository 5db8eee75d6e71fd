// The server's side of a federation over flat adapter vectors: the update rules, SCAFFOLD's
// control variates, differential privacy as a transform of each update, client weights, and
// the Aggregator that holds them with the global adapter. Only adapter tensors are aggregated;
// LoRA A and B entries are averaged separately, never their product (as OpenFedLLM's
// federated_learning/fed_global.py, global_aggregate). Rules and sources: sim/README.md.
//
// Every rule is written on the weighted mean client delta D = sum_i w_i (y_i - x_i), where x_i
// is the global adapter client i started from (the current one in synchronous rounds) and the
// weights w_i sum to 1: n_i / sum n_j for data-size weighting, 1/|S| for uniform. For FedAvg
// x + D equals sum_i w_i y_i when all clients started from x.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/model.hpp"
#include "sim/algorithms.hpp"

namespace fedsim::sim {

struct ExperimentConfig;

// A client's data size before its data exists (U2S: until its generation job ends).
inline constexpr int64_t kDataPending = -1;

struct ServerRuleSpec {
  ServerRuleKind kind = ServerRuleKind::average;
  double beta1 = 0.9;   // FedAvgM, FedYogi, FedAdam momentum
  double beta2 = 0.99;  // FedYogi, FedAdam second moment
  double eta = 1e-3;    // FedOpt server learning rate
  double tau = 1e-3;    // FedOpt adaptivity; v starts at tau^2
};

class ServerRule {
 public:
  virtual ~ServerRule() = default;
  // x <- rule(x, D). D is in double; x stays float.
  virtual void apply(std::vector<float>& x, const std::vector<double>& delta) = 0;
  // Named state vectors (momentum, second moments) for checkpoints; empty until first used.
  virtual std::vector<std::pair<std::string, std::vector<double>*>> state() { return {}; }
};

// FedAvg / FedProx / SCAFFOLD / FedDPO: x = x + D.
class AverageRule : public ServerRule {
 public:
  void apply(std::vector<float>& x, const std::vector<double>& delta) override;
};

// FedAvgM (Hsu et al. 2019; FedLLM-Bench): m = D in the first round, else
// m = b1*m + (1-b1)*D; x = x + m.
class FedAvgMRule : public ServerRule {
 public:
  explicit FedAvgMRule(double beta1) : b1_(beta1) {}
  void apply(std::vector<float>& x, const std::vector<double>& delta) override;
  std::vector<std::pair<std::string, std::vector<double>*>> state() override { return {{"m", &m_}}; }

 private:
  double b1_;
  std::vector<double> m_;
};

// FedOpt (Reddi et al., ICLR 2021, Algorithm 2) as OpenFedLLM writes it: v starts at tau^2,
// no bias correction; m as FedAvgM.
//   adagrad: v = v + D^2;                          x = x + eta*D/(sqrt(v)+tau)
//   yogi:    v = v - (1-b2)*m^2*sign(v - m^2);     x = x + eta*m/(sqrt(v)+tau)
//   adam:    v = b2*v + (1-b2)*m^2;                x = x + eta*m/(sqrt(v)+tau)
class FedOptRule : public ServerRule {
 public:
  enum class Kind { adagrad, yogi, adam };
  FedOptRule(Kind kind, const ServerRuleSpec& s) : kind_(kind), s_(s) {}
  void apply(std::vector<float>& x, const std::vector<double>& delta) override;
  std::vector<std::pair<std::string, std::vector<double>*>> state() override { return {{"m", &m_}, {"v", &v_}}; }

 private:
  Kind kind_;
  ServerRuleSpec s_;
  std::vector<double> m_, v_;
};

// The rule of spec.kind (keep_local: none, nullptr).
std::unique_ptr<ServerRule> make_server_rule(const ServerRuleSpec& spec);

// Weighted delta sum_i w_i (y_i - x_i) in double, accumulated in the order given; with
// `normalise` the weights are divided by their sum first.
struct WeightedUpdate {
  double weight = 0.0;                      // w_i, not yet normalised
  const std::vector<float>* adapter = nullptr;  // y_i
  const std::vector<float>* start = nullptr;    // x_i
};
std::vector<double> mean_delta(const std::vector<WeightedUpdate>& updates, bool normalise = true);

// SCAFFOLD control variates (Karimireddy et al., ICML 2020, Algorithm 1, option II), as
// OpenFedLLM's federated_learning/fed_scaffold.py:
// c and every c_i start at 0; the client corrects every step by (c - c_i); afterwards
// c_i' = (x - y_i)/(K*lr) - (c - c_i) and the server sets c <- c + (1/N) sum_S (c_i' - c_i).
class Scaffold {
 public:
  Scaffold(int n_clients, size_t n_params) : n_(n_clients), c_(n_params, 0.0f), ci_(static_cast<size_t>(n_clients)) {}
  // c - c_i for a client about to train.
  std::vector<float> correction(int client) const;
  // c_i' from the client's result; returns c_i' - c_i (the client's contribution to c).
  std::vector<float> client_update(int client, const std::vector<float>& x, const std::vector<float>& y, int steps,
                                   double lr);
  // c <- c + (1/N) * sum of the round's contributions.
  void server_update(const std::vector<std::vector<float>>& contributions);
  const std::vector<float>& c() const { return c_; }
  const std::vector<float>& c_i(int client) const;
  // Checkpoints: c and every c_i (an empty c_i means zeros).
  template <class Ar>
  void fields(Ar& ar) { ar(c_, ci_); }

 private:
  int n_;
  std::vector<float> c_;
  std::vector<std::vector<float>> ci_;  // empty until the client first trains (= zeros)
};

// Gaussian DP noise scale (FedLLM-Bench federated_learning/fed_global.py, gaussian_noise):
// sigma = D * sqrt(2 q R ln(1/delta)) / eps with D = 2 lr C / (samples / N), q = m / N.
double dp_sigma(double lr, double clip, double total_samples, int n_clients, int m, int64_t rounds, double eps,
                double delta);

// One client's update as the server sees it: y_i (modified in place by DP), x_i, SCAFFOLD's
// c_i' - c_i.
struct ClientUpdate {
  int32_t client = -1;
  const std::vector<float>* start = nullptr;
  std::vector<float>* adapter = nullptr;
  const std::vector<float>* scaffold_delta = nullptr;
};

// The global adapter and everything the server rule keeps, for one federation.
class Aggregator {
 public:
  // n: every client's data size n_i (weights and DP), kDataPending for a client whose data
  // arrives during the run (set_client_data); initial: the starting adapter.
  Aggregator(const ExperimentConfig& cfg, const std::vector<int64_t>& n, std::vector<float> initial);
  // A pending client's data arrived: n_i, and whether it holds data it trains on (DP's n).
  void set_client_data(int32_t client, int64_t n, bool holds_data);
  const AlgorithmInfo& algorithm() const { return algo_; }
  bool local() const { return algo_.rule == ServerRuleKind::keep_local; }
  const std::vector<float>& global() const { return global_; }
  const std::vector<std::vector<float>>& local_adapters() const { return local_; }
  // The adapter a client downloads: the global one, or (local) its own.
  const std::vector<float>& start_adapter(int32_t client) const;
  // The client's hooks for local training from `start` (FedProx anchor, SCAFFOLD correction:
  // `correction` holds c - c_i and must outlive the training).
  models::LocalHooks hooks(int32_t client, const std::vector<float>& start, std::vector<float>& correction) const;
  // After a client's training: SCAFFOLD's c_i update, returning c_i' - c_i (else empty).
  std::vector<float> commit(int32_t client, const std::vector<float>& start, const std::vector<float>& adapter, int steps,
                            double lr);
  // Applies the server rule to the updates (taken in client-id order) with weights
  // base_i / sum(base) * extra_i, extra not normalised (FedBuff's staleness factors), after the
  // DP transform of each update; counts each in `accepted`. `local`: each client keeps its own.
  void aggregate(const std::vector<ClientUpdate>& updates, const std::vector<double>& extra, int64_t round,
                 std::vector<int64_t>& accepted);
  template <class Ar>
  void fields(Ar& ar);

 private:
  double base_weight(int32_t client) const;
  void privatise(const ClientUpdate& u, int64_t round) const;

  const ExperimentConfig& cfg_;
  const AlgorithmInfo& algo_;
  std::vector<int64_t> n_;
  double total_n_ = 0.0;  // DP: sum of n_i over the clients holding data, and their count
  int holders_ = 0;
  bool uniform_weights_ = false;
  std::unique_ptr<ServerRule> rule_;
  std::unique_ptr<Scaffold> scaffold_;
  std::vector<float> global_;
  std::vector<std::vector<float>> local_;  // algorithm local: one adapter per client (or one)
};

template <class Ar>
void Aggregator::fields(Ar& ar) {
  ar(global_, local_);
  if (rule_)
    for (const auto& kv : rule_->state()) ar(*kv.second);
  if (scaffold_) ar(*scaffold_);
}

}  // namespace fedsim::sim
