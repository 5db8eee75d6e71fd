// tokenizer.json loading, encoding and decoding on tokenizers small enough to work the ids out
// by hand (text_fixtures.hpp); exact messages for malformed files; the byte tokenizer.
#include <doctest/doctest.h>

#include "common/error.hpp"
#include "models/model.hpp"
#include "text_fixtures.hpp"

using namespace fedsim;
using namespace fedsim::test;
using models::TokenSpan;
using V = std::vector<int32_t>;

namespace {

std::string error_of(const std::string& name, const std::string& content) {
  const std::string path = write_temp(name, content);
  try {
    models::load_tokenizer_json(path);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

std::vector<TokenSpan> spans_of(const models::TextTokenizer& t, const std::string& s) {
  V ids;
  std::vector<TokenSpan> spans;
  t.encode_spans(s, ids, spans);
  return spans;
}

json sp_fixture() {
  // ids: ▁ 259, a 260, b 261, c 262, ▁a 263, ▁ab 264, ab 265, bc 266
  return sentencepiece_json({"\u2581", "a", "b", "c", "\u2581a", "\u2581ab", "ab", "bc"},
                            {"\u2581 a", "\u2581a b", "b c"});
}

}  // namespace

TEST_CASE("byte-level BPE: lowest rank first, leftmost on ties, ignore_merges, added tokens") {
  // ids: ll 256, ell 257, he 258, aa 259, " w" 260
  json j = byte_level_json({{"l", "l"}, {"e", "ll"}, {"h", "e"}, {"a", "a"}, {" ", "w"}});
  add_token(j, 1000, "<|end|>", true);
  add_token(j, 1001, "<x>", false);
  add_token(j, 1002, "<l>", false, true, false);
  add_token(j, 1003, "<r>", false, false, true);
  add_token(j, 1004, "<|end|>!", false);
  const auto t = load_json("bl/tokenizer.json", j);
  // "hello": ll (rank 0), then e+ll (rank 1) before h+e (rank 2).
  CHECK(t->encode("hello", false) == V{'h', 257, 'o'});
  CHECK(t->encode("aaa", false) == V{259, 'a'});
  CHECK(t->encode("aaaa", false) == V{259, 259});
  CHECK(t->encode("hello world", false) == V{'h', 257, 'o', 260, 'o', 'r', 'l', 'd'});
  CHECK(t->encode("hello world", true) == t->encode("hello world", false));  // no post-processor tokens
  // Added tokens: split before the model, longest first; lstrip / rstrip take the white space.
  const std::string s = "hi<|end|>  <l>a<r>  b<x><|end|>!";
  CHECK(t->encode(s, false) == V{'h', 'i', 1000, 1002, 'a', 1003, 'b', 1001, 1004});
  CHECK(spans_of(*t, s) == std::vector<TokenSpan>{{0, 1}, {1, 2}, {2, 9}, {9, 14}, {14, 15}, {15, 20}, {20, 21}, {21, 24}, {24, 32}});
  CHECK(t->decode(t->encode(s, false), false) == "hi<|end|><l>a<r>b<x><|end|>!");
  CHECK(t->decode(t->encode(s, false), true) == "hi<l>a<r>b<x><|end|>!");  // only <|end|> is special
  CHECK(t->is_special(1000));
  CHECK_FALSE(t->is_special(1001));
  CHECK(t->token_to_id("<x>") == 1001);
  CHECK(t->token_to_id(bl(" w")) == 260);
  CHECK(t->id_to_token(258) == "he");
  CHECK(t->vocab_size() == 1005);
  // Bytes of multi-byte characters are tokens of their own; decoding gives the text back, and
  // invalid UTF-8 out of a decode becomes U+FFFD (tokenizers' from_utf8_lossy).
  const std::string u = "h\xC3\xA9llo \xF0\x9F\x9A\x80!";
  CHECK(t->encode(u, false) == V{'h', 0xC3, 0xA9, 256, 'o', ' ', 0xF0, 0x9F, 0x9A, 0x80, '!'});
  CHECK(t->decode(t->encode(u, false), false) == u);
  CHECK(t->decode({'a', 0xE2, 0x82}, false) == "a\xEF\xBF\xBD");
  // ignore_merges (Llama-3): a piece that is a whole vocabulary entry is that entry.
  j["model"]["vocab"][bl(" world")] = 500;
  CHECK(load_json("bl2/tokenizer.json", j)->encode(" world", false) == V{260, 'o', 'r', 'l', 'd'});
  j["model"]["ignore_merges"] = true;
  CHECK(load_json("bl3/tokenizer.json", j)->encode(" world", false) == V{500});
}

TEST_CASE("SentencePiece-style BPE: Prepend/Replace normalizer, byte fallback, UNK, BOS, decoder chain") {
  json j = sp_fixture();
  const auto t = load_json("sp/tokenizer.json", j);
  // "ab c" -> "▁ab▁c": ▁+a (rank 0), ▁a+b (rank 1); no merge for ▁ c.
  CHECK(t->encode("ab c", false) == V{264, 259, 262});
  CHECK(t->encode("ab c", true) == V{1, 264, 259, 262});
  CHECK(spans_of(*t, "ab c") == std::vector<TokenSpan>{{0, 2}, {2, 3}, {3, 4}});
  CHECK(t->bos_id() == 1);
  CHECK(t->eos_id() == 2);
  CHECK(t->pad_id() == 0);  // no pad token: UNK, as FedLLM-Bench sets it
  // é is not in the vocabulary: its bytes' <0xXX> tokens (id 3 + byte).
  CHECK(t->encode("bc\xC3\xA9", false) == V{259, 266, 3 + 0xC3, 3 + 0xA9});
  CHECK(t->decode(t->encode("bc\xC3\xA9", true), true) == "bc\xC3\xA9");
  CHECK(t->decode({260, 3 + 0xC3}, true) == "a\xEF\xBF\xBD");  // a lone lead byte: U+FFFD
  // Leading spaces survive: "▁▁a" decodes to "  a", Strip removes one.
  CHECK(t->encode(" a", false) == V{259, 263});
  CHECK(t->decode(t->encode(" a", false), true) == " a");
  // Where Hugging Face does not round-trip either: every section between added tokens gets its
  // own '▁' (so a space appears after <s>), and a '▁' in the text decodes as a space.
  CHECK(t->encode("a<s>b", false) == V{263, 1, 259, 261});
  CHECK(t->decode(t->encode("a<s>b", false), false) == "a<s> b");
  CHECK(t->decode(t->encode("a\xE2\x96\x81" "b", false), false) == "a b");
  CHECK(t->encode("", true) == V{1});
  // Without byte fallback unknown characters become UNK, consecutive ones fused (fuse_unk).
  j["model"]["byte_fallback"] = false;
  CHECK(load_json("sp2/tokenizer.json", j)->encode("a\xC3\xA9\xC3\xA9 b", false) == V{263, 0, 259, 261});
  j["model"]["fuse_unk"] = false;
  CHECK(load_json("sp3/tokenizer.json", j)->encode("a\xC3\xA9\xC3\xA9 b", false) == V{263, 0, 0, 259, 261});
}

TEST_CASE("Metaspace pre-tokenizer and decoder (prepend_scheme first), NFC normalizer") {
  json j = sp_fixture();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
  const auto t = load_json("ms/tokenizer.json", j);
  CHECK(t->encode("ab c", false) == V{264, 259, 262});
  CHECK(t->decode({264, 259, 262}, true) == "ab c");
  // "first": only a section at the start of the text gets the '▁'.
  CHECK(t->encode("<s>ab", false) == V{1, 260, 261});
  // A leading space becomes the '▁' (no second one is prepended), which the decoder drops from
  // the first token: " ab" comes back as "ab", as with Hugging Face.
  CHECK(t->encode(" ab", false) == V{264});
  CHECK(t->decode(t->encode(" ab", false), true) == "ab");
  j["pre_tokenizer"]["split"] = true;  // pieces start at each '▁': no merge across them
  CHECK(load_json("ms2/tokenizer.json", j)->encode("ab c", false) == V{264, 259, 262});

  json n = byte_level_json({});
  n["normalizer"] = {{"type", "NFC"}};
  const auto q = load_json("nfc/tokenizer.json", n);
  CHECK(q->encode("e\xCC\x81", false) == V{0xC3, 0xA9});
  CHECK(spans_of(*q, "e\xCC\x81") == std::vector<TokenSpan>{{0, 3}, {0, 3}});
  CHECK(q->decode(q->encode("e\xCC\x81", false), false) == "\xC3\xA9");
}

TEST_CASE("tokenizer_config.json beside the file names BOS, EOS and PAD") {
  json j = sp_fixture();
  write_temp("cfg/tokenizer_config.json", R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "pad_token": "</s>"})");
  const auto t = load_json("cfg/tokenizer.json", j);
  CHECK(t->bos_id() == 1);
  CHECK(t->pad_id() == 2);
  write_temp("cfg2/tokenizer_config.json", R"({"eos_token": "<nope>"})");
  const std::string path = write_temp("cfg2/tokenizer.json", j.dump());
  const std::string cfg = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  CHECK(error_of("cfg2/tokenizer.json", j.dump()) == cfg + ": eos_token: '<nope>' is not a token of " + path);
}

TEST_CASE("malformed tokenizer.json: the file, the key and what is accepted") {
  const json good = sp_fixture();
  auto err = [](const std::string& name, const json& j) { return error_of(name, j.dump()); };
  auto path = [](const std::string& name) { return write_temp(name, ""); };
  json j = good;
  j.erase("model");
  CHECK(err("e1.json", j) == path("e1.json") + ": model: missing");
  j = good;
  j["model"]["type"] = "WordPiece";
  CHECK(err("e2.json", j) == path("e2.json") + ": model.type: 'WordPiece' is not supported; accepted: BPE");
  j = good;
  j["model"]["merges"] = {"\u2581 a", "abc"};
  CHECK(err("e3.json", j) == path("e3.json") + ": model.merges[1]: expected \"left right\" or [\"left\", \"right\"], found \"abc\"");
  j["model"]["merges"] = {"a zz"};
  CHECK(err("e4.json", j) == path("e4.json") + ": model.merges[0]: token 'zz' is not in model.vocab");
  j["model"]["merges"] = json::array({json::array({"a", "c"})});
  CHECK(err("e5.json", j) == path("e5.json") + ": model.merges[0]: merged token 'ac' is not in model.vocab");
  j = good;
  j["model"]["vocab"]["a"] = "x";
  CHECK(err("e6.json", j) == path("e6.json") + ": model.vocab.a: expected an integer, found \"x\"");
  j = good;
  j["normalizer"]["normalizers"][1] = {{"type", "Lowercase"}};
  CHECK(err("e7.json", j) == path("e7.json") +
                                 ": normalizer.normalizers[1].type: 'Lowercase' is not supported; accepted: NFC, "
                                 "Prepend, Replace, Sequence");
  j = byte_level_json({});
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  CHECK(err("e8.json", j).rfind(path("e8.json") + ": pre_tokenizer.pretokenizers[0].pattern.Regex: pattern not supported: \\w+; accepted: the GPT-2, Llama-3 and Qwen2 patterns", 0) == 0);
  j = good;
  j["model"]["unk_token"] = "<missing>";
  CHECK(err("e9.json", j) == path("e9.json") + ": model.unk_token: '<missing>' is not in model.vocab");
  j = good;
  j["decoder"]["decoders"][0]["pattern"] = {{"Regex", " +"}};
  CHECK(err("e10.json", j) == path("e10.json") + ": decoder.decoders[0].pattern: regular-expression patterns are not supported here; accepted: {\"String\": ...}");
  CHECK(error_of("e11.json", "{\"model\": ").rfind(path("e11.json") + ": not valid JSON: ", 0) == 0);
  CHECK(error_of("e12.json", "[1, 2]") == path("e12.json") + ": expected a JSON object");
  CHECK_THROWS_WITH_AS(models::load_tokenizer_json("/nonexistent/tokenizer.json"),
                       "/nonexistent/tokenizer.json: cannot open the file", UserError);
}

TEST_CASE("the byte tokenizer behind TextTokenizer equals models::Tokenizer") {
  const auto t = models::byte_tokenizer();
  using Tok = models::Tokenizer;
  const std::string s("h\xC3\xA9llo \x00\xFF" "x", 10);
  CHECK(t->encode(s, false) == Tok::encode(s));
  CHECK(t->encode(s, true) == [&] { V v{Tok::BOS}; for (int32_t id : Tok::encode(s)) v.push_back(id); return v; }());
  const V ids{Tok::BOS, 'a', Tok::INST, 'b', Tok::EOS, Tok::PAD};
  CHECK(t->decode(ids, true) == Tok::decode(ids));
  CHECK(t->decode(ids, false) == "<|bos|>a<|inst|>b<|eos|><|pad|>");
  CHECK(t->vocab_size() == Tok::vocab_size);
  CHECK(t->token_to_id("<|assistant|>") == Tok::ASSISTANT);
  CHECK(t->token_to_id("<|reserved|>") == 263);
  CHECK(t->token_to_id("<assistant>") == -1);
  CHECK(t->token_to_id("<nope>") == -1);
  CHECK((t->bos_id() == Tok::BOS && t->eos_id() == Tok::EOS && t->pad_id() == Tok::PAD));
  CHECK(spans_of(*t, "ab") == std::vector<TokenSpan>{{0, 1}, {1, 2}});
}
