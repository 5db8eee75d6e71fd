// Every server rule on hand-computed cases (expected values computed by hand / in Python from
// the formulas in sim/README.md "Algorithms", which cites each rule's source).
#include <doctest/doctest.h>

#include "common/error.hpp"
#include "sim/aggregator.hpp"
#include "sim/federation.hpp"

using namespace fedsim::sim;

namespace {
std::vector<double> d(std::initializer_list<double> v) { return v; }
ServerRuleSpec spec(const char* alg, double eta, double tau, double b1 = 0.9, double b2 = 0.99) {
  ServerRuleSpec s;
  s.kind = algorithm_named(alg).rule;
  s.eta = eta;
  s.tau = tau;
  s.beta1 = b1;
  s.beta2 = b2;
  return s;
}
}  // namespace

TEST_CASE("fedavg: x + weighted mean delta equals sum_i (n_i / sum n) y_i on a 3-client case") {
  // n = 1, 2, 5 (sum 8); weights 0.125, 0.25, 0.625.
  const std::vector<float> x0{0.5f, -1.0f, 2.0f};
  const std::vector<float> y0{1.0f, 0.0f, -2.0f}, y1{3.0f, 4.0f, 2.0f}, y2{-1.0f, 8.0f, 0.5f};
  const std::vector<double> D = mean_delta({{1.0, &y0, &x0}, {2.0, &y1, &x0}, {5.0, &y2, &x0}});
  std::vector<float> x = x0;
  auto rule = make_server_rule(spec("fedavg", 0, 0));
  rule->apply(x, D);
  // 0.125*1 + 0.25*3 + 0.625*-1 = 0.25;  0 + 1 + 5 = 6;  -0.25 + 0.5 + 0.3125 = 0.5625
  CHECK(x[0] == doctest::Approx(0.25).epsilon(1e-7));
  CHECK(x[1] == doctest::Approx(6.0).epsilon(1e-7));
  CHECK(x[2] == doctest::Approx(0.5625).epsilon(1e-7));
}

TEST_CASE("mean_delta without normalisation keeps the weights as given (FedBuff staleness)") {
  const std::vector<float> x{0.0f}, y{2.0f};
  CHECK(mean_delta({{0.5, &y, &x}}, false)[0] == doctest::Approx(1.0));
  CHECK(mean_delta({{0.5, &y, &x}}, true)[0] == doctest::Approx(2.0));
}

TEST_CASE("fedavgm: m = D first, then b1*m + (1-b1)*D; x = x + m") {
  auto rule = make_server_rule(spec("fedavgm", 0, 0, 0.5));
  std::vector<float> x{1.0f};
  rule->apply(x, d({0.4}));
  CHECK(x[0] == doctest::Approx(1.4).epsilon(1e-7));
  rule->apply(x, d({-0.2}));  // m = 0.5*0.4 + 0.5*-0.2 = 0.1
  CHECK(x[0] == doctest::Approx(1.5).epsilon(1e-7));
}

TEST_CASE("fedadagrad: v starts at tau^2, v += D^2, x += eta*D/(sqrt(v)+tau)") {
  auto rule = make_server_rule(spec("fedadagrad", 0.1, 0.01));
  std::vector<float> x{1.0f};
  rule->apply(x, d({0.3}));
  CHECK(x[0] == doctest::Approx(1.0967222067986908).epsilon(1e-7));
}

TEST_CASE("fedyogi: the sign rule moves v towards m^2 from either side") {
  auto rule = make_server_rule(spec("fedyogi", 0.1, 0.5));
  std::vector<float> x{1.0f, 1.0f};
  // v0 = 0.25. Element 0: m^2 = 0.09 < v, v -= 0.01*0.09. Element 1: m^2 = 0.64 > v, v += 0.01*0.64.
  rule->apply(x, d({0.3, 0.8}));
  CHECK(x[0] == doctest::Approx(1.0300270487096264).epsilon(1e-7));
  CHECK(x[1] == doctest::Approx(1.0794944505860813).epsilon(1e-7));
  const auto st = rule->state();
  REQUIRE(st.size() == 2);
  CHECK((*st[1].second)[0] == doctest::Approx(0.2491));
  CHECK((*st[1].second)[1] == doctest::Approx(0.2564));
  rule->apply(x, d({-0.1, -0.1}));  // m = 0.9*m + 0.1*D
  CHECK(x[0] == doctest::Approx(1.0560681543771107).epsilon(1e-7));
  CHECK(x[1] == doctest::Approx(1.1497002117099202).epsilon(1e-7));
}

TEST_CASE("fedadam: v = b2*v + (1-b2)*m^2 without bias correction") {
  auto rule = make_server_rule(spec("fedadam", 0.1, 0.01));
  std::vector<float> x{1.0f};
  rule->apply(x, d({0.3}));
  CHECK(x[0] == doctest::Approx(1.7210331899407634).epsilon(1e-7));
  rule->apply(x, d({-0.1}));
  CHECK(x[0] == doctest::Approx(2.232798536875677).epsilon(1e-7));
}

TEST_CASE("scaffold: control variates on a hand-computed 2-round case with N = 4") {
  Scaffold s(4, 2);
  const std::vector<float> x{1.0f, 2.0f};
  CHECK(s.correction(0) == std::vector<float>{0.0f, 0.0f});
  // c_i' = (x - y)/(K*lr) - (c - c_i), K = 2, lr = 0.1.
  const auto d0 = s.client_update(0, x, {0.8f, 2.3f}, 2, 0.1);
  const auto d1 = s.client_update(1, x, {1.1f, 1.9f}, 2, 0.1);
  CHECK(d0[0] == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(d0[1] == doctest::Approx(-1.5).epsilon(1e-5));
  CHECK(d1[0] == doctest::Approx(-0.5).epsilon(1e-5));
  CHECK(d1[1] == doctest::Approx(0.5).epsilon(1e-5));
  s.server_update({d0, d1});  // c = (1/N) * sum = [0.125, -0.25]
  CHECK(s.c()[0] == doctest::Approx(0.125).epsilon(1e-5));
  CHECK(s.c()[1] == doctest::Approx(-0.25).epsilon(1e-5));
  const auto corr0 = s.correction(0);  // c - c_0
  CHECK(corr0[0] == doctest::Approx(-0.875).epsilon(1e-5));
  CHECK(corr0[1] == doctest::Approx(1.25).epsilon(1e-5));
  const auto corr2 = s.correction(2);  // never trained: c_2 = 0
  CHECK(corr2[0] == doctest::Approx(0.125).epsilon(1e-5));
  // Round 2, client 0: K = 1; c_0'' = (x - y)/0.1 - (c - c_0) = [1, 0] - [-0.875, 1.25].
  const auto d0b = s.client_update(0, x, {0.9f, 2.0f}, 1, 0.1);
  CHECK(s.c_i(0)[0] == doctest::Approx(1.875).epsilon(1e-5));
  CHECK(s.c_i(0)[1] == doctest::Approx(-1.25).epsilon(1e-5));
  CHECK(d0b[0] == doctest::Approx(0.875).epsilon(1e-5));
  CHECK(d0b[1] == doctest::Approx(0.25).epsilon(1e-5));
}

TEST_CASE("dp: Gaussian sigma as FedLLM-Bench's formula (fed_global.py) (Fed-ChatbotIT-sized numbers)") {
  // D = 2*lr*C/(samples/N), q = m/N, sigma = D*sqrt(2*q*R*ln(1/delta))/eps
  CHECK(dp_sigma(2e-5, 1.0, 6166, 237, 10, 100, 1.0, 1e-4) ==
        doctest::Approx(1.3554499372124794e-05).epsilon(1e-9));
}

TEST_CASE("server rule factory names the accepted algorithms") {
  CHECK_THROWS_WITH_AS(make_server_rule(spec("fedsgd", 0, 0)),
                       "federation.algorithm: 'fedsgd' is not accepted; accepted: local, fedavg, fedprox, scaffold, "
                       "fedavgm, fedadagrad, fedyogi, fedadam, feddpo",
                       fedsim::UserError);
}
