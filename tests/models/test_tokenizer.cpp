// Tokenizer, SFT batch layout, presets and config validation.
#include <doctest/doctest.h>

#include "common/error.hpp"
#include "models/layout.hpp"
#include "models/model.hpp"

using namespace fedsim::models;
using Tok = Tokenizer;

TEST_CASE("tokenizer round-trips arbitrary UTF-8 and bytes") {
  const std::string texts[] = {"", "hello", "héllo wörld — ✓ 日本語 🚀", std::string("\0\x01\xff\xfe", 4)};
  for (const auto& s : texts) {
    const auto ids = Tok::encode(s);
    CHECK(ids.size() == s.size());
    for (int32_t id : ids) CHECK((id >= 0 && id < 256));
    CHECK(Tok::decode(ids) == s);
  }
  // Specials are skipped on decode.
  CHECK(Tok::decode({Tok::BOS, 'a', Tok::EOS, Tok::PAD, 'b', Tok::RESP}) == "ab");
  CHECK(Tok::encode("é") == std::vector<int32_t>{0xC3, 0xA9});
}

TEST_CASE("make_sft_batch: layout, targets and padding on a hand-written case") {
  const Batch b = make_sft_batch({{"hi", "ok"}, {"a", ""}}, 10);
  REQUIRE(b.B == 2);
  REQUIRE(b.T == 10);
  const int P = Tok::PAD;
  // seq0 = BOS INST h i RESP o k EOS
  CHECK(b.inputs == std::vector<int32_t>{Tok::BOS, Tok::INST, 'h', 'i', Tok::RESP, 'o', 'k', Tok::EOS, P, P,
                                         // seq1 = BOS INST a RESP EOS
                                         Tok::BOS, Tok::INST, 'a', Tok::RESP, Tok::EOS, P, P, P, P, P});
  CHECK(b.targets == std::vector<int32_t>{-1, -1, -1, -1,       'o', 'k', Tok::EOS, -1, -1, -1,  //
                                          -1, -1, -1, Tok::EOS, -1,  -1,  -1,       -1, -1, -1});
}

TEST_CASE("make_sft_batch: truncation keeps the batch valid") {
  const Batch b = make_sft_batch({{"abcdef", "xyz"}, {"a", "b"}}, 6);
  REQUIRE(b.inputs.size() == 12);
  REQUIRE(b.targets.size() == 12);
  // seq0 = BOS INST a b c d | e f RESP x y z EOS: no response in the window, no targets.
  for (int t = 0; t < 6; ++t) CHECK(b.targets[t] == -1);
  // seq1 = BOS INST a RESP b EOS exactly fills the window; the EOS input predicts nothing.
  CHECK(std::vector<int32_t>(b.targets.begin() + 6, b.targets.end()) ==
        std::vector<int32_t>{-1, -1, -1, 'b', Tok::EOS, -1});
  // The last position may predict a token beyond the window.
  const Batch c = make_sft_batch({{"", "abc"}}, 4);  // BOS INST RESP a | b c EOS
  CHECK(c.targets == std::vector<int32_t>{-1, -1, 'a', 'b'});
  for (int32_t id : c.inputs) CHECK((id >= 0 && id < Tok::vocab_size));
}

TEST_CASE("presets and config validation") {
  CHECK(preset_names() == std::vector<std::string>{"nano", "tiny", "small", "gpt2-124m"});
  const ModelConfig g = preset_config("gpt2-124m");
  CHECK(g.d_model == 768);
  CHECK(g.n_layers == 12);
  CHECK(g.max_seq == 1024);
  CHECK(g.vocab_size == 264);
  CHECK(preset_config("tiny").d_ff == 256);
  try {
    preset_config("huge");
    FAIL("no error");
  } catch (const fedsim::UserError& e) {
    CHECK(std::string(e.what()) == "model.preset: unknown preset 'huge'; accepted: nano, tiny, small, gpt2-124m");
  }
  const ModelConfig nano = preset_config("nano");
  LoraConfig l;
  l.rank = 0;
  try {
    make_adapter_layout(nano, l);
    FAIL("no error");
  } catch (const fedsim::UserError& e) {
    CHECK(std::string(e.what()).find("lora.rank: 0") != std::string::npos);
  }
  l.rank = 4;
  l.targets = {"q", "gate"};
  try {
    make_adapter_layout(nano, l);
    FAIL("no error");
  } catch (const fedsim::UserError& e) {
    const std::string m = e.what();
    CHECK(m.find("lora.targets") != std::string::npos);
    CHECK(m.find("'gate'") != std::string::npos);
    CHECK(m.find("mlp_down") != std::string::npos);
  }
  l.targets = {"q", "k", "v", "o", "mlp_up", "mlp_down"};
  const AdapterLayout a = make_adapter_layout(nano, l);
  const int C = nano.d_model, F = nano.d_ff;
  CHECK(a.total == int64_t(nano.n_layers) * 4 * (4 * C + 4 * C + 0) + 0 + nano.n_layers * 2 * (4 * C + 4 * F));
  CHECK(a.a(0, kQ) == 0);
  CHECK(a.b(0, kQ) == 4 * C);
  CHECK(a.a(0, kK) == 8 * C);
}
