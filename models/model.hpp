// The model every simulated client runs: a decoder-only transformer (fedsim's byte-level GPT
// presets, or a Llama-family model from a Hugging Face folder) with a frozen base and LoRA
// adapters, forward/backward/AdamW as Kokkos kernels.
//
// This header is the whole interface `sim/` sees. It knows no clients, rounds or time: the
// caller hands in batches, a learning rate and adapters, and gets adapters and losses back.
// Kokkos types stay behind it (pimpl), so sim/ never includes Kokkos.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "models/products.hpp"
#include "models/text/chat_template.hpp"
#include "models/text/tokenizer.hpp"

namespace fedsim::models {

inline constexpr int64_t kCheckpointFormatVersion = 1;
inline constexpr const char* kCheckpointKind = "fedsim-checkpoint";

// Decoder families. gpt2: fedsim's byte-level GPT presets (LayerNorm, learned positions, GELU
// MLP, tied head). The others are the Llama family as Hugging Face's transformers defines them
// (RMSNorm, rotary positions, SwiGLU MLP, grouped-query attention), chosen from config.json's
// `architectures` (models/README.md "Llama family").
enum class Arch { gpt2, llama, mistral, qwen2, qwen3 };
const char* arch_name(Arch a);  // "gpt2", "llama", "mistral", "qwen2", "qwen3"
// How the frozen base is stored: fp32, or bf16 (half the memory; every product still
// accumulates in fp32, models/README.md "bf16 base").
enum class BaseDtype { fp32, bf16 };

// Rotary position embedding (Su et al. 2021, "RoFormer", eq. 34) with transformers'
// rope_scaling rules (modeling_rope_utils.py): default, linear (inv_freq / factor), llama3
// (_compute_llama3_parameters).
struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
  int original_max_positions = 8192;
};

// Shapes of the transformer. GPT presets set the first block only; a Hugging Face folder
// (hf_config_from_json) sets the rest too.
struct ModelConfig {
  std::string preset = "tiny";
  int vocab_size = 264;  // GPT presets: fixed by the byte-level tokenizer
  int max_seq = 64;      // context length T
  int d_model = 64;      // C
  int n_layers = 2;      // L
  int n_heads = 4;       // NH
  int d_ff = 256;        // MLP hidden width (4*C by default)
  // Llama family only (arch != gpt2).
  Arch arch = Arch::gpt2;
  int n_kv_heads = 0;      // grouped-query attention; 0: n_heads
  int head_dim = 0;        // 0: d_model / n_heads (Qwen3 sets its own)
  double norm_eps = 1e-5;  // RMSNorm epsilon (rms_norm_eps)
  RopeConfig rope;
  bool qkv_bias = false;  // Qwen2; Llama's attention_bias sets it and o_bias
  bool o_bias = false;
  bool mlp_bias = false;      // Llama's mlp_bias: gate, up and down
  bool qk_norm = false;       // Qwen3: RMSNorm of each head of q and k before RoPE
  bool tie_embeddings = true;  // output head = token embedding (tie_word_embeddings)
  int sliding_window = 0;      // Mistral: each position attends to the last W; 0 = all
  int max_positions = 0;       // max_position_embeddings; 0 = max_seq
  double init_std = 0.02;      // initializer_range: random init of a Llama-family base
  BaseDtype base_dtype = BaseDtype::fp32;

  bool llama() const { return arch != Arch::gpt2; }
  int kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  int hd() const { return head_dim > 0 ? head_dim : d_model / n_heads; }
  int q_dim() const { return n_heads * hd(); }     // width of q and of the attention output
  int kv_dim() const { return kv_heads() * hd(); }  // width of k and v
};
std::vector<std::string> preset_names();
ModelConfig preset_config(const std::string& name);  // UserError naming accepted presets

// Loading a Hugging Face model folder (models/hf/, models/README.md "Hugging Face folders").
// max_seq 0: min(kHfDefaultSeq, max_position_embeddings).
inline constexpr int kHfDefaultSeq = 1024;
struct HfOptions {
  int max_seq = 0;
  BaseDtype base_dtype = BaseDtype::fp32;
};

struct LoraConfig {
  int rank = 8;
  float alpha = 16.0f;    // scale = alpha / rank (Hu et al., "LoRA", 2021, sec. 4.1)
  float dropout = 0.05f;  // on the adapter's input only
  std::vector<std::string> targets{"q", "v"};
};

struct OptimConfig {
  float weight_decay = 0.0f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float grad_clip = 1.0f;  // global L2 norm; <= 0 disables
};

// Byte-level tokenizer: ids 0..255 are bytes (any UTF-8 text round-trips), then specials.
struct Tokenizer {
  static constexpr int32_t BOS = 256, EOS = 257, PAD = 258, INST = 259, RESP = 260;
  static constexpr int32_t USER = 261, ASSISTANT = 262;  // turn markers of multi-turn dialogues
  static constexpr int32_t vocab_size = 264;             // 263 reserved
  static std::vector<int32_t> encode(const std::string& text);
  static std::string decode(const std::vector<int32_t>& ids);  // specials are skipped
};

// A host-side batch of B sequences of length T. targets[b*T+t] is the token to predict at
// position t (inputs shifted by one), or -1 where no loss is taken (prompt and padding).
struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> inputs;   // (B,T)
  std::vector<int32_t> targets;  // (B,T)
};
// Rows sequence b of `batch` takes when packed (models/README.md "Packing"): up to its last target
// token, at least one. Net::stage lays packed batches out by it; sim/ costs tasks by it.
inline int packed_len(const Batch& batch, int b) {
  int len = 1;
  for (int t = 0; t < batch.T; ++t)
    if (batch.targets[static_cast<size_t>(b) * static_cast<size_t>(batch.T) + static_cast<size_t>(t)] >= 0) len = t + 1;
  return len;
}
// SFT layout: BOS INST <instruction> RESP <response> EOS, right-padded with PAD to T and
// truncated to T. Loss on the response bytes and EOS only (OpenFedLLM: response-only loss).
Batch make_sft_batch(const std::vector<std::pair<std::string, std::string>>& pairs, int T);

struct TrainStats {
  double mean_loss = 0.0;  // mean over steps of the batch loss (before the update)
  int steps = 0;
  int64_t tokens = 0;  // tokens processed (B*T per step)
  int64_t rows = 0;    // rows computed: tokens less the padding a packed batched step skips
};
struct DpoEvalStats {
  double mean_loss = 0.0;    // DPO loss, mean over pairs
  double mean_margin = 0.0;  // mean of (log pi - log ref)(chosen) - (log pi - log ref)(rejected)
  double accuracy = 0.0;     // fraction of pairs whose margin is positive
  int64_t pairs = 0;
};
struct EvalStats {
  double mean_loss = 0.0;  // mean over target tokens
  double accuracy = 0.0;   // fraction of sequences whose every target token is the argmax
  int64_t sequences = 0;
};

// Initialises and finalises Kokkos for the process (one per process, before any Model).
// Lets the CLI and tests start Kokkos without including it.
class Runtime {
 public:
  Runtime(int& argc, char** argv);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  static std::string describe();  // e.g. "Kokkos 3.4.1, Serial, KokkosBlas gemm"
};

// Terms the federation layer adds to local training (REFERENCE.md section 3).
struct LocalHooks {
  // FedProx (Li et al., MLSys 2020): adds (mu/2) * ||w - anchor||^2 over the adapter to every
  // batch loss; its gradient mu * (w - anchor) joins the loss gradient before clipping.
  // Reported losses exclude the term.
  float prox_mu = 0.0f;
  const std::vector<float>* prox_anchor = nullptr;  // the round's global adapter
  // SCAFFOLD (Karimireddy et al., ICML 2020), as OpenFedLLM: after every optimizer step
  // w <- w - lr * correction, with correction = c - c_i (adapter-shaped).
  const std::vector<float>* scaffold_correction = nullptr;
};

// A preference batch: chosen and rejected continuations of the same prompts, laid out as SFT
// batches (targets on the response tokens only). Pair b is row b of both.
struct DpoBatch {
  Batch chosen, rejected;
};
// Triples (prompt, chosen, rejected).
DpoBatch make_dpo_batch(const std::vector<std::tuple<std::string, std::string, std::string>>& triples, int T);

// Generation settings. temperature <= 0: greedy (lowest token id among ties); else sampling
// from softmax(logits / temperature) over the top_k most likely tokens (top_k <= 0: all),
// drawn from Rng(seed, prompt index, 0, Purpose::generation), so the same seed gives the same
// text on any backend and batch size.
struct GenerateConfig {
  int max_new_tokens = 32;
  float temperature = 0.0f;
  int top_k = 0;
  uint64_t seed = 0;
};
// One answer of Model::generate_chat.
struct Generation {
  std::string text;           // decoded with special tokens skipped; no stop token
  int64_t prompt_tokens = 0;  // tokens of the prompt the model read (after cutting to the context)
  int64_t new_tokens = 0;     // tokens it produced, the stop token included
};
// Fraction of answers equal byte for byte to their reference (0 for no answers).
double exact_match(const std::vector<std::string>& generated, const std::vector<std::string>& references);

// Counts the simulator needs without building a model (trainer: none studies).
int64_t adapter_param_count(const ModelConfig& cfg, const LoraConfig& lora);
double train_flops_per_token(const ModelConfig& cfg, const LoraConfig& lora);
// Forward FLOPs per token of the base alone (no adapter): generation and inference costs.
double forward_flops_per_token(const ModelConfig& cfg);

// Options of batched local training. pack (default): the stacked step computes each sequence
// only up to its last target token (models/README.md "Packing"), so padding costs nothing; the
// losses and gradients are the same up to float rounding (row sums in another order).
// pack = false: the padded rows too, bit for bit what the per-client calls compute.
// memory_mb: clients go in groups whose largest stacked step's activations (counted padded)
// fit this many MiB; the activation buffer grows to the largest group's and stays.
struct BatchOptions {
  bool pack = true;
  int64_t memory_mb = 1024;
};

class Model {
 public:
  // Random base initialisation, deterministic in `seed`: GPT-2 style for the presets (N(0, 0.02),
  // residual projections scaled by 1/sqrt(2L)); transformers' for the Llama family
  // (N(0, init_std), gains 1, biases 0; the numbers `fedsim model init` writes).
  Model(const ModelConfig& cfg, const LoraConfig& lora, uint64_t seed);
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  const ModelConfig& config() const;
  const LoraConfig& lora() const;
  int64_t n_base_params() const;
  int64_t n_adapter_params() const;
  // FLOPs of one training step per token (forward + backward), by formula; used by the
  // simulator's cost model. See models/README.md for the count.
  double train_flops_per_token() const;

  // Adapters are flat host vectors of n_adapter_params() floats; layout in models/README.md.
  // A is Kaiming-uniform, B zero, so a fresh adapter leaves the base model unchanged.
  std::vector<float> init_adapter(uint64_t seed) const;

  // One full-parameter AdamW step on the base weights (pretraining). Keeps its own optimizer
  // state across calls. Returns the batch loss before the update.
  double train_base_step(const Batch& batch, float lr, const OptimConfig& opt);

  // Local LoRA training of one client: batches.size() optimizer steps starting from `adapter`
  // (updated in place) with a fresh AdamW, constant lr, clipping by global norm.
  // Dropout masks derive from `dropout_seed`. `hooks` switches on the federation layer's
  // FedProx and SCAFFOLD terms (see LocalHooks).
  TrainStats train_adapter(std::vector<float>& adapter, const std::vector<Batch>& batches, float lr,
                           const OptimConfig& opt, uint64_t dropout_seed, const LocalHooks& hooks = {});

  // DPO (Rafailov et al. 2023) local training: each step minimises
  // -log sigmoid(beta * ((log pi(chosen) - log ref(chosen)) - (log pi(rejected) - log ref(rejected))))
  // summed over response tokens, mean over pairs; ref = the base with the adapter switched off.
  TrainStats train_adapter_dpo(std::vector<float>& adapter, const std::vector<DpoBatch>& batches, float lr,
                               const OptimConfig& opt, uint64_t dropout_seed, float beta = 0.1f,
                               const LocalHooks& hooks = {});

  // Batched local training (models/README.md "Batched training"): the same runs as calling
  // train_adapter / train_adapter_dpo once per client k with (*adapters[k], batches[k], lrs[k],
  // opt, dropout_seeds[k], hooks[k]), computed together: each step stacks the sequences of every
  // client that still has steps (clients with fewer steps drop out), runs the frozen base's
  // products once over all of them and each client's LoRA products, clipping, hooks and AdamW
  // on its own row. Every client's rows compute what its own run computes (dropout masks keyed
  // per client as there), so results do not depend on which clients share a batch.
  std::vector<TrainStats> train_adapters_batched(const std::vector<std::vector<float>*>& adapters,
                                                 const std::vector<std::vector<Batch>>& batches,
                                                 const std::vector<float>& lrs, const OptimConfig& opt,
                                                 const std::vector<uint64_t>& dropout_seeds,
                                                 const std::vector<LocalHooks>& hooks,
                                                 const BatchOptions& options = BatchOptions());
  std::vector<TrainStats> train_adapters_dpo_batched(const std::vector<std::vector<float>*>& adapters,
                                                     const std::vector<std::vector<DpoBatch>>& batches,
                                                     const std::vector<float>& lrs, const OptimConfig& opt,
                                                     const std::vector<uint64_t>& dropout_seeds, float beta,
                                                     const std::vector<LocalHooks>& hooks,
                                                 const BatchOptions& options = BatchOptions());

  // DPO loss and preference margin of `adapter` (nullptr: base, margin 0) on one batch.
  DpoEvalStats evaluate_dpo(const std::vector<float>* adapter, const DpoBatch& batch, float beta = 0.1f) const;

  // Loss and exact-match accuracy with teacher forcing. With greedy decoding an answer is
  // reproduced exactly iff every target token is the argmax given the correct prefix, so this
  // equals greedy exact match without generating. adapter == nullptr: base model alone.
  EvalStats evaluate(const std::vector<float>* adapter, const Batch& batch) const;

  // Logits (tokens.size(), vocab_size), row-major, of one sequence of token ids (at most
  // max_seq) under the base, or with `adapter` (no dropout). For checks against references.
  std::vector<float> logits(const std::vector<float>* adapter, const std::vector<int32_t>& tokens) const;

  // Text in and out (models/README.md "Text: tokenizer and template of a model"). A model built
  // from a preset or a checkpoint reads fedsim's byte-level ids (byte_tokenizer(), template
  // fedsim-bytes); one loaded from a Hugging Face folder its tokenizer.json, with the template
  // of the tokenizer's family (default_chat_template(chat_family(), instructions)).
  // tokenizer(): UserError when the model has none (a folder without tokenizer.json, or a
  // random model whose vocab_size is below the 264 byte-level ids).
  const TextTokenizer& tokenizer() const;
  std::shared_ptr<const TextTokenizer> shared_tokenizer() const;  // nullptr when none
  const ChatTemplate& chat_template() const;
  const std::string& chat_family() const;  // chat_family() of the tokenizer ("fedsim-bytes" for presets)
  // The template every conversation goes through; UserError if the tokenizer lacks one of its tokens.
  void set_chat_template(const ChatTemplate& t);
  // Another tokenizer (tests, tools): UserError if its ids exceed vocab_size; the template becomes
  // the family's default for instructions.
  void set_tokenizer(std::shared_ptr<const TextTokenizer> tok, const std::string& family);

  // Answers to conversations that end on a user turn: the template's generation prompt
  // (tokenize_prompt) decoded with a KV cache, batched over conversations, until a stop token
  // (stop_ids: EOS, the template's end of turn), max_new_tokens, or the context (max_seq) is
  // full. A prompt longer than max_seq - 1 tokens loses its oldest exchanges, then the end of
  // its last user text (decode.cpp, fit_prompt). Greedy and sampled picks range over the
  // tokenizer's ids (a vocab_size padded past them never produces an id it cannot decode).
  std::vector<Generation> generate_chat(const std::vector<float>* adapter, const std::vector<Conversation>& convs,
                                        const GenerateConfig& cfg) const;
  // Responses to instructions: generate_chat of one-turn conversations, the texts only. With
  // the byte layout: BOS INST <prompt> RESP, the prompt cut to max_seq - 4 bytes.
  std::vector<std::string> generate(const std::vector<float>* adapter, const std::vector<std::string>& prompts,
                                    const GenerateConfig& cfg) const;

  // Text embeddings (embed.cpp): per text, the mean over its tokens (the tokenizer's ids without
  // the post-processor's prefix, e.g. BOS, which is read first but not averaged; cut to max_seq)
  // of the base model's final-norm hidden states, L2-normalised (d_model floats; all zero only
  // if every hidden state is). Deterministic; no adapter.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) const;

  // Checkpoint (HDF5, written atomically; layout in models/README.md): base weights, config,
  // tokenizer description, the full-parameter AdamW state if any (train_base_step resumes
  // from it after load), and optionally named adapters with the LoRA config they were made
  // with. load() checks kind and format version and restores the base and its optimizer state.
  using NamedAdapters = std::vector<std::pair<std::string, std::vector<float>>>;
  void save(const std::string& path, const NamedAdapters& adapters = {}) const;
  static Model load(const std::string& path, const LoraConfig& lora);
  // The adapters of a checkpoint, in the order saved. UserError if their LoRA layout (rank,
  // targets, sizes) differs from this model's.
  NamedAdapters load_adapters(const std::string& path) const;

  // Host copy of the flat base weights (layout in models/README.md); for tests and tools.
  std::vector<float> base_weights() const;
  // Bytes of the frozen base as stored (a bf16 base: 2 per matrix element, 4 per vector one).
  int64_t base_bytes() const;
  // Bytes of the activations (and backward scratch) of one padded step of B sequences of T tokens.
  int64_t activation_bytes(int B, int T) const;

  // A Llama-family model from a Hugging Face folder (config.json, model.safetensors or shards
  // with model.safetensors.index.json; F32, BF16, F16). The files are memory-mapped and each
  // tensor is converted once into the base (no second copy is ever held). UserError naming the
  // file, the tensor and what was expected for any missing, malformed or mismatched tensor.
  // tokenizer.json (and tokenizer_config.json) of the folder become the model's tokenizer
  // (read_hf_text); a tokenizer with more ids than vocab_size is a UserError naming both files.
  static Model load_hf(const std::string& dir, const LoraConfig& lora, const HfOptions& opt = HfOptions());

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedsim::models
