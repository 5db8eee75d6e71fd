// Model::Impl, shared by model.cpp and checkpoint.cpp.
#pragma once

#include "models/kernels/adamw.hpp"
#include "models/model.hpp"
#include "models/net.hpp"

namespace fedsim::models {

// Adapter rows of Net: the client being trained and the adapter being evaluated, so that
// evaluate() never touches training state.
inline constexpr int kTrainRow = 0, kEvalRow = 1, kAdapterRows = 2;

struct Model::Impl {
  Impl(const ModelConfig& cfg, const LoraConfig& lora) : lora(lora), net(cfg, lora, kAdapterRows) {
    adam_m = Mat<float>(Kokkos::view_alloc(net.exec, "fedsim::models::adapter_adam_m"), kAdapterRows, net.al.total);
    adam_v = Mat<float>(Kokkos::view_alloc(net.exec, "fedsim::models::adapter_adam_v"), kAdapterRows, net.al.total);
  }
  // One AdamW step (kernels/adamw.hpp) on params with grads, clipping by global norm.
  void adamw_step(UVec<float> params, UVec<float> m, UVec<float> v, UVec<float> grads, int64_t t, float lr,
                  const OptimConfig& opt);
  // Uploads the hooks' vectors (checked against the adapter size) before a local run.
  void set_hooks(const LocalHooks& hooks);
  // One optimizer step of the training row with the hooks: prox gradient, AdamW, SCAFFOLD.
  void hooked_step(const LocalHooks& hooks, int64_t t, float lr, const OptimConfig& opt);

  LoraConfig lora;
  Net<float> net;
  Mat<float> adam_m, adam_v;  // (rows, P) adapter moments, reset by every train_adapter call
  Vec<float> base_m, base_v;  // (n_base) full-parameter moments, kept across calls
  int64_t base_steps = 0;
  Vec<double> sumsq_partial;
  Vec<float> prox_anchor, scaffold_corr;  // (P) device copies of LocalHooks' vectors
};

}  // namespace fedsim::models
