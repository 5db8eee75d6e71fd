// Throughput and memory probes behind `fedsim bench model` (no Kokkos in this header).
#pragma once

#include <string>

#include "models/model.hpp"

namespace fedsim::models {

// Kernel launches, host syncs and host <-> device transfers, counted by Kokkos's profiling
// callbacks (models/runtime.cpp, registered in-process by Runtime) between start_counting and
// stop_counting. On a host build both sides of a transfer are host memory; a copy counts as
// host <-> device when one side is a device buffer of fedsim (the default memory space) and the
// other is host memory (a std::vector, a "fedsim::host::" staging buffer, a mirror), exactly the
// copies a GPU build makes over PCIe.
struct KernelCounts {
  int64_t launches = 0;       // parallel_for / reduce / scan, and BLAS calls that ran no Kokkos kernel
  int64_t fences = 0;         // named fences (fedsim's fence(); every fence on Kokkos 4.x)
  int64_t reads = 0;          // device -> host copies: each blocks the host
  int64_t writes = 0;         // host -> device copies (staged, no fence)
  int64_t bytes = 0;          // host <-> device bytes, both ways
  int64_t device_copies = 0;  // device -> device copies
  int64_t allocations = 0;    // View allocations and frees (a free fences the device on Kokkos 4.x)
  int64_t steps = 0, runs = 0;  // local steps (stacked: one per stack) and client runs, marked by train.cpp
  int64_t syncs() const { return fences + reads; }
};
void start_counting();         // zeroes the counts and registers the callbacks
void resume_counting();        // registers them, keeping the counts
KernelCounts stop_counting();  // unregisters them and returns the counts
void count_step();  // marks, for the counters (no-ops when not counting)
void count_run();

// Counts per step of one client (train_adapter, one batch per call, as the throughput figure)
// and of `clients` stacked clients (train_adapters_batched, one group).
struct StepCounts {
  int clients = 0;
  double launches_per_step = 0, host_syncs_per_step = 0, host_device_bytes_per_step = 0, host_syncs_per_run = 0;
};

struct BenchResult {
  std::string preset, runtime;  // runtime: Runtime::describe(); preset: the folder for --hf
  int B = 0, T = 0, steps = 0;
  double seconds = 0;          // wall time of the timed steps
  double tokens_per_s = 0;     // B*T / median step time
  double flops_per_token = 0;  // train_flops_per_token (formula, models/README.md)
  double gflops = 0;           // flops_per_token * tokens_per_s / 1e9
  int sgemm_n = 0;
  double sgemm_gflops = 0;  // 2 n^3 / median time of an n x n x n product through the same gemm path
  double ratio = 0;         // gflops / sgemm_gflops
  double base_mb = 0;       // the frozen base as stored (Model::base_bytes)
  double activations_mb = 0;  // one step's activations and scratch (Model::activation_bytes)
  double peak_rss_mb = 0;   // peak resident memory of the process (VmHWM)
  // Counted passes (not timed): one client's steps as timed above, and 1 and 16 clients stacked
  // (one sequence each of the preset's context) for the launches' independence of the stack.
  StepCounts one, stacked1, stacked16;
};


// Times train_adapter steps (forward + backward + AdamW, one client, LoRA defaults, dropout on)
// on batches of B sequences of the preset's full context, for at least min_seconds (and at
// least 3 steps) after one warm-up step; then measures the single-precision product rate at
// size sgemm_n on the same execution space and BLAS threads; then the counted passes.
BenchResult bench_model(const std::string& preset, int B, double min_seconds, int sgemm_n = 1024);
double measure_sgemm_gflops(int n, double min_seconds);

// The same for a Hugging Face folder (Model::load_hf with `hf`): B sequences of hf.max_seq
// random token ids, the second half of each the response (targets), LoRA `lora`.
BenchResult bench_model_hf(const std::string& dir, const HfOptions& hf, const LoraConfig& lora, int B,
                           double min_seconds, int sgemm_n = 1024);

// Memory of a federated round over `clients` clients (the 747 of Fed-ChatbotPA): the folder's
// base once, every client's adapter on the host, and one batched local step per client
// (train_adapters_batched: the adapter, gradient and AdamW rows of each group of clients,
// memory_mb the activation budget per group) on one sequence of hf.max_seq tokens.
struct ClientsBenchResult {
  int clients = 0;
  int64_t adapter_params = 0;      // per client
  double base_mb = 0;              // the frozen base as stored
  double host_adapters_mb = 0;     // clients x adapter on the host
  double seconds = 0;              // the batched step of all clients
  double load_seconds = 0;         // Model::load_hf
  double peak_rss_mb = 0;
};
ClientsBenchResult bench_clients_hf(const std::string& dir, const HfOptions& hf, const LoraConfig& lora, int clients,
                                    int64_t memory_mb);

}  // namespace fedsim::models
