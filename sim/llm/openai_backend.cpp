// Any OpenAI-compatible chat-completions endpoint (llama.cpp server, vLLM, ...) through libcurl:
// POST <url>/chat/completions, one request at a time, with a per-request timeout, retries with
// exponential backoff after timeouts, connection errors, 429 and 5xx, and a request-rate limit.
// Every failure ends as a Result with ok = false and a message naming the URL, what went wrong
// and the attempts made; nothing throws to the caller.
#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "sim/llm/backend.hpp"

namespace fedsim::sim::llm {
namespace {

using Clock = std::chrono::steady_clock;

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string curl_error;
};

std::string shorten(const std::string& s) {
  std::string t = s.substr(0, 60);
  for (char& ch : t)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return "'" + t + (s.size() > 60 ? "...'" : "'");
}

class OpenAIBackend : public Backend {
 public:
  explicit OpenAIBackend(OpenAIConfig c) : c_(std::move(c)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    endpoint_ = c_.url;
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
    endpoint_ += "/chat/completions";
  }
  std::string name() const override { return "openai"; }

  std::vector<Result> generate(const std::vector<Request>& requests) override {
    std::vector<Result> out;
    out.reserve(requests.size());
    for (const auto& r : requests) out.push_back(one(r));
    return out;
  }

 private:
  Reply post(const std::string& body) {
    Reply rep;
    CURL* h = curl_easy_init();
    if (!h) {
      rep.code = CURLE_FAILED_INIT;
      rep.curl_error = "curl_easy_init failed";
      return rep;
    }
    char err[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!c_.api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + c_.api_key).c_str());
    curl_easy_setopt(h, CURLOPT_URL, endpoint_.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rep.body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::ceil(c_.timeout_s * 1000.0)));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::ceil(c_.timeout_s * 1000.0)));
    rep.code = curl_easy_perform(h);
    if (rep.code == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rep.status);
    rep.curl_error = err[0] ? err : curl_easy_strerror(rep.code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return rep;
  }

  // Waits (wall clock) until the rate limit allows the next request.
  void pace() {
    if (c_.rpm <= 0.0) return;
    const auto gap = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(60.0 / c_.rpm));
    if (has_last_) std::this_thread::sleep_until(last_ + gap);
    last_ = Clock::now();
    has_last_ = true;
  }

  Result one(const Request& r) {
    const std::string system = r.system ? *r.system
                                        : "Write one question and its answer about the text after T:, in the format of the examples: "
                                          "Q:<question>\\nA:<answer>";
    nlohmann::json messages = nlohmann::json::array();
    if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
    if (r.chat.turns.empty()) messages.push_back({{"role", "user"}, {"content", r.prompt}});
    for (const models::Turn& t : r.chat.turns)
      messages.push_back({{"role", t.role == models::Role::user ? "user" : "assistant"}, {"content", t.text}});
    nlohmann::json body = {{"model", c_.model},
                           {"messages", messages},
                           {"max_tokens", r.max_new_tokens},
                           {"temperature", r.temperature},
                           {"seed", r.seed}};
    if (r.top_k > 0) body["top_k"] = r.top_k;
    const std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    Result res;
    const int attempts = c_.retries + 1;
    for (int a = 1; a <= attempts; ++a) {
      pace();
      const Reply rep = post(payload);
      const std::string where = "openai: POST " + endpoint_ + ": ";
      const std::string tries = " (attempt " + std::to_string(a) + "/" + std::to_string(attempts) + ")";
      bool retry = false;
      if (rep.code == CURLE_OPERATION_TIMEDOUT) {
        res.error = where + "timeout after " + std::to_string(c_.timeout_s) + " s" + tries;
        res.failure = Failure::timeout;
        retry = true;
      } else if (rep.code != CURLE_OK) {
        res.error = where + rep.curl_error + tries;
        res.failure = Failure::connection;
        retry = true;
      } else if (rep.status == 429 || rep.status >= 500) {
        res.error = where + "HTTP " + std::to_string(rep.status) + " " + shorten(rep.body) + tries;
        res.failure = Failure::http_status;
        retry = true;
      } else if (rep.status != 200) {
        res.error = where + "HTTP " + std::to_string(rep.status) + " " + shorten(rep.body) + tries +
                    "; HINT: " + c_.hint;
        res.failure = Failure::http_status;
      } else {
        parse(rep.body, where, &res);
      }
      if (res.ok || !retry) return res;
      if (a < attempts)
        std::this_thread::sleep_for(std::chrono::duration<double>(c_.backoff_s * std::pow(2.0, a - 1)));
    }
    return res;
  }

  static void parse(const std::string& text, const std::string& where, Result* res) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      res->error = where + "garbage: the reply is not JSON: " + shorten(text);
      res->failure = Failure::malformed_reply;
      return;
    }
    const nlohmann::json* content = nullptr;
    if (j.is_object() && j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
      const auto& c0 = j["choices"][0];
      if (c0.is_object() && c0.contains("message") && c0["message"].is_object() && c0["message"].contains("content"))
        content = &c0["message"]["content"];
    }
    if (!content || !content->is_string()) {
      res->error = where + "malformed reply: no string choices[0].message.content in " + shorten(text);
      res->failure = Failure::malformed_reply;
      return;
    }
    res->ok = true;
    res->failure = Failure::none;
    res->text = content->get<std::string>();
    res->error.clear();
    const auto count = [&](const char* key, int64_t fallback) {
      if (j.contains("usage") && j["usage"].is_object() && j["usage"].contains(key) && j["usage"][key].is_number_integer())
        return j["usage"][key].get<int64_t>();
      return fallback;
    };
    res->prompt_tokens = count("prompt_tokens", 0);
    res->completion_tokens = count("completion_tokens", static_cast<int64_t>(res->text.size()));
  }

  OpenAIConfig c_;
  std::string endpoint_;
  Clock::time_point last_{};
  bool has_last_ = false;
};

}  // namespace

std::unique_ptr<Backend> make_openai_backend(const OpenAIConfig& c) { return std::make_unique<OpenAIBackend>(c); }

void visit_openai(OpenAIConfig& c, Visitor& v) {
  v.text("openai_url", c.url, "backend openai: OpenAI-compatible base URL; POST <url>/chat/completions");
  v.text("openai_model", c.model, "backend openai: model name sent to the endpoint");
  v.text("openai_api_key_env", c.api_key_env, "backend openai: environment variable with a bearer token; \"\" = none");
  v.number("openai_timeout_s", c.timeout_s, 0.001, 86400.0, "backend openai: per-request timeout (wall clock)");
  v.integer("openai_retries", c.retries, 0, 100, "backend openai: retries after a timeout, connection error, 429 or 5xx");
  v.number("openai_backoff_s", c.backoff_s, 0.0, 3600.0, "backend openai: first retry delay, doubled per retry (wall clock)");
  v.number("openai_rpm", c.rpm, 0.0, 1e9, "backend openai: request rate limit per minute; 0 = unlimited");
}

void resolve_api_key(OpenAIConfig& c, const std::string& key) {
  if (c.api_key_env.empty()) return;
  const char* token = std::getenv(c.api_key_env.c_str());
  if (!token || !*token)
    throw UserError(key + ": environment variable '" + c.api_key_env +
                    "' is not set or empty; accepted: the name of a set variable, or \"\" for no token");
  c.api_key = token;
}

}  // namespace fedsim::sim::llm
