// Where every parameter lives in the flat base and adapter buffers (models/README.md).
// Host-only bookkeeping: offsets in elements, no Kokkos.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/model.hpp"

namespace fedsim::models {

// Offsets into the flat base buffer. Per-layer tensors are stacked over L (layer l of
// `qw` starts at qw + l*C*C). Order in memory is the order of the fields.
struct BaseLayout {
  int64_t wte = 0;                 // (V,C) token embedding, also the output head (tied)
  int64_t wpe = 0;                 // (maxT,C) position embedding
  int64_t ln1w = 0, ln1b = 0;      // (L,C)
  int64_t qw = 0, kw = 0, vw = 0;  // (L,C,C) rows = output channels
  int64_t qb = 0, kb = 0, vb = 0;  // (L,C)
  int64_t ow = 0, ob = 0;          // (L,C,C), (L,C)
  int64_t ln2w = 0, ln2b = 0;      // (L,C)
  int64_t upw = 0, upb = 0;        // (L,F,C), (L,F)
  int64_t downw = 0, downb = 0;    // (L,C,F), (L,C)
  int64_t lnfw = 0, lnfb = 0;      // (C)
  int64_t total = 0;
};
BaseLayout make_base_layout(const ModelConfig& cfg);
// Checks d_model % n_heads etc.; UserError naming the `model.*` key.
void validate_model_config(const ModelConfig& cfg);

// LoRA targets in canonical (layout) order.
enum Target : int { kQ = 0, kK, kV, kO, kUp, kDown, kNumTargets };
inline constexpr std::array<const char*, kNumTargets> kTargetNames{"q", "k", "v", "o", "mlp_up", "mlp_down"};

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
// Validates `lora` (UserError naming lora.rank / lora.targets / lora.dropout).
AdapterLayout make_adapter_layout(const ModelConfig& cfg, const LoraConfig& lora);

}  // namespace fedsim::models
