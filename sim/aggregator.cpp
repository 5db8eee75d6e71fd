#include "sim/aggregator.hpp"

#include "datasets/common/error.hpp"

namespace fedsim::sim {

void FedAvg::aggregate(std::vector<float>& global, const std::vector<ClientUpdate>& updates) {
  FEDSIM_ASSERT(!updates.empty());
  double total = 0.0;
  for (const auto& u : updates) {
    FEDSIM_ASSERT_MSG(u.adapter && u.adapter->size() == global.size(), "client " << u.client << ": adapter size");
    FEDSIM_ASSERT(u.n_samples > 0);
    total += static_cast<double>(u.n_samples);
  }
  std::vector<double> acc(global.size(), 0.0);
  for (const auto& u : updates) {
    const double w = static_cast<double>(u.n_samples) / total;
    const float* y = u.adapter->data();
    for (size_t k = 0; k < acc.size(); ++k) acc[k] += w * static_cast<double>(y[k]);
  }
  for (size_t k = 0; k < acc.size(); ++k) global[k] = static_cast<float>(acc[k]);
}

std::unique_ptr<Aggregator> make_aggregator(const std::string& algorithm) {
  if (algorithm == "fedavg") return std::make_unique<FedAvg>();
  throw UserError("federation.algorithm: '" + algorithm + "' is not accepted; accepted: fedavg");
}

}  // namespace fedsim::sim
