// Hugging Face model folders without Kokkos: config.json <-> ModelConfig, the transformers
// tensor name of every base slot, random folders (`fedsim model init`), and adapters out in
// PEFT's format (`fedsim export adapter`). Loading a folder into a Model is Model::load_hf.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/hf/safetensors.hpp"
#include "models/layout.hpp"
#include "models/model.hpp"

namespace fedsim::models {

// config.json's `architectures` entry of each family ("LlamaForCausalLM", ...).
const char* hf_architecture(Arch a);
// DIR/config.json as a ModelConfig (max_seq and base_dtype from `opt`), validated; UserError
// naming DIR/config.json and the key for anything missing, mistyped or unsupported.
ModelConfig read_hf_config(const std::string& dir, const HfOptions& opt = HfOptions());
// The same from the text of a config.json (`where` names it in errors).
ModelConfig parse_hf_config(const std::string& text, const std::string& where, const HfOptions& opt = HfOptions());
// The text side of a folder: DIR/tokenizer.json (with tokenizer_config.json beside it for BOS,
// EOS, PAD and the chat template) and the chat family it is made for (chat_family). tokenizer is
// nullptr when the folder has no tokenizer.json (then `why` says so). UserError naming both files
// and both numbers when the tokenizer has more ids than cfg.vocab_size (its embedding rows).
struct HfText {
  std::shared_ptr<const TextTokenizer> tokenizer;
  std::string family;
  std::string why;  // tokenizer == nullptr: the message Model::tokenizer() gives
};
HfText read_hf_text(const std::string& dir, const ModelConfig& cfg);
// config.json text for `c` in transformers' format (LlamaConfig, MistralConfig, Qwen2Config,
// Qwen3Config keys), byte-level special token ids.
std::string hf_config_json(const ModelConfig& c);
// transformers' state-dict name of every slot, in slot order ("model.layers.0.self_attn.q_proj.weight").
std::vector<std::pair<std::string, const Slot*>> hf_tensor_names(const BaseLayout& bl);
// The shape transformers stores a slot with: [rows, cols] for matrices, [cols] for vectors.
std::vector<int64_t> hf_shape(const Slot& s);

// `fedsim model init`: a random-initialised folder. cfg.init_std sets initializer_range; noise
// perturbs gains and biases (tests); shards > 1 splits the tensors over
// model-0000k-of-0000n.safetensors with model.safetensors.index.json.
struct HfInitSpec {
  ModelConfig cfg;
  uint64_t seed = 1;
  double noise = 0.0;
  StDtype dtype = StDtype::f32;
  int shards = 1;
  // tokenizer.json to copy (with the tokenizer_config.json beside it, if any); empty:
  // byte_level_tokenizer_json() and byte_level_tokenizer_config_json(). Its ids must fit cfg.vocab_size.
  std::string tokenizer;
};
// Writes DIR (which must not exist or be empty) through a temporary folder renamed at the end.
// The weights equal Model(cfg, lora, seed)'s for noise 0 and dtype F32.
void write_hf_model(const HfInitSpec& spec, const std::string& dir);
// A Hugging Face tokenizer.json for fedsim's byte-level ids: ByteLevel BPE whose vocabulary is
// the 256 bytes (GPT-2's byte-to-unicode characters, id = byte value) with no merges, and the
// specials 256 <|bos|> ... 263 as added tokens.
std::string byte_level_tokenizer_json();
// Its tokenizer_config.json: BOS <|bos|> (256), EOS <|eos|> (257), PAD <|pad|> (258).
std::string byte_level_tokenizer_config_json();

// PEFT (huggingface/peft, LoraModel) adapter folder: adapter_config.json and
// adapter_model.safetensors with tensors base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight
// (r, in) and ...lora_B.weight (out, r). PEFT scales the branch by lora_alpha / r, as fedsim does,
// so A and B are written as they are.
void write_peft_adapter(const ModelConfig& cfg, const LoraConfig& lora, const std::vector<float>& adapter,
                        const std::string& base_model, const std::string& dir);
// rank (r), alpha (lora_alpha), dropout and targets (target_modules) of a PEFT folder's
// adapter_config.json; UserError for anything missing or not LoRA.
LoraConfig read_peft_config(const std::string& dir);
// The inverse, for tests and tools: the adapter vector (layout of make_adapter_layout) of a
// PEFT folder written for cfg and lora; UserError for missing or misshaped tensors.
std::vector<float> read_peft_adapter(const ModelConfig& cfg, const LoraConfig& lora, const std::string& dir);

}  // namespace fedsim::models
