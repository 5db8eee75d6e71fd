// Chat templates and batch building: every template's exact text and loss mask (hand-written
// below; ⟦ ⟧ around the tokens the loss covers), truncation, generation prompts, DPO rows, and
// the byte layout equal bit for bit to make_sft_batch's first implementation.
#include <doctest/doctest.h>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "models/text/batch.hpp"
#include "text_fixtures.hpp"

using namespace fedsim;
using namespace fedsim::models;
using namespace fedsim::test;
using V = std::vector<int32_t>;

namespace {

// A byte-level tokenizer with one token per byte (no merges) and the special tokens the
// templates name, so a decoded token run is exactly the template's text.
std::shared_ptr<const TextTokenizer> byte_hf() {
  json j = byte_level_json({});
  int id = 1000;
  for (const char* s : {"<s>", "</s>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                        "<|im_start|>", "<|im_end|>"})
    add_token(j, id++, s, true);
  for (const char* s : {"<think>", "</think>"}) add_token(j, id++, s, false);
  static const auto tok = load_json("tpl/tokenizer.json", j);
  return tok;
}

// The tokens as text, target runs inside ⟦ ⟧.
std::string marked(const TextTokenizer& tok, const TokenizedConversation& s) {
  std::string out;
  for (size_t k = 0; k < s.ids.size();) {
    size_t e = k;
    while (e < s.ids.size() && s.target[e] == s.target[k]) ++e;
    const std::string text = tok.decode(V(s.ids.begin() + static_cast<long>(k), s.ids.begin() + static_cast<long>(e)), false);
    out += s.target[k] ? "⟦" + text + "⟧" : text;
    k = e;
  }
  return out;
}

std::string render(const std::string& tpl, const Conversation& c, std::shared_ptr<const TextTokenizer> tok = byte_hf()) {
  return marked(*tok, tokenize_conversation(*tok, chat_template(tpl), c));
}

Conversation two_exchanges(const std::string& system = "") {
  return Conversation{system, {{Role::user, "Hi"}, {Role::assistant, "Hello!"}, {Role::user, "2+2?"}, {Role::assistant, "\n4"}}};
}

// make_sft_batch as first written (models/tokenizer.cpp before the template path): the reference
// the "fedsim-bytes" template must reproduce bit for bit.
Batch legacy_sft_batch(const std::vector<std::pair<std::string, std::string>>& pairs, int T) {
  using Tok = Tokenizer;
  Batch b;
  b.B = static_cast<int>(pairs.size());
  b.T = T;
  b.inputs.assign(static_cast<size_t>(b.B) * T, Tok::PAD);
  b.targets.assign(static_cast<size_t>(b.B) * T, -1);
  for (int i = 0; i < b.B; ++i) {
    std::vector<int32_t> seq{Tok::BOS, Tok::INST};
    for (unsigned char c : pairs[i].first) seq.push_back(c);
    seq.push_back(Tok::RESP);
    const size_t first_target = seq.size();
    for (unsigned char c : pairs[i].second) seq.push_back(c);
    seq.push_back(Tok::EOS);
    const size_t n = std::min(seq.size(), static_cast<size_t>(T));
    for (size_t t = 0; t < n; ++t) {
      b.inputs[static_cast<size_t>(i) * T + t] = seq[t];
      if (t + 1 < seq.size() && t + 1 >= first_target) b.targets[static_cast<size_t>(i) * T + t] = seq[t + 1];
    }
  }
  return b;
}

// make_conversation_batch (models/conversation.cpp on main, FedLLM-Bench fidelity work): the
// reference "fedsim-bytes-chat" must reproduce bit for bit.
Batch legacy_conversation_batch(const std::vector<std::vector<std::string>>& conversations, int T) {
  using Tok = Tokenizer;
  Batch b;
  b.B = static_cast<int>(conversations.size());
  b.T = T;
  b.inputs.assign(static_cast<size_t>(b.B) * T, Tok::PAD);
  b.targets.assign(static_cast<size_t>(b.B) * T, -1);
  std::vector<int32_t> seq;
  std::vector<char> is_target;
  for (int i = 0; i < b.B; ++i) {
    const std::vector<std::string>& turns = conversations[static_cast<size_t>(i)];
    seq.assign(1, Tok::BOS);
    is_target.assign(1, 0);
    for (size_t k = 0; k < turns.size() && seq.size() <= static_cast<size_t>(T); ++k) {
      const bool gpt = k % 2 == 1;
      seq.push_back(gpt ? Tok::ASSISTANT : Tok::USER);
      is_target.push_back(0);
      for (unsigned char c : turns[k]) {
        seq.push_back(c);
        is_target.push_back(gpt);
      }
      if (gpt) {
        seq.push_back(Tok::EOS);
        is_target.push_back(1);
      }
    }
    const size_t n = std::min(seq.size(), static_cast<size_t>(T));
    for (size_t t = 0; t < n; ++t) {
      b.inputs[static_cast<size_t>(i) * T + t] = seq[t];
      if (t + 1 < seq.size() && is_target[t + 1]) b.targets[static_cast<size_t>(i) * T + t] = seq[t + 1];
    }
  }
  return b;
}

std::string random_text(Rng& rng) {
  static const std::string alphabet = "ab \n\xC3\xA9\xF0\x9F\x9A\x80xyz<inst>";
  std::string s;
  for (uint64_t k = rng.next_u64() % 12; k > 0; --k) s += alphabet[rng.next_u64() % alphabet.size()];
  return s;
}

}  // namespace

TEST_CASE("single-turn templates of FedLLM-Bench: exact text, loss on ' ' + response + EOS") {
  const Conversation c = exchange("Q?", "A.");
  CHECK(render("alpaca", c) ==
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nQ? \n\n### Response:⟦ A.</s>⟧");
  CHECK(render("spanish_alpaca", c) ==
        "A continuación se presenta una instrucción que describe una tarea. Escribe una respuesta que complete "
        "adecuadamente la solicitud.\n\n### Instrucción:\nQ? \n\n### Respuesta:⟦ A.</s>⟧");
  CHECK(render("french_alpaca", c) ==
        "Voici une instruction qui décrit une tâche. Écrivez une réponse qui complète correctement la demande.\n\n"
        "### Instruction:\nQ?\n\n### Réponse:⟦ A.</s>⟧");
  CHECK(render("portuguese_alpaca", c) ==
        "Abaixo está uma instrução que descreve uma tarefa. Escreva uma resposta que complete adequadamente o "
        "pedido.\n\n### Instrução:\nQ?\n\n### Resposta:⟦ A.</s>⟧");
  CHECK(render("russian_alpaca", c) ==
        "Ниже приведена инструкция, описывающая задание. Напишите ответ, который соответственно завершает "
        "запрос.\n\n### Инструкция:\nQ?\n\n### Ответ:⟦ A.</s>⟧");
  CHECK(render("arabic_alpaca", c) ==
        "أدناه تعليمة تصف مهمة. اكتب استجابة تكميلية مناسبة للطلب.\n\n### التعليمات:\nQ?\n\n### الاستجابة:⟦ A.</s>⟧");
  CHECK(render("chinese_alpaca", c) ==
        "以下是描述任务的指示。请写出一个适当完成请求的回答。\n\n### 指令:\nQ?\n\n### 回答:⟦ A.</s>⟧");
  CHECK(render("telugu_alpaca", c) ==
        "క్రింది మీకు ఒక టాస్క్\u200Cను వివరించే నిర్దేశం ఉంది. అభ్యర్థనను సరిగ్గా పూర్తి చేయడానికి సరియైన స్పందన "
        "ఇస్తుంది.\n\n### అనుమోదన:\nQ?\n\n### స్పందన:⟦ A.</s>⟧");
  CHECK(render("vicuna", c) ==
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: Q? ASSISTANT:⟦ A.</s>⟧");
  CHECK(render("medquad", c) ==
        "Below is a conversation between a user and a professional doctor. The doctor gives helpful, precise, "
        "detailed and polite answer to the user's question. USER: Q? DOCTOR:⟦ A.</s>⟧");
  // A conversation that ends on the user's turn trains nothing.
  CHECK(render("vicuna", Conversation{"", {{Role::user, "Q?"}}}).find("⟦") == std::string::npos);
}

TEST_CASE("multi-turn templates: every assistant turn a target, user turns and scaffolding masked") {
  CHECK(render("vicuna_v1.1", two_exchanges()) ==
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: Hi ASSISTANT:⟦ Hello!</s>⟧USER: 2+2? "
        "ASSISTANT:⟦ \n4</s>⟧");
  CHECK(render("vicuna_v1.1", Conversation{"Be nice.", {{Role::user, "Hi"}, {Role::assistant, "Yo"}, {Role::user, "Bye"}}}) ==
        "Be nice. USER: Hi ASSISTANT:⟦ Yo</s>⟧USER: Bye ");
  CHECK(render("llama-3", two_exchanges(" Be brief. ")) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n⟦Hello!<|eot_id|>⟧"
        "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n⟦4<|eot_id|>⟧");
  CHECK(render("chatml", two_exchanges("Be brief.")) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n⟦Hello!<|im_end|>⟧\n<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n⟦\n4<|im_end|>⟧\n");
  CHECK(render("qwen2.5", exchange("Hi", "Yo")) ==
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n⟦Yo<|im_end|>⟧\n");
  CHECK(render("qwen3", two_exchanges()) ==
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n⟦Hello!<|im_end|>⟧\n"
        "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n⟦4<|im_end|>⟧\n");
  CHECK(render("plain", two_exchanges()) == "Hi⟦Hello!</s>⟧2+2?⟦\n4</s>⟧");
  CHECK(render("fedsim-bytes-chat", two_exchanges(), byte_tokenizer()) ==
        "<|bos|><|user|>Hi<|assistant|>⟦Hello!<|eos|>⟧<|user|>2+2?<|assistant|>⟦\n4<|eos|>⟧");
  CHECK(render("fedsim-bytes", exchange("Hi", "Hello!"), byte_tokenizer()) == "<|bos|><|inst|>Hi<|resp|>⟦Hello!<|eos|>⟧");
}

TEST_CASE("the loss mask follows characters: a token running from the prompt into the answer is trained") {
  // SentencePiece fixture: merge "b c" makes one token of the prompt's b and the answer's c
  // (trl's DPO tokenisation counts it as the answer's, as here); BOS from the post-processor.
  const auto sp = load_json("tpl-sp/tokenizer.json",
                            sentencepiece_json({"\u2581", "a", "b", "c", "\u2581a", "\u2581ab", "ab", "bc"},
                                               {"\u2581 a", "\u2581a b", "b c"}));
  const TokenizedConversation s = tokenize_conversation(*sp, chat_template("plain"), exchange("b", "c"));
  CHECK(s.ids == V{1, 259, 266, 2});  // <s> ▁ bc </s>
  CHECK(s.target == std::vector<uint8_t>{0, 0, 1, 1});
  // " ab" after the prompt "c": ▁ab holds the answer's space and letters.
  const TokenizedConversation t = tokenize_conversation(*sp, chat_template("plain"), exchange("c", " ab"));
  CHECK(t.ids == V{1, 259, 262, 264, 2});
  CHECK(t.target == std::vector<uint8_t>{0, 0, 0, 1, 1});
}

TEST_CASE("batches: right padding with the tokenizer's PAD, targets shifted, truncation rules") {
  const auto tok = byte_hf();  // pad = EOS (</s> = 1001): no PAD or UNK
  REQUIRE(tok->pad_id() == 1001);
  // plain: a b c d EOS, targets on c d EOS.
  const Batch b = make_sft_batch(*tok, chat_template("plain"), {exchange("ab", "cd")}, 7);
  CHECK(b.inputs == V{'a', 'b', 'c', 'd', 1001, 1001, 1001});
  CHECK(b.targets == V{-1, 'c', 'd', 1001, -1, -1, -1});
  // Cut to T = 4 as Hugging Face cuts: a b c d; the last position predicts nothing.
  const Batch h = make_sft_batch(*tok, chat_template("plain"), {exchange("ab", "cd")}, 4);
  CHECK(h.inputs == V{'a', 'b', 'c', 'd'});
  CHECK(h.targets == V{-1, 'c', 'd', -1});
  // fedsim-bytes keeps its first rule: position T-1 predicts token T.
  const Batch f = make_sft_batch(*byte_tokenizer(), chat_template("fedsim-bytes"), {exchange("", "abc")}, 4);
  CHECK(f.inputs == V{Tokenizer::BOS, Tokenizer::INST, Tokenizer::RESP, 'a'});
  CHECK(f.targets == V{-1, -1, 'a', 'b'});
  // DPO: the same prompt rows for chosen and rejected.
  const DpoBatch d = make_dpo_batch(*tok, chat_template("plain"), {{"p", "yes", "no"}}, 6);
  CHECK(d.chosen.inputs == V{'p', 'y', 'e', 's', 1001, 1001});
  CHECK(d.rejected.inputs == V{'p', 'n', 'o', 1001, 1001, 1001});
  CHECK(d.rejected.targets == V{'n', 'o', 1001, -1, -1, -1});
}

TEST_CASE("fedsim-bytes and fedsim-bytes-chat reproduce make_sft_batch and make_conversation_batch bit for bit") {
  Rng rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<std::vector<std::string>> turns;
    std::vector<Conversation> convs;
    const int B = 1 + static_cast<int>(rng.next_u64() % 4);
    for (int i = 0; i < B; ++i) {
      pairs.emplace_back(random_text(rng), random_text(rng));
      turns.emplace_back();
      convs.emplace_back();
      for (uint64_t k = 1 + rng.next_u64() % 5; k > 0; --k) {
        turns.back().push_back(random_text(rng));
        convs.back().turns.push_back({convs.back().turns.size() % 2 ? Role::assistant : Role::user, turns.back().back()});
      }
    }
    const int T = 2 + static_cast<int>(rng.next_u64() % 30);
    const Batch want = legacy_sft_batch(pairs, T), got = make_sft_batch(pairs, T);
    REQUIRE(got.B == want.B);
    REQUIRE(got.T == want.T);
    CHECK(got.inputs == want.inputs);
    CHECK(got.targets == want.targets);
    const Batch want_c = legacy_conversation_batch(turns, T);
    const Batch got_c = make_sft_batch(*byte_tokenizer(), chat_template("fedsim-bytes-chat"), convs, T);
    CHECK(got_c.inputs == want_c.inputs);
    CHECK(got_c.targets == want_c.targets);
  }
}

TEST_CASE("generation prompts end where the answer starts") {
  const auto tok = byte_hf();
  const Conversation q{"", {{Role::user, "Hi"}}};
  auto prompt = [&](const std::string& t) { return tok->decode(tokenize_prompt(*tok, chat_template(t), q), false); };
  CHECK(prompt("llama-3") == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(prompt("qwen3") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  CHECK(prompt("chatml") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  auto ends_with = [](const std::string& s, const std::string& end) {
    return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
  };
  CHECK(ends_with(prompt("vicuna_v1.1"), "questions. USER: Hi ASSISTANT:"));
  CHECK(ends_with(prompt("alpaca"), "### Instruction:\nHi \n\n### Response:"));
  // fedsim-bytes: what Model::generate feeds (BOS INST prompt RESP).
  CHECK(tokenize_prompt(*byte_tokenizer(), chat_template("fedsim-bytes"), q) ==
        V{Tokenizer::BOS, Tokenizer::INST, 'H', 'i', Tokenizer::RESP});
}

TEST_CASE("template and conversation errors name what is accepted") {
  CHECK_THROWS_WITH_AS(chat_template("nope"),
                       "chat template 'nope' is unknown; accepted: alpaca, arabic_alpaca, chinese_alpaca, "
                       "portuguese_alpaca, telugu_alpaca, russian_alpaca, french_alpaca, spanish_alpaca, alpaca_by_language, vicuna, "
                       "medquad, vicuna_v1.1, llama-3, chatml, qwen2.5, qwen3, plain, fedsim-bytes, fedsim-bytes-chat",
                       UserError);
  const auto tok = byte_hf();
  CHECK_THROWS_WITH_AS(make_sft_batch(*tok, chat_template("alpaca"), {exchange("a", "b"), two_exchanges()}, 8),
                       "sample 1: chat template 'alpaca' formats one exchange (instruction, response); this "
                       "conversation has 4 turns: use a multi-turn template (vicuna_v1.1, llama-3, chatml, qwen2.5, "
                       "qwen3, plain, fedsim-bytes-chat)",
                       UserError);
  CHECK_THROWS_WITH_AS(tokenize_conversation(*tok, chat_template("chatml"), Conversation{"", {{Role::assistant, "x"}}}),
                       "conversation turn 0 is assistant; turns alternate user, assistant, ... starting with user",
                       UserError);
  CHECK_THROWS_WITH_AS(tokenize_conversation(*tok, chat_template("alpaca"), Conversation{"sys", {{Role::user, "x"}}}),
                       "chat template 'alpaca' has a fixed preamble and takes no system text", UserError);
  CHECK_THROWS_WITH_AS(tokenize_conversation(*byte_tokenizer(), chat_template("llama-3"), exchange("a", "b")),
                       "chat template 'llama-3' needs the token '<|begin_of_text|>', which the tokenizer does not have "
                       "(byte-level: ids 0-255 = bytes, 256 BOS, 257 EOS, 258 PAD, 259 INST, 260 RESP, 261 USER, 262 "
                       "ASSISTANT, 263 reserved)",
                       UserError);
  CHECK_THROWS_WITH_AS(tokenize_prompt(*tok, chat_template("chatml"), exchange("a", "b")),
                       "a prompt to answer must end on a user turn", UserError);
}
