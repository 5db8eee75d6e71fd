// The launch and sync budget of local training (issue 18), counted with Kokkos's profiling
// callbacks (models/bench.hpp): a step's kernel launches do not depend on how many clients are
// stacked or how many sequences each brings, and a client run blocks on the host once (its
// adapters and loss sums read back together). Counts, not times: exact on every backend.
#include <doctest/doctest.h>

#include <string>

#include "models/bench.hpp"
#include "models/model.hpp"
#include "models/products.hpp"

using namespace fedsim::models;

namespace {
// Client k's batch of step s: B sequences whose answers differ in length (packing cuts each).
Batch counted_batch(int k, int s, int B) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int b = 0; b < B; ++b)
    pairs.push_back({"q" + std::to_string(k + b), std::string(size_t(1 + (k * 7 + s * 3 + b) % 9), char('a' + b))});
  return make_sft_batch(pairs, 24);
}

// Counts of the second of two identical batched calls (the first sizes the buffers) of K clients,
// 2 steps of B sequences each.
KernelCounts count_batched(Model& m, int K, int B) {
  std::vector<std::vector<float>> ads(size_t(K), m.init_adapter(5));
  std::vector<std::vector<Batch>> batches(static_cast<size_t>(K));
  for (int k = 0; k < K; ++k) batches[size_t(k)] = {counted_batch(k, 0, B), counted_batch(k, 1, B)};
  auto train = [&] {
    std::vector<std::vector<float>*> ptrs;
    for (auto& a : ads) ptrs.push_back(&a);
    m.train_adapters_batched(ptrs, batches, std::vector<float>(size_t(K), 1e-3f), OptimConfig{},
                             std::vector<uint64_t>(size_t(K), 9), std::vector<LocalHooks>(size_t(K)),
                             BatchOptions{true, int64_t(1) << 20});
  };
  train();
  start_counting();
  train();
  return stop_counting();
}
}  // namespace

TEST_CASE("launches per step do not grow with stacked clients or sequences; one blocking sync per run") {
  for (const Products p : {Products::portable, Products::blas}) {
    ProductsScope scope(p);
    const std::string arch_name = p == Products::portable ? "portable" : "blas";
    CAPTURE(arch_name);
    Model m(preset_config("nano"), LoraConfig{4, 8.0f, 0.1f, {"q", "k", "v", "o", "mlp_up", "mlp_down"}}, 3);
    const KernelCounts one = count_batched(m, 1, 1);
    CHECK(one.steps == 2);
    CHECK(one.runs == 1);
    CHECK(one.launches > 0);
    CHECK(one.syncs() == 1);  // the run's one read
    CHECK(one.reads == 1);
    CHECK(one.allocations == 0);  // the first call sized every buffer (a free fences a GPU)
    for (const int K : {3, 8})
      for (const int B : {1, 3}) {
        CAPTURE(K);
        CAPTURE(B);
        const KernelCounts c = count_batched(m, K, B);
        CHECK(c.steps == 2);
        CHECK(c.runs == 1);
        CHECK(c.launches == one.launches);
        CHECK(c.device_copies == one.device_copies);
        CHECK(c.syncs() == 1);
        CHECK(c.reads == 1);
        CHECK(c.allocations == 0);
      }
  }
}
