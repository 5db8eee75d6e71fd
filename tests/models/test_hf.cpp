// Hugging Face folders: safetensors round trips and every malformed-file error (exact
// messages), config.json parsing, `model init` folders loading to the model of the same seed
// (single file, shards, BF16, F16, bf16 base), mismatched folders, the byte-level tokenizer.json.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <sstream>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "llama_configs.hpp"
#include "models/hf/half.hpp"
#include "models/hf/hf.hpp"

using namespace fedsim::models;
using namespace fedsim::models::testing;
namespace fs = std::filesystem;

namespace {
std::string tmpdir(const std::string& name) {
  const std::string d = (fs::temp_directory_path() / ("fedsim_test_hf_" + std::to_string(::getpid()) + "_" + name)).string();
  fs::remove_all(d);
  return d;
}
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const fedsim::UserError& e) {
    return e.what();
  }
  return "no error";
}
// A safetensors file from a header text and `data` bytes of zeros.
void raw_file(const std::string& path, const std::string& header, size_t data, int64_t claimed = -1) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  const uint64_t n = claimed >= 0 ? uint64_t(claimed) : header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header << std::string(data, '\0');
}
}  // namespace

TEST_CASE("safetensors: F32, BF16 and F16 round trips through the memory map") {
  const std::string d = tmpdir("rt");
  fs::create_directories(d);
  const std::vector<float> v = {1.0f, -2.5f, 3.14159f, 1e-6f, 65504.0f, -0.0f};
  write_safetensors(d + "/a.safetensors",
                    {{"x", StDtype::f32, {2, 3}}, {"y", StDtype::bf16, {6}}, {"z", StDtype::f16, {3, 2}}},
                    [&](size_t, float* out) { std::copy(v.begin(), v.end(), out); });
  const SafetensorsFile f(d + "/a.safetensors");
  REQUIRE(f.tensors().size() == 3);
  CHECK(f.metadata().at("format") == "pt");
  std::vector<float> x(6), y(6), z(6);
  f.read(*f.find("x"), 0, 6, x.data());
  f.read(*f.find("y"), 0, 6, y.data());
  f.read(*f.find("z"), 0, 6, z.data());
  CHECK(f.find("x")->shape == std::vector<int64_t>{2, 3});
  CHECK(f.find("z")->shape == std::vector<int64_t>{3, 2});
  CHECK(f.find("w") == nullptr);
  for (size_t i = 0; i < 6; ++i) {
    CHECK(x[i] == v[i]);
    CHECK(y[i] == bf16_to_float(float_to_bf16(v[i])));
    CHECK(z[i] == f16_to_float(float_to_f16(v[i])));
  }
  CHECK(y[2] == 3.140625f);    // bf16 keeps 8 significant bits
  CHECK(z[2] == 3.140625f);    // f16: 3.14159 -> 3.140625 (0x4248)
  CHECK(z[4] == 65504.0f);     // largest finite half
  CHECK(float_to_f16(1e-6f) == 0x0011);  // subnormal half: 1e-6 / 2^-24 = 16.8 -> 17
  CHECK(f16_to_float(0x0011) == 17 * 5.9604644775390625e-08f);
  CHECK(float_to_f16(70000.0f) == 0x7c00);
  fs::remove_all(d);
}

TEST_CASE("safetensors: every malformed file is a UserError naming the file, the tensor and what was expected") {
  const std::string d = tmpdir("bad");
  fs::create_directories(d);
  const std::string p = d + "/m.safetensors";
  auto err = [&] { return error_of([&] { SafetensorsFile f(p); }); };
  {
    std::ofstream f(p, std::ios::binary);
    f << "abc";
  }
  CHECK(err() == p + ": file of 3 bytes is shorter than the 8-byte header length\nHINT: the file is truncated or not a safetensors file");
  raw_file(p, "{}", 0, 100);
  CHECK(err() == p + ": header length 100 runs past the end of the file (10 bytes)\nHINT: the file is truncated or not a safetensors file");
  raw_file(p, "{\"x\": ", 0);
  CHECK(err().find(p + ": header is not valid JSON (") == 0);
  raw_file(p, R"({"x": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8);
  CHECK(err() == p + ": tensor 'x': dtype 'I64' is not supported; accepted: F32, BF16, F16");
  raw_file(p, R"({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12);  // truncated data
  CHECK(err() == p + ": tensor 'x': data_offsets [0, 16] run past the end of the data (12 bytes)\nHINT: the file is truncated");
  raw_file(p, R"({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 12);
  CHECK(err() == p + ": tensor 'x': data_offsets [0, 12] hold 12 bytes; shape [2, 2] of F32 needs 16");
  raw_file(p,
           R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "BF16", "shape": [2], "data_offsets": [4, 8]}})",
           8);
  CHECK(err() == p + ": tensors 'a' and 'b' overlap (bytes [0, 8) and [4, 8))");
  raw_file(p, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8);
  CHECK(err() == p + ": bytes [0, 4) of the data belong to no tensor");
  raw_file(p, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8);
  CHECK(err() == p + ": bytes [4, 8) of the data belong to no tensor");
  raw_file(p, R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4);
  CHECK(err() == p + ": tensor 'a': shape must be a list of non-negative integers (below 2^40)");
  raw_file(p, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4);
  CHECK(err() == p + ": tensor 'a': data_offsets must be two integers [begin, end] with 0 <= begin <= end");
  raw_file(p, R"({"a": [1, 2]})", 0);
  CHECK(err() == p + ": tensor 'a': expected an object with dtype, shape and data_offsets");
  CHECK(error_of([&] { SafetensorsFile f(d + "/none.safetensors"); }) ==
        d + "/none.safetensors: cannot open (No such file or directory)");
  fs::remove_all(d);
}

TEST_CASE("config.json: each architecture's config round trips; unsupported and malformed keys name themselves") {
  for (const Arch arch : kLlamaArchs) {
    INFO(std::string(arch_name(arch)));
    ModelConfig c = small_llama(arch);
    c.max_positions = 64;
    c.preset = "hf";
    const ModelConfig r = parse_hf_config(hf_config_json(c), "cfg", HfOptions{8, BaseDtype::fp32});
    CHECK(r.arch == c.arch);
    CHECK(r.vocab_size == c.vocab_size);
    CHECK(r.d_model == c.d_model);
    CHECK(r.n_kv_heads == c.kv_heads());
    CHECK(r.hd() == c.hd());
    CHECK(r.qkv_bias == c.qkv_bias);
    CHECK(r.qk_norm == c.qk_norm);
    CHECK(r.tie_embeddings == c.tie_embeddings);
    CHECK(r.sliding_window == c.sliding_window);
    CHECK(r.rope.type == c.rope.type);
    CHECK(r.rope.factor == c.rope.factor);
    CHECK(r.rope.original_max_positions == c.rope.original_max_positions);
    CHECK(r.max_seq == 8);
    CHECK(make_base_layout(r).total == make_base_layout(c).total);
  }
  const std::string base = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 300, "hidden_size": 8,
    "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 64)";
  CHECK(parse_hf_config(base + "}", "c.json").max_seq == 64);  // min(1024, max_position_embeddings)
  CHECK(parse_hf_config(base + "}", "c.json").sliding_window == 0);
  CHECK(parse_hf_config(base + R"(, "rope_scaling": {"type": "linear", "factor": 2.0}})", "c.json").rope.type == "linear");
  CHECK(error_of([&] { parse_hf_config(R"({"architectures": ["GPTNeoXForCausalLM"]})", "c.json"); }) ==
        "c.json: architectures: 'GPTNeoXForCausalLM' is not supported; accepted: LlamaForCausalLM, MistralForCausalLM, "
        "Qwen2ForCausalLM, Qwen3ForCausalLM");
  CHECK(error_of([&] { parse_hf_config(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10})", "c.json"); }) ==
        "c.json: hidden_size: missing; expected an integer");
  CHECK(error_of([&] { parse_hf_config(base + R"(, "rms_norm_eps": "small"})", "c.json"); }) ==
        "c.json: rms_norm_eps: expected a number, found \"small\"");
  CHECK(error_of([&] { parse_hf_config(base + R"(, "hidden_act": "gelu"})", "c.json"); }) ==
        "c.json: hidden_act: 'gelu' is not supported; accepted: silu");
  CHECK(error_of([&] { parse_hf_config(base + R"(, "num_key_value_heads": 3})", "c.json"); }) ==
        "c.json: num_key_value_heads: 3 is invalid; accepted: a divisor of num_attention_heads (2)");
  CHECK(error_of([&] { parse_hf_config(base + "}", "c.json", HfOptions{128, BaseDtype::fp32}); }) ==
        "c.json: model.seq_len: 128 is invalid; accepted: at most the model's max_position_embeddings (64)");
  CHECK(error_of([&] { read_hf_config("/nonexistent-fedsim"); }).find("/nonexistent-fedsim/config.json: cannot open") == 0);
}

TEST_CASE("model init folders load to the model of the same seed: each architecture, shards, BF16/F16 files, bf16 base") {
  for (const Arch arch : kLlamaArchs) {
    INFO(std::string(arch_name(arch)));
    HfInitSpec spec;
    spec.cfg = small_llama(arch, 16, 16, 24);
    spec.seed = 42;
    const std::string d = tmpdir(std::string("init_") + arch_name(arch));
    write_hf_model(spec, d);
    CHECK(fs::exists(d + "/tokenizer.json"));
    const LoraConfig lora;
    const HfOptions opt{16, BaseDtype::fp32};
    const Model ref(read_hf_config(d, opt), lora, 42);
    const Model m = Model::load_hf(d, lora, opt);
    CHECK(m.base_weights() == ref.base_weights());
    CHECK(m.config().arch == arch);
    // Three shards with an index: the same weights.
    spec.shards = 3;
    write_hf_model(spec, d + "_sharded");
    CHECK(fs::exists(d + "_sharded/model-00002-of-00003.safetensors"));
    CHECK(Model::load_hf(d + "_sharded", lora, opt).base_weights() == ref.base_weights());
    // A BF16 file loads to the bf16-rounded values; into a bf16 base with half the matrix bytes.
    spec.shards = 1;
    spec.dtype = StDtype::bf16;
    write_hf_model(spec, d + "_bf16");
    const std::vector<float> w32 = ref.base_weights(), w16 = Model::load_hf(d + "_bf16", lora, opt).base_weights();
    REQUIRE(w16.size() == w32.size());
    for (size_t i = 0; i < w16.size(); ++i) REQUIRE(w16[i] == bf16_to_float(float_to_bf16(w32[i])));
    const Model half = Model::load_hf(d + "_bf16", lora, HfOptions{16, BaseDtype::bf16});
    CHECK(half.base_weights() == w16);
    const ModelConfig& c = ref.config();
    int64_t vec = c.n_layers * (2 * c.d_model + (c.qkv_bias ? c.q_dim() + 2 * c.kv_dim() : 0) + (c.qk_norm ? 2 * c.hd() : 0)) + c.d_model;
    CHECK(half.base_bytes() == 2 * (ref.n_base_params() - vec) + 4 * vec);
    CHECK(ref.base_bytes() == 4 * ref.n_base_params());
    // F16 file into an fp32 base: the half-rounded values.
    spec.dtype = StDtype::f16;
    write_hf_model(spec, d + "_f16");
    const std::vector<float> w_f16 = Model::load_hf(d + "_f16", lora, opt).base_weights();
    for (size_t i = 0; i < w_f16.size(); ++i) REQUIRE(w_f16[i] == f16_to_float(float_to_f16(w32[i])));
    for (const char* s : {"", "_sharded", "_bf16", "_f16"}) fs::remove_all(d + s);
  }
}

TEST_CASE("mismatched folders: missing and misshaped tensors, missing shard, foreign tensor, occupied --out") {
  HfInitSpec spec;
  spec.cfg = small_llama(Arch::qwen2, 16, 16, 24);
  const std::string d = tmpdir("mismatch");
  write_hf_model(spec, d);
  const std::string cfg_text = [&] {
    std::ifstream f(d + "/config.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }();
  const LoraConfig lora;
  // config.json says 3 layers, the file has 2: layer 2's tensors are missing.
  nlohmann::json j = nlohmann::json::parse(cfg_text);
  j["num_hidden_layers"] = 3;
  std::ofstream(d + "/config.json") << j.dump();
  CHECK(error_of([&] { Model::load_hf(d, lora); }) ==
        d + "/model.safetensors: tensor 'model.layers.2.input_layernorm.weight' is missing; expected shape [16] "
            "(config.json: hidden_size 16, num_attention_heads 4, num_key_value_heads 2, head_dim 4, intermediate_size 24, "
            "vocab_size 264)\nHINT: the folder does not match its config.json");
  // Wider MLP in config.json than in the file.
  j = nlohmann::json::parse(cfg_text);
  j["intermediate_size"] = 32;
  std::ofstream(d + "/config.json") << j.dump();
  CHECK(error_of([&] { Model::load_hf(d, lora); }) ==
        d + "/model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight': shape [24, 16], expected [32, 16] "
            "(config.json: hidden_size 16, num_attention_heads 4, num_key_value_heads 2, head_dim 4, intermediate_size 32, "
            "vocab_size 264)");
  // One layer in config.json: layer 1's tensors are not part of the model.
  j = nlohmann::json::parse(cfg_text);
  j["num_hidden_layers"] = 1;
  std::ofstream(d + "/config.json") << j.dump();
  CHECK(error_of([&] { Model::load_hf(d, lora); }).find(d + "/model.safetensors: tensor 'model.layers.1.") == 0);
  std::ofstream(d + "/config.json") << cfg_text;
  // An index naming a shard that is not there.
  std::ofstream(d + "/model.safetensors.index.json")
      << R"({"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}})";
  CHECK(error_of([&] { Model::load_hf(d, lora); }) ==
        d + "/model.safetensors.index.json: weight_map['model.embed_tokens.weight']: shard " + d +
            "/model-00001-of-00002.safetensors does not exist");
  fs::remove(d + "/model.safetensors.index.json");
  CHECK(Model::load_hf(d, lora).n_base_params() > 0);
  fs::remove(d + "/model.safetensors");
  CHECK(error_of([&] { Model::load_hf(d, lora); }) ==
        d + ": no model.safetensors or model.safetensors.index.json\nHINT: model.path must be a Hugging Face model "
            "folder; `fedsim model init` writes one");
  CHECK(error_of([&] { write_hf_model(spec, d); }) == d + ": exists and is not an empty folder\nHINT: choose a new --out");
  fs::remove_all(d);
}

TEST_CASE("byte-level tokenizer.json: 256 byte tokens (GPT-2 byte-to-unicode), no merges, specials 256-263") {
  const nlohmann::json t = nlohmann::json::parse(byte_level_tokenizer_json());
  CHECK(t["model"]["type"] == "BPE");
  CHECK(t["model"]["merges"].empty());
  CHECK(t["pre_tokenizer"]["type"] == "ByteLevel");
  const auto& v = t["model"]["vocab"];
  REQUIRE(v.size() == 256);
  CHECK(v["A"] == 65);
  CHECK(v["!"] == 33);
  CHECK(v["\u0100"] == 0);   // byte 0: the first non-printable byte maps to U+0100
  CHECK(v["\u0120"] == 32);  // space: GPT-2's 'Ġ'
  CHECK(v["\u010a"] == 10);  // newline: 'Ċ'
  CHECK(v["\u00ff"] == 255);
  REQUIRE(t["added_tokens"].size() == 8);
  CHECK(t["added_tokens"][0]["id"] == Tokenizer::BOS);
  CHECK(t["added_tokens"][1]["id"] == Tokenizer::EOS);
  CHECK(t["added_tokens"][1]["content"] == "<|eos|>");
}

TEST_CASE("PEFT export: adapter_config.json and adapter_model.safetensors with PEFT's names, shapes and values") {
  const ModelConfig c = small_llama(Arch::llama, 16, 16, 24);
  LoraConfig lora = all_llama_targets(0.1f, 4);
  lora.alpha = 8.0f;
  const Model m(c, lora, 3);
  std::vector<float> ad = m.init_adapter(5);
  m.evaluate(&ad, make_sft_batch({{"a", "b"}}, 16));
  for (size_t i = 0; i < ad.size(); ++i) ad[i] += 1e-3f * static_cast<float>(i % 17);  // B nonzero too
  const std::string d = tmpdir("peft");
  write_peft_adapter(c, lora, ad, "/models/tiny-llama", d);
  std::ifstream cf(d + "/adapter_config.json");
  const nlohmann::json j = nlohmann::json::parse(cf);
  CHECK(j["peft_type"] == "LORA");
  CHECK(j["task_type"] == "CAUSAL_LM");
  CHECK(j["r"] == 4);
  CHECK(j["lora_alpha"] == 8.0);
  CHECK(j["lora_dropout"].get<double>() == doctest::Approx(0.1));
  CHECK(j["bias"] == "none");
  CHECK(j["base_model_name_or_path"] == "/models/tiny-llama");
  CHECK(j["target_modules"] ==
        nlohmann::json::array({"q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"}));
  const SafetensorsFile f(d + "/adapter_model.safetensors");
  CHECK(f.tensors().size() == size_t(2 * 7 * c.n_layers));
  // Layer 1's v_proj: A (r, C) at the layout's offset, B (KV, r) after it.
  const AdapterLayout al = make_adapter_layout(c, lora);
  const StTensor* a = f.find("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight");
  const StTensor* b = f.find("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
  const StTensor* g = f.find("base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  REQUIRE(g != nullptr);
  CHECK(a->shape == std::vector<int64_t>{4, 16});
  CHECK(b->shape == std::vector<int64_t>{8, 4});  // num_key_value_heads 2 x head_dim 4
  CHECK(g->shape == std::vector<int64_t>{24, 4});
  std::vector<float> av(64), bv(32);
  f.read(*a, 0, 64, av.data());
  f.read(*b, 0, 32, bv.data());
  for (int i = 0; i < 64; ++i) CHECK(av[i] == ad[al.a(1, kV) + i]);
  for (int i = 0; i < 32; ++i) CHECK(bv[i] == ad[al.b(1, kV) + i]);
  CHECK(read_peft_adapter(c, lora, d) == ad);
  CHECK(error_of([&] { write_peft_adapter(preset_config("nano"), LoraConfig{}, {}, "x", d); }) ==
        "export adapter: PEFT adapters need a Hugging Face architecture; this model is the GPT preset 'nano', which "
        "transformers cannot load");
  fs::remove_all(d);
}

TEST_CASE("load_hf: the folder's tokenizer and template; a tokenizer larger than vocab_size; no tokenizer.json") {
  HfInitSpec spec;
  spec.cfg = small_llama(Arch::qwen2, 16, 16, 24);
  const std::string d = tmpdir("text");
  write_hf_model(spec, d);
  const LoraConfig lora;
  {
    const Model m = Model::load_hf(d, lora);
    // The byte-level tokenizer.json and its tokenizer_config.json: fedsim's ids and turn markers.
    CHECK(m.chat_family() == "fedsim-bytes");
    CHECK(m.chat_template().name == "fedsim-bytes");
    CHECK(m.tokenizer().encode("hé", true) == std::vector<int32_t>{Tokenizer::BOS, 'h', 0xC3, 0xA9});
    CHECK(m.tokenizer().describe().find("tokenizer.json BPE (byte-level") == 0);
  }
  // 265 ids for 264 embedding rows.
  nlohmann::json t = nlohmann::json::parse(byte_level_tokenizer_json());
  t["added_tokens"].push_back({{"id", 264}, {"content", "<|more|>"}, {"single_word", false}, {"lstrip", false},
                               {"rstrip", false}, {"normalized", false}, {"special", true}});
  std::ofstream(d + "/tokenizer.json") << t.dump();
  CHECK(error_of([&] { Model::load_hf(d, lora); }) ==
        d + "/tokenizer.json: 265 token ids, more than the 264 rows of the model's embedding (" + d +
            "/config.json: vocab_size 264)\nHINT: the tokenizer and the weights must come from the same model");
  // Without tokenizer.json the weights still load (logits of given ids); text needs a tokenizer.
  fs::remove(d + "/tokenizer.json");
  const Model bare = Model::load_hf(d, lora);
  CHECK(bare.logits(nullptr, {1, 2, 3}).size() == 3u * 264u);
  CHECK(bare.shared_tokenizer() == nullptr);
  CHECK(error_of([&] { bare.tokenizer(); }) ==
        d + "/tokenizer.json: missing; a model folder needs its tokenizer.json to turn text into ids (a SentencePiece "
            "tokenizer.model alone is not read)\nHINT: `fedsim model init --tokenizer FILE` writes one");
  fs::remove_all(d);
}
