// Local adapter training: SFT and DPO loops, with the federation layer's FedProx and SCAFFOLD
// hooks (model.hpp LocalHooks, REFERENCE.md section 3).
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "models/dpo.hpp"
#include "models/model_impl.hpp"

namespace fedsim::models {

namespace {
void upload(Net<float>& net, Vec<float>& dst, const std::vector<float>& src, const char* what) {
  FEDSIM_ASSERT_MSG(static_cast<int64_t>(src.size()) == net.al.total,
                    what << " has " << src.size() << " values, the adapter " << net.al.total);
  if (static_cast<int64_t>(dst.extent(0)) != net.al.total)
    dst = Vec<float>(Kokkos::view_alloc(net.exec, std::string(what)), net.al.total);
  net.set(dst, src);
}
// Dropout masks: one key per (dropout_seed, step); kernels mix in layer, target, element.
uint64_t step_key(uint64_t dropout_seed, size_t s) { return mix64(dropout_seed ^ mix64(0x5eedULL + s)); }
}  // namespace

void Model::Impl::set_hooks(const LocalHooks& hooks) {
  if (hooks.prox_mu != 0.0f) {
    FEDSIM_ASSERT_MSG(hooks.prox_anchor != nullptr, "LocalHooks: prox_mu " << hooks.prox_mu << " without an anchor");
    upload(net, prox_anchor, *hooks.prox_anchor, "fedsim::models::prox_anchor");
  }
  if (hooks.scaffold_correction != nullptr)
    upload(net, scaffold_corr, *hooks.scaffold_correction, "fedsim::models::scaffold_correction");
}

void Model::Impl::hooked_step(int row, const LocalHooks& hooks, UVec<float> anchor, UVec<float> correction, int64_t t,
                              float lr, const OptimConfig& opt) {
  auto params = net.row(net.adapters, row), grads = net.row(net.adapter_grads, row);
  if (hooks.prox_mu != 0.0f) prox_gradient(net.exec, grads, params, anchor, hooks.prox_mu);
  adamw_step(params, net.row(adam_m, row), net.row(adam_v, row), grads, t, lr, opt);
  if (hooks.scaffold_correction != nullptr) scaffold_correct(net.exec, params, correction, lr);
}

void Model::Impl::ensure_rows(int rows) {
  auto grow = [&](Mat<float>& m) {
    const int have = static_cast<int>(m.extent(0));
    if (have >= rows) return;
    Mat<float> bigger(Kokkos::view_alloc(net.exec, m.label()), rows, net.al.total);
    Kokkos::deep_copy(net.exec, Kokkos::subview(bigger, std::make_pair(0, have), Kokkos::ALL), m);
    m = bigger;
  };
  grow(net.adapters);
  grow(net.adapter_grads);
  grow(adam_m);
  grow(adam_v);
  net.exec.fence();
}

namespace {
UVec<float> vec_of(Vec<float>& v, int64_t n) { return as_vec(v.data(), v.extent(0) == 0 ? 0 : n); }
int seqs_of(const Batch& b) { return b.B; }
int seqs_of(const DpoBatch& b) { return 2 * b.chosen.B; }
int t_of(const Batch& b) { return b.T; }
int t_of(const DpoBatch& b) { return b.chosen.T; }
}  // namespace

template <class BatchT, class StepFn>
std::vector<TrainStats> Model::Impl::train_batched(const std::vector<std::vector<float>*>& adapters,
                                                   const std::vector<std::vector<BatchT>>& batches,
                                                   const std::vector<float>& lrs, const OptimConfig& opt,
                                                   const std::vector<LocalHooks>& hooks, int Tn, int64_t memory_mb,
                                                   StepFn step) {
  const size_t K = adapters.size();
  const int64_t P = net.al.total;
  std::vector<TrainStats> out(K);
  // Groups of consecutive clients whose largest stacked step fits the activation budget.
  const int64_t per_seq = net.activation_floats(1, Tn) * int64_t(sizeof(float));
  FEDSIM_ASSERT_MSG(memory_mb >= 1, "batched training: memory budget " << memory_mb << " MiB");
  const int64_t budget = memory_mb << 20;
  size_t first = 0;
  while (first < K) {
    size_t end = first;
    int64_t bytes = 0;
    while (end < K) {
      int most = 0;
      for (const BatchT& b : batches[end]) most = std::max(most, seqs_of(b));
      if (end > first && bytes + most * per_seq > budget) break;
      bytes += most * per_seq;
      ++end;
    }
    const int G = static_cast<int>(end - first);
    ensure_rows(kAdapterRows + G);
    bool prox = false, scaffold = false;
    for (size_t k = first; k < end; ++k) {
      prox = prox || hooks[k].prox_mu != 0.0f;
      scaffold = scaffold || hooks[k].scaffold_correction != nullptr;
    }
    auto need = [&](Mat<float>& m, const char* label) {
      if (static_cast<int>(m.extent(0)) < G) m = Mat<float>(Kokkos::view_alloc(net.exec, std::string(label)), G, P);
    };
    if (prox) need(batch_anchor, "fedsim::models::batch_prox_anchor");
    if (scaffold) need(batch_corr, "fedsim::models::batch_scaffold_correction");
    size_t most_steps = 0;
    std::vector<int> rows(K, -1);
    for (size_t k = first; k < end; ++k) {
      const int row = kAdapterRows + static_cast<int>(k - first);
      rows[k] = row;
      FEDSIM_ASSERT_MSG(static_cast<int64_t>(adapters[k]->size()) == P,
                        "adapter " << k << " has " << adapters[k]->size() << " values, model expects " << P);
      net.set_row(net.adapters, row, *adapters[k]);
      Kokkos::deep_copy(net.exec, net.row(adam_m, row), 0.0f);  // fresh AdamW per client, as train_adapter
      Kokkos::deep_copy(net.exec, net.row(adam_v, row), 0.0f);
      const LocalHooks& h = hooks[k];
      if (h.prox_mu != 0.0f) {
        FEDSIM_ASSERT_MSG(h.prox_anchor != nullptr, "LocalHooks: prox_mu " << h.prox_mu << " without an anchor");
        FEDSIM_ASSERT(static_cast<int64_t>(h.prox_anchor->size()) == P);
        net.set_row(batch_anchor, row - kAdapterRows, *h.prox_anchor);
      }
      if (h.scaffold_correction != nullptr) {
        FEDSIM_ASSERT(static_cast<int64_t>(h.scaffold_correction->size()) == P);
        net.set_row(batch_corr, row - kAdapterRows, *h.scaffold_correction);
      }
      most_steps = std::max(most_steps, batches[k].size());
    }
    std::vector<double> loss_sum(K, 0.0);
    for (size_t s = 0; s < most_steps; ++s) {
      std::vector<size_t> active;  // clients with fewer steps have dropped out
      for (size_t k = first; k < end; ++k)
        if (batches[k].size() > s) active.push_back(k);
      Kokkos::deep_copy(net.exec,
                        Kokkos::subview(net.adapter_grads, std::make_pair(kAdapterRows, kAdapterRows + G), Kokkos::ALL),
                        0.0f);
      const std::vector<double> losses = step(active, rows, s);
      int b = 0;  // the stacked step's sequences: each active client's, in order
      for (size_t i = 0; i < active.size(); ++i) {
        const int seqs = seqs_of(batches[active[i]][s]);
        for (int j = 0; j < seqs; ++j) out[active[i]].rows += net.seq_rows(b + j);
        b += seqs;
      }
      for (size_t i = 0; i < active.size(); ++i) {
        const size_t k = active[i];
        const int row = rows[k];
        UVec<float> anchor = hooks[k].prox_mu != 0.0f ? net.row(batch_anchor, row - kAdapterRows) : UVec<float>();
        UVec<float> corr =
            hooks[k].scaffold_correction != nullptr ? net.row(batch_corr, row - kAdapterRows) : UVec<float>();
        hooked_step(row, hooks[k], anchor, corr, static_cast<int64_t>(s) + 1, lrs[k], opt);
        loss_sum[k] += losses[i];
        out[k].tokens += int64_t(seqs_of(batches[k][s])) * t_of(batches[k][s]);
      }
    }
    for (size_t k = first; k < end; ++k) {
      out[k].steps = static_cast<int>(batches[k].size());
      out[k].mean_loss = out[k].steps > 0 ? loss_sum[k] / out[k].steps : 0.0;
      if (out[k].steps > 0) *adapters[k] = net.get_row(net.adapters, rows[k]);
    }
    first = end;
  }
  return out;
}

TrainStats Model::train_adapter(std::vector<float>& adapter, const std::vector<Batch>& batches, float lr,
                                const OptimConfig& opt, uint64_t dropout_seed, const LocalHooks& hooks) {
  Impl& im = *impl_;
  Net<float>& net = im.net;
  FEDSIM_ASSERT_MSG(static_cast<int64_t>(adapter.size()) == net.al.total,
                    "adapter has " << adapter.size() << " values, model expects " << net.al.total);
  TrainStats st;
  if (batches.empty()) return st;
  im.set_hooks(hooks);
  net.set_row(net.adapters, kTrainRow, adapter);
  Kokkos::deep_copy(net.exec, net.row(im.adam_m, kTrainRow), 0.0f);  // fresh AdamW per call
  Kokkos::deep_copy(net.exec, net.row(im.adam_v, kTrainRow), 0.0f);
  auto grads = net.row(net.adapter_grads, kTrainRow);
  double loss_sum = 0;
  for (size_t s = 0; s < batches.size(); ++s) {
    net.set_batch(batches[s]);
    Kokkos::deep_copy(net.exec, grads, 0.0f);
    loss_sum += net.forward(kTrainRow, true, step_key(dropout_seed, s));
    net.backward(false);
    im.hooked_step(kTrainRow, hooks, vec_of(im.prox_anchor, net.al.total), vec_of(im.scaffold_corr, net.al.total),
                   static_cast<int64_t>(s) + 1, lr, opt);
    st.tokens += int64_t(batches[s].B) * batches[s].T;
    st.rows += net.n_rows();
  }
  st.steps = static_cast<int>(batches.size());
  st.mean_loss = loss_sum / st.steps;
  adapter = net.get_row(net.adapters, kTrainRow);
  return st;
}

TrainStats Model::train_adapter_dpo(std::vector<float>& adapter, const std::vector<DpoBatch>& batches, float lr,
                                    const OptimConfig& opt, uint64_t dropout_seed, float beta,
                                    const LocalHooks& hooks) {
  Impl& im = *impl_;
  Net<float>& net = im.net;
  FEDSIM_ASSERT_MSG(static_cast<int64_t>(adapter.size()) == net.al.total,
                    "adapter has " << adapter.size() << " values, model expects " << net.al.total);
  TrainStats st;
  if (batches.empty()) return st;
  im.set_hooks(hooks);
  net.set_row(net.adapters, kTrainRow, adapter);
  Kokkos::deep_copy(net.exec, net.row(im.adam_m, kTrainRow), 0.0f);
  Kokkos::deep_copy(net.exec, net.row(im.adam_v, kTrainRow), 0.0f);
  auto grads = net.row(net.adapter_grads, kTrainRow);
  double loss_sum = 0;
  for (size_t s = 0; s < batches.size(); ++s) {
    const Batch both = stack_dpo(batches[s]);
    net.set_batch(both);
    const std::vector<double> ref = sequence_logps(net, -1, false, 0);  // base, adapter off
    Kokkos::deep_copy(net.exec, grads, 0.0f);
    loss_sum += dpo_forward_backward(net, kTrainRow, ref, beta, true, step_key(dropout_seed, s), true).loss;
    im.hooked_step(kTrainRow, hooks, vec_of(im.prox_anchor, net.al.total), vec_of(im.scaffold_corr, net.al.total),
                   static_cast<int64_t>(s) + 1, lr, opt);
    st.tokens += int64_t(both.B) * both.T;
    st.rows += net.n_rows();
  }
  st.steps = static_cast<int>(batches.size());
  st.mean_loss = loss_sum / st.steps;
  adapter = net.get_row(net.adapters, kTrainRow);
  return st;
}

namespace {
// The context all clients' batches share, or -1 (then they train one after another).
template <class BatchT>
int common_t(const std::vector<std::vector<BatchT>>& batches) {
  int T = 0;
  for (const auto& bs : batches)
    for (const BatchT& b : bs) {
      if (T == 0) T = t_of(b);
      if (t_of(b) != T) return -1;
    }
  return T;
}
// Starts a stacked step: an empty batch of context T and no segments.
void begin_stack(Batch& stacked, std::vector<Segment>& segs, int T) {
  stacked.B = 0;
  stacked.T = T;
  stacked.inputs.clear();
  stacked.targets.clear();
  segs.clear();
}
// Appends one client's batch as the segment of adapter row `row`.
void append_segment(Batch& stacked, std::vector<Segment>& segs, const Batch& b, int row, uint64_t key) {
  stacked.B += b.B;
  stacked.inputs.insert(stacked.inputs.end(), b.inputs.begin(), b.inputs.end());
  stacked.targets.insert(stacked.targets.end(), b.targets.begin(), b.targets.end());
  segs.push_back({row, b.B, key});
}
void check_sizes(size_t k, size_t batches, size_t lrs, size_t seeds, size_t hooks) {
  FEDSIM_ASSERT_MSG(batches == k && lrs == k && seeds == k && hooks == k,
                    "batched training of " << k << " adapters got " << batches << " batch lists, " << lrs << " lrs, "
                                           << seeds << " seeds, " << hooks << " hooks");
}
}  // namespace

std::vector<TrainStats> Model::train_adapters_batched(const std::vector<std::vector<float>*>& adapters,
                                                      const std::vector<std::vector<Batch>>& batches,
                                                      const std::vector<float>& lrs, const OptimConfig& opt,
                                                      const std::vector<uint64_t>& dropout_seeds,
                                                      const std::vector<LocalHooks>& hooks, const BatchOptions& options) {
  check_sizes(adapters.size(), batches.size(), lrs.size(), dropout_seeds.size(), hooks.size());
  const int Tn = common_t(batches);
  if (Tn <= 0) {  // mixed contexts (or no steps at all): one client at a time
    std::vector<TrainStats> out;
    for (size_t k = 0; k < adapters.size(); ++k)
      out.push_back(train_adapter(*adapters[k], batches[k], lrs[k], opt, dropout_seeds[k], hooks[k]));
    return out;
  }
  Impl& im = *impl_;
  Net<float>& net = im.net;
  Batch stacked;
  std::vector<Segment> segs;
  auto step = [&](const std::vector<size_t>& active, const std::vector<int>& rows, size_t s) {
    begin_stack(stacked, segs, Tn);
    for (size_t k : active) append_segment(stacked, segs, batches[k][s], rows[k], step_key(dropout_seeds[k], s));
    net.set_batch(stacked, options.pack);
    const std::vector<double> losses = net.forward_segments(segs, true);
    net.backward(false);
    return losses;
  };
  return im.train_batched(adapters, batches, lrs, opt, hooks, Tn, options.memory_mb, step);
}

std::vector<TrainStats> Model::train_adapters_dpo_batched(const std::vector<std::vector<float>*>& adapters,
                                                          const std::vector<std::vector<DpoBatch>>& batches,
                                                          const std::vector<float>& lrs, const OptimConfig& opt,
                                                          const std::vector<uint64_t>& dropout_seeds, float beta,
                                                          const std::vector<LocalHooks>& hooks, const BatchOptions& options) {
  check_sizes(adapters.size(), batches.size(), lrs.size(), dropout_seeds.size(), hooks.size());
  const int Tn = common_t(batches);
  if (Tn <= 0) {
    std::vector<TrainStats> out;
    for (size_t k = 0; k < adapters.size(); ++k)
      out.push_back(train_adapter_dpo(*adapters[k], batches[k], lrs[k], opt, dropout_seeds[k], beta, hooks[k]));
    return out;
  }
  Impl& im = *impl_;
  Net<float>& net = im.net;
  Batch stacked;
  std::vector<Segment> segs;
  auto step = [&](const std::vector<size_t>& active, const std::vector<int>& rows, size_t s) {
    begin_stack(stacked, segs, Tn);
    for (size_t k : active)
      append_segment(stacked, segs, stack_dpo(batches[k][s]), rows[k], step_key(dropout_seeds[k], s));
    net.set_batch(stacked, options.pack);
    const std::vector<double> ref = sequence_logps(net, -1, false, 0);  // base for everyone, adapter off
    net.forward_segments(segs, true);
    const std::vector<double> lp_all = net.sequence_losses();
    std::vector<double> losses;
    std::vector<float> w_all, w;
    size_t b0 = 0;
    for (const Segment& sg : segs) {
      const auto n = static_cast<size_t>(sg.seqs);
      std::vector<double> lp(n), rf(ref.begin() + static_cast<long>(b0), ref.begin() + static_cast<long>(b0 + n));
      for (size_t i = 0; i < n; ++i) lp[i] = -lp_all[b0 + i];
      losses.push_back(dpo_loss(lp, rf, beta, w).loss);
      w_all.insert(w_all.end(), w.begin(), w.end());
      b0 += n;
    }
    net.backward(false, &w_all);
    return losses;
  };
  return im.train_batched(adapters, batches, lrs, opt, hooks, Tn, options.memory_mb, step);
}

DpoEvalStats Model::evaluate_dpo(const std::vector<float>* adapter, const DpoBatch& batch, float beta) const {
  Net<float>& net = impl_->net;
  net.set_batch(stack_dpo(batch));
  const std::vector<double> ref = sequence_logps(net, -1, false, 0);
  const int client = impl_->eval_row(adapter);
  const DpoResult r = dpo_forward_backward(net, client, ref, beta, false, 0, false);
  DpoEvalStats es;
  es.mean_loss = r.loss;
  es.mean_margin = r.margin;
  es.accuracy = r.accuracy;
  es.pairs = batch.chosen.B;
  return es;
}

}  // namespace fedsim::models
