// Multi-turn batch layout (conversation.hpp).
#include "models/conversation.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace fedsim::models {

Batch make_conversation_batch(const std::vector<std::vector<std::string>>& conversations, int T) {
  FEDSIM_ASSERT_MSG(T >= 2, "make_conversation_batch: T = " << T);
  Batch b;
  b.B = static_cast<int>(conversations.size());
  b.T = T;
  b.inputs.assign(static_cast<size_t>(b.B) * T, Tokenizer::PAD);
  b.targets.assign(static_cast<size_t>(b.B) * T, -1);
  std::vector<int32_t> seq;
  std::vector<char> is_target;  // is_target[k]: seq[k] is a gpt byte or the EOS ending a gpt turn
  for (int i = 0; i < b.B; ++i) {
    const std::vector<std::string>& turns = conversations[static_cast<size_t>(i)];
    seq.assign(1, Tokenizer::BOS);
    is_target.assign(1, 0);
    for (size_t k = 0; k < turns.size() && seq.size() <= static_cast<size_t>(T); ++k) {
      const bool gpt = k % 2 == 1;
      seq.push_back(gpt ? Tokenizer::ASSISTANT : Tokenizer::USER);
      is_target.push_back(0);
      for (unsigned char c : turns[k]) {
        seq.push_back(c);
        is_target.push_back(gpt);
      }
      if (gpt) {
        seq.push_back(Tokenizer::EOS);
        is_target.push_back(1);
      }
    }
    const size_t n = std::min(seq.size(), static_cast<size_t>(T));
    int32_t* in = b.inputs.data() + static_cast<size_t>(i) * T;
    int32_t* tg = b.targets.data() + static_cast<size_t>(i) * T;
    for (size_t t = 0; t < n; ++t) {
      in[t] = seq[t];
      if (t + 1 < seq.size() && is_target[t + 1]) tg[t] = seq[t + 1];
    }
  }
  return b;
}

}  // namespace fedsim::models
