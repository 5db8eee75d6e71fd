// read_hf_text: a folder's tokenizer.json and chat family, checked against its config.json.
#include <filesystem>

#include "common/error.hpp"
#include "models/hf/hf.hpp"

namespace fedsim::models {

HfText read_hf_text(const std::string& dir, const ModelConfig& cfg) {
  HfText t;
  const std::string path = dir + "/tokenizer.json";
  if (!std::filesystem::exists(path)) {
    t.why = path + ": missing; a model folder needs its tokenizer.json to turn text into ids (a SentencePiece "
                   "tokenizer.model alone is not read)\nHINT: `fedsim model init --tokenizer FILE` writes one";
    return t;
  }
  t.tokenizer = load_tokenizer_json(path);
  if (t.tokenizer->vocab_size() > cfg.vocab_size)
    throw UserError(path + ": " + std::to_string(t.tokenizer->vocab_size()) + " token ids, more than the " +
                    std::to_string(cfg.vocab_size) + " rows of the model's embedding (" + dir +
                    "/config.json: vocab_size " + std::to_string(cfg.vocab_size) +
                    ")\nHINT: the tokenizer and the weights must come from the same model");
  t.family = chat_family(*t.tokenizer, read_config_chat_template(path), cfg.arch == Arch::qwen3);
  return t;
}

}  // namespace fedsim::models
