// Local adapter training: SFT and DPO loops, with the federation layer's FedProx and SCAFFOLD
// hooks (model.hpp LocalHooks). Every call trains its clients in groups whose stacked steps fit
// the activation budget; a group is one run on the device:
//   start   the adapters, hooks and per-row settings uploaded, every step's stacked batch staged
//           (Net::stage), all before the run's first kernel, with no fence;
//   steps   forward, backward and the optimizer of all clients at once; SFT losses and clipping
//           norms stay on the device (DPO reads its sequence log-probabilities every step);
//   end     ONE read: the group's adapters and loss sums, packed into one buffer.
// train_adapter is the same with one client.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "models/bench.hpp"  // count_step, count_run
#include "models/dpo.hpp"
#include "models/model_impl.hpp"

namespace fedsim::models {

namespace {
// Dropout masks: one key per (dropout_seed, step); kernels mix in layer, target, element.
uint64_t step_key(uint64_t dropout_seed, size_t s) { return mix64(dropout_seed ^ mix64(0x5eedULL + s)); }
int seqs_of(const Batch& b) { return b.B; }
int seqs_of(const DpoBatch& b) { return 2 * b.chosen.B; }
int t_of(const Batch& b) { return b.T; }
int t_of(const DpoBatch& b) { return b.chosen.T; }
Batch as_batch(const Batch& b) { return b; }
Batch as_batch(const DpoBatch& b) { return stack_dpo(b); }  // chosen rows, then rejected
}  // namespace

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
}

template <class BatchT, class StepFn>
std::vector<TrainStats> Model::Impl::train_batched(const std::vector<std::vector<float>*>& adapters,
                                                   const std::vector<std::vector<BatchT>>& batches,
                                                   const std::vector<float>& lrs,
                                                   const std::vector<uint64_t>& dropout_seeds, const OptimConfig& opt,
                                                   const std::vector<LocalHooks>& hooks, int64_t memory_mb, bool pack,
                                                   StepFn step) {
  const size_t K = adapters.size();
  const int64_t P = net.al.total;
  const ExecSpace& ex = net.exec;
  std::vector<TrainStats> out(K);
  // Groups of consecutive clients whose largest stacked step fits the activation budget.
  int Tmax = 1;
  for (const auto& bs : batches)
    for (const BatchT& b : bs) Tmax = std::max(Tmax, t_of(b));
  const int64_t per_seq = net.activation_floats(1, Tmax) * int64_t(sizeof(float));
  FEDSIM_ASSERT_MSG(memory_mb >= 1, "batched training: memory budget " << memory_mb << " MiB");
  const int64_t budget = memory_mb > (int64_t(1) << 40) ? std::numeric_limits<int64_t>::max() : memory_mb << 20;
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
    size_t most_steps = 0;
    for (size_t k = first; k < end; ++k) most_steps = std::max(most_steps, batches[k].size());
    if (most_steps == 0) {
      first = end;
      continue;
    }
    ensure_rows(kAdapterRows + G);
    bool prox = false, scaffold = false;
    for (size_t k = first; k < end; ++k) {
      prox = prox || hooks[k].prox_mu != 0.0f;
      scaffold = scaffold || hooks[k].scaffold_correction != nullptr;
    }
    auto need = [&](Mat<float>& m, const char* label) {
      if (static_cast<int>(m.extent(0)) < G) m = Mat<float>(Kokkos::view_alloc(ex, std::string(label)), G, P);
    };
    if (prox) need(batch_anchor, "fedsim::models::batch_prox_anchor");
    if (scaffold) need(batch_corr, "fedsim::models::batch_scaffold_correction");
    // Every step's stacked batch (the active clients' batches in order) and its segments.
    std::vector<Batch> stacked(most_steps);
    std::vector<std::vector<Segment>> segs(most_steps);
    std::vector<std::vector<size_t>> active(most_steps);
    for (size_t s = 0; s < most_steps; ++s)
      for (size_t k = first; k < end; ++k) {
        if (batches[k].size() <= s) continue;  // fewer steps: dropped out
        const Batch b = as_batch(batches[k][s]);
        Batch& st = stacked[s];
        st.T = b.T;
        st.B += b.B;
        st.inputs.insert(st.inputs.end(), b.inputs.begin(), b.inputs.end());
        st.targets.insert(st.targets.end(), b.targets.begin(), b.targets.end());
        segs[s].push_back({kAdapterRows + static_cast<int>(k - first), b.B, step_key(dropout_seeds[k], s)});
        active[s].push_back(k);
      }
    std::vector<const Batch*> ptrs;
    for (const Batch& b : stacked) ptrs.push_back(&b);
    net.stage(ptrs, segs, pack);
    // Uploads of the run: adapters, hooks, per-row settings (lr, mu; steps, has correction).
    const auto rows = std::make_pair(kAdapterRows, kAdapterRows + G);
    auto fit = [&](auto& v, int64_t n, const char* label) {
      if (static_cast<int64_t>(v.extent(0)) < n) v = std::decay_t<decltype(v)>(Kokkos::view_alloc(std::string(label)), n);
    };
    fit(row_fh, 2 * G, "fedsim::host::row_settings_f");
    fit(row_ih, 2 * G, "fedsim::host::row_settings_i");
    fit(row_f, 2 * G, "fedsim::models::row_settings_f");
    fit(row_i, 2 * G, "fedsim::models::row_settings_i");
    fit(loss_acc, G, "fedsim::models::loss_sums");
    fit(clip_scale, G, "fedsim::models::clip_scale");
    // Adapters, anchors and corrections of the group: G rows each in one host buffer, one
    // upload per matrix (rows without an anchor or correction are never read).
    const int64_t GP = int64_t(G) * P, parts = 1 + int64_t(prox) + int64_t(scaffold);
    fit(rows_h, parts * GP, "fedsim::host::adapter_rows");
    float* const ad_h = rows_h.data();
    float* const anc_h = ad_h + GP;
    float* const cor_h = ad_h + (1 + int64_t(prox)) * GP;
    for (size_t k = first; k < end; ++k) {
      const int g = static_cast<int>(k - first);
      FEDSIM_ASSERT_MSG(static_cast<int64_t>(adapters[k]->size()) == P,
                        "adapter " << k << " has " << adapters[k]->size() << " values, model expects " << P);
      std::copy(adapters[k]->begin(), adapters[k]->end(), ad_h + int64_t(g) * P);
      const LocalHooks& h = hooks[k];
      if (h.prox_mu != 0.0f) {
        FEDSIM_ASSERT_MSG(h.prox_anchor != nullptr, "LocalHooks: prox_mu " << h.prox_mu << " without an anchor");
        FEDSIM_ASSERT_MSG(static_cast<int64_t>(h.prox_anchor->size()) == P,
                          "prox anchor has " << h.prox_anchor->size() << " values, the adapter " << P);
        std::copy(h.prox_anchor->begin(), h.prox_anchor->end(), anc_h + int64_t(g) * P);
      }
      if (h.scaffold_correction != nullptr) {
        FEDSIM_ASSERT_MSG(static_cast<int64_t>(h.scaffold_correction->size()) == P,
                          "scaffold correction has " << h.scaffold_correction->size() << " values, the adapter " << P);
        std::copy(h.scaffold_correction->begin(), h.scaffold_correction->end(), cor_h + int64_t(g) * P);
      }
      row_fh(g) = lrs[k];
      row_fh(G + g) = h.prox_mu;
      row_ih(g) = static_cast<int32_t>(batches[k].size());
      row_ih(G + g) = h.scaffold_correction != nullptr;
    }
    using HostRows = Kokkos::View<const float**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
    Kokkos::deep_copy(ex, Kokkos::subview(net.adapters, rows, Kokkos::ALL), HostRows(ad_h, G, P));
    if (prox) Kokkos::deep_copy(ex, Kokkos::subview(batch_anchor, std::make_pair(0, G), Kokkos::ALL), HostRows(anc_h, G, P));
    if (scaffold) Kokkos::deep_copy(ex, Kokkos::subview(batch_corr, std::make_pair(0, G), Kokkos::ALL), HostRows(cor_h, G, P));
    Kokkos::deep_copy(ex, Kokkos::subview(row_f, std::make_pair(0, 2 * G)), Kokkos::subview(row_fh, std::make_pair(0, 2 * G)));
    Kokkos::deep_copy(ex, Kokkos::subview(row_i, std::make_pair(0, 2 * G)), Kokkos::subview(row_ih, std::make_pair(0, 2 * G)));
    Kokkos::deep_copy(ex, Kokkos::subview(adam_m, rows, Kokkos::ALL), 0.0f);  // fresh AdamW per client and call
    Kokkos::deep_copy(ex, Kokkos::subview(adam_v, rows, Kokkos::ALL), 0.0f);
    Kokkos::deep_copy(ex, Kokkos::subview(loss_acc, std::make_pair(0, G)), 0.0);
    RowSettings<float> rs;
    rs.lr = as_vec(row_f.data(), G);
    rs.steps = as_vec(row_i.data(), G);
    if (prox) {
      rs.mu = as_vec(row_f.data() + G, G);
      rs.anchor = as_mat(batch_anchor.data(), G, P);
    }
    if (scaffold) {
      rs.corr = as_mat(batch_corr.data(), G, P);
      rs.corr_on = as_vec(row_i.data() + G, G);
    }
    auto rows_of = [&](Mat<float>& m) { return as_mat(m.data() + int64_t(kAdapterRows) * P, G, P); };
    const UVec<double> scale = as_vec(clip_scale.data(), G);
    std::vector<double> loss_sum(K, 0.0);
    for (size_t s = 0; s < most_steps; ++s) {
      count_step();
      net.use(s);
      Kokkos::deep_copy(ex, Kokkos::subview(net.adapter_grads, rows, Kokkos::ALL), 0.0f);
      const std::vector<double> host_losses = step(s);  // empty: accumulated on the device
      int b = 0;  // the stacked step's sequences: each active client's, in order
      for (size_t i = 0; i < active[s].size(); ++i) {
        const size_t k = active[s][i];
        const int seqs = seqs_of(batches[k][s]);
        for (int j = 0; j < seqs; ++j) out[k].rows += net.seq_rows(b + j);
        b += seqs;
        out[k].tokens += int64_t(seqs) * t_of(batches[k][s]);
        if (!host_losses.empty()) loss_sum[k] += host_losses[i];
      }
      clip_scales(ex, rows_of(net.adapter_grads), rows_of(net.adapters), rs, int64_t(s), opt.grad_clip, sumsq_partial,
                  scale);
      adamw_rows(ex, rows_of(net.adapters), rows_of(adam_m), rows_of(adam_v), rows_of(net.adapter_grads), scale, rs,
                 int64_t(s), adamw_common(opt, int64_t(s) + 1));
    }
    // The one read of the run: G adapters (floats, two to a double slot) and G loss sums.
    const int64_t words = (int64_t(G) * P + 1) / 2, total = words + G;
    fit(readback, total, "fedsim::models::readback");
    fit(readback_h, total, "fedsim::host::readback");
    {
      const Vec<double> rb = readback, acc = loss_acc;
      const UMat<float> ad = rows_of(net.adapters);
      Kokkos::parallel_for(
          "fedsim::models::pack_readback", range(ex, int64_t(G) * P + G), KOKKOS_LAMBDA(const int64_t i) {
            if (i < int64_t(G) * P)
              reinterpret_cast<float*>(rb.data())[i] = ad.data()[i];
            else
              rb(words + (i - int64_t(G) * P)) = acc(i - int64_t(G) * P);
          });
      Kokkos::deep_copy(ex, Kokkos::subview(readback_h, std::make_pair(int64_t(0), total)),
                        Kokkos::subview(rb, std::make_pair(int64_t(0), total)));
    }
    count_run();
    const float* back = reinterpret_cast<const float*>(readback_h.data());
    for (size_t k = first; k < end; ++k) {
      const int g = static_cast<int>(k - first);
      out[k].steps = static_cast<int>(batches[k].size());
      const double sum = loss_sum[k] + readback_h(words + g);
      out[k].mean_loss = out[k].steps > 0 ? sum / out[k].steps : 0.0;
      if (out[k].steps > 0) adapters[k]->assign(back + int64_t(g) * P, back + int64_t(g + 1) * P);
    }
    first = end;
  }
  return out;
}

namespace {
void check_sizes(size_t k, size_t batches, size_t lrs, size_t seeds, size_t hooks) {
  FEDSIM_ASSERT_MSG(batches == k && lrs == k && seeds == k && hooks == k,
                    "batched training of " << k << " adapters got " << batches << " batch lists, " << lrs << " lrs, "
                                           << seeds << " seeds, " << hooks << " hooks");
}
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
constexpr int64_t kNoBudget = int64_t(1) << 50;  // MiB: one group

// The SFT step of staged step s: forward with every segment's adapter and dropout, each
// segment's mean loss added to its client's sum on the device, backward.
struct SftStep {
  Net<float>& net;
  Vec<double>& loss_acc;  // (clients of the run) loss sums
  std::vector<double> operator()(size_t) const {
    net.forward_staged(true, true);
    const UVec<double> sl = net.seg_loss();
    const IVec row = net.segments().row;
    const Vec<double> acc = loss_acc;
    Kokkos::parallel_for(
        "fedsim::models::loss_sums", range(net.exec, int64_t(net.segments().S())), KOKKOS_LAMBDA(const int64_t i) {
          if (row(i) >= kAdapterRows) acc(row(i) - kAdapterRows) += sl(i);
        });
    net.backward(false);
    return {};
  }
};

// The DPO step: the base's per-sequence losses (reference) and the adapters' on the same stacked
// batch, each segment's DPO loss (added to its client's sum) and sequence weights on the device
// (dpo_step_device), backward with those weights: no host read per step.
struct DpoStep {
  Net<float>& net;
  Vec<double>& loss_acc;  // (clients of the run) loss sums
  Vec<double>& seq_nll;   // (2 B) scratch: the adapters' and the base's per-sequence losses
  float beta;
  std::vector<double> operator()(size_t) const {
    const int B = net.n_seqs();
    if (static_cast<int>(seq_nll.extent(0)) < 2 * B)
      seq_nll = Vec<double>(Kokkos::view_alloc(net.exec, "fedsim::models::dpo_seq_losses"), 2 * B);
    const UVec<double> nl = as_vec(seq_nll.data(), B), ref = as_vec(seq_nll.data() + B, B);
    net.forward_staged(false, false);
    net.sequence_losses_device(ref);  // -log p under the base
    net.forward_staged(true, true);
    net.sequence_losses_device(nl);
    const SegTable& st = net.segments();
    dpo_step_device(net.exec, net.seq_weights_device(), as_vec(loss_acc.data(), int64_t(loss_acc.extent(0))),
                    kAdapterRows, nl, ref, st.row, st.b0, st.seqs, beta);
    net.backward_weighted(false);
    return {};
  }
};
}  // namespace

TrainStats Model::train_adapter(std::vector<float>& adapter, const std::vector<Batch>& batches, float lr,
                                const OptimConfig& opt, uint64_t dropout_seed, const LocalHooks& hooks) {
  Impl& im = *impl_;
  FEDSIM_ASSERT_MSG(static_cast<int64_t>(adapter.size()) == im.net.al.total,
                    "adapter has " << adapter.size() << " values, model expects " << im.net.al.total);
  return im.train_batched({&adapter}, std::vector<std::vector<Batch>>{batches}, {lr}, {dropout_seed}, opt, {hooks},
                          kNoBudget, false, SftStep{im.net, im.loss_acc})[0];
}

TrainStats Model::train_adapter_dpo(std::vector<float>& adapter, const std::vector<DpoBatch>& batches, float lr,
                                    const OptimConfig& opt, uint64_t dropout_seed, float beta,
                                    const LocalHooks& hooks) {
  Impl& im = *impl_;
  FEDSIM_ASSERT_MSG(static_cast<int64_t>(adapter.size()) == im.net.al.total,
                    "adapter has " << adapter.size() << " values, model expects " << im.net.al.total);
  return im.train_batched({&adapter}, std::vector<std::vector<DpoBatch>>{batches}, {lr}, {dropout_seed}, opt, {hooks},
                          kNoBudget, false, DpoStep{im.net, im.loss_acc, im.dpo_seq_nll, beta})[0];
}

std::vector<TrainStats> Model::train_adapters_batched(const std::vector<std::vector<float>*>& adapters,
                                                      const std::vector<std::vector<Batch>>& batches,
                                                      const std::vector<float>& lrs, const OptimConfig& opt,
                                                      const std::vector<uint64_t>& dropout_seeds,
                                                      const std::vector<LocalHooks>& hooks, const BatchOptions& options) {
  check_sizes(adapters.size(), batches.size(), lrs.size(), dropout_seeds.size(), hooks.size());
  if (common_t(batches) <= 0) {  // mixed contexts (or no steps at all): one client at a time
    std::vector<TrainStats> out;
    for (size_t k = 0; k < adapters.size(); ++k)
      out.push_back(train_adapter(*adapters[k], batches[k], lrs[k], opt, dropout_seeds[k], hooks[k]));
    return out;
  }
  Impl& im = *impl_;
  return im.train_batched(adapters, batches, lrs, dropout_seeds, opt, hooks, options.memory_mb, options.pack,
                          SftStep{im.net, im.loss_acc});
}

std::vector<TrainStats> Model::train_adapters_dpo_batched(const std::vector<std::vector<float>*>& adapters,
                                                          const std::vector<std::vector<DpoBatch>>& batches,
                                                          const std::vector<float>& lrs, const OptimConfig& opt,
                                                          const std::vector<uint64_t>& dropout_seeds, float beta,
                                                          const std::vector<LocalHooks>& hooks, const BatchOptions& options) {
  check_sizes(adapters.size(), batches.size(), lrs.size(), dropout_seeds.size(), hooks.size());
  if (common_t(batches) <= 0) {
    std::vector<TrainStats> out;
    for (size_t k = 0; k < adapters.size(); ++k)
      out.push_back(train_adapter_dpo(*adapters[k], batches[k], lrs[k], opt, dropout_seeds[k], beta, hooks[k]));
    return out;
  }
  Impl& im = *impl_;
  return im.train_batched(adapters, batches, lrs, dropout_seeds, opt, hooks, options.memory_mb, options.pack,
                          DpoStep{im.net, im.loss_acc, im.dpo_seq_nll, beta});
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
