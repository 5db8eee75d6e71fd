// Tokenizers and chat templates (models/text) on hostile text. Byte 0 picks the tokenizer (bits
// 0-1: byte-level with the Llama-3 regex, byte-level with GPT-2's ByteLevel regex, NFC + Qwen2
// regex, SentencePiece-style) and whether the rest is one text or conversation turns separated
// by NUL (bit 2). Encoding never fails; spans lie inside the text; decode(encode(x)) gives x
// back (NFC(x) with NFC; U+FFFD for invalid UTF-8 as Hugging Face; SentencePiece-style where x
// has no added-token string or U+2581); a conversation's mask has one entry per id.
#include <string>

#include "../models/text_fixtures.hpp"
#include "fuzz_common.hpp"
#include "models/text/batch.hpp"

using namespace fedsim;
using namespace fedsim::models;

namespace {

std::shared_ptr<const TextTokenizer> make(int kind) {
  using test::json;
  if (kind == 3) {
    json j = test::sentencepiece_json({"\u2581", "a", "b", "\u2581a", "ab"}, {"\u2581 a", "a b"});
    return test::load_json("fuzz-sp/tokenizer.json", j);
  }
  json j = test::byte_level_json({{"l", "l"}, {"e", "ll"}, {" ", "t"}, {"h", "e"}, {" t", "he"}, {"\xC3", "\xA9"}});
  if (kind == 1)
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  if (kind == 2) {
    j["normalizer"] = {{"type", "NFC"}};
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = text::split_regex_pattern(text::SplitRegex::qwen2);
  }
  int id = 1000;
  for (const char* s : {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_start|>",
                        "<|im_end|>", "</s>"})
    test::add_token(j, id++, s, true);
  return test::load_json("fuzz-bl" + std::to_string(kind) + "/tokenizer.json", j);
}

const TextTokenizer& tokenizer(int kind) {
  static const std::shared_ptr<const TextTokenizer> all[4] = {make(0), make(1), make(2), make(3)};
  return *all[kind];
}

void check_text(const TextTokenizer& tok, int kind, const std::string& x) {
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  tok.encode_spans(x, ids, spans);
  if (spans.size() != ids.size()) throw InternalError("one span per id");
  for (const TokenSpan& s : spans)
    if (s.begin > s.end || s.end > x.size()) throw InternalError("span outside the text");
  if (kind == 1) return;  // add_prefix_space: a space is prepended, no round trip by design
  const std::string back = tok.decode(ids, false);
  const bool valid = text::is_valid_utf8(x);
  std::string want = kind == 2 ? text::nfc(x) : x;
  if (!valid && kind != 3) want = text::utf8_lossy(want);
  const bool comparable = kind != 3 || (valid && x.find("\xE2\x96\x81") == std::string::npos &&
                                        x.find("<s>") == std::string::npos && x.find("</s>") == std::string::npos &&
                                        x.find("<unk>") == std::string::npos);
  if (comparable && back != want) throw InternalError("decode(encode(x)) differs for " + x);
  if (kind == 2 && text::nfc(want) != want) throw InternalError("NFC is not idempotent on " + x);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int kind = data[0] & 3;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const TextTokenizer& tok = tokenizer(kind);
  if (!(data[0] & 4)) {
    check_text(tok, kind, rest);
    return 0;
  }
  Conversation c;
  for (size_t a = 0;;) {
    const size_t b = rest.find('\0', a);
    c.turns.push_back({c.turns.size() % 2 ? Role::assistant : Role::user, rest.substr(a, b - a)});
    if (b == std::string::npos) break;
    a = b + 1;
  }
  for (const char* name : {"vicuna_v1.1", "llama-3", "chatml", "qwen3", "plain", "alpaca"}) {
    fuzz::expect_user_error_only([&] {
      const TokenizedConversation s = tokenize_conversation(tok, chat_template(name), c);
      if (s.target.size() != s.ids.size()) throw InternalError("one mask entry per id");
      make_sft_batch(tok, chat_template(name), {c}, 1 + static_cast<int>(size % 64) + 1);
    });
  }
  return 0;
}
