// Model::Impl, shared by model.cpp and checkpoint.cpp.
#pragma once

#include "models/kernels/adamw.hpp"
#include "models/model.hpp"
#include "models/net.hpp"

namespace fedsim::models {

// Adapter rows of Net: the client being trained and the adapter being evaluated, so that
// evaluate() never touches training state; batched training uses rows kAdapterRows and up.
inline constexpr int kTrainRow = 0, kEvalRow = 1, kAdapterRows = 2;

struct Model::Impl {
  Impl(const ModelConfig& cfg, const LoraConfig& lora) : lora(lora), net(cfg, lora, kAdapterRows) {
    adam_m = Mat<float>(Kokkos::view_alloc(net.exec, "fedsim::models::adapter_adam_m"), kAdapterRows, net.al.total);
    adam_v = Mat<float>(Kokkos::view_alloc(net.exec, "fedsim::models::adapter_adam_v"), kAdapterRows, net.al.total);
    // fedsim's byte-level ids wherever they fit (presets, checkpoints, random Llama-family
    // models); load_hf replaces them by the folder's tokenizer.
    if (cfg.vocab_size >= Tokenizer::vocab_size) {
      tok = byte_tokenizer();
      family = "fedsim-bytes";
    }
  }
  // One AdamW step (kernels/adamw.hpp) on params with grads, clipping by global norm.
  void adamw_step(UVec<float> params, UVec<float> m, UVec<float> v, UVec<float> grads, int64_t t, float lr,
                  const OptimConfig& opt);
  // Uploads the hooks' vectors (checked against the adapter size) before a local run.
  void set_hooks(const LocalHooks& hooks);
  // One optimizer step of adapter row `row` with the hooks: prox gradient towards `anchor`,
  // AdamW, SCAFFOLD `correction` (device copies of the hooks' vectors).
  void hooked_step(int row, const LocalHooks& hooks, UVec<float> anchor, UVec<float> correction, int64_t t, float lr,
                   const OptimConfig& opt);
  // The adapter row evaluation reads: `adapter` uploaded into row kEvalRow, or -1 (base only)
  // for nullptr.
  int eval_row(const std::vector<float>* adapter);
  // Grows the adapter, gradient and moment rows to at least `rows`, keeping their contents.
  void ensure_rows(int rows);
  // Batched local training (train.cpp) over batches of context Tn: `step(active, rows, s)` runs
  // the forward and backward of step s for the clients `active` (indices into the arguments,
  // adapter row rows[k]) and returns their losses.
  template <class BatchT, class StepFn>
  std::vector<TrainStats> train_batched(const std::vector<std::vector<float>*>& adapters,
                                        const std::vector<std::vector<BatchT>>& batches, const std::vector<float>& lrs,
                                        const OptimConfig& opt, const std::vector<LocalHooks>& hooks, int Tn,
                                        int64_t memory_mb, StepFn step);

  LoraConfig lora;
  Net<float> net;
  std::shared_ptr<const TextTokenizer> tok;  // nullptr: none (Model::tokenizer says why)
  std::string family;                         // chat_family of tok
  std::string no_tokenizer_why;               // what tokenizer() reports when tok is null
  const ChatTemplate* tmpl = &models::chat_template("fedsim-bytes");
  Mat<float> adam_m, adam_v;  // (rows, P) adapter moments, reset by every train_adapter call
  Vec<float> base_m, base_v;  // (n_base) full-parameter moments, kept across calls
  int64_t base_steps = 0;
  Vec<double> sumsq_partial;
  Vec<float> prox_anchor, scaffold_corr;  // (P) device copies of LocalHooks' vectors
  Mat<float> batch_anchor, batch_corr;    // (clients, P) the same for batched training
};

}  // namespace fedsim::models
