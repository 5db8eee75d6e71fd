// The openai backend against a local server that answers, fails, stalls and talks garbage.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "sim/u2s/u2s.hpp"
#include "tests/u2s/http_server.hpp"

using namespace fedsim;
using fedsim::test::HttpReply;
using fedsim::test::TestServer;

namespace {

std::string reply_with(const std::string& content) {
  nlohmann::json j = {{"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}}}},
                      {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 7}}}};
  return j.dump();
}

sim::llm::OpenAIConfig fast(const TestServer& s, int retries) {
  sim::llm::OpenAIConfig c;
  c.url = s.url();
  c.timeout_s = 0.15;
  c.retries = retries;
  c.backoff_s = 0.0;
  return c;
}

std::vector<sim::llm::Request> requests(int n) {
  std::vector<sim::llm::Request> r(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) r[static_cast<size_t>(i)].prompt = "Q:What is 2 plus 2?\nA:4\nT:Zorvex treats gout.\n";
  return r;
}

}  // namespace

TEST_CASE("openai backend: a good reply is parsed with its usage, and the request carries the prompt") {
  std::string seen_prompt, seen_model;
  TestServer s(
      [&](int, const std::string& body) {
        const auto j = nlohmann::json::parse(body);
        seen_model = j["model"];
        seen_prompt = j["messages"][1]["content"];
        return HttpReply{200, reply_with("Q:What does Zorvex treat?\nA:gout"), 0, false};
      },
      10, 20.0);
  auto b = sim::llm::make_openai_backend(fast(s, 0));
  const auto res = b->generate(requests(1));
  REQUIRE(res.size() == 1);
  CHECK(res[0].ok);
  CHECK(res[0].text == "Q:What does Zorvex treat?\nA:gout");
  CHECK(res[0].prompt_tokens == 11);
  CHECK(res[0].completion_tokens == 7);
  CHECK(seen_model == "default");
  CHECK(seen_prompt == requests(1)[0].prompt);
  const auto v = sim::u2s::judge(res[0], "Zorvex treats gout.", {});
  CHECK(v.keep);
  CHECK(v.instruction == "What does Zorvex treat?");
}

TEST_CASE("openai backend: garbage, malformed JSON, errors and timeouts become failed results with reasons") {
  // Request i gets behaviour i; retries are off so each request is one server request.
  const std::vector<HttpReply> script = {
      {200, "<html>not json</html>", 0, false},             // garbage
      {200, R"({"choices": []})", 0, false},                // malformed
      {500, R"({"error":"boom"})", 0, false},               // server error
      {400, R"({"error":"bad model"})", 0, false},          // client error
      {200, reply_with("Q:What is 2 plus 2?\nA:4"), 600, false},  // too slow: timeout
      {200, "", 0, true},                                   // hang up
      {200, reply_with("no pair here"), 0, false},          // ok, but not a pair
  };
  TestServer s([&](int i, const std::string&) { return script[static_cast<size_t>(i)]; }, 7, 20.0);
  auto b = sim::llm::make_openai_backend(fast(s, 0));
  const auto res = b->generate(requests(7));
  REQUIRE(res.size() == 7);
  CHECK_FALSE(res[0].ok);
  CHECK(res[0].error.find("garbage") != std::string::npos);
  CHECK_FALSE(res[1].ok);
  CHECK(res[1].error.find("malformed") != std::string::npos);
  CHECK_FALSE(res[2].ok);
  CHECK(res[2].error.find("HTTP 500") != std::string::npos);
  CHECK_FALSE(res[3].ok);
  CHECK(res[3].error.find("HTTP 400") != std::string::npos);
  CHECK(res[3].error.find("HINT") != std::string::npos);
  CHECK_FALSE(res[4].ok);
  CHECK(res[4].error.find("timeout") != std::string::npos);
  CHECK_FALSE(res[5].ok);
  CHECK(res[6].ok);
  // How the filter counts them.
  std::vector<sim::u2s::Drop> why;
  for (const auto& r : res) why.push_back(sim::u2s::judge(r, "", {}).why);
  CHECK(why == std::vector<sim::u2s::Drop>{sim::u2s::Drop::error, sim::u2s::Drop::error, sim::u2s::Drop::error,
                                           sim::u2s::Drop::error, sim::u2s::Drop::timeout, sim::u2s::Drop::error,
                                           sim::u2s::Drop::format});
  CHECK(s.requests() == 7);
}

TEST_CASE("openai backend: 429, 5xx and timeouts are retried; 4xx is not; a closed server is a counted error") {
  // Server requests: 429, 503, timeout, then a good reply: one request with retries = 3 succeeds.
  const std::vector<HttpReply> script = {
      {429, "{}", 0, false}, {503, "{}", 0, false}, {200, reply_with("late"), 600, false},
      {200, reply_with("Q:What does Zorvex treat?\nA:gout"), 0, false}, {404, "{}", 0, false}};
  TestServer s([&](int i, const std::string&) { return script[static_cast<size_t>(i)]; }, 5, 20.0);
  auto b = sim::llm::make_openai_backend(fast(s, 3));
  auto res = b->generate(requests(1));
  CHECK(res[0].ok);
  CHECK(s.requests() == 4);
  res = b->generate(requests(1));  // 404: no retry
  CHECK_FALSE(res[0].ok);
  CHECK(res[0].error.find("HTTP 404") != std::string::npos);
  CHECK(res[0].error.find("attempt 1/4") != std::string::npos);
  CHECK(s.requests() == 5);
  // The server stops after 5 requests: connection refused on every attempt, reported.
  res = b->generate(requests(1));
  CHECK_FALSE(res[0].ok);
  CHECK(res[0].error.find("attempt 4/4") != std::string::npos);
}

TEST_CASE("openai backend: with a rate limit every request still goes through, in order") {
  std::vector<std::string> order;
  TestServer s(
      [&](int i, const std::string&) { return HttpReply{200, reply_with("Q:n" + std::to_string(i) + "?\nA:y"), 0, false}; }, 3,
      20.0);
  auto cfg = fast(s, 0);
  cfg.rpm = 1200.0;  // paced by wall-clock sleeps; not asserted (no timing assertions)
  auto b = sim::llm::make_openai_backend(cfg);
  const auto res = b->generate(requests(3));
  REQUIRE(res.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(res[i].text == "Q:n" + std::to_string(i) + "?\nA:y");
  CHECK(s.requests() == 3);
}
