#include "sim/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace fedsim::sim {

// The constants and steps below follow mt19937ar.c (Matsumoto & Nishimura), which CPython's
// Modules/_randommodule.c embeds.
void CPythonRandom::init_genrand(uint32_t s) {
  mt_[0] = s;
  for (mti_ = 1; mti_ < 624; ++mti_)
    mt_[mti_] = 1812433253U * (mt_[mti_ - 1] ^ (mt_[mti_ - 1] >> 30)) + static_cast<uint32_t>(mti_);
}

void CPythonRandom::init_by_array(const std::vector<uint32_t>& key) {
  init_genrand(19650218U);
  size_t i = 1, j = 0;
  const size_t n = key.size();
  for (size_t k = std::max<size_t>(624, n); k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= 624) { mt_[0] = mt_[623]; i = 1; }
    if (j >= n) j = 0;
  }
  for (size_t k = 623; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941U)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= 624) { mt_[0] = mt_[623]; i = 1; }
  }
  mt_[0] = 0x80000000U;
}

// random.seed(a) for an int a: the absolute value split into 32-bit words, least significant
// first; zero becomes the one-word key [0].
CPythonRandom::CPythonRandom(uint64_t seed) {
  std::vector<uint32_t> key;
  do {
    key.push_back(static_cast<uint32_t>(seed & 0xffffffffU));
    seed >>= 32;
  } while (seed);
  init_by_array(key);
}

uint32_t CPythonRandom::genrand_uint32() {
  static const uint32_t mag01[2] = {0x0U, 0x9908b0dfU};
  uint32_t y;
  if (mti_ >= 624) {
    int kk;
    for (kk = 0; kk < 624 - 397; ++kk) {
      y = (mt_[kk] & 0x80000000U) | (mt_[kk + 1] & 0x7fffffffU);
      mt_[kk] = mt_[kk + 397] ^ (y >> 1) ^ mag01[y & 0x1U];
    }
    for (; kk < 623; ++kk) {
      y = (mt_[kk] & 0x80000000U) | (mt_[kk + 1] & 0x7fffffffU);
      mt_[kk] = mt_[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 0x1U];
    }
    y = (mt_[623] & 0x80000000U) | (mt_[0] & 0x7fffffffU);
    mt_[623] = mt_[396] ^ (y >> 1) ^ mag01[y & 0x1U];
    mti_ = 0;
  }
  y = mt_[mti_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= (y >> 18);
  return y;
}

// CPython's getrandbits: k <= 32 takes the top k bits of one word; wider values are built
// from 32-bit words, least significant first, the last word shifted right.
uint64_t CPythonRandom::getrandbits(int k) {
  FEDSIM_ASSERT(k >= 1 && k <= 64);
  if (k <= 32) return genrand_uint32() >> (32 - k);
  const uint64_t lo = genrand_uint32();
  const uint64_t hi = genrand_uint32() >> (64 - k);
  return lo | (hi << 32);
}

uint64_t CPythonRandom::randbelow(uint64_t n) {
  FEDSIM_ASSERT(n >= 1);
  int k = 0;
  while ((n >> k) != 0) ++k;  // n.bit_length()
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

// Random.sample (Lib/random.py): a pool copy for small populations, else rejection with a set.
std::vector<int32_t> CPythonRandom::sample_range(int32_t n, int32_t k) {
  FEDSIM_ASSERT(k >= 0 && k <= n);
  std::vector<int32_t> result(static_cast<size_t>(k));
  int64_t setsize = 21;
  if (k > 5) setsize += static_cast<int64_t>(std::pow(4.0, std::ceil(std::log(3.0 * k) / std::log(4.0))));
  if (n <= setsize) {
    std::vector<int32_t> pool(static_cast<size_t>(n));
    std::iota(pool.begin(), pool.end(), 0);
    for (int32_t i = 0; i < k; ++i) {
      const auto j = static_cast<size_t>(randbelow(static_cast<uint64_t>(n - i)));
      result[static_cast<size_t>(i)] = pool[j];
      pool[j] = pool[static_cast<size_t>(n - i - 1)];
    }
  } else {
    std::unordered_set<int32_t> selected;
    for (int32_t i = 0; i < k; ++i) {
      auto j = static_cast<int32_t>(randbelow(static_cast<uint64_t>(n)));
      while (selected.count(j)) j = static_cast<int32_t>(randbelow(static_cast<uint64_t>(n)));
      selected.insert(j);
      result[static_cast<size_t>(i)] = j;
    }
  }
  return result;
}

std::vector<int32_t> sample_clients(Sampling method, uint64_t seed, int64_t round, int32_t n_clients,
                                    int32_t m) {
  std::vector<int32_t> ids;
  if (m >= n_clients) {  // FedLLM-Bench: if N < m all clients train
    ids.resize(static_cast<size_t>(n_clients));
    std::iota(ids.begin(), ids.end(), 0);
    return ids;
  }
  if (method == Sampling::fedllm_bench) {
    CPythonRandom py(static_cast<uint64_t>(round));
    ids = py.sample_range(n_clients, m);
  } else {
    ids.resize(static_cast<size_t>(n_clients));
    std::iota(ids.begin(), ids.end(), 0);
    Rng rng(seed, 0, static_cast<uint64_t>(round), Purpose::client_sampling);
    for (int32_t i = 0; i < m; ++i) {  // partial Fisher-Yates
      const auto j = static_cast<size_t>(i) + rng.below(static_cast<uint64_t>(n_clients - i));
      std::swap(ids[static_cast<size_t>(i)], ids[j]);
    }
    ids.resize(static_cast<size_t>(m));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace fedsim::sim
