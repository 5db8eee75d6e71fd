// Throughput probe behind `fedsim bench model` (no Kokkos in this header).
#pragma once

#include <string>

namespace fedsim::models {

struct BenchResult {
  std::string preset, runtime;  // runtime: Runtime::describe()
  int B = 0, T = 0, steps = 0;
  double seconds = 0;          // wall time of the timed steps
  double tokens_per_s = 0;     // B*T / median step time
  double flops_per_token = 0;  // train_flops_per_token (formula, models/README.md)
  double gflops = 0;           // flops_per_token * tokens_per_s / 1e9
  int sgemm_n = 0;
  double sgemm_gflops = 0;  // 2 n^3 / median time of an n x n x n product through the same gemm path
  double ratio = 0;         // gflops / sgemm_gflops
};

// Times train_adapter steps (forward + backward + AdamW, one client, LoRA defaults, dropout on)
// on batches of B sequences of the preset's full context, for at least min_seconds (and at
// least 3 steps) after one warm-up step; then measures the single-precision product rate at
// size sgemm_n on the same execution space and BLAS threads.
BenchResult bench_model(const std::string& preset, int B, double min_seconds, int sgemm_n = 1024);
double measure_sgemm_gflops(int n, double min_seconds);

}  // namespace fedsim::models
