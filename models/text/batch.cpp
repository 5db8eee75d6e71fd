// Conversations to ids and loss masks, and batches of them (batch.hpp).
#include "models/text/batch.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace fedsim::models {
namespace {

int32_t piece_id(const TextTokenizer& tok, const ChatTemplate& t, const ChatPiece& p) {
  const int32_t id = p.kind == ChatPiece::bos ? tok.bos_id() : p.kind == ChatPiece::eos ? tok.eos_id() : tok.token_to_id(p.str);
  if (id < 0) {
    const std::string what = p.kind == ChatPiece::bos ? "a BOS token" : p.kind == ChatPiece::eos ? "an EOS token" : "the token '" + p.str + "'";
    throw UserError("chat template '" + t.name + "' needs " + what + ", which the tokenizer does not have (" +
                    tok.describe() + ")");
  }
  return id;
}

// Encodes pieces: runs of text pieces as one text, target ranges marked by byte offsets.
TokenizedConversation encode_pieces(const TextTokenizer& tok, const ChatTemplate& t, const std::vector<ChatPiece>& pieces) {
  TokenizedConversation out;
  auto push = [&out](int32_t id, bool target) {
    out.ids.push_back(id);
    out.target.push_back(target ? 1 : 0);
  };
  if (t.add_special)
    for (int32_t id : tok.special_prefix()) push(id, false);
  std::string run;
  std::vector<std::pair<uint32_t, uint32_t>> targets;  // byte ranges of target pieces in run
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  auto flush = [&] {
    if (run.empty()) return;
    tok.encode_spans(run, ids, spans);
    for (size_t k = 0; k < ids.size(); ++k) {
      const TokenSpan s = spans[k];
      const bool target = std::any_of(targets.begin(), targets.end(), [s](const auto& r) {
        return s.begin == s.end ? (r.first <= s.begin && s.begin < r.second) : (s.begin < r.second && s.end > r.first);
      });
      push(ids[k], target);
    }
    run.clear();
    targets.clear();
  };
  for (const ChatPiece& p : pieces) {
    if (p.kind == ChatPiece::text) {
      if (p.target && !p.str.empty())
        targets.emplace_back(static_cast<uint32_t>(run.size()), static_cast<uint32_t>(run.size() + p.str.size()));
      run += p.str;
    } else {
      flush();
      push(piece_id(tok, t, p), p.target);
    }
  }
  flush();
  if (t.add_special)
    for (int32_t id : tok.special_suffix()) push(id, false);
  return out;
}

void fill_row(const TokenizedConversation& s, Truncation rule, int T, int row, int32_t pad, Batch& b) {
  const size_t n = s.ids.size();
  const size_t kept = std::min(n, static_cast<size_t>(T));
  const size_t limit = rule == Truncation::hf ? kept : n;  // tokens that may be a target
  const size_t base = static_cast<size_t>(row) * static_cast<size_t>(T);
  for (size_t t = 0; t < static_cast<size_t>(T); ++t) {
    b.inputs[base + t] = t < kept ? s.ids[t] : pad;
    b.targets[base + t] = (t < kept && t + 1 < limit && s.target[t + 1]) ? s.ids[t + 1] : -1;
  }
}

}  // namespace

TokenizedConversation tokenize_conversation(const TextTokenizer& tok, const ChatTemplate& t, const Conversation& c) {
  check_conversation(t, c);
  return encode_pieces(tok, t, t.render(t, c, false));
}

std::vector<int32_t> tokenize_prompt(const TextTokenizer& tok, const ChatTemplate& t, const Conversation& c) {
  check_conversation(t, c);
  if (c.turns.back().role != Role::user) throw UserError("a prompt to answer must end on a user turn");
  TokenizedConversation s = encode_pieces(tok, t, t.render(t, c, true));
  if (t.add_special) s.ids.resize(s.ids.size() - tok.special_suffix().size());  // the answer follows
  return s.ids;
}

Batch make_sft_batch(const TextTokenizer& tok, const ChatTemplate& t, const std::vector<Conversation>& convs, int T) {
  FEDSIM_ASSERT_MSG(T >= 2, "make_sft_batch: T = " << T);
  Batch b;
  b.B = static_cast<int>(convs.size());
  b.T = T;
  b.inputs.assign(static_cast<size_t>(b.B) * static_cast<size_t>(T), tok.pad_id());
  b.targets.assign(b.inputs.size(), -1);
  for (int i = 0; i < b.B; ++i) {
    TokenizedConversation s;
    try {
      s = tokenize_conversation(tok, t, convs[static_cast<size_t>(i)]);
    } catch (const UserError& e) {
      throw UserError("sample " + std::to_string(i) + ": " + e.what());
    }
    fill_row(s, t.truncation, T, i, tok.pad_id(), b);
  }
  return b;
}

Conversation exchange(const std::string& instruction, const std::string& response, const std::string& language) {
  return Conversation{"", {{Role::user, instruction}, {Role::assistant, response}}, language};
}

Conversation alternating(const std::vector<std::string>& turns, const std::string& language) {
  Conversation c{"", {}, language};
  c.turns.reserve(turns.size());
  for (size_t k = 0; k < turns.size(); ++k) c.turns.push_back({k % 2 ? Role::assistant : Role::user, turns[k]});
  return c;
}

void check_chat_template(const TextTokenizer& tok, const ChatTemplate& t) {
  tokenize_conversation(tok, t, exchange("?", "!"));
}

std::vector<int32_t> stop_ids(const TextTokenizer& tok, const ChatTemplate& t) {
  std::vector<int32_t> ids;
  if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
  const int32_t end = t.end_of_turn.empty() ? -1 : tok.token_to_id(t.end_of_turn);
  if (end >= 0 && end != tok.eos_id()) ids.push_back(end);
  return ids;
}

Batch make_sft_batch(const TextTokenizer& tok, const ChatTemplate& t,
                     const std::vector<std::pair<std::string, std::string>>& pairs, int T) {
  std::vector<Conversation> convs;
  convs.reserve(pairs.size());
  for (const auto& [instruction, response] : pairs) convs.push_back(exchange(instruction, response));
  return make_sft_batch(tok, t, convs, T);
}

DpoBatch make_dpo_batch(const TextTokenizer& tok, const ChatTemplate& t,
                        const std::vector<std::tuple<std::string, std::string, std::string>>& triples, int T) {
  std::vector<Conversation> chosen, rejected;
  for (const auto& [prompt, c, r] : triples) {
    chosen.push_back(exchange(prompt, c));
    rejected.push_back(exchange(prompt, r));
  }
  return DpoBatch{make_sft_batch(tok, t, chosen, T), make_sft_batch(tok, t, rejected, T)};
}

}  // namespace fedsim::models
