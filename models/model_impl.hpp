// Model::Impl, shared by model.cpp, train.cpp and checkpoint.cpp.
#pragma once

#include <cmath>

#include "models/kernels/adamw.hpp"
#include "models/model.hpp"
#include "models/net.hpp"

namespace fedsim::models {

// Adapter rows of Net: row kEvalRow holds the adapter being evaluated, so that evaluate() never
// touches training state; training uses rows kAdapterRows and up (row 0 is unused).
inline constexpr int kTrainRow = 0, kEvalRow = 1, kAdapterRows = 2;

// What every row of optimizer step t (1-based) shares.
inline AdamWStep adamw_common(const OptimConfig& opt, int64_t t) {
  AdamWStep s{};
  s.beta1 = opt.beta1;
  s.beta2 = opt.beta2;
  s.eps = opt.eps;
  s.weight_decay = opt.weight_decay;
  s.bias1 = 1.0 - std::pow(static_cast<double>(opt.beta1), static_cast<double>(t));
  s.bias2 = 1.0 - std::pow(static_cast<double>(opt.beta2), static_cast<double>(t));
  s.clip = opt.grad_clip;
  return s;
}

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
  // One full-parameter AdamW step on the base (pretraining): the optimizer kernels of
  // kernels/adamw.hpp with the base as a single row.
  void base_adamw_step(float lr, const OptimConfig& opt);
  // The adapter row evaluation reads: `adapter` uploaded into row kEvalRow, or -1 (base only)
  // for nullptr.
  int eval_row(const std::vector<float>* adapter);
  // Grows the adapter, gradient and moment rows to at least `rows`, keeping their contents.
  void ensure_rows(int rows);
  // Local training of clients (train.cpp) in groups that fit `memory_mb` of activations, each
  // group one run: every step's stacked batch staged at once, the steps run with no host
  // transfer (`step(s)` runs the forward and backward of staged step s and returns its losses
  // per active client when it computes them on the host, DPO, else nothing: SFT accumulates
  // them on the device), and one read of the group's adapters and losses at the end.
  template <class BatchT, class StepFn>
  std::vector<TrainStats> train_batched(const std::vector<std::vector<float>*>& adapters,
                                        const std::vector<std::vector<BatchT>>& batches, const std::vector<float>& lrs,
                                        const std::vector<uint64_t>& dropout_seeds, const OptimConfig& opt,
                                        const std::vector<LocalHooks>& hooks, int64_t memory_mb, bool pack,
                                        StepFn step);

  LoraConfig lora;
  Net<float> net;
  std::shared_ptr<const TextTokenizer> tok;  // nullptr: none (Model::tokenizer says why)
  std::string family;                         // chat_family of tok
  std::string no_tokenizer_why;               // what tokenizer() reports when tok is null
  const ChatTemplate* tmpl = &models::chat_template("fedsim-bytes");
  Mat<float> adam_m, adam_v;  // (rows, P) adapter moments, reset by every training call
  Vec<float> base_m = Vec<float>("fedsim::models::base_adam_m", 0);  // (n_base) full-parameter moments,
  Vec<float> base_v = Vec<float>("fedsim::models::base_adam_v", 0);  // kept across calls
  int64_t base_steps = 0;
  Vec<double> sumsq_partial = Vec<double>("fedsim::models::sumsq_partial", 0);
  Vec<double> clip_scale = Vec<double>("fedsim::models::clip_scale", 0);  // (rows) per step
  Mat<float> batch_anchor = Mat<float>("fedsim::models::batch_prox_anchor", 0, 0);  // (clients, P) FedProx anchors
  Mat<float> batch_corr = Mat<float>("fedsim::models::batch_scaffold_correction", 0, 0);  // (clients, P) SCAFFOLD
  // Per-row settings of a run (lr, mu, steps, has-correction) and its loss sums, on the device
  // and in pageable host staging buffers; the packed adapters + losses read back at the end.
  Vec<float> row_f = Vec<float>("fedsim::models::row_settings_f", 0);
  IVec row_i = IVec("fedsim::models::row_settings_i", 0);
  Vec<double> loss_acc = Vec<double>("fedsim::models::loss_sums", 0);
  Vec<double> dpo_seq_nll = Vec<double>("fedsim::models::dpo_seq_losses", 0);  // DpoStep's scratch
  Vec<double> readback = Vec<double>("fedsim::models::readback", 0);
  Kokkos::View<float*, Kokkos::HostSpace> row_fh = Kokkos::View<float*, Kokkos::HostSpace>("fedsim::host::row_settings_f", 0);
  Kokkos::View<int32_t*, Kokkos::HostSpace> row_ih =
      Kokkos::View<int32_t*, Kokkos::HostSpace>("fedsim::host::row_settings_i", 0);
  Kokkos::View<float*, Kokkos::HostSpace> rows_h = Kokkos::View<float*, Kokkos::HostSpace>("fedsim::host::adapter_rows", 0);  // uploads of a run's adapter rows
  Kokkos::View<double*, Kokkos::HostSpace> readback_h = Kokkos::View<double*, Kokkos::HostSpace>("fedsim::host::readback", 0);
};

}  // namespace fedsim::models
