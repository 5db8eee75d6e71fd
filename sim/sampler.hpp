// Client sampling per round.
//  - uniform: m of N without replacement from the (seed, round, client_sampling) stream.
//  - fedllm-bench: bit-for-bit what FedLLM-Bench / OpenFedLLM do in Python:
//      random.seed(r); sorted(random.sample(range(N), m))   (all clients when N < m)
//    i.e. CPython's Mersenne Twister seeded by init_by_array from the integer r, and
//    random.sample's pool / set algorithms with _randbelow via getrandbits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::sim {

enum class Sampling : uint8_t { uniform, fedllm_bench };  // config spellings: uniform | fedllm-bench

// MT19937 (Matsumoto & Nishimura, ACM TOMACS 8(1), 1998) as CPython's _random module uses it.
class CPythonRandom {
 public:
  explicit CPythonRandom(uint64_t seed);  // random.seed(int) for a non-negative int
  uint32_t genrand_uint32();
  uint64_t getrandbits(int k);            // 1 <= k <= 64
  uint64_t randbelow(uint64_t n);         // Random._randbelow_with_getrandbits, n >= 1
  // random.sample(range(n), k), in selection order (not sorted).
  std::vector<int32_t> sample_range(int32_t n, int32_t k);

 private:
  void init_genrand(uint32_t s);
  void init_by_array(const std::vector<uint32_t>& key);
  uint32_t mt_[624];
  int mti_ = 625;
};

// Sorted ids of the clients sampled in `round` (0-based).
std::vector<int32_t> sample_clients(Sampling method, uint64_t seed, int64_t round, int32_t n_clients,
                                    int32_t m);

}  // namespace fedsim::sim
