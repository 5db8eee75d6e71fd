// Finite-difference gradient checks in double (central differences), per layer and for the
// whole model in LoRA and full-parameter mode.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "grad_util.hpp"
#include "models/net.hpp"

using namespace fedsim::models;
using namespace fedsim::models::testing;


TEST_CASE("gradcheck: layernorm") {
  ExecSpace ex;
  fedsim::Rng rng(1);
  const int N = 5, C = 7;
  Mat<D> x = dmat(N, C), w = dmat(1, C), b = dmat(1, C), R = dmat(N, C), out = dmat(N, C), mean = dmat(1, N),
         rstd = dmat(1, N), dx = dmat(N, C), dw = dmat(1, C), db = dmat(1, C);
  fill_random(x, rng, 2);
  fill_random(w, rng);
  fill_random(b, rng);
  fill_random(R, rng);
  auto loss = [&] {
    layernorm_forward(ex, um(out), uv(mean), uv(rstd), um(x), uv(w), uv(b));
    return dot(out, R);
  };
  loss();
  Mat<D> ws = dmat(1, column_sums_ws(N, C, 2));
  layernorm_backward(ex, um(dx), uv(dw), uv(db), um(R), um(x), uv(w), uv(mean), uv(rstd), uv(ws));
  check_grad("layernorm dx", x, dx, loss);
  check_grad("layernorm dw", w, dw, loss);
  check_grad("layernorm db", b, db, loss);
}

TEST_CASE("gradcheck: gelu") {
  ExecSpace ex;
  fedsim::Rng rng(2);
  Mat<D> x = dmat(4, 9), R = dmat(4, 9), out = dmat(4, 9), dx = dmat(4, 9);
  fill_random(x, rng, 4);
  fill_random(R, rng);
  auto loss = [&] {
    gelu_forward(ex, um(out), um(x));
    return dot(out, R);
  };
  gelu_backward(ex, um(dx), um(R), um(x));
  check_grad("gelu dx", x, dx, loss, 1e-5);  // gelu' crosses 0 near x = -0.75
}

TEST_CASE("gradcheck: linear + LoRA with dropout") {
  ExecSpace ex;
  fedsim::Rng rng(3);
  const int N = 6, I = 5, O = 4, r = 3;
  const float p = 0.3f;
  const uint64_t key = 12345;
  const D scale = 2.0 / r;
  Mat<D> x = dmat(N, I), w = dmat(O, I), b = dmat(1, O), A = dmat(r, I), Bm = dmat(O, r), R = dmat(N, O),
         out = dmat(N, O), xd = dmat(N, I), u = dmat(N, r), du = dmat(N, r), dxd = dmat(N, I), dx = dmat(N, I),
         dw = dmat(O, I), db = dmat(1, O), dA = dmat(r, I), dB = dmat(O, r);
  for (Mat<D>* m : {&x, &w, &b, &A, &Bm, &R}) fill_random(*m, rng);
  auto loss = [&] {
    linear_forward(ex, um(out), um(x), um(w), uv(b));
    dropout_forward(ex, um(xd), um(x), p, key);
    lora_forward(ex, um(out), um(u), um(xd), um(A), um(Bm), scale);
    return dot(out, R);
  };
  loss();
  Mat<D> ws = dmat(1, column_sums_ws(N, O, 1));
  linear_backward(ex, um(dx), um(dw), uv(db), um(R), um(x), um(w), uv(ws));
  lora_backward(ex, um(dxd), um(dA), um(dB), um(du), um(R), um(u), um(xd), um(A), um(Bm), scale);
  dropout_backward(ex, um(dx), um(dxd), p, key);
  // The mask drops some inputs and keeps others.
  int dropped = 0;
  for (double v : host(xd)) dropped += v == 0.0;
  CHECK(dropped > 0);
  CHECK(dropped < N * I);
  check_grad("linear dx", x, dx, loss);
  check_grad("linear dw", w, dw, loss);
  check_grad("linear db", b, db, loss);
  check_grad("lora dA", A, dA, loss);
  check_grad("lora dB", Bm, dB, loss);
}

TEST_CASE("gradcheck: causal attention (one query block, and blocks of 2 rows)") {
  for (const int block : {kAttnBlock, 2}) {
    INFO("block " << block);
    ExecSpace ex;
    fedsim::Rng rng(4);
    const int B = 2, T = 5, NH = 2, C = 6;
    Mat<D> q = dmat(B * T, C), k = dmat(B * T, C), v = dmat(B * T, C), R = dmat(B * T, C), out = dmat(B * T, C),
           att = dmat(B * NH * T, T), pre = dmat(B * NH * T, T), dq = dmat(B * T, C), dk = dmat(B * T, C),
           dv = dmat(B * T, C);
    for (Mat<D>* m : {&q, &k, &v, &R}) fill_random(*m, rng, 1.5);
    auto loss = [&] {
      attention_forward(ex, um(out), um(att), um(q), um(k), um(v), B, T, NH, block);
      return dot(out, R);
    };
    loss();
    attention_backward(ex, um(dq), um(dk), um(dv), um(pre), um(R), um(att), um(q), um(k), um(v), B, T, NH, block);
    check_grad("attention dq", q, dq, loss);
    check_grad("attention dk", k, dk, loss);
    check_grad("attention dv", v, dv, loss);
    // Causality: probabilities above the diagonal are exactly zero, rows sum to one.
    const auto a = host(att);
    for (int row = 0; row < B * NH * T; ++row) {
      double s = 0;
      for (int t2 = 0; t2 < T; ++t2) {
        s += a[row * T + t2];
        if (t2 > row % T) CHECK(a[row * T + t2] == 0.0);
      }
      CHECK(s == doctest::Approx(1.0).epsilon(1e-12));
    }
  }
}

TEST_CASE("gradcheck: softmax cross-entropy (mean over targets, ignored rows)") {
  ExecSpace ex;
  fedsim::Rng rng(5);
  const int N = 4, V = 6;
  Mat<D> logits = dmat(N, V), probs = dmat(N, V), losses = dmat(1, N), dl = dmat(N, V);
  fill_random(logits, rng, 3);
  IVec targets("targets", N), argmax("argmax", N);
  auto th = Kokkos::create_mirror_view(targets);
  th(0) = 2;
  th(1) = -1;
  th(2) = 5;
  th(3) = 0;
  Kokkos::deep_copy(targets, th);
  auto loss = [&] {
    crossentropy_forward(ex, um(probs), uv(losses), argmax, um(logits), targets);
    double s = 0;
    for (double x : host(losses)) s += x;
    return s / 3.0;
  };
  loss();
  crossentropy_backward(ex, um(dl), um(probs), targets, 1.0 / 3.0);
  check_grad("cross-entropy dlogits", logits, dl, loss);
  // Ignored row: zero loss, zero gradient.
  CHECK(host(losses)[1] == 0.0);
  for (int j = 0; j < V; ++j) CHECK(host(dl)[V + j] == 0.0);
}

namespace {
ModelConfig grad_cfg() {
  ModelConfig c;
  c.preset = "gradcheck";
  c.max_seq = 8;
  c.d_model = 8;
  c.n_layers = 2;
  c.n_heads = 2;
  c.d_ff = 12;
  return c;
}
Batch grad_batch() { return make_sft_batch({{"ab", "cde"}, {"x", "yz"}}, 8); }
LoraConfig all_targets(float dropout) {
  LoraConfig l;
  l.rank = 2;
  l.dropout = dropout;
  l.targets = {"q", "k", "v", "o", "mlp_up", "mlp_down"};
  return l;
}
}  // namespace

TEST_CASE("gradcheck: whole model, LoRA mode (all six targets), w.r.t. every adapter entry") {
  Net<D> net(grad_cfg(), all_targets(0.0f), 1);
  fedsim::Rng rng(6);
  const LoraGradcheck r = lora_gradcheck(net, grad_batch(), 3, rng, 1e-7);
  INFO("worst relative error " << r.worst);
  CHECK(r.worst < 1e-5);
  CHECK(r.nonzero > r.entries * 9 / 10);
}

TEST_CASE("gradcheck: whole model, full-parameter mode, a sample of base entries") {
  LoraConfig l;
  l.dropout = 0.0f;
  Net<D> net(grad_cfg(), l, 1);
  net.init_base(4);
  std::vector<D> base = net.get(net.base);
  fedsim::Rng rng(7);
  for (auto& x : base) x += 0.2 * (2 * rng.uniform() - 1);
  net.set(net.base, base);
  net.enable_base_grad();
  net.set_batch(grad_batch());
  net.forward(-1, false, 0);
  net.backward(true);
  const std::vector<D> g = net.get(net.base_grad);
  const double eps = 1e-5;
  double worst = 0;
  // Every 7th entry plus the ends of every tensor group: covers wte, wpe, LN, q/k/v/o, MLP, lnf.
  for (size_t i = 0; i < base.size(); i += (i % 7 == 0 ? 1 : 6)) {
    const D orig = base[i];
    base[i] = orig + eps;
    net.set(net.base, base);
    const double lp = net.forward(-1, false, 0);
    base[i] = orig - eps;
    net.set(net.base, base);
    const double lm = net.forward(-1, false, 0);
    base[i] = orig;
    worst = std::max(worst, rel_err(g[i], (lp - lm) / (2 * eps), 1e-7));
  }
  net.set(net.base, base);
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-5);
}

// Packing (Net::set_batch(batch, true)): each sequence keeps its rows up to its last target,
// so the losses and every gradient must be the padded batch's. In double, with two segments
// (two adapter rows), LoRA dropout on all six targets, base gradients on, and sequences of
// several lengths (one filling the context, one shorter than its padding by most of it).
TEST_CASE("packed batch: losses and gradients equal the padded batch's; gradcheck on the packed batch") {
  Net<D> net(grad_cfg(), all_targets(0.25f), 2);
  fedsim::Rng rng(8);
  perturb_base(net, 5, rng);
  std::vector<D> ad0 = random_adapter(net, 0, rng);
  random_adapter(net, 1, rng);
  net.enable_base_grad();
  const Batch b = make_sft_batch({{"ab", "c"}, {"x", "yzuvw"}, {"", "q"}, {"mn", "op"}}, 8);
  const std::vector<Segment> segs{{0, 2, 11}, {1, 2, 22}};
  struct Out {
    std::vector<double> loss, seq;
    std::vector<D> g0, g1, gb;
    int64_t rows;
  };
  auto run = [&](bool pack, const std::vector<D>* w) {
    Kokkos::deep_copy(net.adapter_grads, D(0));
    Kokkos::deep_copy(net.base_grad, D(0));
    net.set_batch(b, pack);
    Out o;
    o.loss = net.forward_segments(segs, true);
    o.seq = net.sequence_losses();
    net.backward(true, w);
    o.g0 = net.get_row(net.adapter_grads, 0);
    o.g1 = net.get_row(net.adapter_grads, 1);
    o.gb = net.get(net.base_grad);
    o.rows = net.n_rows();
    return o;
  };
  auto max_rel = [](const std::vector<D>& a, const std::vector<D>& r) {
    double d = 0, m = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      d = std::max(d, std::fabs(a[i] - r[i]));
      m = std::max(m, std::fabs(r[i]));
    }
    return d / m;
  };
  const std::vector<D> weights{0.5, -1.0, 2.0, 0.25};  // DPO-style per-sequence weights
  for (const std::vector<D>* w : {static_cast<const std::vector<D>*>(nullptr), &weights}) {
    INFO((w ? "per-sequence weights" : "segment means"));
    const Out pad = run(false, w), packed = run(true, w);
    CHECK(pad.rows == 4 * 8);
    CHECK(packed.rows == 6 + 8 + 4 + 7);  // up to each last target; the second fills the context
    REQUIRE(packed.loss.size() == 2);
    for (size_t i = 0; i < 2; ++i) CHECK(packed.loss[i] == doctest::Approx(pad.loss[i]).epsilon(1e-12));
    for (size_t i = 0; i < 4; ++i) CHECK(packed.seq[i] == doctest::Approx(pad.seq[i]).epsilon(1e-12));
    CHECK(max_rel(packed.g0, pad.g0) < 1e-12);
    CHECK(max_rel(packed.g1, pad.g1) < 1e-12);
    CHECK(max_rel(packed.gb, pad.gb) < 1e-12);
  }
  // Central differences of segment 0's mean loss w.r.t. adapter row 0, on the packed batch
  // (dropout masks are fixed by the segment keys, so the loss is a smooth function).
  const Out g = run(true, nullptr);
  const double eps = 1e-5;
  double worst = 0;
  for (size_t i = 0; i < ad0.size(); ++i) {
    const D orig = ad0[i];
    ad0[i] = orig + eps;
    net.set_row(net.adapters, 0, ad0);
    const double lp = net.forward_segments(segs, true)[0];
    ad0[i] = orig - eps;
    net.set_row(net.adapters, 0, ad0);
    const double lm = net.forward_segments(segs, true)[0];
    ad0[i] = orig;
    worst = std::max(worst, rel_err(g.g0[i], (lp - lm) / (2 * eps), 1e-7));
  }
  net.set_row(net.adapters, 0, ad0);
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-5);
}
