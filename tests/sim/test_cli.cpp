// The fedsim executable's contract: exit codes, one-line errors, nothing written on error.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/sim/cli_util.hpp"

namespace {

using fedsim_cli::Outcome;
using fedsim_cli::slurp;

Outcome fedsim(const std::string& args) { return fedsim_cli::run_fedsim(args, "cli"); }

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("cli: --help and --version exit 0") {
  CHECK(fedsim("--help").code == 0);
  const Outcome v = fedsim("--version");
  CHECK(v.code == 0);
  CHECK(v.out.rfind("fedsim ", 0) == 0);
}

TEST_CASE("cli: bad configs exit 2 with one clear line and write nothing") {
  std::filesystem::remove_all("cli-out");
  write("unknown_key.yaml", "experiment:\n  out: cli-out/r.h5\nfederation:\n  roundz: 3\n");
  write("wrong_type.yaml", "experiment:\n  out: cli-out/r.h5\nfederation:\n  rounds: ten\n");
  write("missing_data.yaml", "experiment:\n  out: cli-out/r.h5\ndata:\n  source: file\n  path: nowhere/data.h5\n");
  const std::pair<const char*, const char*> cases[] = {
      {"unknown_key.yaml",
       "fedsim: error: unknown_key.yaml: unknown key 'roundz' at federation.roundz; nearest valid key: federation.rounds\n"},
      {"wrong_type.yaml", "fedsim: error: wrong_type.yaml: federation.rounds: expected an integer, got 'ten'\n"},
      {"missing_data.yaml", "fedsim: error: missing_data.yaml: data.path: nowhere/data.h5: no such file\n"},
  };
  for (const auto& file_message : cases) {
    // Not a structured binding: CAPTURE's lambda cannot capture one before C++20 (clang refuses).
    const auto& file = file_message.first;
    const auto& message = file_message.second;
    for (const char* cmd : {"validate", "run"}) {
      CAPTURE(file);
      CAPTURE(cmd);
      const Outcome o = fedsim(std::string(cmd) + " " + file);
      CHECK(o.code == 2);
      CHECK(o.err == message);
      CHECK(lines(o.err) == 1);
      CHECK(o.out.empty());
      CHECK_FALSE(std::filesystem::exists("cli-out"));
    }
  }
}

TEST_CASE("cli: usage errors exit 2") {
  CHECK(fedsim("frobnicate").code == 2);
  CHECK(fedsim("run").code == 2);
  CHECK(fedsim("run x.yaml --no-such-flag").code == 2);
  const Outcome o = fedsim("validate absent.yaml");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: absent.yaml: cannot read config file (no such file or not readable)\n");
}

TEST_CASE("cli: data partition names the option, the value and the accepted spellings") {
  // natural and calibrated are the generator's split and counts, so a re-split does not list them.
  const std::pair<const char*, const char*> cases[] = {
      {"--scheme natural", "fedsim: error: --scheme: 'natural' is not accepted; accepted: iid, dirichlet, shards\n"},
      {"--by size", "fedsim: error: --by: 'size' is not accepted; accepted: task, language, length, quality\n"},
      {"--quantity calibrated",
       "fedsim: error: --quantity: 'calibrated' is not accepted; accepted: lognormal, powerlaw, equal\n"},
  };
  for (const auto& option_message : cases) {
    const std::string option = option_message.first;
    const std::string message = option_message.second;
    CAPTURE(option);
    const Outcome o = fedsim("data partition absent.h5 -o cli-partition.h5 " + option);
    CHECK(o.code == 2);
    CHECK(o.err == message);
    CHECK_FALSE(std::filesystem::exists("cli-partition.h5"));
  }
}

TEST_CASE("cli: data import of text with a NUL character exits 2 naming the place and writes nothing") {
  std::filesystem::remove("cli-nul.h5");
  write("cli-nul.json", "{\"a\": [{\"instruction\": \"x\\u0000y\", \"response\": \"r\"}]}\n");
  const Outcome o = fedsim("data import cli-nul.json -o cli-nul.h5");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: cli-nul.json:1:24: client \"a\", sample 0: \"instruction\" holds a NUL character "
                 "(\\u0000) at byte 1; accepted: text without NUL characters\n");
  for (const auto& entry : std::filesystem::directory_iterator("."))  // neither the file nor its .tmp-<pid>
    CHECK(entry.path().filename().string().rfind("cli-nul.h5", 0) == std::string::npos);
}

TEST_CASE("cli: validate accepts the shipped configs") {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src != nullptr);
  for (const char* cfg : {"configs/quickstart.yaml", "configs/reference.yaml", "configs/fed-aya.yaml", "configs/fed-chatbotit.yaml",
                          "configs/fed-wildchat.yaml", "configs/fed-wildchat-multiturn.yaml", "configs/fed-chatbotpa-dpo.yaml",
                          "experiments/chatbotit-standin.yaml"}) {
    CAPTURE(cfg);
    const Outcome o = fedsim(std::string("validate ") + src + "/" + cfg);
    CHECK(o.code == 0);
    CHECK(o.err.empty());
  }
}

// A Llama-family run without any download: model init writes a folder, a run trains LoRA on it
// (model.source: hf) and writes the final global adapter in PEFT's format (lora.export_dir),
// and `fedsim export adapter` writes the same from the results file.
TEST_CASE("cli: model init, a model.source hf run, PEFT export from the run and from its results") {
  namespace fs = std::filesystem;
  fs::remove_all("hf-run");
  Outcome o = fedsim("model init --arch qwen2 --layers 1 --hidden 32 --heads 4 --kv-heads 2 --intermediate 48 "
                     "--vocab 270 --tie --seed 3 --out hf-run/model");
  REQUIRE(o.code == 0);
  CHECK(o.out == "hf-run/model: Qwen2ForCausalLM, 16480 parameters (F32), seed 3\n");
  CHECK(fs::exists("hf-run/model/tokenizer.json"));
  write("hf-run/cfg.yaml", R"(experiment:
  name: hf-run
  seed: 2
  out: hf-run/r.h5
data:
  samples_mean: 20
  test_samples: 16
model:
  source: hf
  path: hf-run/model
  base_dtype: bf16
  seq_len: 32
lora:
  targets: [q_proj, v_proj, gate_proj]
  export_dir: hf-run/peft-end
federation:
  clients: 4
  clients_per_round: 2
  rounds: 2
  local_steps: 2
  batch_size: 4
  lr: 0.01
)");
  o = fedsim("run hf-run/cfg.yaml");
  REQUIRE(o.code == 0);
  CHECK(fs::exists("hf-run/r.h5"));
  CHECK(fs::exists("hf-run/peft-end/adapter_model.safetensors"));
  o = fedsim("export adapter hf-run/r.h5 --out hf-run/peft");
  REQUIRE(o.code == 0);
  CHECK(slurp("hf-run/peft/adapter_config.json") == slurp("hf-run/peft-end/adapter_config.json"));
  CHECK(slurp("hf-run/peft/adapter_model.safetensors") == slurp("hf-run/peft-end/adapter_model.safetensors"));
  CHECK(slurp("hf-run/peft/adapter_config.json").find("\"target_modules\": [\n    \"q_proj\",\n    \"v_proj\",\n    \"gate_proj\"") !=
        std::string::npos);
  // Too small a vocabulary for the byte-level tokenizer.json model init writes by default
  // (tests/sim/test_hf_text.cpp: other tokenizers and the run's checks).
  o = fedsim("model init --arch llama --layers 1 --hidden 16 --heads 2 --intermediate 32 --vocab 100 --out hf-run/small");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: model init: --tokenizer (byte-level) has 264 token ids, more than --vocab 100; "
                 "accepted: --vocab >= 264\n");
  CHECK_FALSE(std::filesystem::exists("hf-run/small"));
  o = fedsim("run hf-run/cfg.yaml --set model.path=hf-run/none");
  CHECK(o.code == 2);
  CHECK(o.err.find("model.path: 'hf-run/none' is not a folder") != std::string::npos);
  o = fedsim("model init --arch gpt2 --out hf-run/x");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: fedsim model init: --arch 'gpt2' is invalid; accepted: llama, mistral, qwen2, qwen3\n");
  o = fedsim("model init --arch llama --out hf-run/model");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: hf-run/model: exists and is not an empty folder\nHINT: choose a new --out\n");
  // bench model --hf: JSON on the last line.
  o = fedsim("bench model --hf hf-run/model --seq 16 --batch 2 --seconds 0.05 --json");
  REQUIRE(o.code == 0);
  const std::string last = o.out.substr(o.out.rfind('{'));
  CHECK(last.find("\"tokens_per_s\": ") != std::string::npos);
  CHECK(last.find("\"peak_rss_mb\": ") != std::string::npos);
  o = fedsim("bench model --hf hf-run/model --seq 8 --clients 5 --json");
  REQUIRE(o.code == 0);
  CHECK(o.out.find("\"clients\": 5") != std::string::npos);
  fs::remove_all("hf-run");
}
