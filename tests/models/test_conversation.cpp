// Multi-turn batch layout of the byte-level runs (the fedsim-bytes-chat template on fedsim's
// byte tokenizer): every assistant turn a target, human turns masked, truncation.
#include <doctest/doctest.h>

#include "models/text/batch.hpp"

using namespace fedsim::models;
using Tok = Tokenizer;

namespace {
constexpr int32_t U = Tok::USER, A = Tok::ASSISTANT, E = Tok::EOS, P = Tok::PAD, S = Tok::BOS;

// Conversations given as their turns (human, assistant, ...), rows of T tokens.
Batch make_conversation_batch(const std::vector<std::vector<std::string>>& turns, int T) {
  std::vector<Conversation> convs;
  for (const auto& t : turns) convs.push_back(alternating(t));
  return make_sft_batch(*byte_tokenizer(), chat_template("fedsim-bytes-chat"), convs, T);
}
}  // namespace

TEST_CASE("fedsim-bytes-chat: every assistant turn is a target, human turns are masked") {
  // BOS U h i A o k EOS U q A z EOS: both replies and their end markers are targets.
  const Batch b = make_conversation_batch({{"hi", "ok", "q", "z"}, {"a", "b"}}, 14);
  REQUIRE(b.B == 2);
  REQUIRE(b.T == 14);
  CHECK(std::vector<int32_t>(b.inputs.begin(), b.inputs.begin() + 14) ==
        std::vector<int32_t>{S, U, 'h', 'i', A, 'o', 'k', E, U, 'q', A, 'z', E, P});
  CHECK(std::vector<int32_t>(b.targets.begin(), b.targets.begin() + 14) ==
        std::vector<int32_t>{-1, -1, -1, -1, 'o', 'k', E, -1, -1, -1, 'z', E, -1, -1});
  CHECK(std::vector<int32_t>(b.inputs.begin() + 14, b.inputs.end()) ==
        std::vector<int32_t>{S, U, 'a', A, 'b', E, P, P, P, P, P, P, P, P});
  CHECK(std::vector<int32_t>(b.targets.begin() + 14, b.targets.end()) ==
        std::vector<int32_t>{-1, -1, -1, 'b', E, -1, -1, -1, -1, -1, -1, -1, -1, -1});
}

TEST_CASE("fedsim-bytes-chat: a last human turn is context without a target") {
  const Batch b = make_conversation_batch({{"q", "r", "more"}}, 12);
  // BOS U q A r EOS U m o r e
  CHECK(b.inputs == std::vector<int32_t>{S, U, 'q', A, 'r', E, U, 'm', 'o', 'r', 'e', P});
  CHECK(b.targets == std::vector<int32_t>{-1, -1, -1, 'r', E, -1, -1, -1, -1, -1, -1, -1});
}

TEST_CASE("fedsim-bytes-chat: truncation to the context keeps what fits") {
  // BOS U a A x y z EOS U b A w EOS is 12 tokens; T = 6 cuts inside the first reply: x and y are
  // targets inside the window and z (just past it) is predicted from the last position; the
  // second exchange is not seen at all.
  const Batch b = make_conversation_batch({{"a", "xyz", "b", "w"}}, 6);
  CHECK(b.inputs == std::vector<int32_t>{S, U, 'a', A, 'x', 'y'});
  CHECK(b.targets == std::vector<int32_t>{-1, -1, -1, 'x', 'y', 'z'});
  // A window that ends inside the second human turn trains the whole first reply only.
  const Batch c = make_conversation_batch({{"a", "x", "bcdef", "w"}}, 9);
  CHECK(c.inputs == std::vector<int32_t>{S, U, 'a', A, 'x', E, U, 'b', 'c'});
  CHECK(c.targets == std::vector<int32_t>{-1, -1, -1, 'x', E, -1, -1, -1, -1});
  // A window cut inside the first human turn holds no target.
  const Batch d = make_conversation_batch({{"abcdefgh", "x"}}, 5);
  for (int32_t t : d.targets) CHECK(t == -1);
  for (int32_t id : d.inputs) CHECK((id >= 0 && id < Tok::vocab_size));
}
