// Deterministic random streams. Every stream is derived from (seed, client, round, purpose)
// so results never depend on the order in which work is done (STYLE.md habit 5).
//
// Generator: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", 2018), seeded through splitmix64 as its authors recommend.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace fedsim {

// splitmix64 finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014). Usable on device too: plain arithmetic, no state.
inline constexpr uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Named purposes keep streams apart; append new ones at the end (values are part of results).
enum class Purpose : uint64_t {
  data_generation = 1,
  data_split = 2,
  client_sampling = 3,
  batch_draw = 4,
  model_init = 5,
  adapter_init = 6,
  dropout = 7,
  system_model = 8,
  pretrain = 9,
  dp_noise = 10,
  generation = 11,
  task_failure = 12,
};

inline constexpr uint64_t stream_key(uint64_t seed, uint64_t client, uint64_t round, Purpose p) {
  uint64_t k = mix64(seed ^ 0x6a09e667f3bcc909ULL);
  k = mix64(k ^ (client + 0x1000193ULL));
  k = mix64(k ^ (round + 0x3c6ef372fe94f82bULL));
  return mix64(k ^ static_cast<uint64_t>(p));
}

class Rng {
 public:
  explicit Rng(uint64_t key) {
    uint64_t z = key;
    for (auto& w : s_) { z += 0x9e3779b97f4a7c15ULL; w = mix64(z); }
  }
  Rng(uint64_t seed, uint64_t client, uint64_t round, Purpose p) : Rng(stream_key(seed, client, round, p)) {}

  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3];
    s_[2] ^= t; s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), unbiased (Lemire's rejection method).
  uint64_t below(uint64_t n) {
    if (n <= 1) return 0;
    const uint64_t threshold = (0 - n) % n;
    for (;;) {
      const uint64_t r = next_u64();
      if (r >= threshold) return r % n;
    }
  }
  int64_t range(int64_t lo, int64_t hi_inclusive) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi_inclusive - lo) + 1));
  }
  // Standard normal by Box-Muller (no cached second value, so the stream position is simple).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Gamma(shape, 1) by Marsaglia & Tsang (ACM TOMS 26(3), 2000); shape < 1 by boosting.
  double gamma(double shape) {
    if (shape < 1.0) {
      const double u = uniform();
      return gamma(shape + 1.0) * std::pow(u > 0 ? u : 1e-300, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do { x = normal(); v = 1.0 + c * x; } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace fedsim
