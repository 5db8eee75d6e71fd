// Generation: the KV-cache decoder against full forwards, greedy reproduction of a trained
// pattern, greedy exact match == teacher-forced accuracy, seeded sampling.
#include <doctest/doctest.h>

#include <cmath>

#include "grad_util.hpp"
#include "llama_configs.hpp"
#include "models/decode.hpp"
#include "models/model.hpp"
#include "models/text/batch.hpp"
#include "text_fixtures.hpp"

using namespace fedsim::models;
using namespace fedsim::models::testing;

namespace {
std::vector<std::pair<std::string, std::string>> pairs() {
  return {{"add 2 3", "5"}, {"capital of France", "Paris"}, {"reverse abc", "cba"}, {"héllo", "wörld ✓"}};
}
std::vector<std::string> prompts() {
  std::vector<std::string> p;
  for (const auto& x : pairs()) p.push_back(x.first);
  return p;
}
std::vector<std::string> answers() {
  std::vector<std::string> p;
  for (const auto& x : pairs()) p.push_back(x.second);
  return p;
}
}  // namespace

TEST_CASE("KV-cache decoding gives the logits of a full forward at every position (double, adapter on)") {
  ModelConfig c = preset_config("nano");
  c.max_seq = 12;
  LoraConfig l;
  l.dropout = 0.0f;
  l.targets = {"q", "k", "v", "o", "mlp_up", "mlp_down"};
  Net<double> net(c, l, 1);
  fedsim::Rng rng(2);
  perturb_base(net, 5, rng, 0.1);  // away from the tiny-logit regime
  random_adapter(net, 0, rng, 0.2);
  const double worst = kv_cache_error(net, 3, rng);
  INFO("worst normalised error " << worst);
  CHECK(worst <= 1.0);
}

TEST_CASE("greedy generation reproduces a trained pattern; exact match == teacher-forced accuracy") {
  Model m(preset_config("nano"), LoraConfig{}, 1);
  const Batch b = make_sft_batch(pairs(), 32);
  GenerateConfig g;
  g.max_new_tokens = 20;  // longer than every answer: stopping is the model's EOS
  int checked = 0, partial = 0;
  for (int s = 0; s <= 120; ++s) {
    if (s % 10 == 0) {  // before, during and after fitting
      const EvalStats e = m.evaluate(nullptr, b);
      const std::vector<std::string> out = m.generate(nullptr, prompts(), g);
      INFO("step " << s << ": teacher-forced accuracy " << e.accuracy);
      CHECK(exact_match(out, answers()) == e.accuracy);
      ++checked;
      partial += e.accuracy > 0 && e.accuracy < 1;
    }
    m.train_base_step(b, 3e-3f, OptimConfig{});
  }
  CHECK(checked == 13);
  CHECK(partial >= 1);  // the equality was also tested where only some answers are right
  const std::vector<std::string> out = m.generate(nullptr, prompts(), g);
  CHECK(out == answers());
  // The same through an adapter: a fresh adapter (B = 0) changes nothing.
  const std::vector<float> ad = m.init_adapter(3);
  CHECK(m.generate(&ad, prompts(), g) == answers());
  // Length limit: at most max_new_tokens tokens.
  g.max_new_tokens = 2;
  const std::vector<std::string> cut = m.generate(nullptr, prompts(), g);
  CHECK(cut[1] == "Pa");
  CHECK(cut[0] == "5");
}

namespace {
// ChatML on bytes: ids 0-255 the bytes (no merges, so a text has one tokenization), 256
// <|endoftext|> (PAD), 257 <|im_start|>, 258 <|im_end|> (EOS, as Qwen's instruct folders set it).
std::shared_ptr<const TextTokenizer> chatml_bytes() {
  fedsim::test::json j = fedsim::test::byte_level_json({});
  fedsim::test::add_token(j, 256, "<|endoftext|>", true);
  fedsim::test::add_token(j, 257, "<|im_start|>", true);
  fedsim::test::add_token(j, 258, "<|im_end|>", true);
  fedsim::test::write_temp("gen-chatml/tokenizer_config.json", R"({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})");
  return fedsim::test::load_json("gen-chatml/tokenizer.json", j);
}
}  // namespace

TEST_CASE("generate_chat through ChatML: stops at <|im_end|>, decodes text only; exact match == teacher-forced accuracy") {
  ModelConfig c = small_llama(Arch::qwen2, 48, 32, 64);
  c.n_layers = 1;
  Model m(c, LoraConfig{}, 2);
  const auto tok = chatml_bytes();
  m.set_tokenizer(tok, chat_family(*tok, "", false));
  REQUIRE(m.chat_template().name == "chatml");
  std::vector<Conversation> convs, questions;
  for (const auto& [q, a] : pairs()) {
    convs.push_back(exchange(q, a));
    questions.push_back(Conversation{"", {{Role::user, q}}});
  }
  const Batch b = make_sft_batch(*tok, m.chat_template(), convs, 48);
  GenerateConfig g;
  g.max_new_tokens = 20;
  int partial = 0;
  for (int s = 0; s <= 150; ++s) {
    if (s % 10 == 0) {
      const EvalStats e = m.evaluate(nullptr, b);
      const std::vector<Generation> out = m.generate_chat(nullptr, questions, g);
      std::vector<std::string> texts;
      for (size_t i = 0; i < out.size(); ++i) {
        texts.push_back(out[i].text);
        CHECK(out[i].prompt_tokens == static_cast<int64_t>(tokenize_prompt(*tok, m.chat_template(), questions[i]).size()));
      }
      INFO("step " << s << ": teacher-forced accuracy " << e.accuracy);
      CHECK(exact_match(texts, answers()) == e.accuracy);
      partial += e.accuracy > 0 && e.accuracy < 1;
    }
    m.train_base_step(b, 1e-2f, OptimConfig{});
  }
  CHECK(partial >= 1);
  const std::vector<Generation> out = m.generate_chat(nullptr, questions, g);
  for (size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].text == answers()[i]);
    // The answer's bytes and the <|im_end|> that stopped it.
    CHECK(out[i].new_tokens == static_cast<int64_t>(answers()[i].size()) + 1);
  }
  // generate() is generate_chat of one-turn conversations.
  CHECK(m.generate(nullptr, prompts(), g) == answers());
}

TEST_CASE("generate_chat: a prompt past the context loses its oldest exchange, then the end of its question") {
  ModelConfig c = small_llama(Arch::qwen2, 64, 16, 32);
  Model m(c, LoraConfig{}, 3);
  const auto tok = chatml_bytes();
  m.set_tokenizer(tok, "chatml");
  GenerateConfig g;
  g.max_new_tokens = 3;
  // A question q alone: <|im_start|> "user\n" q <|im_end|> "\n" <|im_start|> "assistant\n" = 19 + |q|
  // tokens; before it, an exchange (u, a) adds 8 + |u| and 13 + |a|. Budget: max_seq - 1 = 63.
  const Conversation fits{"", {{Role::user, std::string(10, 'a')}, {Role::assistant, "b"}, {Role::user, "c"}}};
  const Conversation drops{"", {{Role::user, std::string(30, 'a')}, {Role::assistant, "b"}, {Role::user, "c"}}};
  const Conversation cuts{"", {{Role::user, std::string(50, 'q')}}};
  const std::vector<Generation> out = m.generate_chat(nullptr, {fits, drops, cuts}, g);
  CHECK(out[0].prompt_tokens == 8 + 10 + 13 + 1 + 19 + 1);  // 52: whole
  CHECK(out[1].prompt_tokens == 19 + 1);                    // 72 > 63: the first exchange goes
  CHECK(out[2].prompt_tokens == 63);                        // 69 > 63: the question loses its last 6 bytes
  CHECK(out[0].new_tokens <= 3);
  CHECK(out[2].new_tokens <= 2);  // position 63 is fed the first new token and predicts the last
}

TEST_CASE("sampling: seeded and repeatable, top_k 1 is greedy, temperature spreads the output") {
  Model m(preset_config("nano"), LoraConfig{}, 4);
  GenerateConfig g;
  g.max_new_tokens = 12;
  g.temperature = 1.0f;
  g.seed = 17;
  const std::vector<std::string> a = m.generate(nullptr, prompts(), g), b = m.generate(nullptr, prompts(), g);
  CHECK(a == b);
  for (const auto& s : a) CHECK(!s.empty());
  g.seed = 18;
  CHECK(m.generate(nullptr, prompts(), g) != a);
  // One prompt alone draws the same as in the batch (streams per prompt index 0).
  g.seed = 17;
  CHECK(m.generate(nullptr, {prompts()[0]}, g)[0] == a[0]);
  GenerateConfig greedy;
  greedy.max_new_tokens = 12;
  GenerateConfig top1 = g;
  top1.top_k = 1;
  CHECK(m.generate(nullptr, prompts(), top1) == m.generate(nullptr, prompts(), greedy));
  // An untrained model at temperature 1 over 264 tokens: the 4 answers are not all equal.
  CHECK(!(a[0] == a[1] && a[1] == a[2] && a[2] == a[3]));
}

TEST_CASE("exact_match counts identical strings") {
  CHECK(exact_match({"a", "b", "c", "d"}, {"a", "x", "c", "d "}) == 0.5);
  CHECK(exact_match({}, {}) == 0.0);
}
