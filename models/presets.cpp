// Named model sizes. vocab_size is the byte-level tokenizer's (264) in every preset.
#include <sstream>

#include "common/error.hpp"
#include "models/model.hpp"

namespace fedsim::models {

namespace {
ModelConfig make(const char* name, int T, int C, int L, int NH, int F) {
  ModelConfig c;
  c.preset = name;
  c.vocab_size = Tokenizer::vocab_size;
  c.max_seq = T;
  c.d_model = C;
  c.n_layers = L;
  c.n_heads = NH;
  c.d_ff = F;
  return c;
}
}  // namespace

std::vector<std::string> preset_names() { return {"nano", "tiny", "small", "gpt2-124m"}; }

ModelConfig preset_config(const std::string& name) {
  if (name == "nano") return make("nano", 32, 32, 1, 2, 128);  // unit tests
  if (name == "tiny") return make("tiny", 64, 64, 2, 4, 256);  // quickstart
  if (name == "small") return make("small", 256, 256, 6, 8, 1024);
  if (name == "gpt2-124m") return make("gpt2-124m", 1024, 768, 12, 12, 3072);  // GPT-2 small shapes
  std::ostringstream os;
  os << "model.preset: unknown preset '" << name << "'; accepted: ";
  const auto names = preset_names();
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
  throw UserError(os.str());
}

}  // namespace fedsim::models
