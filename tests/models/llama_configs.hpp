// Small Llama-family configs for the model tests: one per architecture, each switching on what
// that family adds (llama: GQA, untied head, llama3 RoPE scaling; mistral: sliding window;
// qwen2: q/k/v bias, tied head; qwen3: q/k norms, head_dim != d_model / n_heads).
#pragma once

#include "models/model.hpp"

namespace fedsim::models::testing {

inline ModelConfig small_llama(Arch arch, int T = 8, int C = 8, int F = 12) {
  ModelConfig c;
  c.preset = "test";
  c.arch = arch;
  c.vocab_size = Tokenizer::vocab_size;  // the byte-level batches of make_sft_batch
  c.max_seq = T;
  c.d_model = C;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = F;
  c.norm_eps = 1e-5;
  c.rope.theta = 10000;
  c.tie_embeddings = true;
  switch (arch) {
    case Arch::llama:
      c.tie_embeddings = false;
      c.rope.type = "llama3";
      c.rope.factor = 8;
      c.rope.low_freq_factor = 1;
      c.rope.high_freq_factor = 4;
      c.rope.original_max_positions = 4;
      break;
    case Arch::mistral:
      c.tie_embeddings = false;
      c.sliding_window = 3;
      break;
    case Arch::qwen2:
      c.qkv_bias = true;
      break;
    case Arch::qwen3:
      c.qk_norm = true;
      c.head_dim = 6;
      break;
    case Arch::gpt2:
      break;
  }
  return c;
}

inline const Arch kLlamaArchs[] = {Arch::llama, Arch::mistral, Arch::qwen2, Arch::qwen3};

inline LoraConfig all_llama_targets(float dropout, int rank = 2) {
  LoraConfig l;
  l.rank = rank;
  l.dropout = dropout;
  l.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return l;
}

}  // namespace fedsim::models::testing
