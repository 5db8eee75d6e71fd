// Multi-turn batches for the byte-level tokenizer: whole conversations, every assistant turn a
// target, the human turns masked (the training layout of FedLLM-Bench's multi-turn run, which
// follows FastChat's vicuna template: data_module.py, preprocess).
#pragma once

#include <string>
#include <vector>

#include "models/model.hpp"

namespace fedsim::models {

// A conversation is its turns in order: human, gpt, human, gpt, ... A last human turn with no
// reply (odd count) is allowed; it is context only.
//
// Layout: BOS, then per turn USER <human bytes> or ASSISTANT <gpt bytes> EOS; right-padded with
// PAD to T. Targets: every gpt byte and the EOS that closes its turn (predicted from the
// position before), -1 elsewhere (BOS, markers, human bytes, padding). A conversation longer
// than T is cut to its first T tokens: turns past the cut are not seen, and only the part of
// an assistant turn inside the window is trained (upstream truncates at model_max_length the
// same way). As make_sft_batch, position T-1 may predict the token just past the window.
Batch make_conversation_batch(const std::vector<std::vector<std::string>>& conversations, int T);

}  // namespace fedsim::models
