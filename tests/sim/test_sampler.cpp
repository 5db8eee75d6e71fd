#include <doctest/doctest.h>

#include <numeric>

#include "sim/sampler.hpp"

using namespace fedsim::sim;

// Expected values were produced by CPython 3.11:
//   random.seed(r); sorted(random.sample(range(N), m))
TEST_CASE("fedllm-bench sampler reproduces CPython's random.seed(r); random.sample(range(N), m)") {
  struct Case {
    int32_t n, m;
    int64_t r;
    std::vector<int32_t> want;
  };
  const Case cases[] = {
      {38, 4, 0, {2, 16, 24, 26}},
      {38, 4, 1, {4, 8, 16, 36}},
      {237, 10, 0, {10, 66, 98, 103, 107, 124, 130, 194, 216, 227}},
      {237, 10, 99, {22, 34, 45, 51, 58, 63, 97, 103, 153, 194}},
      {747, 10, 5, {29, 255, 261, 367, 476, 542, 637, 664, 667, 707}},
      {100, 5, 3, {16, 30, 47, 69, 75}},
      {50, 3, 7, {9, 20, 25}},
      {20, 2, 199, {11, 12}},
      {3, 10, 0, {0, 1, 2}},  // N < m: every client trains
      {30, 25, 4, {0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 23, 25, 26, 27, 28, 29}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.n);
    CAPTURE(c.m);
    CAPTURE(c.r);
    CHECK(sample_clients(Sampling::fedllm_bench, 999, c.r, c.n, c.m) == c.want);
  }
  // A large draw through the set-based branch: 200 of 747 with r = 1.
  const auto big = sample_clients(Sampling::fedllm_bench, 0, 1, 747, 200);
  REQUIRE(big.size() == 200);
  CHECK(big.front() == 1);
  CHECK(big[100] == 392);
  CHECK(big.back() == 743);
  CHECK(std::accumulate(big.begin(), big.end(), 0) == 74012);
}

TEST_CASE("CPython Mersenne Twister: getrandbits(32) after random.seed(12345)") {
  CPythonRandom py(12345);
  CHECK(py.getrandbits(32) == 1789368711u);
  CHECK(py.getrandbits(32) == 3146859322u);
  CHECK(py.getrandbits(32) == 43676229u);
}

TEST_CASE("uniform sampler: m distinct sorted clients, reproducible per round, all when m >= N") {
  const auto a = sample_clients(Sampling::uniform, 3, 5, 100, 10);
  CHECK(a == sample_clients(Sampling::uniform, 3, 5, 100, 10));
  CHECK(a != sample_clients(Sampling::uniform, 3, 6, 100, 10));
  CHECK(a != sample_clients(Sampling::uniform, 4, 5, 100, 10));
  REQUIRE(a.size() == 10);
  for (size_t i = 1; i < a.size(); ++i) CHECK(a[i - 1] < a[i]);
  CHECK(sample_clients(Sampling::uniform, 3, 0, 4, 9) == std::vector<int32_t>{0, 1, 2, 3});
}
