// FedProx / SCAFFOLD hooks of local training, the DPO loss (gradient in double, training
// raises the preference margin) and the model-free size and FLOP counts.
#include <doctest/doctest.h>

#include <cmath>

#include "models/dpo.hpp"
#include "models/model.hpp"

using namespace fedsim::models;

namespace {
LoraConfig no_dropout() {
  LoraConfig l;
  l.dropout = 0.0f;
  return l;
}
Batch pairs_batch() { return make_sft_batch({{"add 2 3", "5"}, {"capital of France", "Paris"}}, 32); }
std::vector<float> perturbed(const std::vector<float>& a, double amp, uint64_t seed) {
  fedsim::Rng rng(seed);
  std::vector<float> out = a;
  for (float& x : out) x += static_cast<float>(amp * (2 * rng.uniform() - 1));
  return out;
}
// The small double network of the DPO checks: one layer, LoRA rank 2 on q, v and mlp_down, no
// dropout.
ModelConfig dpo_check_config() {
  ModelConfig c;
  c.preset = "gradcheck";
  c.max_seq = 8;
  c.d_model = 8;
  c.n_layers = 1;
  c.n_heads = 2;
  c.d_ff = 12;
  return c;
}
LoraConfig dpo_check_lora() {
  LoraConfig l = no_dropout();
  l.rank = 2;
  l.targets = {"q", "v", "mlp_down"};
  return l;
}
}  // namespace

// With lr tiny and one AdamW step from zero moments, the update is -lr * sign(g) per entry
// (m/sqrt(v) = g/|g|), so the step exposes the sign of the full gradient. A prox term large
// enough to dominate the loss gradient must flip every entry towards the anchor.
TEST_CASE("FedProx: with mu large the step moves every adapter entry towards the anchor") {
  Model m(preset_config("nano"), no_dropout(), 3);
  const std::vector<float> start = m.init_adapter(1);
  const std::vector<float> anchor = perturbed(start, 0.5, 9);  // |w - anchor| ~ 0.25 everywhere
  OptimConfig opt;
  opt.grad_clip = 0;  // the prox gradient dominates the norm; keep the sign test clean
  LocalHooks h;
  h.prox_mu = 1e4f;
  h.prox_anchor = &anchor;
  std::vector<float> ad = start;
  const float lr = 1e-4f;
  const TrainStats st = m.train_adapter(ad, {pairs_batch()}, lr, opt, 1, h);
  int towards = 0, moved = 0;
  for (size_t i = 0; i < ad.size(); ++i) {
    if (std::fabs(anchor[i] - start[i]) < 1e-3f) continue;
    ++moved;
    towards += (ad[i] - start[i]) * (anchor[i] - start[i]) > 0;
    CHECK(std::fabs(std::fabs(ad[i] - start[i]) - lr) < 1e-6f);
  }
  CHECK(moved > static_cast<int>(ad.size()) * 9 / 10);
  CHECK(towards == moved);
  // The reported loss excludes the prox term: equal to the loss without hooks.
  std::vector<float> ad2 = start;
  CHECK(m.train_adapter(ad2, {pairs_batch()}, lr, opt, 1).mean_loss == st.mean_loss);
}

// The prox gradient mu * (w - anchor) vanishes where w == anchor: the first step is unchanged.
TEST_CASE("FedProx: anchor == start adds nothing at the first step") {
  Model m(preset_config("nano"), no_dropout(), 3);
  const std::vector<float> start = m.init_adapter(2);
  LocalHooks h;
  h.prox_mu = 0.5f;
  h.prox_anchor = &start;  // w - anchor = 0 at step 1
  std::vector<float> a = start, b = start;
  m.train_adapter(a, {pairs_batch()}, 1e-3f, OptimConfig{}, 4, h);
  m.train_adapter(b, {pairs_batch()}, 1e-3f, OptimConfig{}, 4);
  CHECK(a == b);
  // ... and changes the second step, where w != anchor.
  a = start;
  b = start;
  m.train_adapter(a, {pairs_batch(), pairs_batch()}, 1e-3f, OptimConfig{}, 4, h);
  m.train_adapter(b, {pairs_batch(), pairs_batch()}, 1e-3f, OptimConfig{}, 4);
  CHECK(a != b);
}

TEST_CASE("SCAFFOLD: after every step w <- w - lr * correction, exactly") {
  Model m(preset_config("nano"), no_dropout(), 3);
  const std::vector<float> start = m.init_adapter(5);
  std::vector<float> corr(start.size());
  fedsim::Rng rng(3);
  for (float& x : corr) x = static_cast<float>(2 * rng.uniform() - 1);
  LocalHooks h;
  h.scaffold_correction = &corr;
  // One step with and without the correction from the same start: AdamW's update does not
  // see the correction within the step, so the two differ by lr * correction.
  const float lr = 0.25f;  // power of two: lr * c is exact in float
  std::vector<float> with = start, without = start;
  m.train_adapter(with, {pairs_batch()}, lr, OptimConfig{}, 8, h);
  m.train_adapter(without, {pairs_batch()}, lr, OptimConfig{}, 8);
  int exact = 0;
  for (size_t i = 0; i < start.size(); ++i) exact += with[i] == without[i] - lr * corr[i];
  CHECK(exact == static_cast<int>(start.size()));  // lr a power of two: lr * c is exact, FMA or not
  double worst = 0;
  for (size_t i = 0; i < start.size(); ++i)
    worst = std::max(worst, std::fabs(double(with[i]) - (double(without[i]) - lr * double(corr[i]))));
  CHECK(worst < 1e-6);
}

TEST_CASE("make_dpo_batch: chosen and rejected share the prompt layout") {
  const DpoBatch d = make_dpo_batch({{"q1", "good", "bad!"}, {"q2", "yes", "no"}}, 16);
  CHECK(d.chosen.B == 2);
  CHECK(d.rejected.B == 2);
  CHECK(d.chosen.T == 16);
  CHECK(d.chosen.inputs[3] == d.rejected.inputs[3]);  // 'q1' -> '1' at index 3
  CHECK(d.chosen.inputs[5] == 'g');
  CHECK(d.rejected.inputs[5] == 'b');
  CHECK(d.chosen.targets[4] == 'g');  // RESP predicts the first response byte
  CHECK(d.chosen.targets[3] == -1);
}

TEST_CASE("gradcheck: DPO loss in double w.r.t. every adapter entry") {
  Net<double> net(dpo_check_config(), dpo_check_lora(), 1);
  net.init_base(3);
  std::vector<double> base = net.get(net.base);
  fedsim::Rng rng(6);
  for (auto& x : base) x += 0.2 * (2 * rng.uniform() - 1);
  net.set(net.base, base);
  std::vector<double> ad(net.al.total);
  for (auto& x : ad) x = 0.3 * (2 * rng.uniform() - 1);
  net.set_row(net.adapters, 0, ad);
  net.set_batch(stack_dpo(make_dpo_batch({{"ab", "cd", "xyz"}, {"q", "ok", "no"}}, 8)));
  const std::vector<double> ref = sequence_logps(net, -1, false, 0);
  const double beta = 0.5;  // larger than the default so the loss is far from linear
  Kokkos::deep_copy(net.adapter_grads, 0.0);
  const DpoResult r0 = dpo_forward_backward(net, 0, ref, beta, false, 0, true);
  CHECK(r0.margin != 0.0);
  const std::vector<double> g = net.get_row(net.adapter_grads, 0);
  const double eps = 1e-5;
  double worst = 0;
  int nonzero = 0;
  for (size_t i = 0; i < ad.size(); ++i) {
    const double orig = ad[i];
    ad[i] = orig + eps;
    net.set_row(net.adapters, 0, ad);
    const double lp = dpo_forward_backward(net, 0, ref, beta, false, 0, false).loss;
    ad[i] = orig - eps;
    net.set_row(net.adapters, 0, ad);
    const double lm = dpo_forward_backward(net, 0, ref, beta, false, 0, false).loss;
    ad[i] = orig;
    const double fd = (lp - lm) / (2 * eps);
    worst = std::max(worst, std::fabs(g[i] - fd) / std::max(std::fabs(g[i]) + std::fabs(fd), 1e-7));
    nonzero += std::fabs(g[i]) > 1e-8;
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-5);
  CHECK(nonzero > static_cast<int>(ad.size()) * 8 / 10);
}

// Training computes the DPO loss and the sequence weights on the device (dpo_step_device, no
// host read per step); the host dpo_loss is the reference: the same loss and gradient.
TEST_CASE("DPO on the device: loss and gradient equal the host dpo_loss path") {
  Net<double> net(dpo_check_config(), dpo_check_lora(), 1);
  net.init_base(3);
  fedsim::Rng rng(8);
  std::vector<double> ad(net.al.total);
  for (auto& x : ad) x = 0.3 * (2 * rng.uniform() - 1);
  net.set_row(net.adapters, 0, ad);
  net.set_batch(stack_dpo(make_dpo_batch({{"ab", "cd", "xyz"}, {"q", "ok", "no"}, {"hi", "yo", "zz"}}, 8)));
  const double beta = 0.5;
  const std::vector<double> ref = sequence_logps(net, -1, false, 0);
  Kokkos::deep_copy(net.adapter_grads, 0.0);
  const DpoResult host = dpo_forward_backward(net, 0, ref, beta, false, 0, true);
  const std::vector<double> g_host = net.get_row(net.adapter_grads, 0);

  Kokkos::deep_copy(net.adapter_grads, 0.0);
  Vec<double> seq("seq_nll", 2 * net.n_seqs()), acc("acc", 1);
  const UVec<double> nl = as_vec(seq.data(), net.n_seqs()), rf = as_vec(seq.data() + net.n_seqs(), net.n_seqs());
  net.forward(-1, false, 0);
  net.sequence_losses_device(rf);
  net.forward(0, false, 0);
  net.sequence_losses_device(nl);
  const SegTable& st = net.segments();
  dpo_step_device(net.exec, net.seq_weights_device(), as_vec(acc.data(), 1), 0, nl, rf, st.row, st.b0, st.seqs, beta);
  net.backward_weighted(false);
  const std::vector<double> g_dev = net.get_row(net.adapter_grads, 0);
  auto acc_h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), acc);
  CHECK(host.loss > 0.1);
  CHECK(std::fabs(acc_h(0) - host.loss) <= 1e-12 * host.loss);
  double worst = 0, gmax = 0;
  for (size_t i = 0; i < g_host.size(); ++i) {
    worst = std::max(worst, std::fabs(g_dev[i] - g_host[i]));
    gmax = std::max(gmax, std::fabs(g_host[i]));
  }
  CHECK(gmax > 1e-4);
  CHECK(worst <= 1e-12 * gmax);
}

// The loss a training run reports is the mean over its steps of the loss before each update:
// with one step, the loss of the starting adapter, as evaluate_dpo computes it.
TEST_CASE("DPO training: one step reports the starting adapter's DPO loss") {
  Model m(preset_config("nano"), no_dropout(), 11);
  const DpoBatch d = make_dpo_batch({{"2+2", "4", "5"}, {"sky", "blue", "green"}}, 32);
  std::vector<float> ad = perturbed(m.init_adapter(4), 0.05, 9);
  const double before = m.evaluate_dpo(&ad, d).mean_loss;
  const TrainStats st = m.train_adapter_dpo(ad, {d}, 1e-3f, OptimConfig{}, 3);
  CHECK(st.steps == 1);
  CHECK(std::fabs(before - std::log(2.0)) > 1e-4);  // the perturbation moved it off ln 2
  CHECK(std::fabs(st.mean_loss - before) <= 1e-6 * before);
}

TEST_CASE("DPO training (30 steps, lr 1e-2) raises the margin above 1.5 and the loss below 0.62") {
  Model m(preset_config("nano"), no_dropout(), 11);
  const DpoBatch d = make_dpo_batch({{"2+2", "4", "5"}, {"sky", "blue", "green"}, {"sun", "hot", "cold"}}, 32);
  std::vector<float> ad = m.init_adapter(4);
  const DpoEvalStats before = m.evaluate_dpo(&ad, d);
  CHECK(before.mean_margin == 0.0);  // B = 0: the policy is the reference
  CHECK(std::fabs(before.mean_loss - std::log(2.0)) < 1e-9);
  const TrainStats st = m.train_adapter_dpo(ad, std::vector<DpoBatch>(30, d), 1e-2f, OptimConfig{}, 3);
  CHECK(st.steps == 30);
  CHECK(st.tokens == 30 * 6 * 32);
  const DpoEvalStats after = m.evaluate_dpo(&ad, d);
  MESSAGE("DPO: margin 0 -> " << after.mean_margin << ", loss " << before.mean_loss << " -> " << after.mean_loss);
  CHECK(after.mean_margin > 1.5);  // random nano base: logits stay small, so does the margin
  CHECK(after.accuracy == 1.0);
  CHECK(after.mean_loss < 0.62);  // from ln 2 = 0.693
  CHECK(m.evaluate_dpo(nullptr, d).mean_margin == 0.0);
}

TEST_CASE("adapter_param_count and train_flops_per_token equal the Model's, for every preset and targets") {
  for (const std::string& p : {"nano", "tiny", "small"}) {
    LoraConfig l;
    l.rank = 4;
    l.targets = {"q", "k", "mlp_up"};
    const Model m(preset_config(p), l, 1);
    CHECK(adapter_param_count(preset_config(p), l) == m.n_adapter_params());
    CHECK(train_flops_per_token(preset_config(p), l) == m.train_flops_per_token());
  }
  // Independent count for tiny, q and v, rank 8: per layer 2 * (r*C + C*r).
  CHECK(adapter_param_count(preset_config("tiny"), LoraConfig{}) == 2 * 2 * (8 * 64 + 64 * 8));
}
