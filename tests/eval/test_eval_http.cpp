// Evaluations against a real HTTP judge on 127.0.0.1 (tests/u2s/http_server.hpp): the judge
// rates by a tag in the last answer of its prompt, "<<x>>": a number is "Rating: [[x]]",
// "backup x" is "Rating: [x]", "none" a reply without a rating, "garbage" a reply that is not
// JSON, "500" an HTTP 500, "slow" a reply after the client's timeout. Expected numbers are
// worked out by hand from the tags.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "sim/eval/eval.hpp"
#include "sim/eval/judge_cache.hpp"
#include "sim/eval/prompts.hpp"
#include "tests/eval/eval_test_util.hpp"
#include "tests/u2s/http_server.hpp"

using namespace fedsim;
using namespace fedsim::sim::eval;
using fedsim::test::HttpReply;
using fedsim::test::sample;
using fedsim::test::TestServer;

namespace {

std::string chat(const std::string& content) {
  const nlohmann::json j = {{"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}}}},
                            {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 20}}}};
  return j.dump();
}

// What the judge server saw of each request.
struct Seen {
  std::string model, system, user;
  double temperature = -1;
  int max_tokens = -1;
};

class JudgeServer {
 public:
  JudgeServer() : server_([this](int, const std::string& body) { return reply(body); }, 200, 120.0) {}
  sim::llm::OpenAIConfig config() const {
    sim::llm::OpenAIConfig c;
    c.url = server_.url();
    c.model = "judge-x";
    c.timeout_s = 0.3;
    c.retries = 1;  // every failure costs two server requests
    c.backoff_s = 0.0;
    return c;
  }
  int requests() const { return server_.requests(); }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> l(m_);
    return seen_;
  }

 private:
  HttpReply reply(const std::string& body) {
    const auto j = nlohmann::json::parse(body);
    Seen s;
    s.model = j["model"];
    s.temperature = j["temperature"];
    s.max_tokens = j["max_tokens"];
    for (const auto& m : j["messages"]) (m["role"] == "system" ? s.system : s.user) = m["content"];
    {
      std::lock_guard<std::mutex> l(m_);
      seen_.push_back(s);
    }
    const size_t open = s.user.rfind("<<"), close = s.user.rfind(">>");
    const std::string tag = open == std::string::npos ? "" : s.user.substr(open + 2, close - open - 2);
    if (tag == "garbage") return {200, "<html>oops</html>", 0, false};
    if (tag == "500") return {500, R"({"error":"overloaded"})", 0, false};
    if (tag == "slow") return {200, chat("Rating: [[9]]"), 3000, false};
    if (tag == "none") return {200, chat("A fine answer, but I give no number."), 0, false};
    if (tag.rfind("backup ", 0) == 0) return {200, chat("Rating: [" + tag.substr(7) + "]"), 0, false};
    return {200, chat("Short explanation. Rating: [[" + tag + "]]"), 0, false};
  }

  TestServer server_;
  std::mutex m_;
  std::vector<Seen> seen_;
};

Benchmark sample_benchmark(BenchmarkKind kind, const std::string& questions) {
  BenchmarkFiles f;
  f.kind = kind;
  f.questions = sample(questions);
  f.references = sample("mtbench_reference.jsonl");
  f.judge_prompts = sample("judge_prompts.jsonl");
  return load_benchmark(f);
}

std::string tmp_path(const std::string& name) {
  std::filesystem::create_directories(FEDSIM_TEST_TMP_DIR);
  const std::string p = std::string(FEDSIM_TEST_TMP_DIR) + "/" + name;
  std::filesystem::remove(p);
  return p;
}

}  // namespace

TEST_CASE(
    "eval over HTTP: MT-Bench scores, per-category and per-turn means and failure counts; the cache keeps what was "
    "paid") {
  JudgeServer js;
  auto judge = sim::llm::make_openai_backend(js.config());
  JudgmentCache cache;
  JudgeOptions jo;
  jo.backend = judge.get();
  jo.model = "judge-x";
  jo.cache = &cache;
  const Benchmark b = sample_benchmark(BenchmarkKind::mtbench, "mtbench_question.jsonl");
  Answers a;
  // writing, math, reasoning, stem; turn 1 and turn 2.
  a.turns = {{"<<8>>", "<<garbage>>"}, {"<<10>>", "<<backup 4>>"}, {"<<none>>", "<<7.5>>"}, {"<<500>>", "<<slow>>"}};
  const BenchmarkResult r = judge_answers(b, a, jo);
  REQUIRE(r.items.size() == 8);
  // Rated: 8 (writing t1), 10 (math t1), 4 (math t2, backup pattern), 7.5 (reasoning t2).
  CHECK(r.rated == 4);
  CHECK(r.unparsable == 1);
  CHECK(r.malformed_replies == 1);
  CHECK(r.endpoint_errors == 1);
  CHECK(r.timeouts == 1);
  CHECK(r.judgments == 8);
  CHECK(r.score == doctest::Approx((8 + 10 + 4 + 7.5) / 4.0).epsilon(1e-15));
  CHECK(r.mean_rated == r.score);
  REQUIRE(r.categories.size() == 4);
  CHECK(r.categories[0].category == "writing");
  CHECK(r.categories[0].mean == 8.0);
  CHECK(r.categories[1].mean == 7.0);
  CHECK(r.categories[2].mean == 7.5);
  CHECK(r.categories[2].rated == 1);
  CHECK(std::isnan(r.categories[3].mean));
  CHECK(r.categories[3].rated == 0);
  REQUIRE(r.turn_means.size() == 2);
  CHECK(r.turn_means[0] == 9.0);
  CHECK(r.turn_means[1] == 5.75);
  CHECK(r.items[4].verdict == Verdict::unparsable);
  CHECK(r.items[4].score == -1.0);
  CHECK(r.items[1].verdict == Verdict::malformed_reply);
  CHECK(r.items[6].verdict == Verdict::endpoint_error);
  CHECK(r.items[7].verdict == Verdict::timeout);
  CHECK(r.items[7].reply.find("timeout") != std::string::npos);
  // Ok replies: 1 request each (5); garbage is not retried (1); 500 and the timeout are (2 + 2).
  CHECK(r.cost.judge_requests == 8);
  CHECK(js.requests() == 10);
  CHECK(r.cost.judge_cache_hits == 0);
  CHECK(r.cost.judge_prompt_tokens == 500);  // as the endpoint reported, for the 5 ok replies
  CHECK(cache.size() == 5);
  // The requests as FastChat sends them: its system prompts, temperature 0, max_tokens 2048.
  const auto seen = js.seen();
  CHECK(seen[0].model == "judge-x");
  CHECK(seen[0].system == "You grade answers.");
  CHECK(seen[0].user == "Question: Write a haiku about rain.\nAnswer: <<8>>\nReply with [[rating]], 1 to 10.");
  CHECK(seen[0].temperature == 0.0);
  CHECK(seen[0].max_tokens == 2048);

  // Again with the same cache: the 5 delivered replies are not asked for again; the 3 failures are.
  const BenchmarkResult again = judge_answers(b, a, jo);
  CHECK(again.cost.judge_cache_hits == 5);
  CHECK(again.cost.judge_requests == 3);
  CHECK(js.requests() == 15);
  CHECK(again.score == r.score);
  CHECK(again.unparsable == 1);
  CHECK(again.items[0].cached);
  CHECK_FALSE(again.items[7].cached);
}

TEST_CASE(
    "eval over HTTP: Vicuna counts unparsable replies as -1 like show_results_vicuna.py; a saved cache sends nothing "
    "again") {
  JudgeServer js;
  auto judge = sim::llm::make_openai_backend(js.config());
  const std::string path = tmp_path("judge_cache_vicuna.h5");
  const Benchmark b = sample_benchmark(BenchmarkKind::vicuna, "vicuna_question.jsonl");
  Answers a;
  a.turns = {{"<<9>>"}, {"<<none>>"}, {"<<4>>"}};
  BenchmarkResult first;
  {
    JudgmentCache cache(path);
    JudgeOptions jo{judge.get(), "judge-x", &cache, 7, 2};  // saved after every 2 new replies
    first = judge_answers(b, a, jo);
  }
  CHECK(first.score == doctest::Approx((9.0 - 1.0 + 4.0) / 3.0).epsilon(1e-15));
  CHECK(first.mean_rated == 6.5);
  CHECK(first.categories[0].category == "generic");
  CHECK(first.categories[0].mean == 6.5);
  CHECK(first.categories[1].rated == 0);
  CHECK(js.requests() == 3);
  const auto seen = js.seen();
  CHECK(seen[1].system == upstream::kVicunaSystem);
  CHECK(seen[1].temperature == 0.2);
  CHECK(seen[1].user == "Question: What is the sum of 1 to 10?\nAnswer: <<none>>\nReply with [[rating]], 1 to 10.");
  CHECK(std::filesystem::exists(path));

  JudgmentCache reloaded(path);
  CHECK(reloaded.size() == 3);
  JudgeOptions jo{judge.get(), "judge-x", &reloaded, 7, 32};
  const BenchmarkResult second = judge_answers(b, a, jo);
  CHECK(js.requests() == 3);  // zero new requests
  CHECK(second.cost.judge_requests == 0);
  CHECK(second.cost.judge_cache_hits == 3);
  CHECK(second.score == first.score);
  // Another judge model is another key.
  jo.model = "judge-y";
  judge_answers(b, a, jo);
  CHECK(js.requests() == 6);
}

TEST_CASE("eval over HTTP: GPT4-refer and Aya as their show_results scripts average") {
  JudgeServer js;
  auto judge = sim::llm::make_openai_backend(js.config());
  JudgeOptions jo;
  jo.backend = judge.get();
  Answers a;
  a.turns = {{"<<5>>"}, {"<<none>>"}, {"<<7>>"}};  // English, German, English
  const BenchmarkResult refer = judge_answers(sample_benchmark(BenchmarkKind::refer, "refer_testset.json"), a, jo);
  CHECK(refer.score == 6.0);  // unparsable replies are skipped (show_results_bench.py)
  CHECK(refer.categories[0].category == "English");
  CHECK(refer.categories[0].mean == 6.0);
  CHECK(refer.categories[1].rated == 0);
  CHECK(js.seen()[0].system == upstream::kRateSystem);

  a.turns = {{"<<4>>"}, {"<<8>>"}, {"<<9>>"}};  // English, English, French
  const BenchmarkResult aya = judge_answers(sample_benchmark(BenchmarkKind::aya, "aya_test_datasets.json"), a, jo);
  CHECK(aya.score == 7.5);  // the mean of the language means (6 and 9)
  CHECK(aya.mean_rated == 7.0);
  CHECK(js.seen()[3].user.find("[Reference]\nParis.") != std::string::npos);
}

TEST_CASE("eval over HTTP: a nano model answers MT-Bench and the judge grades it end to end") {
  // The judge rates each prompt by its length (1 + bytes mod 10), so the expected scores come
  // from what the server saw.
  std::vector<double> given;
  std::mutex m;
  TestServer server(
      [&](int, const std::string& body) {
        const auto j = nlohmann::json::parse(body);
        const std::string user = j["messages"][1]["content"];
        const int rating = 1 + static_cast<int>(user.size() % 10);
        std::lock_guard<std::mutex> l(m);
        given.push_back(rating);
        return HttpReply{200, chat("[[" + std::to_string(rating) + "]]"), 0, false};
      },
      100, 120.0);
  sim::llm::OpenAIConfig oc;
  oc.url = server.url();
  oc.retries = 0;
  auto judge = sim::llm::make_openai_backend(oc);
  const models::Model model(models::preset_config("nano"), models::LoraConfig{}, 3);
  auto answerer = sim::llm::make_model_backend(model, nullptr);
  const Benchmark b = sample_benchmark(BenchmarkKind::mtbench, "mtbench_question.jsonl");
  AnswerOptions ao;
  ao.format = byte_layout(model.config().max_seq);
  ao.seed = 11;
  JudgmentCache cache;
  JudgeOptions jo{judge.get(), "judge-x", &cache, 0, 32};
  const BenchmarkResult r = evaluate(b, *answerer, ao, jo);
  REQUIRE(given.size() == 8);
  CHECK(r.rated == 8);
  double sum = 0;
  for (size_t k = 0; k < 8; ++k) {
    CHECK(r.items[k].score == given[k]);
    sum += given[k];
  }
  CHECK(r.score == doctest::Approx(sum / 8).epsilon(1e-15));
  CHECK(r.cost.generate_calls == 2);
  CHECK(r.cost.generated_tokens > 0);
  // Evaluating the same model again pays for no judgment: the answers are the same.
  const BenchmarkResult again = evaluate(b, *answerer, ao, jo);
  CHECK(server.requests() == 8);
  CHECK(again.cost.judge_cache_hits == 8);
  CHECK(again.score == r.score);
}
