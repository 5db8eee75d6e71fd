#include <doctest/doctest.h>

#include "datasets/common/error.hpp"
#include "sim/aggregator.hpp"

using namespace fedsim::sim;

TEST_CASE("fedavg: weighted by client data size on a hand-computed 3-client case") {
  // n = 1, 2, 5 (sum 8); weights 0.125, 0.25, 0.625.
  const std::vector<float> y0{1.0f, 0.0f, -2.0f}, y1{3.0f, 4.0f, 2.0f}, y2{-1.0f, 8.0f, 0.5f};
  std::vector<float> x{100.0f, 100.0f, 100.0f};  // the old global plays no part in FedAvg
  FedAvg agg;
  agg.aggregate(x, {{0, 1, &y0}, {1, 2, &y1}, {2, 5, &y2}});
  // 0.125*1 + 0.25*3 + 0.625*-1 = 0.25;  0 + 1 + 5 = 6;  -0.25 + 0.5 + 0.3125 = 0.5625
  CHECK(x[0] == doctest::Approx(0.25).epsilon(1e-7));
  CHECK(x[1] == doctest::Approx(6.0).epsilon(1e-7));
  CHECK(x[2] == doctest::Approx(0.5625).epsilon(1e-7));
}

TEST_CASE("fedavg: one client gives its adapter back exactly; equal sizes give the plain mean") {
  const std::vector<float> y{0.1f, -0.7f, 3.25f};
  std::vector<float> x(3, 0.0f);
  FedAvg agg;
  agg.aggregate(x, {{4, 17, &y}});
  CHECK(x == y);
  const std::vector<float> a{1.0f, 2.0f, 3.0f}, b{3.0f, 2.0f, 1.0f};
  agg.aggregate(x, {{0, 7, &a}, {1, 7, &b}});
  CHECK(x == std::vector<float>{2.0f, 2.0f, 2.0f});
}

TEST_CASE("aggregator factory names the accepted algorithms") {
  CHECK_THROWS_WITH_AS(make_aggregator("fedsgd"), "federation.algorithm: 'fedsgd' is not accepted; accepted: fedavg",
                       fedsim::UserError);
}
