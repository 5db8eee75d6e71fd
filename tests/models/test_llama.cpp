// The Llama-family decoder as a whole, per architecture: finite-difference gradients in double
// w.r.t. every adapter entry (all seven targets) and a sample of base entries, packed == padded,
// KV-cache logits == full forwards, a bf16 base == an fp32 base holding the same values, the
// FLOP count by hand, and the configuration errors.
#include <doctest/doctest.h>

#include <cmath>

#include "grad_util.hpp"
#include "llama_configs.hpp"
#include "models/decode.hpp"
#include "models/model.hpp"

using namespace fedsim::models;
using namespace fedsim::models::testing;

namespace {
Batch grad_batch() { return make_sft_batch({{"ab", "cde"}, {"x", "yz"}}, 8); }
}  // namespace

TEST_CASE("llama family gradcheck: LoRA on all seven targets, w.r.t. every adapter entry") {
  for (const Arch arch : kLlamaArchs) {
    INFO(std::string(arch_name(arch)));
    Net<D> net(small_llama(arch), all_llama_targets(0.0f), 1);
    fedsim::Rng rng(31);
    // Central differences of a loss near 5.5 with step 1e-5 carry about 5e-11 of rounding: the
    // floor keeps gradients of that size from counting as relative errors.
    const LoraGradcheck r = lora_gradcheck(net, grad_batch(), 3, rng, 1e-5);
    INFO("worst relative error " << r.worst);
    CHECK(r.worst < 1e-5);
    CHECK(r.nonzero > r.entries * 9 / 10);
  }
}

TEST_CASE("llama family gradcheck: full-parameter mode, every base tensor sampled") {
  for (const Arch arch : kLlamaArchs) {
    INFO(std::string(arch_name(arch)));
    LoraConfig l;
    l.dropout = 0.0f;
    Net<D> net(small_llama(arch), l, 1);
    fedsim::Rng rng(32);
    perturb_base(net, 4, rng);
    std::vector<D> base = net.get(net.base);
    net.enable_base_grad();
    net.set_batch(grad_batch());
    net.forward(-1, false, 0);
    net.backward(true);
    const std::vector<D> g = net.get(net.base_grad);
    std::vector<size_t> idx;  // the first and last 3 entries and every 11th of each tensor
    for (const Slot* s : net.bl.slots())
      for (int64_t j = 0; j < s->size(); ++j)
        if (j < 3 || j >= s->size() - 3 || j % 11 == 0) idx.push_back(static_cast<size_t>(s->off + j));
    const double worst = fd_worst(
        base, idx, g, [&](const std::vector<D>& x) { net.set(net.base, x); }, [&] { return net.forward(-1, false, 0); },
        1e-7);
    INFO("worst relative error " << worst << " over " << idx.size() << " entries");
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("llama family: packed batch equals padded (segments, dropout on all targets, base gradients)") {
  for (const Arch arch : kLlamaArchs) {
    INFO(std::string(arch_name(arch)));
    Net<D> net(small_llama(arch), all_llama_targets(0.25f), 2);
    fedsim::Rng rng(33);
    perturb_base(net, 5, rng);
    random_adapter(net, 0, rng);
    random_adapter(net, 1, rng);
    net.enable_base_grad();
    const Batch b = make_sft_batch({{"ab", "c"}, {"x", "yzuvw"}, {"", "q"}, {"mn", "op"}}, 8);
    const std::vector<Segment> segs{{0, 2, 11}, {1, 2, 22}};
    auto run = [&](bool pack, std::vector<double>& loss, std::vector<D>& g0, std::vector<D>& gb) {
      Kokkos::deep_copy(net.adapter_grads, D(0));
      Kokkos::deep_copy(net.base_grad, D(0));
      net.set_batch(b, pack);
      loss = net.forward_segments(segs, true);
      net.backward(true);
      g0 = net.get_row(net.adapter_grads, 0);
      gb = net.get(net.base_grad);
    };
    std::vector<double> l1, l2;
    std::vector<D> a1, a2, b1, b2;
    run(false, l1, a1, b1);
    run(true, l2, a2, b2);
    CHECK(net.n_rows() < 4 * 8);
    for (size_t i = 0; i < 2; ++i) CHECK(l2[i] == doctest::Approx(l1[i]).epsilon(1e-12));
    double d = 0, m = 0;
    for (size_t i = 0; i < a1.size(); ++i) d = std::max(d, std::fabs(a1[i] - a2[i])), m = std::max(m, std::fabs(a1[i]));
    for (size_t i = 0; i < b1.size(); ++i) d = std::max(d, std::fabs(b1[i] - b2[i])), m = std::max(m, std::fabs(b1[i]));
    CHECK(d / m < 1e-12);
  }
}

TEST_CASE("llama family: KV-cache decoding gives the logits of full forwards (double, adapter on)") {
  for (const Arch arch : kLlamaArchs) {
    INFO(std::string(arch_name(arch)));
    const ModelConfig c = small_llama(arch, 10);
    Net<D> net(c, all_llama_targets(0.0f), 1);
    fedsim::Rng rng(34);
    perturb_base(net, 6, rng);
    random_adapter(net, 0, rng);
    const double worst = kv_cache_error(net, 2, rng);
    INFO("worst normalised error " << worst);
    CHECK(worst <= 1.0);
  }
}

TEST_CASE("bf16 base: the same losses as an fp32 base holding the bf16 values; half the matrix bytes") {
  ModelConfig c16 = small_llama(Arch::qwen2, 16, 16, 24);
  c16.init_std = 0.3;
  ModelConfig c32 = c16;
  c16.base_dtype = BaseDtype::bf16;
  LoraConfig l = all_llama_targets(0.0f);
  Net<float> n16(c16, l, 1), n32(c32, l, 1);
  n16.init_base(7);
  const std::vector<const Slot*> s16 = n16.bl.slots(), s32 = n32.bl.slots();
  REQUIRE(s16.size() == s32.size());
  for (size_t i = 0; i < s16.size(); ++i) n32.set_tensor(*s32[i], n16.get_tensor(*s16[i]));
  CHECK(n16.base_host() == n32.base_host());
  CHECK(n16.bl.total_half > 0);
  CHECK(n16.bl.total + n16.bl.total_half == n32.bl.total);
  fedsim::Rng rng(35);
  std::vector<float> ad(n16.al.total);
  for (auto& x : ad) x = static_cast<float>(0.1 * (2 * rng.uniform() - 1));
  n16.set_row(n16.adapters, 0, ad);
  n32.set_row(n32.adapters, 0, ad);
  const Batch b = make_sft_batch({{"hello", "world"}, {"ab", "cd"}}, 16);
  n16.set_batch(b);
  n32.set_batch(b);
  const double l16 = n16.forward(0, false, 0), l32 = n32.forward(0, false, 0);
  CHECK(l16 == doctest::Approx(l32).epsilon(1e-6));
  n16.backward(false);
  n32.backward(false);
  const std::vector<float> g16 = n16.get_row(n16.adapter_grads, 0), g32 = n32.get_row(n32.adapter_grads, 0);
  double d = 0, m = 0;
  for (size_t i = 0; i < g16.size(); ++i) d = std::max(d, std::fabs(double(g16[i]) - g32[i])), m = std::max(m, std::fabs(double(g32[i])));
  CHECK(d / m < 1e-5);
}

TEST_CASE("llama family Model: fresh adapter leaves the base unchanged, training lowers the loss, FLOPs by hand") {
  ModelConfig c = small_llama(Arch::qwen3, 32, 16, 24);
  c.init_std = 0.5;  // a head that can reach large logits (0.02 caps them near 0.6 here)
  Model m(c, all_llama_targets(0.05f, 4), 1);
  const Batch b = make_sft_batch({{"name a fruit", "apple"}, {"name a colour", "blue"}}, 32);
  const std::vector<float> ad0 = m.init_adapter(2);
  CHECK(m.evaluate(&ad0, b).mean_loss == m.evaluate(nullptr, b).mean_loss);
  std::vector<float> ad = ad0;
  const TrainStats st = m.train_adapter(ad, std::vector<Batch>(40, b), 1e-2f, OptimConfig{}, 3);
  const EvalStats es = m.evaluate(&ad, b);
  CHECK(es.mean_loss < 0.5 * st.mean_loss);
  // KV-cache generation through Model::generate: greedy exact match equals the teacher-forced
  // accuracy (both ask whether every answer token is the argmax given the correct prefix).
  GenerateConfig g;
  g.max_new_tokens = 16;
  const std::vector<std::string> out = m.generate(&ad, {"name a fruit", "name a colour"}, g);
  CHECK(exact_match(out, {"apple", "blue"}) == es.accuracy);
  CHECK(es.accuracy > 0.0);
  // C=16, L=2, NH=4, NKV=2, hd=6: Q=24, KV=12; F=24; V=264; T=32; LoRA rank 4 on all seven.
  const double dense = 2.0 * (2 * (2 * 16 * 24 + 2 * 16 * 12 + 3 * 16 * 24) + 264 * 16);
  const double attn = 2 * 2.0 * 24 * 33;
  const double lora = 2 * 2.0 * 4 * ((16 + 24) + (16 + 12) + (16 + 12) + (24 + 16) + 3 * (16 + 24));
  CHECK(m.train_flops_per_token() == doctest::Approx(2 * dense + 3 * attn + 3 * lora).epsilon(1e-12));
  CHECK(m.n_adapter_params() == 2 * 4 * ((16 + 24) + (16 + 12) + (16 + 12) + (24 + 16) + 3 * (16 + 24)));
}

TEST_CASE("llama family config errors name the key, the value and what is accepted") {
  auto msg = [](ModelConfig c, LoraConfig l = LoraConfig{}) {
    try {
      Model m(c, l, 1);
    } catch (const fedsim::UserError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ModelConfig c = small_llama(Arch::llama);
  c.n_kv_heads = 3;
  CHECK(msg(c) == "num_key_value_heads: 3 is invalid; accepted: a divisor of num_attention_heads (4)");
  c = small_llama(Arch::qwen3);
  c.head_dim = 5;
  CHECK(msg(c) == "head_dim: 5 is invalid; accepted: an even integer >= 2 (rotary pairs)");
  c = small_llama(Arch::llama);
  c.rope.type = "yarn";
  CHECK(msg(c) == "rope_scaling.rope_type: 'yarn' is not supported; accepted: default, linear, llama3");
  c = small_llama(Arch::mistral);
  c.max_positions = 4;
  CHECK(msg(c) == "model.seq_len: 8 is invalid; accepted: at most the model's max_position_embeddings (4)");
  LoraConfig l;
  l.targets = {"mlp_gate"};
  CHECK(msg(preset_config("nano"), l) == "lora.targets: unknown target 'mlp_gate'; accepted: q, k, v, o, mlp_up, mlp_down");
  l.targets = {"q_proj", "q"};
  CHECK(msg(small_llama(Arch::qwen2), l).find("lora.targets: target 'q' listed twice") == 0);
}
