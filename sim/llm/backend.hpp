// Text generation behind one interface, for the generator jobs (U2S, MAS-GPT): fedsim's own
// model, an OpenAI-compatible endpoint, or a rule-based generator. Results are deterministic
// for the same request list (greedy requests for each request alone); a failed request is a
// result with ok = false and an error text, never an exception (callers count failures and go on).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/model.hpp"

namespace fedsim {
struct Visitor;  // common/schema.hpp
}

namespace fedsim::sim::llm {

struct Request {
  // The instruction text: one user turn (the model backend renders it through the model's chat
  // template: BOS INST prompt RESP with the byte layout).
  std::string prompt;
  // Or a whole conversation ending on a user turn (its turns non-empty): the model backend
  // renders it through the model's chat template, the openai backend sends its turns as
  // messages; `prompt` is then not read.
  models::Conversation chat;
  // The system message of a chat endpoint. Unset: the openai backend's default (the U2S
  // instruction it has always sent); "" = no system message. The model backend ignores it.
  std::optional<std::string> system;
  int max_new_tokens = 64;
  double temperature = 0.0; // 0 = greedy
  int top_k = 0;
  uint64_t seed = 0;
};

// Why a request failed, for callers that count failures by kind (the evaluation's judge).
enum class Failure { none, timeout, connection, http_status, malformed_reply };
constexpr int archive_enum_count(Failure) { return 5; }  // sim/archive.hpp's range check

struct Result {
  bool ok = false;
  Failure failure = Failure::none;  // none when ok
  std::string text;
  std::string error;            // why it failed (timeout, HTTP status, parse error, ...)
  int64_t prompt_tokens = 0;    // as the backend counts them
  int64_t completion_tokens = 0;
  template <class Ar>
  void fields(Ar& ar) { ar(ok, failure, text, error, prompt_tokens, completion_tokens); }  // checkpoints
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // One result per request, in order.
  virtual std::vector<Result> generate(const std::vector<Request>& requests) = 0;
};

// fedsim's transformer (with an adapter, or the base when adapter is null), through its own
// tokenizer and chat template (models::Model::generate_chat); token counts are its tokenizer's.
std::unique_ptr<Backend> make_model_backend(const models::Model& model, const std::vector<float>* adapter);

// An OpenAI-compatible chat-completions endpoint via libcurl (openai_backend.cpp): requests go
// one at a time; timeouts, connection errors, 429 and 5xx are retried with backoff_s * 2^i.
struct OpenAIConfig {
  std::string url = "http://127.0.0.1:8080/v1";  // POST <url>/chat/completions
  std::string model = "default";
  std::string api_key_env;  // environment variable holding the bearer token; "" = none (resolve_api_key)
  std::string api_key;      // bearer token; "" = no Authorization header
  double timeout_s = 30.0;  // per attempt (wall clock)
  int retries = 2;
  double backoff_s = 0.5;
  double rpm = 0.0;  // requests per minute; 0 = unlimited
  std::string hint = "check u2s.openai_url and u2s.openai_model";  // after an HTTP 4xx: the keys to check
};
std::unique_ptr<Backend> make_openai_backend(const OpenAIConfig& config);
// The config keys of the fields above but api_key (openai_url, openai_model, openai_api_key_env,
// openai_timeout_s, openai_retries, openai_backoff_s, openai_rpm) in the visited section.
void visit_openai(OpenAIConfig& c, Visitor& v);
// api_key from the variable api_key_env names; UserError naming `key` (the config key) when it
// is not set or empty.
void resolve_api_key(OpenAIConfig& c, const std::string& key);

}  // namespace fedsim::sim::llm
