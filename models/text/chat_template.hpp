// Chat templates: a conversation (optional system text, alternating user / assistant turns) as
// the pieces a model reads, each marked as a loss target or not. The exact strings and what
// upstream masks are in models/README.md "Chat templates"; batch.hpp turns pieces into ids.
#pragma once

#include <string>
#include <vector>

namespace fedsim::models {

enum class Role { user, assistant };

struct Turn {
  Role role = Role::user;
  std::string text;
};

struct Conversation {
  std::string system;       // empty: the template's default system text, if it has one
  std::vector<Turn> turns;  // user, assistant, user, ... (may end on a user turn)
};

// One piece of a rendered conversation: text to encode, or a token by id-role or name.
struct ChatPiece {
  enum Kind { text, bos, eos, token } kind = text;
  std::string str;      // text: the text; token: the token's name (e.g. "<|eot_id|>")
  bool target = false;  // the loss covers the tokens of this piece
};

// How a sequence longer than the context T is cut (the rows of a Batch hold T inputs; the
// target of position t is token t+1).
enum class Truncation {
  // Hugging Face / upstream: the sequence is cut to its first T tokens, so the last position
  // of a cut sequence has no target.
  hf,
  // fedsim's byte layout (make_sft_batch since the first release): inputs are the first T
  // tokens and position T-1 may still predict token T.
  next_token,
};

struct ChatTemplate {
  std::string name;
  std::string source;       // where the format comes from
  bool add_special = true;  // the tokenizer's post-processor tokens go around the whole text
  bool multi_turn = true;   // formats more than one exchange
  bool system = true;       // accepts system text (else a fixed preamble)
  Truncation truncation = Truncation::hf;
  // Pieces of a conversation. generation_prompt: conv ends on a user turn; the pieces end
  // where the assistant's answer starts (what a model is given to answer).
  std::vector<ChatPiece> (*render)(const ChatTemplate&, const Conversation&, bool generation_prompt) = nullptr;
};

// Lookup by name; UserError naming the accepted names.
const ChatTemplate& chat_template(const std::string& name);
std::vector<std::string> chat_template_names();

// UserError unless turns alternate user, assistant, ... from a user turn, and the template
// accepts the conversation (one exchange for single-turn templates, no system text where the
// preamble is fixed).
void check_conversation(const ChatTemplate& t, const Conversation& c);

}  // namespace fedsim::models
