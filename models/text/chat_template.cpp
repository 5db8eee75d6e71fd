// The chat templates (chat_template.hpp); their strings and masks are listed in
// models/README.md "Chat templates".
#include "models/text/chat_template.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "models/text/unicode.hpp"

namespace fedsim::models {
namespace {

using Pieces = std::vector<ChatPiece>;

ChatPiece text(std::string s, bool target = false) { return {ChatPiece::text, std::move(s), target}; }
ChatPiece token(std::string name, bool target = false) { return {ChatPiece::token, std::move(name), target}; }
ChatPiece eos() { return {ChatPiece::eos, "", true}; }

// Single-turn prompt formats of FedLLM-Bench (utils/template.py TEMPLATE_DICT):
// head + instruction + tail + " " + response + eos_token. Upstream's completion-only collator
// (trl DataCollatorForCompletionOnlyLM) puts the loss on what follows the response marker,
// i.e. on " " + response + EOS; `tail` ends with that marker.
struct SingleTurn {
  const char* name;
  const char* head;
  const char* tail;
};
const SingleTurn kSingleTurn[] = {
    {"alpaca", "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n",
     " \n\n### Response:"},
    {"arabic_alpaca", "أدناه تعليمة تصف مهمة. اكتب استجابة تكميلية مناسبة للطلب.\n\n### التعليمات:\n",
     "\n\n### الاستجابة:"},
    {"chinese_alpaca", "以下是描述任务的指示。请写出一个适当完成请求的回答。\n\n### 指令:\n",
     "\n\n### 回答:"},
    {"portuguese_alpaca", "Abaixo está uma instrução que descreve uma tarefa. Escreva uma resposta que complete adequadamente o pedido.\n\n### Instrução:\n",
     "\n\n### Resposta:"},
    {"telugu_alpaca", "క్రింది మీకు ఒక టాస్క్\u200Cను వివరించే నిర్దేశం ఉంది. అభ్యర్థనను సరిగ్గా పూర్తి చేయడానికి సరియైన స్పందన ఇస్తుంది.\n\n### అనుమోదన:\n",
     "\n\n### స్పందన:"},
    {"russian_alpaca", "Ниже приведена инструкция, описывающая задание. Напишите ответ, который соответственно завершает запрос.\n\n### Инструкция:\n",
     "\n\n### Ответ:"},
    {"french_alpaca", "Voici une instruction qui décrit une tâche. Écrivez une réponse qui complète correctement la demande.\n\n### Instruction:\n",
     "\n\n### Réponse:"},
    {"spanish_alpaca", "A continuación se presenta una instrucción que describe una tarea. Escribe una respuesta que complete adecuadamente la solicitud.\n\n### Instrucción:\n",
     " \n\n### Respuesta:"},
    {"vicuna", "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: ",
     " ASSISTANT:"},
    {"medquad", "Below is a conversation between a user and a professional doctor. The doctor gives helpful, precise, detailed and polite answer to the user's question. USER: ",
     " DOCTOR:"},
};

const SingleTurn& single_turn_row(const std::string& name) {
  for (const auto& r : kSingleTurn)
    if (name == r.name) return r;
  FEDSIM_ASSERT_MSG(false, "no single-turn row " << name);
  return kSingleTurn[0];
}

// The variants by language: fedsim's language codes and the names of upstream's
// lang_template_dict (evaluation/open_ended/aya_evaluation/gen_answer_aya.py), with '_' or ' '.
struct LanguageRow {
  const char* code;
  const char* name;
  const char* tmpl;
};
const LanguageRow kLanguages[] = {
    {"ar", "Standard_Arabic", "arabic_alpaca"},       {"en", "English", "alpaca"},
    {"zh", "Simplified_Chinese", "chinese_alpaca"},   {"pt", "Portuguese", "portuguese_alpaca"},
    {"te", "Telugu", "telugu_alpaca"},                {"ru", "Russian", "russian_alpaca"},
    {"fr", "French", "french_alpaca"},                {"es", "Spanish", "spanish_alpaca"},
};

const char* language_row_name(const std::string& language) {
  std::string spaced;
  for (const auto& r : kLanguages) {
    spaced = r.name;
    std::replace(spaced.begin(), spaced.end(), '_', ' ');
    if (language == r.code || language == r.name || language == spaced) return r.tmpl;
  }
  return "alpaca";
}

Pieces render_single_turn(const ChatTemplate& t, const Conversation& c, bool prompt) {
  // alpaca_by_language: the row of the conversation's language.
  const SingleTurn& r = single_turn_row(t.name == "alpaca_by_language" ? language_row_name(c.language) : t.name);
  Pieces p{text(r.head + c.turns[0].text + r.tail)};
  if (prompt) return p;
  if (c.turns.size() > 1) p.insert(p.end(), {text(" " + c.turns[1].text, true), eos()});
  return p;
}

// FastChat's vicuna_v1.1 (fastchat/conversation.py, SeparatorStyle.ADD_COLON_TWO, sep " ",
// sep2 "</s>"), as FedLLM-Bench's multi-turn run trains it (data_module.py preprocess): system
// + " " + per turn "USER: " + text + " " / "ASSISTANT: " + text + "</s>". The loss covers what
// follows each "ASSISTANT:", i.e. " " + answer + "</s>"; "</s>" is written as the tokenizer's EOS
// (the same token for Llama-2 and Mistral).
constexpr const char* kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions.";

Pieces render_vicuna_v11(const ChatTemplate&, const Conversation& c, bool prompt) {
  Pieces p{text((c.system.empty() ? kVicunaSystem : c.system) + std::string(" "))};
  for (const Turn& turn : c.turns) {
    if (turn.role == Role::user) {
      p.push_back(text("USER: " + turn.text + " "));
    } else {
      p.push_back(text("ASSISTANT:"));
      p.insert(p.end(), {text(" " + turn.text, true), eos()});
    }
  }
  if (prompt) p.push_back(text("ASSISTANT:"));
  return p;
}

// Python's str.strip(): white space as str.isspace (White_Space and U+001C..U+001F).
std::string strip(const std::string& s) {
  auto space = [](uint32_t c) { return text::is_white_space(c) || (c >= 0x1C && c <= 0x1F); };
  const text::CodePoints cps = text::decode_code_points(s);
  size_t a = 0, z = cps.size();
  while (a < z && space(cps.cp[a])) ++a;
  while (z > a && space(cps.cp[z - 1])) --z;
  return a == z ? "" : s.substr(cps.begin[a], cps.end[z - 1] - cps.begin[a]);
}

// Llama-3 instruct (the chat_template of Meta-Llama-3's tokenizer_config.json; FastChat
// "llama-3"): every message's content is stripped.
Pieces render_llama3(const ChatTemplate&, const Conversation& c, bool prompt) {
  Pieces p{token("<|begin_of_text|>")};
  auto header = [&p](const char* role) {
    p.insert(p.end(), {token("<|start_header_id|>"), text(role), token("<|end_header_id|>"), text("\n\n")});
  };
  if (!c.system.empty()) {
    header("system");
    p.insert(p.end(), {text(strip(c.system)), token("<|eot_id|>")});
  }
  for (const Turn& turn : c.turns) {
    const bool a = turn.role == Role::assistant;
    header(a ? "assistant" : "user");
    p.insert(p.end(), {text(strip(turn.text), a), token("<|eot_id|>", a)});
  }
  if (prompt) header("assistant");
  return p;
}

// ChatML as Qwen2 / Qwen2.5 / Qwen3 write it (their tokenizer_config.json chat_template):
// "<|im_start|>" role "\n" content "<|im_end|>\n". qwen2.5 adds its default system text;
// qwen3 writes an empty thinking block before the last answer (as its template does for the
// final assistant turn, and for a generation prompt with enable_thinking=False).
Pieces render_chatml(const ChatTemplate& t, const Conversation& c, bool prompt) {
  Pieces p;
  const std::string system = !c.system.empty() || t.name != "qwen2.5"
                                 ? c.system
                                 : "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  if (!system.empty()) p.insert(p.end(), {token("<|im_start|>"), text("system\n" + system), token("<|im_end|>"), text("\n")});
  const bool think = t.name == "qwen3";
  for (size_t k = 0; k < c.turns.size(); ++k) {
    const bool a = c.turns[k].role == Role::assistant;
    p.insert(p.end(), {token("<|im_start|>"), text(a ? "assistant\n" : "user\n")});
    std::string content = c.turns[k].text;
    if (a && think && k + 1 == c.turns.size()) {
      p.push_back(text("<think>\n\n</think>\n\n"));
      content.erase(0, std::min(content.find_first_not_of('\n'), content.size()));  // lstrip('\n')
    }
    p.insert(p.end(), {text(content, a), token("<|im_end|>", a), text("\n")});
  }
  if (prompt) {
    p.insert(p.end(), {token("<|im_start|>"), text("assistant\n")});
    if (think) p.push_back(text("<think>\n\n</think>\n\n"));
  }
  return p;
}

// fedsim's byte layouts: "fedsim-bytes" is make_sft_batch's BOS INST user RESP answer EOS (one
// exchange); "fedsim-bytes-chat" is make_conversation_batch's BOS, then USER user or ASSISTANT
// answer EOS per turn (the multi-turn layout, FedLLM-Bench's multi-turn run in bytes).
Pieces render_fedsim_bytes(const ChatTemplate& t, const Conversation& c, bool prompt) {
  const bool chat = t.name == "fedsim-bytes-chat";
  const char* answer_marker = chat ? "<|assistant|>" : "<|resp|>";
  Pieces p{{ChatPiece::bos, "", false}};
  for (const Turn& turn : c.turns) {
    if (turn.role == Role::user) {
      p.insert(p.end(), {token(chat ? "<|user|>" : "<|inst|>"), text(turn.text)});
    } else {
      p.insert(p.end(), {token(answer_marker), text(turn.text, true), eos()});
    }
  }
  if (prompt) p.push_back(token(answer_marker));
  return p;
}

// No format: the texts one after another, each answer followed by EOS, as trl's DPOTrainer
// (0.7) lays out FedLLM-Bench's preference pairs: BOS prompt answer EOS.
Pieces render_plain(const ChatTemplate&, const Conversation& c, bool) {
  Pieces p;
  if (!c.system.empty()) p.push_back(text(c.system));
  for (const Turn& turn : c.turns) {
    const bool a = turn.role == Role::assistant;
    p.push_back(text(turn.text, a));
    if (a) p.push_back(eos());
  }
  return p;
}

std::vector<ChatTemplate> make_templates() {
  std::vector<ChatTemplate> out;
  for (const auto& r : kSingleTurn) {
    out.push_back({r.name, "FedLLM-Bench utils/template.py", true, false, false, Truncation::hf, render_single_turn});
    if (std::string(r.name) == "spanish_alpaca")  // the last language variant
      out.push_back({"alpaca_by_language", "FedLLM-Bench gen_answer_aya.py lang_template_dict", true, false, false,
                     Truncation::hf, render_single_turn});
  }
  out.push_back({"vicuna_v1.1", "FastChat conversation.py", true, true, true, Truncation::hf, render_vicuna_v11});
  out.push_back({"llama-3", "Meta-Llama-3 tokenizer_config.json", false, true, true, Truncation::hf, render_llama3,
                 "<|eot_id|>"});
  for (const char* n : {"chatml", "qwen2.5", "qwen3"})
    out.push_back({n, "Qwen tokenizer_config.json", false, true, true, Truncation::hf, render_chatml, "<|im_end|>"});
  out.push_back({"plain", "trl DPOTrainer layout", true, true, true, Truncation::hf, render_plain});
  out.push_back({"fedsim-bytes", "fedsim make_sft_batch", false, false, false, Truncation::next_token, render_fedsim_bytes});
  out.push_back({"fedsim-bytes-chat", "fedsim multi-turn byte layout", false, true, false, Truncation::next_token,
                 render_fedsim_bytes});
  return out;
}

const std::vector<ChatTemplate>& templates() {
  static const std::vector<ChatTemplate> t = make_templates();
  return t;
}

}  // namespace

std::vector<std::string> chat_template_names() {
  std::vector<std::string> names;
  for (const auto& t : templates()) names.push_back(t.name);
  return names;
}

const ChatTemplate& chat_template(const std::string& name) {
  for (const auto& t : templates())
    if (t.name == name) return t;
  std::string all;
  for (const auto& n : chat_template_names()) all += (all.empty() ? "" : ", ") + n;
  throw UserError("chat template '" + name + "' is unknown; accepted: " + all);
}

const ChatTemplate& alpaca_for_language(const std::string& language) { return chat_template(language_row_name(language)); }

void check_conversation(const ChatTemplate& t, const Conversation& c) {
  if (c.turns.empty()) throw UserError("conversation has no turns");
  for (size_t k = 0; k < c.turns.size(); ++k)
    if (c.turns[k].role != (k % 2 ? Role::assistant : Role::user))
      throw UserError("conversation turn " + std::to_string(k) + " is " +
                      (c.turns[k].role == Role::user ? "user" : "assistant") +
                      "; turns alternate user, assistant, ... starting with user");
  if (!t.multi_turn && c.turns.size() > 2)
    throw UserError("chat template '" + t.name + "' formats one exchange (instruction, response); this conversation has " +
                    std::to_string(c.turns.size()) + " turns: use a multi-turn template (vicuna_v1.1, llama-3, chatml, "
                    "qwen2.5, qwen3, plain, fedsim-bytes-chat)");
  if (!t.system && !c.system.empty())
    throw UserError("chat template '" + t.name + "' has a fixed preamble and takes no system text");
}

}  // namespace fedsim::models
