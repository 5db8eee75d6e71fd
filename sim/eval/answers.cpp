// Answers of the model under test, turn by turn, batched across questions, with the decoding
// settings of FedLLM-Bench's answer scripts (decoding_for).
#include <algorithm>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/eval/eval.hpp"

namespace fedsim::sim::eval {
namespace {

// Python's str.strip() (FastChat strips MT-Bench answers): ASCII whitespace, \x1c-\x1f and the
// other characters str.isspace() accepts, in UTF-8.
size_t space_at(const std::string& s, size_t i, bool backwards) {
  static const char* const wide[] = {"\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81",
                                     "\xE2\x80\x82", "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86",
                                     "\xE2\x80\x87", "\xE2\x80\x88", "\xE2\x80\x89", "\xE2\x80\x8A", "\xE2\x80\xA8",
                                     "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80"};
  const unsigned char c = static_cast<unsigned char>(backwards ? s[i - 1] : s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
  for (const char* w : wide) {
    const std::string ws(w);
    if (backwards ? (i >= ws.size() && s.compare(i - ws.size(), ws.size(), ws) == 0) : s.compare(i, ws.size(), ws) == 0)
      return ws.size();
  }
  return 0;
}
}  // namespace

std::string python_strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e) {
    const size_t n = space_at(s, b, false);
    if (n == 0) break;
    b += n;
  }
  while (e > b) {
    const size_t n = space_at(s, e, true);
    if (n == 0) break;
    e -= n;
  }
  return s.substr(b, e - b);
}

PromptFormat byte_layout(int context) {
  return [context](const Conversation& c) {
    FEDSIM_ASSERT_MSG(!c.empty() && c.back().role == "user", "a prompt ends with the user's turn");
    auto one_turn = [](std::string text) { return models::Conversation{"", {{models::Role::user, std::move(text)}}}; };
    const std::string& last = c.back().content;
    std::string history;
    for (size_t i = 0; i + 1 < c.size(); ++i) history += c[i].content + "\n\n";
    const size_t budget = context > 4 ? static_cast<size_t>(context - 4) : 0;
    if (context <= 0 || history.size() + last.size() <= budget) return one_turn(history + last);
    if (last.size() + 2 >= budget) return one_turn(last);  // the model keeps the start of the last turn
    size_t from = history.size() - (budget - last.size());
    while (from < history.size() && (static_cast<unsigned char>(history[from]) & 0xC0) == 0x80)
      ++from;  // whole characters
    return one_turn(history.substr(from) + last);
  };
}

PromptFormat chat_layout() {
  return [](const Conversation& c) {
    FEDSIM_ASSERT_MSG(!c.empty() && c.back().role == "user", "a prompt ends with the user's turn");
    models::Conversation out;
    for (const Message& m : c)
      out.turns.push_back({m.role == "user" ? models::Role::user : models::Role::assistant, m.content});
    return out;
  };
}

PromptFormat model_layout(const models::Model& m) {
  if (m.chat_template().multi_turn) return chat_layout();
  return byte_layout(m.chat_family() == "fedsim-bytes" ? m.config().max_seq : 0);
}

Answers generate_answers(const Benchmark& b, llm::Backend& model, const AnswerOptions& opt) {
  Answers a;
  a.turns.resize(b.questions.size());
  // Only MT-Bench is multi-turn upstream (gen_model_answer_mt.py); the other scripts answer
  // turns[0] or the instruction.
  size_t n_turns = 1;
  if (b.kind == BenchmarkKind::mtbench)
    for (const auto& q : b.questions) n_turns = std::max(n_turns, q.turns.size());
  for (size_t t = 0; t < n_turns; ++t) {
    std::vector<llm::Request> req;
    std::vector<size_t> owner;
    std::vector<bool> strip;
    // One seed per (benchmark, round, turn), so a turn's questions of one temperature share a
    // batch in the model backend (it batches requests with equal settings).
    const uint64_t seed = stream_key(opt.seed, 1000 + static_cast<uint64_t>(b.kind),
                                     static_cast<uint64_t>(opt.round) * 16 + t, Purpose::generation);
    for (size_t i = 0; i < b.questions.size(); ++i) {
      const auto& q = b.questions[i];
      if (t >= q.turns.size()) continue;
      Decoding d = decoding_for(b.kind, q.category);
      if (opt.temperature >= 0.0) d.temperature = opt.temperature;
      if (opt.max_new_tokens > 0) d.max_new_tokens = opt.max_new_tokens;
      Conversation c;
      for (size_t k = 0; k < t; ++k) {
        c.push_back({"user", q.turns[k] + d.suffix});
        c.push_back({"assistant", a.turns[i][k]});
      }
      c.push_back({"user", q.turns[t] + d.suffix});
      llm::Request r;
      models::Conversation chat = opt.format(c);
      // Aya's questions carry their language: the per-language alpaca template reads it.
      if (b.kind == BenchmarkKind::aya) chat.language = q.category;
      r.prompt = chat.turns.back().text;
      // One user turn without a language is the plain prompt; anything more goes as the conversation.
      if (chat.turns.size() > 1 || !chat.system.empty() || !chat.language.empty()) r.chat = std::move(chat);
      r.max_new_tokens = d.max_new_tokens;
      r.temperature = d.temperature < 1e-4 ? 0.0 : d.temperature;  // FastChat: greedy below 1e-4
      r.top_k = 0;
      r.seed = seed;
      req.push_back(std::move(r));
      owner.push_back(i);
      strip.push_back(d.strip);
    }
    if (req.empty()) break;
    const std::vector<llm::Result> res = model.generate(req);
    FEDSIM_ASSERT(res.size() == req.size());
    a.cost.generate_calls += 1;
    for (size_t k = 0; k < res.size(); ++k) {
      const llm::Result& r = res[k];
      a.cost.prompt_tokens += r.prompt_tokens;
      a.cost.generated_tokens += r.completion_tokens;
      if (!r.ok) ++a.failures;
      a.turns[owner[k]].push_back(!r.ok ? "ERROR" : strip[k] ? python_strip(r.text) : r.text);
    }
  }
  return a;
}

}  // namespace fedsim::sim::eval
