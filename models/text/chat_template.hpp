// Chat templates: a conversation (optional system text, alternating user / assistant turns) as
// the pieces a model reads, each marked as a loss target or not. The exact strings and what
// upstream masks are in models/README.md "Chat templates"; batch.hpp turns pieces into ids.
#pragma once

#include <string>
#include <vector>

namespace fedsim::models {

class TextTokenizer;  // tokenizer.hpp

enum class Role { user, assistant };

struct Turn {
  Role role = Role::user;
  std::string text;
};

struct Conversation {
  std::string system;       // empty: the template's default system text, if it has one
  std::vector<Turn> turns;  // user, assistant, user, ... (may end on a user turn)
  std::string language = "";  // the text's language ("" unknown): alpaca_by_language picks its variant by it
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
  // The token that closes an answer ("<|eot_id|>", "<|im_end|>"); "": the tokenizer's EOS. Generation
  // stops at either.
  std::string end_of_turn = "";
};

// Lookup by name; UserError naming the accepted names.
const ChatTemplate& chat_template(const std::string& name);
std::vector<std::string> chat_template_names();

// UserError unless turns alternate user, assistant, ... from a user turn, and the template
// accepts the conversation (one exchange for single-turn templates, no system text where the
// preamble is fixed).
void check_conversation(const ChatTemplate& t, const Conversation& c);

// FedLLM-Bench's per-language alpaca variant of a language, by fedsim's language code (ar, en, es,
// fr, pt, ru, te, zh) or the language names of upstream's lang_template_dict (Standard_Arabic,
// English, ...); "alpaca" for any other language (models/README.md "Which template").
const ChatTemplate& alpaca_for_language(const std::string& language);

// Choosing a template when the config names none (models/README.md "Which template").
// The chat format a tokenizer folder is made for: "fedsim-bytes" (fedsim's byte-level ids and turn
// markers), "llama-3", "chatml", "qwen2.5", "qwen3", or "" (none: Llama-2, Mistral and other
// tokenizers without chat tokens). config_template: tokenizer_config.json's chat_template ("" if
// none); qwen3: the model is a Qwen3ForCausalLM.
std::string chat_family(const TextTokenizer& tok, const std::string& config_template, bool qwen3);
// tokenizer_config.json's chat_template beside a tokenizer.json: the string, or the entry named
// "default" of a list of {name, template}; "" when there is no file or no template.
std::string read_config_chat_template(const std::string& tokenizer_json_path);
// What a run trains on.
enum class ChatUse { instructions, conversations, preferences };
// The template of a family for a use: the family's own template; for "fedsim-bytes"
// fedsim-bytes-chat with conversations; for "" FedLLM-Bench's choices: alpaca (instructions),
// vicuna_v1.1 (conversations, its multi-turn run), plain (preferences, its DPO run).
std::string default_chat_template(const std::string& family, ChatUse use);

}  // namespace fedsim::models
