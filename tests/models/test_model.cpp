// Model-level behaviour: LoRA identity at init, frozen base, overfitting, determinism,
// evaluation and checkpoints.
#include <doctest/doctest.h>

#include <cstdio>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "models/model.hpp"

using namespace fedsim::models;

namespace {
std::vector<std::pair<std::string, std::string>> sample_pairs() {
  return {{"add 2 3", "5"}, {"capital of France", "Paris"}, {"reverse abc", "cba"}, {"héllo", "wörld ✓"}};
}
Batch nano_batch() { return make_sft_batch(sample_pairs(), 32); }
LoraConfig lora_cfg(float dropout = 0.0f) {
  LoraConfig l;
  l.rank = 8;
  l.alpha = 16;
  l.dropout = dropout;
  return l;
}
}  // namespace

TEST_CASE("fresh adapter gives exactly the base loss; adapter training leaves the base bit-identical") {
  Model m(preset_config("nano"), lora_cfg(0.1f), 7);
  const Batch b = nano_batch();
  std::vector<float> ad = m.init_adapter(3);
  REQUIRE(static_cast<int64_t>(ad.size()) == m.n_adapter_params());
  const EvalStats base = m.evaluate(nullptr, b);
  const EvalStats fresh = m.evaluate(&ad, b);
  CHECK(base.mean_loss == fresh.mean_loss);  // B = 0: the LoRA branch adds exact zeros
  CHECK(base.mean_loss > 4.0);               // ~ln(264) = 5.58 at init
  CHECK(base.mean_loss < 7.0);
  const std::vector<float> w0 = m.base_weights();
  OptimConfig opt;
  const TrainStats st = m.train_adapter(ad, {b, b, b}, 1e-2f, opt, 11);
  CHECK(st.steps == 3);
  CHECK(st.tokens == 3 * 4 * 32);
  CHECK(m.base_weights() == w0);
  CHECK(m.evaluate(nullptr, b).mean_loss == base.mean_loss);
  CHECK(m.evaluate(&ad, b).mean_loss != base.mean_loss);
}

// A random base cannot be fitted through q/v adapters alone: the tied head and the final
// LayerNorm are frozen and the N(0, 0.02) embeddings bound the logits to about +-0.6. So the
// base is first pretrained (full-parameter) on other pairs, as a real base would be.
TEST_CASE("overfit one batch with LoRA only (rank 8, lr 1e-2, all targets): loss < 1.0 within 150 steps") {
  LoraConfig l = lora_cfg(0.0f);
  l.targets = {"q", "k", "v", "o", "mlp_up", "mlp_down"};
  Model m(preset_config("nano"), l, 1);
  // Pretraining pairs: the same responses under other instructions, so every response byte has
  // a trained embedding but the instruction -> response map is new to the adapter.
  auto rotated = sample_pairs();
  for (size_t i = 0; i < rotated.size(); ++i) rotated[i].second = sample_pairs()[(i + 1) % rotated.size()].second;
  const Batch pre = make_sft_batch(rotated, 32);
  for (int s = 0; s < 100; ++s) m.train_base_step(pre, 3e-3f, OptimConfig{});
  const std::vector<float> w0 = m.base_weights();
  const Batch b = nano_batch();
  std::vector<float> ad = m.init_adapter(2);
  const double before = m.evaluate(&ad, b).mean_loss;
  OptimConfig opt;
  m.train_adapter(ad, std::vector<Batch>(150, b), 1e-2f, opt, 5);
  const EvalStats after = m.evaluate(&ad, b);
  MESSAGE("LoRA overfit: " << before << " -> " << after.mean_loss << " accuracy " << after.accuracy);
  CHECK(after.mean_loss < 1.0);
  CHECK(after.mean_loss < before);
  CHECK(m.base_weights() == w0);
}

TEST_CASE("overfit one batch in full-parameter mode: loss < 0.5 within 100 steps, accuracy 1") {
  Model m(preset_config("nano"), lora_cfg(), 1);
  const Batch b = nano_batch();
  OptimConfig opt;
  double first = 0;
  for (int s = 0; s < 100; ++s) {
    const double loss = m.train_base_step(b, 3e-3f, opt);
    if (s == 0) first = loss;
  }
  const EvalStats e = m.evaluate(nullptr, b);
  MESSAGE("full overfit: " << first << " -> " << e.mean_loss << " accuracy " << e.accuracy);
  CHECK(e.mean_loss < 0.5);
  CHECK(e.accuracy == 1.0);
  CHECK(e.sequences == 4);
}

TEST_CASE("determinism: same seeds give bit-identical weights, adapters and losses") {
  const Batch b = nano_batch();
  std::vector<float> ads[2];
  double losses[2];
  std::vector<float> w[2];
  for (int r = 0; r < 2; ++r) {
    Model m(preset_config("nano"), lora_cfg(0.1f), 42);
    w[r] = m.base_weights();
    ads[r] = m.init_adapter(9);
    losses[r] = m.train_adapter(ads[r], {b, b, b, b}, 5e-3f, OptimConfig{}, 77).mean_loss;
  }
  CHECK(w[0] == w[1]);
  CHECK(ads[0] == ads[1]);
  CHECK(losses[0] == losses[1]);
  // A different dropout seed changes the result (the masks are really used).
  Model m(preset_config("nano"), lora_cfg(0.1f), 42);
  std::vector<float> other = m.init_adapter(9);
  m.train_adapter(other, {b, b, b, b}, 5e-3f, OptimConfig{}, 78);
  CHECK(other != ads[0]);
  // A different model seed changes the weights.
  CHECK(Model(preset_config("nano"), lora_cfg(), 43).base_weights() != w[0]);
}

TEST_CASE("evaluate: sequences without targets are not correct; const and repeatable") {
  Model m(preset_config("nano"), lora_cfg(), 1);
  Batch b = make_sft_batch({{"abcdefghijklmnopqrstuvwxyz0123456789", "x"}}, 32);  // truncated: no target
  const EvalStats e = m.evaluate(nullptr, b);
  CHECK(e.accuracy == 0.0);
  CHECK(e.mean_loss == 0.0);
  CHECK(e.sequences == 1);
  const Batch nb = nano_batch();
  CHECK(m.evaluate(nullptr, nb).mean_loss == m.evaluate(nullptr, nb).mean_loss);
}

TEST_CASE("checkpoint: save/load round-trip is bit-exact; other format_version is a UserError") {
  const std::string path = "test_models_ckpt.h5";
  Model m(preset_config("nano"), lora_cfg(), 5);
  const Batch b = nano_batch();
  m.train_base_step(b, 1e-3f, OptimConfig{});  // weights no longer the seed's
  m.save(path);
  const Model r = Model::load(path, lora_cfg());
  CHECK(r.base_weights() == m.base_weights());
  CHECK(r.config().preset == "nano");
  CHECK(r.config().d_ff == 128);
  CHECK(r.evaluate(nullptr, b).mean_loss == m.evaluate(nullptr, b).mean_loss);

  const std::string bad = "test_models_ckpt_v2.h5";
  {
    fedsim::h5::AtomicFile af(bad);
    fedsim::h5::set_format(af.root(), kCheckpointKind, kCheckpointFormatVersion + 1);
    af.commit();
  }
  try {
    Model::load(bad, lora_cfg());
    FAIL("no error");
  } catch (const fedsim::UserError& e) {
    CHECK(std::string(e.what()).find("format_version") != std::string::npos);
  }
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

TEST_CASE("model is movable and reports sizes and FLOPs") {
  Model a(preset_config("tiny"), LoraConfig{}, 1);
  const int64_t nb = a.n_base_params();
  // tiny: V*C + T*C + L*(12C^2 + 2CF + 13C... ) computed independently:
  const int64_t C = 64, F = 256, L = 2, V = 264, T = 64;
  CHECK(nb == V * C + T * C + L * (4 * C * C + 2 * C * F + 4 * C + 4 * C + F + C) + 2 * C);
  CHECK(a.n_adapter_params() == L * 2 * (8 * C + C * 8));
  Model b = std::move(a);
  CHECK(b.n_base_params() == nb);
  CHECK(b.train_flops_per_token() > 6.0 * 0.0 + 2.0 * (L * (4 * C * C + 2 * C * F) + V * C));
}

TEST_CASE("checkpoint: adapters and the full-parameter optimizer state round-trip bit-exact") {
  const std::string path = "test_models_ckpt_adapters.h5";
  Model m(preset_config("nano"), lora_cfg(), 5);
  const Batch b = nano_batch();
  m.train_base_step(b, 1e-3f, OptimConfig{});
  m.train_base_step(b, 1e-3f, OptimConfig{});
  std::vector<float> a0 = m.init_adapter(1), a1 = m.init_adapter(2);
  m.train_adapter(a1, {b}, 1e-2f, OptimConfig{}, 3);  // B nonzero
  m.save(path, {{"global", a0}, {"client 7", a1}});
  Model r = Model::load(path, lora_cfg());
  const Model::NamedAdapters ads = r.load_adapters(path);
  REQUIRE(ads.size() == 2);
  CHECK(ads[0].first == "global");
  CHECK(ads[1].first == "client 7");
  CHECK(ads[0].second == a0);
  CHECK(ads[1].second == a1);
  // Resuming pretraining from the file equals continuing in memory (moments and step count).
  CHECK(r.train_base_step(b, 1e-3f, OptimConfig{}) == m.train_base_step(b, 1e-3f, OptimConfig{}));
  CHECK(r.base_weights() == m.base_weights());
  // Another LoRA layout cannot take these adapters.
  LoraConfig other = lora_cfg();
  other.rank = 4;
  const Model o = Model::load(path, other);
  try {
    o.load_adapters(path);
    FAIL("no error");
  } catch (const fedsim::UserError& e) {
    CHECK(std::string(e.what()).find("rank 8") != std::string::npos);
  }
  std::remove(path.c_str());
}

TEST_CASE("preset fields can be overridden: sizes follow the overrides and the model trains") {
  ModelConfig c = preset_config("small");
  c.max_seq = 16;
  c.d_model = 24;
  c.n_layers = 1;
  c.n_heads = 3;
  c.d_ff = 40;
  Model m(c, lora_cfg(), 2);
  CHECK(m.config().preset == "small");
  CHECK(m.n_base_params() == 264 * 24 + 16 * 24 + (4 * 24 * 24 + 2 * 24 * 40 + 8 * 24 + 40 + 24) + 2 * 24);
  const Batch b = make_sft_batch({{"ab", "cd"}}, 16);
  const double first = m.train_base_step(b, 1e-2f, OptimConfig{});
  double last = first;
  for (int s = 0; s < 20; ++s) last = m.train_base_step(b, 1e-2f, OptimConfig{});
  CHECK(last < first - 0.5);
  c.n_heads = 5;  // 24 % 5 != 0
  CHECK_THROWS_AS(Model(c, lora_cfg(), 2), fedsim::UserError);
}
