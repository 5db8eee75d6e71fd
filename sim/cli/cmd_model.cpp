// fedsim model init --arch A --layers L --hidden H ... --out DIR: a random-initialised Hugging
// Face folder (models/hf/hf.hpp), so Llama-family runs need no download.
// fedsim model forward DIR --tokens IDS --out FILE: logits of one sequence (reference checks).
// fedsim export adapter RESULTS --out DIR: the final global adapter of a model.source: hf run
// (its results file) in PEFT's format.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "models/bench.hpp"
#include "models/hf/hf.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/parse.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/results.hpp"

namespace po = boost::program_options;

namespace fedsim::cli {

namespace {
// fedsim model forward DIR --tokens 1,2,3 [--adapter PEFT_DIR] [--base-dtype bf16] --out FILE:
// the logits of one sequence as a safetensors file (tensor "logits", (T, V) F32), for checks
// against independent references (tests/models/hf_reference.py).
int model_forward(const std::vector<std::string>& args, int& argc, char** argv) {
  std::string dir, tokens, adapter_dir, out, dtype = "fp32";
  po::options_description desc("fedsim model forward DIR --tokens IDS --out FILE.safetensors");
  desc.add_options()("help,h", "this help")("tokens", po::value<std::string>(&tokens), "comma-separated token ids")(
      "adapter", po::value<std::string>(&adapter_dir), "a PEFT adapter folder to apply")(
      "base-dtype", po::value<std::string>(&dtype)->default_value("fp32"), "fp32 | bf16")(
      "out", po::value<std::string>(&out), "safetensors file for the logits");
  const po::variables_map vm = parse_args(args, desc, "dir", &dir);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (dir.empty() || tokens.empty() || out.empty())
    throw UserError("fedsim model forward: usage: DIR --tokens IDS --out FILE.safetensors");
  if (dtype != "fp32" && dtype != "bf16")
    throw UserError("fedsim model forward: --base-dtype '" + dtype + "' is invalid; accepted: fp32, bf16");
  std::vector<int32_t> ids;
  std::stringstream ss(tokens);
  for (std::string t; std::getline(ss, t, ',');) {
    try {
      ids.push_back(static_cast<int32_t>(std::stol(t)));
    } catch (const std::exception&) {
      throw UserError("fedsim model forward: --tokens: '" + t + "' is not an integer");
    }
  }
  models::HfOptions o;
  o.max_seq = static_cast<int>(ids.size()) < 2 ? 2 : static_cast<int>(ids.size());
  o.base_dtype = dtype == "bf16" ? models::BaseDtype::bf16 : models::BaseDtype::fp32;
  const models::LoraConfig lora = adapter_dir.empty() ? models::LoraConfig{} : models::read_peft_config(adapter_dir);
  models::Runtime rt(argc, argv);
  const models::Model m = models::Model::load_hf(dir, lora, o);
  std::vector<float> ad;
  if (!adapter_dir.empty()) ad = models::read_peft_adapter(m.config(), lora, adapter_dir);
  const std::vector<float> lg = m.logits(adapter_dir.empty() ? nullptr : &ad, ids);
  const int64_t T = static_cast<int64_t>(ids.size()), V = m.config().vocab_size;
  models::write_safetensors(out, {{"logits", models::StDtype::f32, {T, V}}},
                            [&](size_t, float* dst) { std::copy(lg.begin(), lg.end(), dst); });
  return 0;
}
}  // namespace

int cmd_model(const std::vector<std::string>& args, int& argc, char** argv) {
  if (!args.empty() && args[0] == "forward")
    return model_forward(std::vector<std::string>(args.begin() + 1, args.end()), argc, argv);
  if (args.empty() || args[0] != "init")
    throw UserError("fedsim model: expected 'init' or 'forward' (fedsim model init --help)");
  models::HfInitSpec spec;
  models::ModelConfig& c = spec.cfg;
  std::string arch = "llama", out, dtype = "F32", rope_type = "default";
  int64_t seed = 1;
  po::options_description desc("fedsim model init --arch A --layers L --hidden H --heads NH --intermediate F --vocab V --out DIR");
  desc.add_options()("help,h", "this help")(
      "arch", po::value<std::string>(&arch)->default_value("llama"), "llama | mistral | qwen2 | qwen3")(
      "layers", po::value<int>(&c.n_layers)->default_value(2), "num_hidden_layers")(
      "hidden", po::value<int>(&c.d_model)->default_value(64), "hidden_size")(
      "heads", po::value<int>(&c.n_heads)->default_value(4), "num_attention_heads")(
      "kv-heads", po::value<int>(&c.n_kv_heads)->default_value(0), "num_key_value_heads (0: --heads)")(
      "head-dim", po::value<int>(&c.head_dim)->default_value(0), "head_dim (0: hidden / heads)")(
      "intermediate", po::value<int>(&c.d_ff)->default_value(256), "intermediate_size")(
      "vocab", po::value<int>(&c.vocab_size)->default_value(264), "vocab_size (at least the tokenizer's ids)")(
      "max-positions", po::value<int>(&c.max_positions)->default_value(2048), "max_position_embeddings")(
      "rope-theta", po::value<double>(&c.rope.theta)->default_value(10000.0), "rope_theta")(
      "rope-scaling", po::value<std::string>(&rope_type)->default_value("default"),
      "default | linear | llama3 (factor 8, low 1, high 4, original 8192; change with the next options)")(
      "rope-factor", po::value<double>(&c.rope.factor)->default_value(8.0), "rope_scaling.factor")(
      "rope-original", po::value<int>(&c.rope.original_max_positions)->default_value(8192),
      "rope_scaling.original_max_position_embeddings")(
      "rms-eps", po::value<double>(&c.norm_eps)->default_value(1e-6), "rms_norm_eps")(
      "sliding-window", po::value<int>(&c.sliding_window)->default_value(0), "mistral: sliding_window (0: null)")(
      "tie", "tie_word_embeddings: true (the head reads embed_tokens)")(
      "attention-bias", "llama / qwen3: attention_bias: true")(
      "init-std", po::value<double>(&c.init_std)->default_value(0.02), "initializer_range: matrices ~ N(0, std)")(
      "noise", po::value<double>(&spec.noise)->default_value(0.0), "add U(-x, x) to norm gains and biases (tests)")(
      "dtype", po::value<std::string>(&dtype)->default_value("F32"), "safetensors dtype: F32 | BF16 | F16")(
      "shards", po::value<int>(&spec.shards)->default_value(1), "split into model-0000k-of-0000n.safetensors + index")(
      "seed", po::value<int64_t>(&seed)->default_value(1), "random seed")(
      "tokenizer", po::value<std::string>(&spec.tokenizer), "tokenizer.json to copy, with the tokenizer_config.json beside it (default: fedsim's byte-level one, 264 ids)")(
      "out", po::value<std::string>(&out), "folder to create");
  const po::variables_map vm = parse_args(std::vector<std::string>(args.begin() + 1, args.end()), desc);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (out.empty()) throw UserError("fedsim model init: --out DIR is required");
  bool found = false;
  for (const models::Arch a : {models::Arch::llama, models::Arch::mistral, models::Arch::qwen2, models::Arch::qwen3})
    if (arch == models::arch_name(a)) {
      c.arch = a;
      found = true;
    }
  if (!found) throw UserError("fedsim model init: --arch '" + arch + "' is invalid; accepted: llama, mistral, qwen2, qwen3");
  c.preset = "hf";
  c.rope.type = rope_type;
  c.rope.low_freq_factor = 1.0;
  c.rope.high_freq_factor = 4.0;
  if (rope_type == "default") c.rope.factor = 1.0;
  c.tie_embeddings = vm.count("tie") > 0;
  c.qkv_bias = c.arch == models::Arch::qwen2 || vm.count("attention-bias") > 0;
  c.o_bias = c.arch != models::Arch::qwen2 && vm.count("attention-bias") > 0;
  c.qk_norm = c.arch == models::Arch::qwen3;
  if (c.arch != models::Arch::mistral && c.sliding_window != 0)
    throw UserError("fedsim model init: --sliding-window is a mistral setting; accepted with --arch " + arch + ": 0");
  c.max_seq = std::min(c.max_positions, models::kHfDefaultSeq);
  spec.dtype = models::parse_st_dtype(dtype, "fedsim model init: --dtype");
  spec.seed = static_cast<uint64_t>(seed);
  models::write_hf_model(spec, out);
  const models::BaseLayout bl = models::make_base_layout(c);
  std::printf("%s: %s, %lld parameters (%s), seed %lld\n", out.c_str(), models::hf_architecture(c.arch),
              static_cast<long long>(bl.total), models::st_dtype_name(spec.dtype), static_cast<long long>(seed));
  return 0;
}

int cmd_export(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "adapter")
    throw UserError("fedsim export: expected 'adapter' (fedsim export adapter --help)");
  std::string file, out;
  po::options_description desc("fedsim export adapter RESULTS_OR_CHECKPOINT --out DIR");
  desc.add_options()("help,h", "this help")("out", po::value<std::string>(&out), "folder for the PEFT adapter");
  const po::variables_map vm = parse_args(std::vector<std::string>(args.begin() + 1, args.end()), desc, "file", &file);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (file.empty() || out.empty()) throw UserError("fedsim export adapter: usage: RESULTS_OR_CHECKPOINT --out DIR");
  const std::string kind = [&] {
    const h5::File f = h5::File::open_read(file);
    return f.root().has_attr("format") ? f.root().attr_string("format") : std::string();
  }();
  if (kind == models::kCheckpointKind)  // they hold GPT presets: a Hugging Face model's base is its folder
    throw UserError(file + ": a fedsim checkpoint holds a GPT preset, which transformers cannot load; PEFT adapters "
                           "come from runs with model.source: hf (export their results file)");
  if (kind != sim::kResultsKind)
    throw UserError(file + ": format '" + kind + "' is neither a results file (" + sim::kResultsKind +
                    ") nor a checkpoint (" + models::kCheckpointKind + ")");
  const sim::RunResults r = sim::read_results(file);
  if (r.global_adapter.empty())
    throw UserError(file + ": holds no global adapter (federation.trainer: none, or written before fedsim kept it)");
  const sim::ExperimentConfig c = sim::parse_config(r.config_yaml, file + "@config_yaml", {});
  if (c.model.source != sim::ModelSource::hf)
    throw UserError(file + ": model.source: " + sim::name_of(c.model.source) +
                    "; PEFT adapters need a Hugging Face model (model.source: hf), which transformers can load");
  models::write_peft_adapter(sim::model_config(c), sim::lora_config(c), r.global_adapter, c.model.path, out);
  std::printf("%s: PEFT adapter (rank %lld on %zu module kinds) of %s\n", out.c_str(),
              static_cast<long long>(c.lora.rank), c.lora.targets.size(), c.model.path.c_str());
  return 0;
}

int bench_hf(const HfBenchArgs& a, int batch, double seconds, bool json, int& argc, char** argv) {
  if (a.dtype != "fp32" && a.dtype != "bf16")
    throw UserError("fedsim bench model: --base-dtype '" + a.dtype + "' is invalid; accepted: fp32, bf16");
  if (a.seq < 2) throw UserError("fedsim bench model: --seq " + std::to_string(a.seq) + " is invalid; accepted: >= 2");
  models::HfOptions o;
  o.max_seq = a.seq;
  o.base_dtype = a.dtype == "bf16" ? models::BaseDtype::bf16 : models::BaseDtype::fp32;
  models::LoraConfig lora;
  lora.rank = a.rank;
  lora.targets.clear();
  std::stringstream ss(a.targets);
  for (std::string t; std::getline(ss, t, ',');) lora.targets.push_back(t);
  models::Runtime rt(argc, argv);
  if (a.clients > 0) {
    const models::ClientsBenchResult r = models::bench_clients_hf(a.dir, o, lora, a.clients, a.memory_mb);
    std::printf("%s\n%s, base %s: %d clients x %lld adapter parameters (rank %d on %s)\n",
                models::Runtime::describe().c_str(), a.dir.c_str(), a.dtype.c_str(), r.clients,
                static_cast<long long>(r.adapter_params), a.rank, a.targets.c_str());
    std::printf("base %.1f MiB, host adapters %.1f MiB, load %.1f s, one batched step of every client %.1f s\n",
                r.base_mb, r.host_adapters_mb, r.load_seconds, r.seconds);
    std::printf("peak RSS %.1f MiB\n", r.peak_rss_mb);
    if (json)
      std::printf("{\"model\": \"%s\", \"base_dtype\": \"%s\", \"clients\": %d, \"adapter_params\": %lld, "
                  "\"base_mb\": %.6g, \"host_adapters_mb\": %.6g, \"step_s\": %.6g, \"peak_rss_mb\": %.6g}\n",
                  a.dir.c_str(), a.dtype.c_str(), r.clients, static_cast<long long>(r.adapter_params), r.base_mb,
                  r.host_adapters_mb, r.seconds, r.peak_rss_mb);
    return 0;
  }
  const models::BenchResult r = models::bench_model_hf(a.dir, o, lora, batch, seconds);
  std::printf("%s\n", r.runtime.c_str());
  std::printf("%s (base %s, %.1f MiB), B=%d T=%d, %d steps in %.2f s (%.1f ms/step)\n", a.dir.c_str(), a.dtype.c_str(),
              r.base_mb, r.B, r.T, r.steps, r.seconds, 1e3 * r.seconds / r.steps);
  std::printf("tokens/s      %.1f\n", r.tokens_per_s);
  std::printf("GFLOP/s       %.2f  (%.3g FLOP/token by formula, models/README.md)\n", r.gflops, r.flops_per_token);
  std::printf("sgemm GFLOP/s %.2f  (%d^3, same threads)\n", r.sgemm_gflops, r.sgemm_n);
  std::printf("ratio         %.3f\n", r.ratio);
  std::printf("activations   %.1f MiB (one step of B x T)\n", r.activations_mb);
  std::printf("peak RSS      %.1f MiB\n", r.peak_rss_mb);
  if (json)
    std::printf("{\"model\": \"%s\", \"base_dtype\": \"%s\", \"tokens_per_s\": %.6g, \"gflops\": %.6g, "
                "\"sgemm_gflops\": %.6g, \"ratio\": %.6g, \"base_mb\": %.6g, \"activations_mb\": %.6g, "
                "\"peak_rss_mb\": %.6g}\n",
                a.dir.c_str(), a.dtype.c_str(), r.tokens_per_s, r.gflops, r.sgemm_gflops, r.ratio, r.base_mb,
                r.activations_mb, r.peak_rss_mb);
  std::fflush(stdout);
  return 0;
}

}  // namespace fedsim::cli
