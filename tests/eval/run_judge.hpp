// The judge of the run tests: a real HTTP server on 127.0.0.1 (tests/u2s/http_server.hpp) whose
// rating is keyed by the answer it is asked about, so a test computes every expected score from
// the answers the run wrote to /eval:
//   rating = 1 + (the answer's letters a-z) mod 10,  reply "Rating: [[rating]]".
// Letters, not all bytes: the requests are JSON, so bytes of a byte-level model's answer that are
// not UTF-8 reach the judge as U+FFFD (the openai backend's replacement), while ASCII letters
// arrive as they are.
// Failure modes, keyed by the question in the prompt (tests/eval/samples):
//   "Why is the sky blue?"    (MT-Bench 4, both turns) HTTP 500     -> endpoint_error
//   "How can I sleep better?" (Vicuna 3)               no rating    -> unparsable
//   "Give a synonym of quick" (GPT4-refer 3)           not JSON     -> malformed_reply
// It logs every prompt it was sent and whether it delivered a reply.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/u2s/http_server.hpp"

namespace fedsim::test {

inline int answer_rating(const std::string& answer) {
  int letters = 0;
  for (char c : answer) letters += c >= 'a' && c <= 'z';
  return 1 + letters % 10;
}

// The answer inside a judge prompt: the refer/Aya templates' "[The Start of Assistant's
// Answer]" block, else the sample judge_prompts.jsonl's "A2: " (multi-turn) or "Answer: " line,
// each up to the "\nReply with" that closes the sample templates.
inline std::string answer_in_prompt(const std::string& user) {
  const std::string open = "[The Start of Assistant's Answer]\n", close = "\n[The End of Assistant's Answer]";
  if (const size_t a = user.find(open); a != std::string::npos) {
    const size_t b = user.rfind(close);
    return user.substr(a + open.size(), b - a - open.size());
  }
  const size_t end = user.rfind("\nReply with");
  const std::string mark = user.find("\nA2: ") != std::string::npos ? "\nA2: " : "\nAnswer: ";
  const size_t a = user.find(mark) + mark.size();
  return user.substr(a, end - a);
}

class RunJudge {
 public:
  struct Seen {
    std::string user;
    bool delivered = false;  // a 200 reply with content (cached by fedsim)
  };
  RunJudge() : server_([this](int, const std::string& body) { return reply(body); }, 100000, 600.0) {}
  std::string url() const { return server_.url(); }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> l(m_);
    return seen_;
  }
  void clear() {
    std::lock_guard<std::mutex> l(m_);
    seen_.clear();
  }

 private:
  static std::string chat(const std::string& content) {
    const nlohmann::json j = {{"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}}}},
                              {"usage", {{"prompt_tokens", 50}, {"completion_tokens", 10}}}};
    return j.dump();
  }
  HttpReply reply(const std::string& body) {
    const auto j = nlohmann::json::parse(body);
    std::string user;
    for (const auto& m : j["messages"])
      if (m["role"] == "user") user = m["content"];
    HttpReply r;
    if (user.find("Why is the sky blue?") != std::string::npos)
      r = {500, R"({"error":"overloaded"})", 0, false};
    else if (user.find("How can I sleep better?") != std::string::npos)
      r = {200, chat("Fine, but no number."), 0, false};
    else if (user.find("Give a synonym of quick") != std::string::npos)
      r = {200, "<html>oops</html>", 0, false};
    else
      r = {200, chat("Judged. Rating: [[" + std::to_string(answer_rating(answer_in_prompt(user))) + "]]"), 0, false};
    std::lock_guard<std::mutex> l(m_);
    seen_.push_back({user, r.status == 200 && r.body.front() == '{'});
    return r;
  }

  TestServer server_;
  std::mutex m_;
  std::vector<Seen> seen_;
};

}  // namespace fedsim::test
