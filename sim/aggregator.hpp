// Server aggregation rules over flat adapter vectors. Only adapter tensors are aggregated;
// LoRA A and B entries are averaged separately, never their product (OpenFedLLM,
// REFERENCE.md section 2).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fedsim::sim {

struct ClientUpdate {
  int32_t client = -1;
  int64_t n_samples = 0;          // n_i: the client's whole local data size
  const std::vector<float>* adapter = nullptr;  // y_i after local training
};

class Aggregator {
 public:
  virtual ~Aggregator() = default;
  // x <- rule(x, updates). Updates arrive sorted by client id, so results do not depend on
  // completion order.
  virtual void aggregate(std::vector<float>& global, const std::vector<ClientUpdate>& updates) = 0;
};

// FedAvg (McMahan et al., AISTATS 2017; REFERENCE.md section 3):
// x = sum_S (n_i / sum_S n_j) * y_i, accumulated in double.
class FedAvg : public Aggregator {
 public:
  void aggregate(std::vector<float>& global, const std::vector<ClientUpdate>& updates) override;
};

std::unique_ptr<Aggregator> make_aggregator(const std::string& algorithm);

}  // namespace fedsim::sim
