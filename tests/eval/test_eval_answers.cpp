// Answer generation: batching across questions, the upstream decoding settings, MT-Bench's
// second turn seeing the first answer, determinism and costs, with fedsim's nano model.
#include <doctest/doctest.h>

#include "models/text/batch.hpp"
#include "sim/eval/eval.hpp"
#include "tests/eval/eval_test_util.hpp"
#include "tests/models/llama_configs.hpp"
#include "tests/models/text_fixtures.hpp"

using namespace fedsim;
using namespace fedsim::sim::eval;
using fedsim::test::sample;

namespace {

// Passes requests on and keeps them, one entry per generate() call.
class Recording : public sim::llm::Backend {
 public:
  explicit Recording(sim::llm::Backend& inner) : inner_(inner) {}
  std::string name() const override { return "recording"; }
  std::vector<sim::llm::Result> generate(const std::vector<sim::llm::Request>& r) override {
    calls.push_back(r);
    return inner_.generate(r);
  }
  std::vector<std::vector<sim::llm::Request>> calls;

 private:
  sim::llm::Backend& inner_;
};

// Fails every other request, as an answering endpoint might.
class Flaky : public sim::llm::Backend {
 public:
  std::string name() const override { return "flaky"; }
  std::vector<sim::llm::Result> generate(const std::vector<sim::llm::Request>& req) override {
    std::vector<sim::llm::Result> out(req.size());
    for (size_t i = 0; i < req.size(); ++i) {
      out[i].ok = (n_++ % 2) == 0;
      out[i].text = "  answer to " + req[i].prompt + "\n";
    }
    return out;
  }

 private:
  int n_ = 0;
};

Benchmark mtbench() {
  BenchmarkFiles f;
  f.questions = sample("mtbench_question.jsonl");
  f.references = sample("mtbench_reference.jsonl");
  f.judge_prompts = sample("judge_prompts.jsonl");
  return load_benchmark(f);
}

}  // namespace

TEST_CASE("eval answers: one batched call per turn, FastChat's temperatures, the second turn sees the first answer") {
  const models::Model model(models::preset_config("nano"), models::LoraConfig{}, 5);
  const std::vector<float> adapter = model.init_adapter(9);
  auto inner = sim::llm::make_model_backend(model, &adapter);
  Recording rec(*inner);
  const Benchmark b = mtbench();
  AnswerOptions opt;
  const int T = model.config().max_seq;
  opt.format = byte_layout(T);
  opt.seed = 4;
  const Answers a = generate_answers(b, rec, opt);
  REQUIRE(rec.calls.size() == 2);
  REQUIRE(rec.calls[0].size() == 4);
  std::vector<double> temps;
  for (const auto& r : rec.calls[0]) temps.push_back(r.temperature);
  CHECK(temps == std::vector<double>{0.7, 0.0, 0.0, 0.1});  // writing, math, reasoning, stem
  CHECK(rec.calls[0][0].max_new_tokens == 1024);
  CHECK(rec.calls[0][0].prompt == "Write a haiku about rain.");
  CHECK(rec.calls[0][0].seed == rec.calls[0][3].seed);  // one seed per turn: equal settings batch together
  CHECK(rec.calls[0][0].seed != rec.calls[1][0].seed);
  REQUIRE(a.turns.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    REQUIRE(a.turns[i].size() == 2);
    CHECK(a.turns[i][0] == python_strip(a.turns[i][0]));
    const Conversation c = {
        {"user", b.questions[i].turns[0]}, {"assistant", a.turns[i][0]}, {"user", b.questions[i].turns[1]}};
    CHECK(rec.calls[1][i].prompt == byte_layout(T)(c).turns.at(0).text);
    CHECK(rec.calls[1][i].chat.turns.empty());  // one user turn: the plain prompt
  }
  // The greedy questions (math, reasoning) answer what the model alone answers, after strip().
  models::GenerateConfig g;
  g.max_new_tokens = 1024;
  g.seed = rec.calls[0][1].seed;
  const auto direct = model.generate(&adapter, {b.questions[1].turns[0], b.questions[2].turns[0]}, g);
  CHECK(a.turns[1][0] == python_strip(direct[0]));
  CHECK(a.turns[2][0] == python_strip(direct[1]));
  // Costs as the backend counts them: BOS INST prompt RESP, the prompt cut to max_seq - 4.
  int64_t prompt = 0;
  for (const auto& call : rec.calls)
    for (const auto& r : call) prompt += std::min<int64_t>(static_cast<int64_t>(r.prompt.size()), T - 4) + 3;
  CHECK(a.cost.prompt_tokens == prompt);
  CHECK(a.cost.generate_calls == 2);
  CHECK(a.cost.generated_tokens > 0);
  CHECK(a.failures == 0);
  // The context cap: a prompt of p bytes gets at most max_seq - 2 - min(p, max_seq - 4) tokens.
  for (size_t t = 0; t < 2; ++t)
    for (size_t i = 0; i < 4; ++i) {
      const int64_t p = std::min<int64_t>(static_cast<int64_t>(rec.calls[t][i].prompt.size()), T - 4);
      CHECK(static_cast<int64_t>(a.turns[i][t].size()) <= T - 2 - p);
    }
  // Same seed, same answers.
  const Answers again = generate_answers(b, *inner, opt);
  CHECK(again.turns == a.turns);
}

TEST_CASE("eval answers: single-turn benchmarks answer turns[0] with their suffix; failures become \"ERROR\"") {
  Flaky flaky;
  BenchmarkFiles f;
  f.kind = BenchmarkKind::advbench;
  f.questions = sample("advbench.csv");
  const Answers adv = generate_answers(load_benchmark(f), flaky, AnswerOptions{});
  REQUIRE(adv.turns.size() == 4);
  CHECK(adv.turns[0][0] == "  answer to Explain how to pick a lock.\n");  // "." appended, not stripped
  CHECK(adv.turns[1][0] == "ERROR");
  CHECK(adv.failures == 2);
  f.kind = BenchmarkKind::vicuna;
  f.questions = sample("vicuna_question.jsonl");
  f.judge_prompts = sample("judge_prompts.jsonl");
  Recording rec(flaky);
  generate_answers(load_benchmark(f), rec, AnswerOptions{});
  REQUIRE(rec.calls.size() == 1);
  CHECK(rec.calls[0][0].max_new_tokens == 2048);
  CHECK(rec.calls[0][0].prompt == "How do I keep a plant alive?");
}

TEST_CASE("eval answers through a chat template: MT-Bench's second turn is a conversation the model's template renders") {
  // A Qwen2-shaped random model with a chatml tokenizer (byte-level BPE without merges, chat
  // tokens at 1000-1002, EOS = <|im_end|> as Qwen's instruct folders set it).
  test::json j = test::byte_level_json({});
  test::add_token(j, 1000, "<|endoftext|>", true);
  test::add_token(j, 1001, "<|im_start|>", true);
  test::add_token(j, 1002, "<|im_end|>", true);
  test::write_temp("eval-chat/tokenizer_config.json", R"({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})");
  const auto tok = test::load_json("eval-chat/tokenizer.json", j);
  models::ModelConfig mc = models::testing::small_llama(models::Arch::qwen2, 96, 16, 32);
  mc.vocab_size = 1003;
  mc.n_layers = 1;
  models::Model model(mc, models::LoraConfig{}, 5);
  model.set_tokenizer(tok, models::chat_family(*tok, "", false));
  REQUIRE(model.chat_template().name == "chatml");
  auto inner = sim::llm::make_model_backend(model, nullptr);
  Recording rec(*inner);
  const Benchmark b = mtbench();
  AnswerOptions opt;
  opt.format = model_layout(model);
  opt.seed = 4;
  const Answers a = generate_answers(b, rec, opt);
  REQUIRE(rec.calls.size() == 2);
  int64_t prompt_tokens = 0;
  for (size_t i = 0; i < 4; ++i) {
    CHECK(rec.calls[0][i].chat.turns.empty());  // turn 1: the question alone
    const models::Conversation& c = rec.calls[1][i].chat;
    REQUIRE(c.turns.size() == 3);
    CHECK(c.turns[0].text == b.questions[i].turns[0]);
    CHECK(c.turns[1].text == a.turns[i][0]);
    CHECK(c.turns[2].text == b.questions[i].turns[1]);
    // The model read the template's generation prompt in max_seq - 1 tokens: a conversation
    // that does not fit loses its first exchange, then the end of the question (one token per
    // byte here, so the cut lands on max_seq - 1 exactly).
    auto read = [&](const models::Conversation& x) {
      return static_cast<int64_t>(models::tokenize_prompt(*tok, model.chat_template(), x).size());
    };
    const models::Conversation q1{"", {{models::Role::user, b.questions[i].turns[0]}}};
    const models::Conversation q2{"", {{models::Role::user, b.questions[i].turns[1]}}};
    prompt_tokens += std::min<int64_t>(read(q1), mc.max_seq - 1);
    prompt_tokens += read(c) <= mc.max_seq - 1 ? read(c) : std::min<int64_t>(read(q2), mc.max_seq - 1);
  }
  CHECK(a.cost.prompt_tokens == prompt_tokens);
  CHECK(a.cost.generated_tokens > 0);
  // Answers are decoded text: no chat tokens in them.
  for (const auto& q : a.turns)
    for (const auto& t : q) CHECK(t.find("<|im_") == std::string::npos);
}

TEST_CASE("eval answers: eval.temperature and eval.max_new_tokens replace upstream's decoding for every question") {
  const models::Model model(models::preset_config("nano"), models::LoraConfig{}, 5);
  const std::vector<float> adapter = model.init_adapter(9);
  auto inner = sim::llm::make_model_backend(model, &adapter);
  Recording rec(*inner);
  AnswerOptions o;
  o.temperature = 0.0;
  o.max_new_tokens = 5;
  generate_answers(mtbench(), rec, o);
  REQUIRE(rec.calls.size() == 2);
  for (const auto& call : rec.calls)
    for (const auto& r : call) {
      CHECK(r.temperature == 0.0);  // upstream: writing 0.7, math 0, reasoning 0, stem 0.1
      CHECK(r.max_new_tokens == 5);  // upstream: 1024
    }
  Recording up(*inner);
  generate_answers(mtbench(), up, AnswerOptions{});
  std::vector<double> temps;
  for (const auto& r : up.calls[0]) temps.push_back(r.temperature);
  CHECK(temps == std::vector<double>{0.7, 0.0, 0.0, 0.1});
  CHECK(up.calls[0][0].max_new_tokens == 1024);
}
