// Byte-level tokenizer and the SFT batch layout (model.hpp).
#include <algorithm>

#include "common/error.hpp"
#include "models/model.hpp"

namespace fedsim::models {

std::vector<int32_t> Tokenizer::encode(const std::string& text) {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c));
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) {
  std::string s;
  s.reserve(ids.size());
  for (int32_t id : ids)
    if (id >= 0 && id < 256) s.push_back(static_cast<char>(static_cast<unsigned char>(id)));
  return s;
}

// Sequence: BOS INST <instruction> RESP <response> EOS (length S). inputs[t] = seq[t] for
// t < min(S, T), PAD after. targets[t] = seq[t+1] when seq[t+1] is a response byte or the EOS
// (so the last input position may predict a token beyond the window), -1 elsewhere.
// A sequence truncated before its response has no target at all.
Batch make_sft_batch(const std::vector<std::pair<std::string, std::string>>& pairs, int T) {
  FEDSIM_ASSERT_MSG(T >= 2, "make_sft_batch: T = " << T);
  Batch b;
  b.B = static_cast<int>(pairs.size());
  b.T = T;
  b.inputs.assign(static_cast<size_t>(b.B) * T, Tokenizer::PAD);
  b.targets.assign(static_cast<size_t>(b.B) * T, -1);
  std::vector<int32_t> seq;
  for (int i = 0; i < b.B; ++i) {
    seq.clear();
    seq.push_back(Tokenizer::BOS);
    seq.push_back(Tokenizer::INST);
    for (unsigned char c : pairs[i].first) seq.push_back(c);
    seq.push_back(Tokenizer::RESP);
    const size_t first_target = seq.size();  // index of the first response byte (or EOS)
    for (unsigned char c : pairs[i].second) seq.push_back(c);
    seq.push_back(Tokenizer::EOS);
    const size_t n = std::min(seq.size(), static_cast<size_t>(T));
    for (size_t t = 0; t < n; ++t) {
      b.inputs[static_cast<size_t>(i) * T + t] = seq[t];
      if (t + 1 < seq.size() && t + 1 >= first_target) b.targets[static_cast<size_t>(i) * T + t] = seq[t + 1];
    }
  }
  return b;
}

}  // namespace fedsim::models

namespace fedsim::models {

DpoBatch make_dpo_batch(const std::vector<std::tuple<std::string, std::string, std::string>>& triples, int T) {
  std::vector<std::pair<std::string, std::string>> chosen, rejected;
  chosen.reserve(triples.size());
  rejected.reserve(triples.size());
  for (const auto& [prompt, c, r] : triples) {
    chosen.emplace_back(prompt, c);
    rejected.emplace_back(prompt, r);
  }
  return DpoBatch{make_sft_batch(chosen, T), make_sft_batch(rejected, T)};
}

}  // namespace fedsim::models
