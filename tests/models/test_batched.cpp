// Batched local training (Model::train_adapters_batched): every client's result equals its own
// train_adapter run, whatever clients share the batch, for SFT and DPO, with dropout, FedProx,
// SCAFFOLD, per-client learning rates and unequal step counts; groups split by the activation
// budget give the same results; packing computes fewer rows than tokens.
//
// "Equals" is checked bit for bit with Products::portable (models/products.hpp), where every
// element of a dense product is the same sum whatever the product's shape, so the batched path
// (clients stacked, padding skipped) must reproduce each client's own run exactly: any
// difference is a bug in the batched bookkeeping, not rounding. With Products::blas the stacked
// products have other shapes than the per-client ones, and a BLAS may round those differently
// (tests/models/test_kernels.cpp bounds that per product); there these tests check that each
// mode is bit-reproducible and trains, not equality across modes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "llama_configs.hpp"
#include "models/model.hpp"

using namespace fedsim::models;

namespace {
// max |a - b| / max |b|
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::fmax(d, std::fabs(double(a[i]) - b[i]));
    m = std::fmax(m, std::fabs(double(b[i])));
  }
  return m > 0 ? d / m : d;
}

Batch client_batch(int client, int step, int B, int T) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int b = 0; b < B; ++b) {
    const int k = client * 131 + step * 17 + b;
    pairs.push_back({"question " + std::to_string(k % 23) + " from " + std::to_string(client),
                     "answer " + std::string(1 + k % 5, static_cast<char>('a' + k % 26))});
  }
  return make_sft_batch(pairs, T);
}
DpoBatch client_dpo(int client, int step, int B, int T) {
  std::vector<std::tuple<std::string, std::string, std::string>> t;
  for (int b = 0; b < B; ++b) {
    const int k = client * 37 + step * 11 + b;
    t.emplace_back("pick " + std::to_string(k % 13), "yes " + std::to_string(k % 7), "no " + std::to_string(k % 3));
  }
  return make_dpo_batch(t, T);
}

struct Clients {
  std::vector<std::vector<float>> start, anchor, corr;
  std::vector<float> lrs;
  std::vector<uint64_t> seeds;
  std::vector<LocalHooks> hooks;
};

// K clients with their own starts, steps K-dependent (so some drop out early), lr, hooks.
Clients make_clients(const Model& m, int K, bool prox, bool scaffold) {
  Clients c;
  c.start.resize(K);
  c.anchor.resize(K);
  c.corr.resize(K);
  for (int k = 0; k < K; ++k) {
    c.start[k] = m.init_adapter(100 + k);
    c.anchor[k] = m.init_adapter(200 + k);
    c.corr[k].assign(c.start[k].size(), 0.0f);
    for (size_t i = 0; i < c.corr[k].size(); ++i) c.corr[k][i] = 1e-3f * static_cast<float>((i * 7 + k) % 11) - 5e-3f;
    c.lrs.push_back(1e-3f * static_cast<float>(1 + k));
    c.seeds.push_back(0xabcULL + static_cast<uint64_t>(k));
  }
  for (int k = 0; k < K; ++k) {
    LocalHooks h;
    if (prox) {
      h.prox_mu = 0.5f;
      h.prox_anchor = &c.anchor[k];
    }
    if (scaffold) h.scaffold_correction = &c.corr[k];
    c.hooks.push_back(h);
  }
  return c;
}
int steps_of(int k) { return 1 + (k * 2) % 4; }  // 1, 3, 1, 3, ... and 2-step clients below

// exact: the current products are portable, so batched (packed or padded) must equal
// sequential bit for bit; otherwise only each mode's own reproducibility is asserted.
void check_sft_with(const ModelConfig& cfg, const LoraConfig& lora, bool prox, bool scaffold, int64_t mib, bool exact) {
  Model m(cfg, lora, 5);
  const int K = 5, B = 3, T = cfg.max_seq;
  Clients c = make_clients(m, K, prox, scaffold);
  std::vector<std::vector<Batch>> batches(K);
  for (int k = 0; k < K; ++k)
    for (int s = 0; s < steps_of(k) + (k == 4); ++s) batches[k].push_back(client_batch(k, s, B + (k % 2), T));
  OptimConfig opt;
  opt.weight_decay = 0.01f;
  opt.grad_clip = 0.5f;
  std::vector<std::vector<float>> seq = c.start, bat = c.start;
  std::vector<TrainStats> seq_st;
  for (int k = 0; k < K; ++k) seq_st.push_back(m.train_adapter(seq[k], batches[k], c.lrs[k], opt, c.seeds[k], c.hooks[k]));
  std::vector<std::vector<float>*> ptrs;
  for (auto& a : bat) ptrs.push_back(&a);
  const std::vector<TrainStats> bat_st = m.train_adapters_batched(ptrs, batches, c.lrs, opt, c.seeds, c.hooks, {true, mib});
  REQUIRE(bat_st.size() == size_t(K));
  for (int k = 0; k < K; ++k) {
    CAPTURE(k);
    CHECK(rel_diff(bat[k], c.start[k]) > 1e-4);  // it trained
    CHECK(bat_st[k].steps == seq_st[k].steps);
    CHECK(bat_st[k].tokens == seq_st[k].tokens);
    if (exact) {
      CHECK(bat[k] == seq[k]);
      CHECK(bat_st[k].mean_loss == seq_st[k].mean_loss);
    }
  }
  // Packing skipped the padding (every client has a sequence shorter than the context).
  for (int k = 0; k < K; ++k) {
    CHECK(seq_st[k].rows == seq_st[k].tokens);
    CHECK(bat_st[k].rows > 0);
    CHECK(bat_st[k].rows < seq_st[k].tokens);
  }
  // Padded rows: the per-client computation with the clients stacked.
  std::vector<std::vector<float>> padded = c.start;
  std::vector<std::vector<float>*> pp;
  for (auto& a : padded) pp.push_back(&a);
  const auto pad_st = m.train_adapters_batched(pp, batches, c.lrs, opt, c.seeds, c.hooks, {false, mib});
  for (int k = 0; k < K; ++k) {
    CHECK(pad_st[k].rows == seq_st[k].tokens);
    if (exact) {
      CHECK(padded[k] == seq[k]);
      CHECK(pad_st[k].mean_loss == seq_st[k].mean_loss);
    }
  }
  // Bit-reproducible in every mode, and independent of the group (exactly with portable products).
  std::vector<std::vector<float>> again = c.start;
  std::vector<std::vector<float>*> p2;
  for (auto& a : again) p2.push_back(&a);
  m.train_adapters_batched(p2, batches, c.lrs, opt, c.seeds, c.hooks, {true, mib});
  for (int k = 0; k < K; ++k) CHECK(again[k] == bat[k]);
  std::vector<float> alone = c.start[2], other = c.start[4];
  m.train_adapters_batched({&other, &alone}, {batches[4], batches[2]}, {c.lrs[4], c.lrs[2]}, opt,
                           {c.seeds[4], c.seeds[2]}, {c.hooks[4], c.hooks[2]});
  if (exact) {
    CHECK(alone == seq[2]);
    CHECK(other == seq[4]);
  }
}

void check_sft(const ModelConfig& cfg, const LoraConfig& lora, bool prox, bool scaffold, int64_t mib = 1024) {
  for (Products p : {Products::portable, Products::blas}) {
    CAPTURE(products_identity());
    const ProductsScope scope(p);
    check_sft_with(cfg, lora, prox, scaffold, mib, p == Products::portable);
  }
}
}  // namespace

TEST_CASE("batched training equals per-client training: SFT, dropout, clipping, unequal steps") {
  LoraConfig lora;
  lora.targets = {"q", "k", "v", "o", "mlp_up", "mlp_down"};
  check_sft(preset_config("nano"), lora, false, false);
}

TEST_CASE("batched training equals per-client training: FedProx and SCAFFOLD hooks") {
  check_sft(preset_config("nano"), LoraConfig{}, true, false);
  check_sft(preset_config("nano"), LoraConfig{}, false, true);
}

TEST_CASE("batched training: a small activation budget splits clients into groups, same results") {
  check_sft(preset_config("nano"), LoraConfig{}, false, false, 1);  // nano: one client's step already fills 1 MiB
}

// The same for the Llama family (GQA, SwiGLU, RoPE; LoRA on all seven PEFT modules).
TEST_CASE("batched training equals per-client training: Llama family, SFT with FedProx and SCAFFOLD") {
  using namespace fedsim::models::testing;
  for (const Arch arch : {Arch::llama, Arch::qwen3}) {
    INFO(std::string(arch_name(arch)));
    const ModelConfig c = small_llama(arch, 32, 16, 24);
    check_sft(c, all_llama_targets(0.05f), false, false);
    check_sft(c, LoraConfig{}, true, true);
  }
}

namespace {
void check_dpo(const ModelConfig& cfg) {
  for (Products p : {Products::portable, Products::blas}) {
    CAPTURE(products_identity());
    const ProductsScope scope(p);
    const bool exact = p == Products::portable;
    Model m(cfg, LoraConfig{}, 6);
    const int K = 3, T = 32;
    Clients c = make_clients(m, K, true, false);
    std::vector<std::vector<DpoBatch>> batches(K);
    for (int k = 0; k < K; ++k)
      for (int s = 0; s < 1 + k; ++s) batches[k].push_back(client_dpo(k, s, 2 + k % 2, T));
    OptimConfig opt;
    std::vector<std::vector<float>> seq = c.start, bat = c.start, again = c.start;
    std::vector<TrainStats> seq_st;
    for (int k = 0; k < K; ++k)
      seq_st.push_back(m.train_adapter_dpo(seq[k], batches[k], c.lrs[k], opt, c.seeds[k], 0.2f, c.hooks[k]));
    std::vector<std::vector<float>*> ptrs, p2;
    for (auto& a : bat) ptrs.push_back(&a);
    for (auto& a : again) p2.push_back(&a);
    const auto bat_st = m.train_adapters_dpo_batched(ptrs, batches, c.lrs, opt, c.seeds, 0.2f, c.hooks);
    m.train_adapters_dpo_batched(p2, batches, c.lrs, opt, c.seeds, 0.2f, c.hooks);
    for (int k = 0; k < K; ++k) {
      CAPTURE(k);
      CHECK(rel_diff(bat[k], c.start[k]) > 1e-4);
      CHECK(again[k] == bat[k]);
      CHECK(bat_st[k].tokens == seq_st[k].tokens);
      CHECK(bat_st[k].rows < seq_st[k].tokens);
      if (exact) {
        CHECK(bat[k] == seq[k]);
        CHECK(bat_st[k].mean_loss == seq_st[k].mean_loss);
      }
    }
    std::vector<std::vector<float>> padded = c.start;
    std::vector<std::vector<float>*> pp;
    for (auto& a : padded) pp.push_back(&a);
    m.train_adapters_dpo_batched(pp, batches, c.lrs, opt, c.seeds, 0.2f, c.hooks, {false, 1024});
    if (exact)
      for (int k = 0; k < K; ++k) CHECK(padded[k] == seq[k]);
  }
}
}  // namespace

TEST_CASE("batched DPO training equals per-client DPO training") {
  check_dpo(preset_config("nano"));
  check_dpo(fedsim::models::testing::small_llama(Arch::qwen2, 32, 16, 24));
}

TEST_CASE("batched training: mixed contexts and empty step lists fall back to one client at a time") {
  Model m(preset_config("nano"), LoraConfig{}, 7);
  std::vector<float> a = m.init_adapter(1), b = m.init_adapter(2), c = m.init_adapter(3);
  const std::vector<float> a0 = a, c0 = c;
  std::vector<std::vector<Batch>> batches = {{client_batch(0, 0, 2, 32)}, {client_batch(1, 0, 2, 16)}, {}};
  const auto st = m.train_adapters_batched({&a, &b, &c}, batches, {1e-3f, 1e-3f, 1e-3f}, OptimConfig{}, {1, 2, 3},
                                           {LocalHooks{}, LocalHooks{}, LocalHooks{}});
  std::vector<float> ref = a0;
  m.train_adapter(ref, batches[0], 1e-3f, OptimConfig{}, 1);
  CHECK(a == ref);
  CHECK(c == c0);
  CHECK(st[2].steps == 0);
}
