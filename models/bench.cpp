// `fedsim bench model`: training throughput against this machine's sgemm rate.
#include "models/bench.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

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

BenchResult bench_model(const std::string& preset, int B, double min_seconds, int sgemm_n) {
  const ModelConfig cfg = preset_config(preset);
  Model m(cfg, LoraConfig{}, 1);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int b = 0; b < B; ++b)  // prompt in the first half, response fills the rest
    pairs.push_back({"instruction " + std::to_string(b) + std::string(cfg.max_seq / 2, 'x'),
                     std::string(cfg.max_seq, static_cast<char>('a' + b % 26))});
  const Batch batch = make_sft_batch(pairs, cfg.max_seq);
  std::vector<float> ad = m.init_adapter(1);
  m.train_adapter(ad, {batch}, 1e-4f, OptimConfig{}, 1);  // warm-up: buffers allocated
  BenchResult r;
  r.preset = preset;
  r.runtime = Runtime::describe();
  r.B = B;
  r.T = cfg.max_seq;
  std::vector<double> times;
  const double t0 = now_s();
  do {
    const double t = now_s();
    m.train_adapter(ad, {batch}, 1e-4f, OptimConfig{}, 2 + r.steps);
    times.push_back(now_s() - t);
    ++r.steps;
    r.seconds = now_s() - t0;
  } while (r.seconds < min_seconds || r.steps < 3);
  r.tokens_per_s = double(B) * r.T / median(times);
  r.flops_per_token = m.train_flops_per_token();
  r.gflops = r.flops_per_token * r.tokens_per_s * 1e-9;
  r.sgemm_n = sgemm_n;
  r.sgemm_gflops = measure_sgemm_gflops(sgemm_n, std::min(1.0, min_seconds));
  r.ratio = r.sgemm_gflops > 0 ? r.gflops / r.sgemm_gflops : 0.0;
  return r;
}

}  // namespace fedsim::models
