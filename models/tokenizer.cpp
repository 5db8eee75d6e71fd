// The SFT and DPO batch layouts of model.hpp: the "fedsim-bytes" chat template through the
// generic batch builder (models/text/batch.hpp): BOS INST <instruction> RESP <response> EOS,
// targets on the response bytes and EOS, position T-1 may predict token T
// (Truncation::next_token). Tokenizer::encode / decode live in models/text/byte_tokenizer.cpp.
#include "models/model.hpp"
#include "models/text/batch.hpp"

namespace fedsim::models {

Batch make_sft_batch(const std::vector<std::pair<std::string, std::string>>& pairs, int T) {
  return make_sft_batch(*byte_tokenizer(), chat_template("fedsim-bytes"), pairs, T);
}

DpoBatch make_dpo_batch(const std::vector<std::tuple<std::string, std::string, std::string>>& triples, int T) {
  return make_dpo_batch(*byte_tokenizer(), chat_template("fedsim-bytes"), triples, T);
}

}  // namespace fedsim::models
