// A fake trainer for federation tests whose outcome is known in advance.
#pragma once

#include <vector>

#include "sim/trainer.hpp"

namespace fedsim::sim::testing {

// One adapter entry; every local training adds exactly 1 to it. Costs: 1 token per step and
// 1e9 FLOPs per token, so a step takes 1/gflops simulated seconds (and tokens_trained counts
// local steps).
class PlusOneTrainer : public LocalTrainer {
 public:
  int64_t adapter_params() const override { return 1; }
  double flops_per_token() const override { return 1e9; }
  std::vector<float> initial_adapter() const override { return {0.0f}; }
  int64_t tokens(int steps) const override { return steps; }
  LocalResult train(int32_t, int64_t, int steps, std::vector<float>& a, double, const models::LocalHooks&) override {
    a[0] += 1.0f;
    ++calls;
    return {0.5, steps, steps};
  }
  EvalResult evaluate(const std::vector<float>& a) const override { return {static_cast<double>(a[0]), 0.0}; }
  double client_accuracy(const std::vector<float>&, int32_t) const override { return 0.0; }
  int calls = 0;
};

}  // namespace fedsim::sim::testing
