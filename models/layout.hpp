// Where every parameter lives in the base and adapter buffers (models/README.md). Host-only
// bookkeeping: offsets in elements, no Kokkos. Code reaches a tensor through its named slot
// (`layers[l].q`), never through offset arithmetic of its own.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "models/model.hpp"

namespace fedsim::models {

// One base tensor: (rows, cols) row-major (a vector has rows == 1) at `off` in the float
// buffer, or in the bf16 buffer when `half`. off < 0: the architecture has no such tensor.
struct Slot {
  enum Kind { matrix, gain, bias };
  int64_t off = -1;
  int64_t rows = 0, cols = 0;
  bool half = false;
  Kind kind = bias;
  bool residual = false;  // o and mlp_down (GPT's scaled init)
  int id = -1;            // index in BaseLayout::slots(): keys its random-init stream
  bool present() const { return off >= 0; }
  int64_t size() const { return rows * cols; }
};

// One layer's tensors. Rows are output channels (y = x W^T). Q = NH*hd, KV = NKV*hd (GPT:
// both C). GPT: ln1/ln2 are LayerNorms (gain, bias), mlp is up -> GELU -> down. Llama
// family: ln1/ln2 are RMSNorm gains (no bias), mlp is down(silu(gate) * up).
struct LayerSlots {
  Slot ln1w, ln1b;         // (C) input_layernorm
  Slot q, k, v;            // (Q,C), (KV,C), (KV,C)
  Slot qb, kb, vb;         // (Q), (KV), (KV)
  Slot q_norm, k_norm;     // (hd) Qwen3's per-head RMSNorm gains
  Slot o, ob;              // (C,Q), (C)
  Slot ln2w, ln2b;         // (C) post_attention_layernorm
  Slot gate, gateb;        // (F,C), (F) Llama family only
  Slot up, upb;            // (F,C), (F)
  Slot down, downb;        // (C,F), (C)
};

struct BaseLayout {
  Slot wte;                // (V,C) token embedding
  Slot wpe;                // (maxT,C) GPT's learned positions
  std::vector<LayerSlots> layers;  // (L)
  Slot lnfw, lnfb;         // (C) final norm
  Slot lm_head;            // (V,C) untied output head; absent when tied (the head reads wte)
  int64_t total = 0;       // elements of the float buffer
  int64_t total_half = 0;  // elements of the bf16 buffer (base_dtype bf16: the matrices)
  int64_t largest_matrix = 0;  // elements of the largest per-layer matrix (bf16 panel size)
  // Every present slot, in buffer order (ids 0, 1, ...).
  std::vector<const Slot*> slots() const;
  const Slot& head() const { return lm_head.present() ? lm_head : wte; }
};
// GPT presets keep the order of fedsim checkpoints (format 1): wte, wpe, then each per-layer
// tensor stacked over L (ln1w of all layers, then ln1b, ...), then lnf.
BaseLayout make_base_layout(const ModelConfig& cfg);
// Checks shapes; UserError naming the `model.*` key (GPT) or the config.json key (Llama family).
void validate_model_config(const ModelConfig& cfg);

// Random values of one Llama-family tensor, from its own stream Rng(seed, slot id, 0,
// model_init): matrices N(0, std), RMSNorm gains 1 and biases 0 as transformers' _init_weights
// (initializer_range = std); noise > 0 adds U(-noise, noise) to gains and biases (tests, so
// that a wrongly applied gain or bias shows). Net::init_base and `fedsim model init` both
// draw here, so a written folder loads to the model built from the same seed.
template <class Out>
void init_tensor_values(const Slot& s, uint64_t seed, double std, double noise, Out* out) {
  Rng rng(seed, static_cast<uint64_t>(s.id), 0, Purpose::model_init);
  const int64_t n = s.size();
  for (int64_t i = 0; i < n; ++i) {
    double x = s.kind == Slot::matrix ? std * rng.normal() : s.kind == Slot::gain ? 1.0 : 0.0;
    if (noise > 0 && s.kind != Slot::matrix) x += noise * (2 * rng.uniform() - 1);
    out[i] = static_cast<Out>(x);
  }
}

// LoRA targets in canonical (layout) order. mlp_gate exists in the Llama family only.
enum Target : int { kQ = 0, kK, kV, kO, kUp, kDown, kGate, kNumTargets };
inline constexpr std::array<const char*, kNumTargets> kTargetNames{"q", "k", "v", "o", "mlp_up", "mlp_down", "mlp_gate"};
// PEFT's module names of the Llama family, per target.
inline constexpr std::array<const char*, kNumTargets> kPeftNames{"q_proj", "k_proj", "v_proj", "o_proj",
                                                                 "up_proj", "down_proj", "gate_proj"};

// Adapter layout: for each layer, for each enabled target in canonical order, A (r, d_in)
// then B (d_out, r), all row-major.
struct AdapterLayout {
  int rank = 0;
  double scale = 0;  // alpha / rank
  float dropout = 0;
  std::array<bool, kNumTargets> enabled{};
  std::array<int, kNumTargets> d_in{}, d_out{};
  std::vector<int64_t> a_off, b_off;  // (L * kNumTargets), -1 where not enabled
  int64_t total = 0;
  int64_t a(int layer, int t) const { return a_off[layer * kNumTargets + t]; }
  int64_t b(int layer, int t) const { return b_off[layer * kNumTargets + t]; }
};
// Validates `lora` (UserError naming lora.rank / lora.targets / lora.dropout). Targets are
// fedsim's names or PEFT's (q_proj, ..., gate_proj).
AdapterLayout make_adapter_layout(const ModelConfig& cfg, const LoraConfig& lora);
// The enabled targets, canonical names, comma-separated ("q,v").
std::string join_targets(const AdapterLayout& al);

}  // namespace fedsim::models
