// Training batches for any tokenizer and chat template: conversations -> token ids with a loss
// mask -> the Batch / DpoBatch rows of models/model.hpp. No Kokkos.
#pragma once

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "models/model.hpp"
#include "models/text/chat_template.hpp"
#include "models/text/tokenizer.hpp"

namespace fedsim::models {

// A conversation as ids; target[k] != 0 where the loss covers token k.
struct TokenizedConversation {
  std::vector<int32_t> ids;
  std::vector<uint8_t> target;
};

// The template's pieces encoded in order: consecutive text pieces as one text (so merges and
// the normalizer see what Hugging Face sees when it encodes the whole string; added tokens
// written in the text are split out as there), special pieces as their ids, the tokenizer's
// post-processor tokens around it all where the template asks for them. A token is a target
// when it covers any byte of a target piece: a token that starts in the template's text and
// runs into the answer (" Hello" after "ASSISTANT:") is trained, as upstream's masks train it.
// UserError if the conversation does not fit the template or a token it needs is missing.
TokenizedConversation tokenize_conversation(const TextTokenizer& tok, const ChatTemplate& t, const Conversation& c);

// The ids a model is given to answer `c` (which ends on a user turn): the template up to where
// the answer starts (no answer, no EOS).
std::vector<int32_t> tokenize_prompt(const TextTokenizer& tok, const ChatTemplate& t, const Conversation& c);

// Rows of T tokens, one per conversation: inputs are the conversation's first T ids, right-
// padded with tok.pad_id(); targets[b*T+t] is id t+1 when that token is a target, else -1.
// Cut to T as the template's Truncation says (upstream: a sequence longer than T loses its tail
// and its last position predicts nothing). UserError "sample k: ..." for a bad conversation.
Batch make_sft_batch(const TextTokenizer& tok, const ChatTemplate& t, const std::vector<Conversation>& convs, int T);
// Single-turn (instruction, response) pairs.
Batch make_sft_batch(const TextTokenizer& tok, const ChatTemplate& t,
                     const std::vector<std::pair<std::string, std::string>>& pairs, int T);
// (prompt, chosen, rejected): the conversations {prompt, chosen} and {prompt, rejected}.
DpoBatch make_dpo_batch(const TextTokenizer& tok, const ChatTemplate& t,
                        const std::vector<std::tuple<std::string, std::string, std::string>>& triples, int T);

// One exchange as a conversation.
Conversation exchange(const std::string& instruction, const std::string& response, const std::string& language = "");
// Turns human, assistant, human, ... (a last human turn is context only) as a conversation.
Conversation alternating(const std::vector<std::string>& turns, const std::string& language = "");

// UserError unless the tokenizer has every token the template writes (BOS, EOS, its named
// tokens): a one-exchange conversation is tokenized to find out.
void check_chat_template(const TextTokenizer& tok, const ChatTemplate& t);
// The ids that end an answer under the template: the tokenizer's EOS and the template's
// end-of-turn token (either may be absent).
std::vector<int32_t> stop_ids(const TextTokenizer& tok, const ChatTemplate& t);

}  // namespace fedsim::models
