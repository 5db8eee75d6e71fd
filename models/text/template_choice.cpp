// Which chat template a run uses when the config names none (chat_template.hpp; the rule is in
// models/README.md "Which template"): the format the tokenizer folder was made for, else what
// FedLLM-Bench trains with.
#include <filesystem>

#include "models/text/chat_template.hpp"
#include "models/text/json_node.hpp"
#include "models/text/tokenizer.hpp"

namespace fedsim::models {
namespace {

bool has_tokens(const TextTokenizer& tok, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (tok.token_to_id(n) < 0) return false;
  return true;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

std::string chat_family(const TextTokenizer& tok, const std::string& config_template, bool qwen3) {
  // fedsim's turn markers (byte_tokenizer(), or the tokenizer.json `fedsim model init` writes).
  if (has_tokens(tok, {"<|inst|>", "<|resp|>", "<|user|>", "<|assistant|>"})) return "fedsim-bytes";
  if (!config_template.empty()) {
    // The Jinja text itself: its markers name the format (Meta-Llama-3's, Qwen2's, Qwen2.5's
    // default system text, Qwen3's thinking block). Another chat format (Llama-2-chat's [INST],
    // Mistral-Instruct's) has no template here: FedLLM-Bench's choices apply.
    if (contains(config_template, "<|start_header_id|>")) return "llama-3";
    if (contains(config_template, "<|im_start|>")) {
      if (contains(config_template, "<think>")) return "qwen3";
      if (contains(config_template, "You are Qwen, created by Alibaba Cloud")) return "qwen2.5";
      return "chatml";
    }
    return "";
  }
  // No template in the folder (base models): the tokenizer's chat tokens.
  if (has_tokens(tok, {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"})) return "llama-3";
  if (has_tokens(tok, {"<|im_start|>", "<|im_end|>"})) return qwen3 ? "qwen3" : "chatml";
  return "";
}

std::string read_config_chat_template(const std::string& tokenizer_json_path) {
  const auto path = std::filesystem::path(tokenizer_json_path).parent_path() / "tokenizer_config.json";
  if (!std::filesystem::exists(path)) return "";
  const std::string file = path.string();
  const nlohmann::json j = text::parse_json_file(file);
  const text::Node root{j, "", file};
  if (!j.is_object()) root.fail("expected a JSON object");
  if (!root.has("chat_template")) return "";
  const text::Node t = root.at("chat_template");
  if (t.j.is_string()) return t.str();
  // transformers also writes a list of named templates; "default" is the chat one.
  const nlohmann::json& list = t.array();
  for (size_t i = 0; i < list.size(); ++i) {
    const text::Node item = t.item(i);
    if (item.at("name").str() == "default") return item.at("template").str();
  }
  return "";
}

std::string default_chat_template(const std::string& family, ChatUse use) {
  if (family == "fedsim-bytes") return use == ChatUse::conversations ? "fedsim-bytes-chat" : "fedsim-bytes";
  if (!family.empty()) return family;
  // FedLLM-Bench: every SFT script passes --template alpaca (main_sft.py); the multi-turn run
  // trains FastChat's vicuna_v1.1 (data_module.py); the DPO run hands trl the raw prompt (main_dpo.py).
  switch (use) {
    case ChatUse::conversations: return "vicuna_v1.1";
    case ChatUse::preferences: return "plain";
    case ChatUse::instructions: break;
  }
  return "alpaca";
}

}  // namespace fedsim::models
