// Local adapter training: SFT and DPO loops, with the federation layer's FedProx and SCAFFOLD
// hooks (model.hpp LocalHooks, REFERENCE.md section 3).
#include <cmath>

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

void Model::Impl::hooked_step(const LocalHooks& hooks, int64_t t, float lr, const OptimConfig& opt) {
  auto params = net.row(net.adapters, kTrainRow), grads = net.row(net.adapter_grads, kTrainRow);
  if (hooks.prox_mu != 0.0f)
    prox_gradient(net.exec, grads, params, as_vec(prox_anchor.data(), net.al.total), hooks.prox_mu);
  adamw_step(params, net.row(adam_m, kTrainRow), net.row(adam_v, kTrainRow), grads, t, lr, opt);
  if (hooks.scaffold_correction != nullptr)
    scaffold_correct(net.exec, params, as_vec(scaffold_corr.data(), net.al.total), lr);
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
    im.hooked_step(hooks, static_cast<int64_t>(s) + 1, lr, opt);
    st.tokens += int64_t(batches[s].B) * batches[s].T;
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
    im.hooked_step(hooks, static_cast<int64_t>(s) + 1, lr, opt);
    st.tokens += int64_t(both.B) * both.T;
  }
  st.steps = static_cast<int>(batches.size());
  st.mean_loss = loss_sum / st.steps;
  adapter = net.get_row(net.adapters, kTrainRow);
  return st;
}

DpoEvalStats Model::evaluate_dpo(const std::vector<float>* adapter, const DpoBatch& batch, float beta) const {
  Net<float>& net = impl_->net;
  net.set_batch(stack_dpo(batch));
  const std::vector<double> ref = sequence_logps(net, -1, false, 0);
  int client = -1;
  if (adapter != nullptr) {
    FEDSIM_ASSERT(static_cast<int64_t>(adapter->size()) == net.al.total);
    net.set_row(net.adapters, kEvalRow, *adapter);
    client = kEvalRow;
  }
  const DpoResult r = dpo_forward_backward(net, client, ref, beta, false, 0, false);
  DpoEvalStats es;
  es.mean_loss = r.loss;
  es.mean_margin = r.margin;
  es.accuracy = r.accuracy;
  es.pairs = batch.chosen.B;
  return es;
}

}  // namespace fedsim::models
