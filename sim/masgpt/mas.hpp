// A multi-agent system (MAS) as a small line-based text a model can generate and fedsim can
// execute safely: agents (role instruction, inputs, sampling settings), their wiring by name,
// and how the final answer is formed. The format is specified in sim/masgpt/FORMAT.md.
//
// parse_mas is strict: every problem is a MasError naming the line. Limits keep a generated MAS
// from asking for unbounded work: they are checked by the validator before anything runs.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fedsim {
struct Visitor;  // common/schema.hpp
}

namespace fedsim::sim::masgpt {

struct MasLimits {
  int max_agents = 8;        // agent lines
  int max_calls = 12;        // LLM calls of one execution (sum of copies)
  int max_copies = 8;        // xN of one agent line
  int max_new_tokens = 32;   // n= of one agent
  int max_inputs = 8;        // answers one agent receives from other agents
  int max_text_bytes = 600;  // the whole MAS text
  int max_instruction_bytes = 40;
};
// The config keys of the limits (section masgpt; max_instruction_bytes is the format's, fixed).
void visit_limits(MasLimits& l, Visitor& v);

struct Agent {
  std::string name;                  // [a-z][a-z0-9_]*, unique, not "query"
  int copies = 1;                    // xN: N independent calls with the same prompt
  double temperature = 0.0;          // t=
  int top_k = 0;                     // k= (0 = all tokens)
  int max_new_tokens = 16;           // n=
  std::vector<std::string> inputs;   // from=: earlier agents whose answers it receives (the query always)
  std::string instruction;           // after ':'
};

struct Mas {
  std::vector<Agent> agents;
  bool vote = false;                 // answer vote a,b: majority over all their outputs
  std::vector<std::string> answer;   // answer a (one agent, one copy) or the voted agents
  int calls() const;                 // LLM calls of one execution
  int agent_index(const std::string& name) const;  // -1 if none
};

// A syntax or limit problem; line() is 1-based (0 = the text as a whole).
class MasError : public std::runtime_error {
 public:
  enum class Kind { malformed, over_limits };
  MasError(Kind kind, int line, const std::string& msg);
  Kind kind() const { return kind_; }
  int line() const { return line_; }

 private:
  Kind kind_;
  int line_;
};

// Parses and validates (parse_mas calls validate_mas). Throws MasError.
Mas parse_mas(const std::string& text, const MasLimits& limits);
// Semantic checks on a parsed or hand-built MAS: names, wiring (inputs defined before use,
// every agent reaches the answer), answer form, and the limits.
void validate_mas(const Mas& mas, const MasLimits& limits);
// Canonical text: parse_mas(to_text(m)) == m. Defaults are left out to keep generated text short.
std::string to_text(const Mas& mas);

// How an agent's output becomes an answer: trimmed; a chain-of-thought output "<steps> => <answer>"
// gives the text after the last "=> ".
std::string extract_answer(const std::string& output);

}  // namespace fedsim::sim::masgpt
