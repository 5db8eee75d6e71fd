// Fidelity to the FedLLM-Bench code (rui-ye/FedLLM-Bench): local work per round, the per-round
// local data draw, DP noise, multi-turn batches and what the shipped configs state.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <numeric>
#include <sstream>

#include "common/rng.hpp"
#include "datasets/dataset.hpp"
#include "models/text/batch.hpp"
#include "sim/config.hpp"
#include "sim/federation.hpp"
#include "sim/sampler.hpp"
#include "sim/trainer.hpp"
#include "plus_one_trainer.hpp"

using namespace fedsim::sim;
namespace ds = fedsim::datasets;

namespace {

using testing::PlusOneTrainer;

std::string source_file(const std::string& rel) {
  const char* src = std::getenv("FEDSIM_SOURCE_DIR");
  REQUIRE(src != nullptr);
  std::ifstream is(std::string(src) + "/" + rel);
  REQUIRE(is.good());
  std::stringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

// Mean local steps per participation of a run over `n`, with PlusOneTrainer.
double mean_steps(const ExperimentConfig& c, const std::vector<int64_t>& n) {
  PlusOneTrainer t;
  const RunResults r = run_federation(c, n, t, {}, {});
  const double steps = static_cast<double>(std::accumulate(r.clients.tokens_trained.begin(), r.clients.tokens_trained.end(), int64_t{0}));
  const double joined = static_cast<double>(std::accumulate(r.clients.rounds_joined.begin(), r.clients.rounds_joined.end(), int64_t{0}));
  return steps / joined;
}

}  // namespace

TEST_CASE("proportional steps: local_steps_rounds keeps Fed-ChatbotPA's published 2.4 steps per participant") {
  // The Fed-ChatbotPA stand-in's counts (Table 1: 747 clients, 9,508 pairs); published run:
  // R = 200, m = 10, batch 8, 3 epochs -> ceil(3 * n_i * 747 / (200 * 10) / 8) steps.
  ds::SyntheticSpec spec = ds::preset_spec("fed-chatbotpa");
  spec.length_scale = 0.02;
  spec.n_public = 0;
  std::vector<int64_t> n;
  for (const auto& c : ds::generate_synthetic(spec).clients) n.push_back(static_cast<int64_t>(c.samples.size()));
  REQUIRE(std::accumulate(n.begin(), n.end(), int64_t{0}) == 9508);
  const std::string base =
      "federation:\n  trainer: none\n  clients: 747\n  clients_per_round: 10\n  batch_size: 8\n  sampling: fedllm-bench\n"
      "  local_steps_mode: proportional\n  local_epochs: 3\n";
  const double published = mean_steps(parse_config(base + "  rounds: 200\n", "pa.yaml"), n);
  const double scaled = mean_steps(parse_config(base + "  rounds: 20\n  local_steps_rounds: 200\n", "pa.yaml"), n);
  const double unpinned = mean_steps(parse_config(base + "  rounds: 20\n", "pa.yaml"), n);
  MESSAGE("mean steps per participant: R=200 " << published << ", R=20 pinned to 200 " << scaled << ", R=20 unpinned "
                                               << unpinned);
  CHECK(published == doctest::Approx(2.4).epsilon(0.03));
  // The 20-round run's participants (CPython's draw for rounds 0..19) each do the published
  // ceil(3 * n_i * 747 / (200 * 10) / 8) steps.
  double want = 0;
  for (int64_t r = 0; r < 20; ++r)
    for (int32_t i : sample_clients(Sampling::fedllm_bench, 1, r, 747, 10))
      want += std::ceil(3.0 * static_cast<double>(n[static_cast<size_t>(i)]) * 747 / 2000 / 8) / 200;
  CHECK(scaled == doctest::Approx(want).epsilon(1e-12));
  CHECK(unpinned > 8 * scaled);  // about ten times the published work per participation
}

TEST_CASE("DP: sigma takes the constant initial lr (FedLLM-Bench); noise_lr: round scales it per round") {
  // One client, m = N = 1: each round the global value moves by the clipped update (1) plus
  // sigma_r * z_r, z_r the first normal of the (seed, client 0, round r, dp_noise) stream.
  // sigma = 2*lr*C/(n/N) * sqrt(2*q*R*ln(1/delta)) / eps = 0.1 * sqrt(8 ln 1e4) at lr = 0.5.
  const std::string base =
      "federation:\n  trainer: none\n  clients: 1\n  clients_per_round: 1\n  rounds: 4\n  local_steps: 1\n"
      "  batch_size: 1\n  lr: 0.5\n  lr_min: 0.001\nprivacy:\n  mechanism: gaussian\n  clip: 1\n";
  const double sigma0 = dp_sigma(0.5, 1.0, 10, 1, 1, 4, 1.0, 1e-4);
  CHECK(sigma0 == doctest::Approx(0.1 * std::sqrt(8 * std::log(1e4))).epsilon(1e-12));
  for (const char* mode : {"initial", "round"}) {
    CAPTURE(mode);
    PlusOneTrainer t;
    const RunResults r = run_federation(parse_config(base + "  noise_lr: " + mode + "\n", "dp.yaml"), {10}, t, {}, {});
    REQUIRE(r.rounds.size() == 5);
    for (int64_t k = 0; k < 4; ++k) {
      fedsim::Rng rng(1, 0, static_cast<uint64_t>(k), fedsim::Purpose::dp_noise);
      const double z = rng.normal();
      const double lr = std::string(mode) == "initial" ? 0.5 : cosine_lr(0.5, 0.001, k, 4);
      const double sigma = sigma0 * lr / 0.5;
      const double step = r.rounds[static_cast<size_t>(k + 1)].eval_loss - r.rounds[static_cast<size_t>(k)].eval_loss;
      CHECK(step == doctest::Approx(1.0 + sigma * z).epsilon(1e-5));
    }
  }
  // Published Fed-WildChat scale: the round rule would leave 1/20 of the noise in the last round.
  CHECK(2e-5 / cosine_lr(2e-5, 1e-6, 99, 100) == doctest::Approx(19.9).epsilon(0.01));
}

// Expected values from CPython 3.11.2 (/usr/bin/python3):
//   import random
//   for r, n, k in [(0, 40, 16), (7, 13, 13), (3, 300, 48), (1, 5000, 160), (199, 1000, 160)]:
//       random.seed(r); s = random.sample(range(n), k); print(s)   # first/last 4 and sum for k = 160
TEST_CASE("local draw: FedLLM-Bench's random.seed(round); random.sample(range(n_i), k), same seed for every client") {
  struct Case {
    int64_t round;
    int32_t n, k;
    std::vector<int32_t> want;
  };
  const Case cases[] = {
      {0, 40, 16, {24, 26, 2, 16, 32, 31, 25, 19, 30, 11, 18, 28, 6, 36, 4, 9}},
      {7, 13, 13, {5, 2, 6, 0, 1, 8, 11, 4, 9, 7, 12, 10, 3}},
      {3, 300, 48, {121, 278, 66, 189, 242, 297, 33, 6, 240, 132, 282, 119, 98, 276, 281, 243,
                    203, 77, 118, 267, 199, 7, 32, 81, 21, 154, 15, 137, 198, 218, 202, 295,
                    227, 68, 187, 49, 18, 69, 253, 111, 223, 215, 259, 197, 293, 179, 273, 299}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.round);
    CHECK(CPythonRandom(static_cast<uint64_t>(c.round)).sample_range(c.n, c.k) == c.want);
    // The draw takes exactly that subset (in fedsim's own order), for any client and seed.
    for (int32_t client : {0, 5}) {
      std::vector<size_t> got = draw_local_samples(9, client, c.round, static_cast<size_t>(c.n), 1, c.k, true);
      std::vector<size_t> want(c.want.begin(), c.want.end());
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
      CHECK(got == want);
    }
  }
  // num2sample = batch * steps capped at n_i; the subset is cycled to fill the steps.
  std::vector<size_t> capped = draw_local_samples(9, 0, 7, 13, 4, 8, true);
  REQUIRE(capped.size() == 32);
  std::sort(capped.begin(), capped.begin() + 13);
  for (size_t i = 0; i < 13; ++i) CHECK(capped[i] == i);
  const auto big = CPythonRandom(1).sample_range(5000, 160);  // the set-based branch of random.sample
  CHECK(std::vector<int32_t>(big.begin(), big.begin() + 4) == std::vector<int32_t>{1100, 4662, 516, 2089});
  CHECK(std::vector<int32_t>(big.end() - 4, big.end()) == std::vector<int32_t>{1377, 2235, 2412, 3724});
  CHECK(std::accumulate(big.begin(), big.end(), 0) == 420965);
  const auto pool = CPythonRandom(199).sample_range(1000, 160);
  CHECK(std::vector<int32_t>(pool.begin(), pool.begin() + 4) == std::vector<int32_t>{352, 762, 402, 867});
  CHECK(std::accumulate(pool.begin(), pool.end(), 0) == 79518);
  // The per-client stream differs between clients; the upstream subset does not.
  CHECK(draw_local_samples(9, 0, 3, 300, 6, 8) != draw_local_samples(9, 1, 3, 300, 6, 8));
}

TEST_CASE("multi-turn data trains whole conversations: every assistant turn is a target") {
  namespace models = fedsim::models;
  using Tok = models::Tokenizer;
  ds::FederatedDataset d;
  d.kind = ds::DataKind::multiturn;
  ds::Sample s;
  s.turns = {"q1", "a1", "q2", "a2"};
  s.instruction = "q2";
  s.response = "a2";
  const std::vector<ds::Sample> samples{s};
  models::ModelConfig mc = models::preset_config("nano");
  mc.max_seq = 20;
  models::Model m(mc, models::LoraConfig{}, 1);
  m.set_chat_template(models::chat_template("fedsim-bytes-chat"));  // what auto picks for multi-turn data
  const models::Batch b = training_batch(d, samples, {0}, m);
  // BOS USER q 1 ASSISTANT a 1 EOS USER q 2 ASSISTANT a 2 EOS, padded: both replies and their EOS
  // are targets; the human turns q1, q2 are masked.
  const int32_t S = Tok::BOS, U = Tok::USER, A = Tok::ASSISTANT, E = Tok::EOS, P = Tok::PAD;
  CHECK(b.inputs == std::vector<int32_t>{S, U, 'q', '1', A, 'a', '1', E, U, 'q', '2', A, 'a', '2', E, P, P, P, P, P});
  CHECK(b.targets == std::vector<int32_t>{-1, -1, -1, -1, 'a', '1', E, -1, -1, -1, -1, 'a', '2', E, -1, -1, -1, -1, -1, -1});
  d.kind = ds::DataKind::sft;  // single-turn data keeps the instruction -> response layout
  m.set_chat_template(models::chat_template("fedsim-bytes"));
  CHECK(training_batch(d, samples, {0}, m).inputs == models::make_sft_batch({{"q2", "a2"}}, 20).inputs);
}

TEST_CASE("a sample's language picks its alpaca variant (alpaca_by_language)") {
  namespace models = fedsim::models;
  ds::FederatedDataset d;
  d.languages = {"en", "ar", "Simplified_Chinese"};
  ds::Sample s;
  s.instruction = "q";
  s.response = "r";
  std::vector<ds::Sample> samples(4, s);
  samples[1].language = 1;
  samples[2].language = 2;
  samples[3].language = 0;  // samples[0]: unknown language, plain alpaca as English
  models::ModelConfig mc = models::preset_config("nano");
  mc.max_seq = 160;
  models::Model m(mc, models::LoraConfig{}, 1);
  m.set_chat_template(models::chat_template("alpaca_by_language"));
  const models::Batch b = training_batch(d, samples, {0, 1, 2, 3}, m);
  auto row_text = [&](int r) {
    std::vector<int32_t> ids(b.inputs.begin() + r * b.T, b.inputs.begin() + (r + 1) * b.T);
    return m.tokenizer().decode(ids, true);
  };
  // The byte tokenizer's post-processor puts BOS in front; the text is FedLLM-Bench's template.
  const std::string en = "Below is an instruction that describes a task. Write a response that appropriately "
                         "completes the request.\n\n### Instruction:\nq \n\n### Response: r";
  CHECK(row_text(0) == en);
  CHECK(row_text(3) == en);
  CHECK(row_text(1) == "أدناه تعليمة تصف مهمة. اكتب استجابة تكميلية مناسبة للطلب.\n\n### التعليمات:\nq\n\n### الاستجابة: r");
  CHECK(row_text(2) == "以下是描述任务的指示。请写出一个适当完成请求的回答。\n\n### 指令:\nq\n\n### 回答: r");
  // The loss covers " r" and EOS in every variant.
  for (int r = 0; r < 4; ++r)
    CHECK(std::count_if(b.targets.begin() + r * b.T, b.targets.begin() + (r + 1) * b.T, [](int32_t t) { return t >= 0; }) == 3);
}

TEST_CASE("shipped FedLLM-Bench configs: paper defaults, published R, and every departure stated") {
  struct Shipped {
    const char* file;
    int64_t published_rounds;
  };
  for (const Shipped& f : {Shipped{"configs/fed-aya.yaml", 200}, Shipped{"configs/fed-chatbotit.yaml", 100},
                           Shipped{"configs/fed-wildchat.yaml", 100}, Shipped{"configs/fed-wildchat-multiturn.yaml", 100},
                           Shipped{"configs/fed-chatbotpa-dpo.yaml", 200}}) {
    CAPTURE(std::string(f.file));
    const std::string text = source_file(f.file);
    const ExperimentConfig c = parse_config(text, f.file);
    CHECK(c.federation.server_beta1 == 0.5);  // FedLLM-Bench config.py fedopt_beta1
    CHECK(c.federation.local_steps_rounds == f.published_rounds);
    CHECK(c.federation.sampling == Sampling::fedllm_bench);
    CHECK(c.privacy.noise_lr == NoiseLr::initial);
    // Each of model, context, rank, batch, lr, rounds, steps and metric is on a line that
    // states the published value: the keys by section, the metric in a comment.
    const std::pair<const char*, const char*> keys[] = {{"model", "preset"},       {"model", "seq_len"},
                                                        {"lora", "rank"},          {"federation", "batch_size"},
                                                        {"federation", "lr"},      {"federation", "rounds"},
                                                        {"federation", "local_steps"}};
    std::vector<std::string> found;
    bool metric = false;
    std::istringstream lines(text);
    std::string section;
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line[0] != ' ' && line[0] != '#') section = line.substr(0, line.find(':'));
      if (line.rfind("# metric", 0) == 0) metric = line.find("published") != std::string::npos;
      for (const auto& [sec, key] : keys) {
        const std::string k = std::string("  ") + key;
        if (section == sec && line.rfind(k, 0) == 0 && (line[k.size()] == ':' || line.compare(k.size(), 5, "_mode") == 0)) {
          CAPTURE(line);
          CHECK(line.find("# published") != std::string::npos);
          found.push_back(std::string(sec) + "." + key);
        }
      }
    }
    CHECK(found.size() == std::size(keys));
    CHECK(metric);
  }
}
