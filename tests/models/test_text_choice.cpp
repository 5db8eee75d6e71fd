// Which template a run uses when the config names none: the chat family of a tokenizer folder
// (its tokens, tokenizer_config.json's chat_template, the architecture), the default per use,
// the per-language alpaca variants, the stop tokens of generation and the template check.
#include <doctest/doctest.h>

#include "common/error.hpp"
#include "models/text/batch.hpp"
#include "text_fixtures.hpp"

using namespace fedsim;
using namespace fedsim::models;
using namespace fedsim::test;

namespace {

// A byte-level tokenizer with the given added tokens (ids from 1000), in folder `dir`, with a
// tokenizer_config.json of `config` when it is not null.
std::shared_ptr<const TextTokenizer> folder(const std::string& dir, std::initializer_list<const char*> tokens,
                                            const json& config = nullptr) {
  json j = byte_level_json({});
  int id = 1000;
  for (const char* t : tokens) add_token(j, id++, t, true);
  if (!config.is_null()) write_temp(dir + "/tokenizer_config.json", config.dump());
  return load_json(dir + "/tokenizer.json", j);
}

// The path of DIR/tokenizer.json under the tests' temporary folder (the file need not exist).
std::string in_dir(const std::string& dir) {
  const std::filesystem::path probe = write_temp(dir + "/probe", "");
  return (probe.parent_path() / "tokenizer.json").string();
}

}  // namespace

TEST_CASE("chat family: fedsim's byte ids, the config's chat_template, else the tokenizer's chat tokens") {
  CHECK(chat_family(*byte_tokenizer(), "", false) == "fedsim-bytes");
  // Meta-Llama-3 (base: no chat_template; instruct: one with header tokens).
  const auto l3 = folder("c-l3", {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"});
  CHECK(chat_family(*l3, "", false) == "llama-3");
  CHECK(chat_family(*l3, "{{ '<|start_header_id|>' + message['role'] }}", false) == "llama-3");
  // Qwen: chatml tokens; the template text tells Qwen2.5 (default system text) and Qwen3 (<think>).
  const auto qw = folder("c-qw", {"<|endoftext|>", "<|im_start|>", "<|im_end|>"});
  CHECK(chat_family(*qw, "", false) == "chatml");
  CHECK(chat_family(*qw, "", true) == "qwen3");
  CHECK(chat_family(*qw, "{{'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>'}}", false) == "chatml");
  CHECK(chat_family(*qw, "You are Qwen, created by Alibaba Cloud. <|im_start|>", false) == "qwen2.5");
  CHECK(chat_family(*qw, "<|im_start|>assistant\\n<think>\\n\\n</think>", false) == "qwen3");
  // Another chat format (Llama-2-chat's [INST]) and plain tokenizers have no family here.
  CHECK(chat_family(*qw, "{% if messages[0]['role'] == 'system' %}[INST] <<SYS>>", false) == "");
  const auto sp = load_json("c-sp/tokenizer.json", sentencepiece_json({"\u2581", "a", "\u2581a"}, {"\u2581 a"}));
  CHECK(chat_family(*sp, "", false) == "");
}

TEST_CASE("default template per family and use: FedLLM-Bench's alpaca, vicuna_v1.1 and plain without a family") {
  CHECK(default_chat_template("fedsim-bytes", ChatUse::instructions) == "fedsim-bytes");
  CHECK(default_chat_template("fedsim-bytes", ChatUse::conversations) == "fedsim-bytes-chat");
  CHECK(default_chat_template("fedsim-bytes", ChatUse::preferences) == "fedsim-bytes");
  for (const char* f : {"llama-3", "chatml", "qwen2.5", "qwen3"})
    for (ChatUse u : {ChatUse::instructions, ChatUse::conversations, ChatUse::preferences})
      CHECK(default_chat_template(f, u) == f);
  CHECK(default_chat_template("", ChatUse::instructions) == "alpaca");
  CHECK(default_chat_template("", ChatUse::conversations) == "vicuna_v1.1");
  CHECK(default_chat_template("", ChatUse::preferences) == "plain");
}

TEST_CASE("tokenizer_config.json's chat_template: a string, a named list, absent") {
  folder("cfg-a", {}, json{{"chat_template", "{{ bos_token }}"}});
  CHECK(read_config_chat_template(in_dir("cfg-a")) == "{{ bos_token }}");
  folder("cfg-b", {}, json{{"chat_template", json::array({json{{"name", "tool_use"}, {"template", "T"}},
                                                          json{{"name", "default"}, {"template", "D"}}})}});
  CHECK(read_config_chat_template(in_dir("cfg-b")) == "D");
  folder("cfg-c", {}, json{{"bos_token", nullptr}});
  CHECK(read_config_chat_template(in_dir("cfg-c")) == "");
  CHECK(read_config_chat_template(in_dir("cfg-none")) == "");
  write_temp("cfg-d/tokenizer_config.json", R"({"chat_template": 3})");
  const std::string cfg_d = (std::filesystem::path(in_dir("cfg-d")).parent_path() / "tokenizer_config.json").string();
  CHECK_THROWS_WITH_AS(read_config_chat_template(in_dir("cfg-d")), (cfg_d + ": chat_template: expected an array").c_str(),
                       UserError);
}

TEST_CASE("per-language alpaca: fedsim's codes and upstream's language names") {
  CHECK(alpaca_for_language("ar").name == "arabic_alpaca");
  CHECK(alpaca_for_language("Standard_Arabic").name == "arabic_alpaca");
  CHECK(alpaca_for_language("Standard Arabic").name == "arabic_alpaca");
  CHECK(alpaca_for_language("zh").name == "chinese_alpaca");
  CHECK(alpaca_for_language("Simplified_Chinese").name == "chinese_alpaca");
  CHECK(alpaca_for_language("te").name == "telugu_alpaca");
  CHECK(alpaca_for_language("es").name == "spanish_alpaca");
  CHECK(alpaca_for_language("en").name == "alpaca");
  CHECK(alpaca_for_language("de").name == "alpaca");  // not among upstream's eight
  CHECK(alpaca_for_language("").name == "alpaca");
  // alpaca_by_language renders exactly the variant's text and mask.
  const auto tok = folder("lang", {"</s>"});
  Conversation c = exchange("Q?", "A.", "fr");
  const TokenizedConversation by = tokenize_conversation(*tok, chat_template("alpaca_by_language"), c);
  const TokenizedConversation fr = tokenize_conversation(*tok, chat_template("french_alpaca"), c);
  CHECK(by.ids == fr.ids);
  CHECK(by.target == fr.target);
  c.language = "";
  CHECK(tokenize_conversation(*tok, chat_template("alpaca_by_language"), c).ids ==
        tokenize_conversation(*tok, chat_template("alpaca"), c).ids);
}

TEST_CASE("stop ids and the template check") {
  const auto qw = folder("stop-qw", {"<|endoftext|>", "<|im_start|>", "<|im_end|>"});
  // No tokenizer_config.json: EOS is the well-known <|endoftext|> (1000); chatml ends on <|im_end|> (1002).
  CHECK(stop_ids(*qw, chat_template("chatml")) == std::vector<int32_t>{1000, 1002});
  CHECK(stop_ids(*qw, chat_template("alpaca")) == std::vector<int32_t>{1000});
  CHECK(stop_ids(*byte_tokenizer(), chat_template("fedsim-bytes")) == std::vector<int32_t>{Tokenizer::EOS});
  check_chat_template(*qw, chat_template("chatml"));
  CHECK_THROWS_WITH_AS(check_chat_template(*qw, chat_template("llama-3")),
                       ("chat template 'llama-3' needs the token '<|begin_of_text|>', which the tokenizer does not have (" +
                        qw->describe() + ")")
                           .c_str(),
                       UserError);
  CHECK_THROWS_WITH_AS(check_chat_template(*qw, chat_template("fedsim-bytes")),
                       ("chat template 'fedsim-bytes' needs a BOS token, which the tokenizer does not have (" +
                        qw->describe() + ")")
                           .c_str(),
                       UserError);
}
