// `fedsim bench model`: training throughput against this machine's sgemm rate, and the memory
// of a many-client round on a Hugging Face folder.
#include "models/bench.hpp"
#include "models/text/batch.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/memory.hpp"
#include "common/rng.hpp"
#include "models/kernels/gemm.hpp"
#include "models/model.hpp"

namespace fedsim::models {

namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// The median of repeated timings: a shared machine's load spikes move the mean, not the median.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
}  // namespace

double measure_sgemm_gflops(int n, double min_seconds) {
  FEDSIM_ASSERT(n >= 1);
  ExecSpace exec;
  Mat<float> a(Kokkos::view_alloc(exec, "fedsim::models::bench_a"), n, n);
  Mat<float> b(Kokkos::view_alloc(exec, "fedsim::models::bench_b"), n, n);
  Mat<float> c(Kokkos::view_alloc(exec, "fedsim::models::bench_c"), n, n);
  Kokkos::parallel_for(
      "fedsim::models::bench_fill", range(exec, int64_t(n) * n), KOKKOS_LAMBDA(const int64_t i) {
        a.data()[i] = static_cast<float>(dmix64(uint64_t(i)) >> 40) * 0x1.0p-24f - 0.5f;
        b.data()[i] = static_cast<float>(dmix64(uint64_t(i) + 7) >> 40) * 0x1.0p-24f - 0.5f;
      });
  auto run = [&] {
    gemm(exec, 'N', 'N', 1.0f, a, b, 0.0f, c);
    exec.fence();
  };
  run();  // warm-up: BLAS buffers, page faults
  std::vector<double> times;
  const double t0 = now_s();
  do {
    const double t = now_s();
    run();
    times.push_back(now_s() - t);
  } while (now_s() - t0 < min_seconds || times.size() < 3);
  return 2.0 * double(n) * n * n / median(times) * 1e-9;
}

namespace {
// Times train_adapter steps on `batch` for at least min_seconds (and 3 steps) after one warm-up
// step; fills the rates of r, then the sgemm rate on the same execution space and threads.
void time_steps(Model& m, const Batch& batch, double min_seconds, int sgemm_n, BenchResult& r) {
  std::vector<float> ad = m.init_adapter(1);
  m.train_adapter(ad, {batch}, 1e-4f, OptimConfig{}, 1);  // warm-up: buffers allocated
  r.runtime = Runtime::describe();
  r.B = batch.B;
  r.T = batch.T;
  std::vector<double> times;
  const double t0 = now_s();
  do {
    const double t = now_s();
    m.train_adapter(ad, {batch}, 1e-4f, OptimConfig{}, 2 + r.steps);
    times.push_back(now_s() - t);
    ++r.steps;
    r.seconds = now_s() - t0;
  } while (r.seconds < min_seconds || r.steps < 3);
  r.tokens_per_s = double(batch.B) * r.T / median(times);
  r.flops_per_token = m.train_flops_per_token();
  r.gflops = r.flops_per_token * r.tokens_per_s * 1e-9;
  r.sgemm_n = sgemm_n;
  r.sgemm_gflops = measure_sgemm_gflops(sgemm_n, std::min(1.0, min_seconds));
  r.ratio = r.sgemm_gflops > 0 ? r.gflops / r.sgemm_gflops : 0.0;
  r.base_mb = double(m.base_bytes()) / (1 << 20);
  r.activations_mb = double(m.activation_bytes(batch.B, batch.T)) / (1 << 20);
  r.peak_rss_mb = peak_rss_mb();
}

StepCounts per_step(const KernelCounts& k, int clients) {
  StepCounts c;
  c.clients = clients;
  const double steps = double(std::max<int64_t>(k.steps, 1)), runs = double(std::max<int64_t>(k.runs, 1));
  c.launches_per_step = double(k.launches + k.device_copies) / steps;
  c.host_syncs_per_step = double(k.syncs()) / steps;
  c.host_device_bytes_per_step = double(k.bytes) / steps;
  c.host_syncs_per_run = double(k.syncs()) / runs;
  return c;
}

// Counted (untimed) passes: 3 calls of train_adapter on `batch` (a run of one step each), and
// one train_adapters_batched call of `clients` clients with 2 steps of one sequence each, after
// an uncounted one that sizes the buffers (the steady state of a federated run).
void count_passes(Model& m, const Batch& batch, BenchResult& r) {
  std::vector<float> ad = m.init_adapter(1);
  start_counting();
  for (int i = 0; i < 3; ++i) m.train_adapter(ad, {batch}, 1e-4f, OptimConfig{}, uint64_t(10 + i));
  r.one = per_step(stop_counting(), 1);
  const int T = std::min(64, batch.T);
  Batch one;  // the first sequence of the batch, cut to T
  one.B = 1;
  one.T = T;
  one.inputs.assign(batch.inputs.begin(), batch.inputs.begin() + T);
  one.targets.assign(batch.targets.begin(), batch.targets.begin() + T);
  for (int t = 0; t < T; ++t) one.targets[size_t(t)] = batch.inputs[size_t((t + 1) % T)];  // all targets
  for (const int clients : {1, 16}) {
    std::vector<std::vector<float>> ads(size_t(clients), m.init_adapter(2));
    std::vector<std::vector<float>*> ptrs;
    for (auto& a : ads) ptrs.push_back(&a);
    const std::vector<std::vector<Batch>> batches(size_t(clients), std::vector<Batch>{one, one});
    auto train = [&] {
      m.train_adapters_batched(ptrs, batches, std::vector<float>(size_t(clients), 1e-4f), OptimConfig{},
                               std::vector<uint64_t>(size_t(clients), 3), std::vector<LocalHooks>(size_t(clients)),
                               BatchOptions{true, int64_t(1) << 20});
    };
    train();  // uncounted: grows the buffers to this stack (one-time allocations and their fills)
    start_counting();
    train();
    (clients == 1 ? r.stacked1 : r.stacked16) = per_step(stop_counting(), clients);
  }
}

// B sequences of T random ids below V: the first half prompt, the second half response.
Batch random_batch(int B, int T, int V, uint64_t seed) {
  Batch b;
  b.B = B;
  b.T = T;
  Rng rng(seed, 0, 0, Purpose::batch_draw);
  for (int i = 0; i < B * T; ++i) b.inputs.push_back(static_cast<int32_t>(rng.below(uint64_t(V))));
  for (int i = 0; i < B; ++i)
    for (int t = 0; t < T; ++t)
      b.targets.push_back(t >= T / 2 && t + 1 < T ? b.inputs[size_t(i) * T + t + 1] : (t + 1 == T ? 0 : -1));
  return b;
}
}  // namespace

BenchResult bench_model(const std::string& preset, int B, double min_seconds, int sgemm_n) {
  const ModelConfig cfg = preset_config(preset);
  Model m(cfg, LoraConfig{}, 1);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int b = 0; b < B; ++b)  // prompt in the first half, response fills the rest
    pairs.push_back({"instruction " + std::to_string(b) + std::string(cfg.max_seq / 2, 'x'),
                     std::string(cfg.max_seq, static_cast<char>('a' + b % 26))});
  BenchResult r;
  r.preset = preset;
  const Batch batch = make_sft_batch(m.tokenizer(), m.chat_template(), pairs, cfg.max_seq);
  time_steps(m, batch, min_seconds, sgemm_n, r);
  count_passes(m, batch, r);
  return r;
}

BenchResult bench_model_hf(const std::string& dir, const HfOptions& hf, const LoraConfig& lora, int B,
                           double min_seconds, int sgemm_n) {
  Model m = Model::load_hf(dir, lora, hf);
  BenchResult r;
  r.preset = dir;
  const Batch batch = random_batch(B, m.config().max_seq, m.config().vocab_size, 1);
  time_steps(m, batch, min_seconds, sgemm_n, r);
  count_passes(m, batch, r);
  return r;
}

ClientsBenchResult bench_clients_hf(const std::string& dir, const HfOptions& hf, const LoraConfig& lora, int clients,
                                    int64_t memory_mb) {
  FEDSIM_ASSERT(clients >= 1);
  ClientsBenchResult r;
  r.clients = clients;
  double t0 = now_s();
  Model m = Model::load_hf(dir, lora, hf);
  r.load_seconds = now_s() - t0;
  r.base_mb = double(m.base_bytes()) / (1 << 20);
  r.adapter_params = m.n_adapter_params();
  std::vector<std::vector<float>> adapters;
  std::vector<std::vector<float>*> ptrs;
  std::vector<std::vector<Batch>> batches;
  for (int k = 0; k < clients; ++k) {
    adapters.push_back(m.init_adapter(uint64_t(k) + 1));
    batches.push_back({random_batch(1, m.config().max_seq, m.config().vocab_size, uint64_t(k) + 1)});
  }
  for (auto& a : adapters) ptrs.push_back(&a);
  r.host_adapters_mb = double(clients) * double(r.adapter_params) * sizeof(float) / (1 << 20);
  t0 = now_s();
  m.train_adapters_batched(ptrs, batches, std::vector<float>(size_t(clients), 1e-4f), OptimConfig{},
                           std::vector<uint64_t>(size_t(clients), 1), std::vector<LocalHooks>(size_t(clients)),
                           BatchOptions{true, memory_mb});
  r.seconds = now_s() - t0;
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

}  // namespace fedsim::models
