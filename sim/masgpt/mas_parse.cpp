// MAS text: strict parser, validator, canonical printer (FORMAT.md).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>
#include <sstream>

#include "common/schema.hpp"
#include "sim/masgpt/mas.hpp"

namespace fedsim::sim::masgpt {

MasError::MasError(Kind kind, int line, const std::string& msg)
    : std::runtime_error((line > 0 ? "line " + std::to_string(line) + ": " : std::string()) + msg),
      kind_(kind),
      line_(line) {}

int Mas::calls() const {
  int n = 0;
  for (const Agent& a : agents) n += a.copies;
  return n;
}

int Mas::agent_index(const std::string& name) const {
  for (size_t i = 0; i < agents.size(); ++i)
    if (agents[i].name == name) return static_cast<int>(i);
  return -1;
}

namespace {

using Kind = MasError::Kind;

[[noreturn]] void bad(int line, const std::string& msg) { throw MasError(Kind::malformed, line, msg); }
[[noreturn]] void over(int line, const std::string& msg) { throw MasError(Kind::over_limits, line, msg); }

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 12 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 6 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int parse_int(const std::string& v, const std::string& key, int line) {
  if (!all_digits(v)) bad(line, key + "='" + v + "' is not a whole number; accepted: digits, e.g. " + key + "=4");
  return std::stoi(v);
}

// Decimal without exponent: digits[.digits]. Strict so that generated text cannot smuggle in
// "nan", "1e9" or hex floats.
double parse_decimal(const std::string& v, const std::string& key, int line) {
  const size_t dot = v.find('.');
  const std::string ip = v.substr(0, dot), fp = dot == std::string::npos ? "1" : v.substr(dot + 1);
  if (!all_digits(ip) || !all_digits(fp) || fp.size() > 2)
    bad(line, key + "='" + v + "' is not a decimal with at most two decimals; accepted: e.g. t=0.7");
  return std::stod(v);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && s[a] == ' ') ++a;
  while (b > a && s[b - 1] == ' ') --b;
  return s.substr(a, b - a);
}

std::string fmt_decimal(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

Agent parse_agent(const std::string& line_text, int line, const MasLimits& lim) {
  const size_t colon = line_text.find(':');
  if (colon == std::string::npos) bad(line, "agent line has no ':' before its instruction; accepted: agent NAME [xN] [t=T] [k=K] [n=N] [from=A,B] : INSTRUCTION");
  Agent a;
  a.instruction = trim(line_text.substr(colon + 1));
  if (a.instruction.empty()) bad(line, "empty instruction after ':'");
  if (static_cast<int>(a.instruction.size()) > lim.max_instruction_bytes)
    over(line, "instruction of " + std::to_string(a.instruction.size()) + " bytes; limit " + std::to_string(lim.max_instruction_bytes));
  if (a.instruction.find('|') != std::string::npos) bad(line, "'|' in an instruction (it separates inputs in prompts)");
  std::vector<std::string> words;
  for (const std::string& w : split(trim(line_text.substr(0, colon)), ' '))
    if (!w.empty()) words.push_back(w);
  if (words.size() < 2) bad(line, "agent without a name; accepted: agent NAME ...");
  a.name = words[1];
  std::set<std::string> seen;
  for (size_t i = 2; i < words.size(); ++i) {
    const std::string& w = words[i];
    const size_t eq = w.find('=');
    const std::string key = eq == std::string::npos ? (w[0] == 'x' ? "x" : w) : w.substr(0, eq);
    if (!seen.insert(key).second) bad(line, "'" + key + "' given twice");
    if (key == "x") {
      a.copies = parse_int(w.substr(1), "x", line);
      if (a.copies < 1) bad(line, "x0: an agent needs at least one copy");
      if (a.copies > lim.max_copies) over(line, "x" + std::to_string(a.copies) + " copies; limit " + std::to_string(lim.max_copies));
    } else if (key == "t") {
      a.temperature = parse_decimal(w.substr(eq + 1), "t", line);
      if (a.temperature > 2.0) bad(line, "t=" + w.substr(eq + 1) + " is above 2; accepted: 0 to 2");
    } else if (key == "k") {
      a.top_k = parse_int(w.substr(eq + 1), "k", line);
    } else if (key == "n") {
      a.max_new_tokens = parse_int(w.substr(eq + 1), "n", line);
      if (a.max_new_tokens < 1) bad(line, "n=0: an agent must be allowed at least one token");
      if (a.max_new_tokens > lim.max_new_tokens)
        over(line, "n=" + std::to_string(a.max_new_tokens) + " tokens; limit " + std::to_string(lim.max_new_tokens));
    } else if (key == "from") {
      a.inputs = split(w.substr(eq + 1), ',');
    } else {
      bad(line, "unknown field '" + w + "'; accepted: xN, t=, k=, n=, from=");
    }
  }
  return a;
}

void validate_lines(const Mas& m, const MasLimits& lim, const std::vector<int>& agent_line, int answer_line) {
  if (m.agents.empty()) bad(answer_line, "no agents; a MAS needs at least one agent line");
  if (static_cast<int>(m.agents.size()) > lim.max_agents)
    over(agent_line[static_cast<size_t>(lim.max_agents)], std::to_string(m.agents.size()) + " agents; limit " + std::to_string(lim.max_agents));
  std::set<std::string> defined;
  for (size_t i = 0; i < m.agents.size(); ++i) {
    const Agent& a = m.agents[i];
    const int line = agent_line[i];
    if (!valid_name(a.name) || a.name == "query" || a.name == "vote")
      bad(line, "bad agent name '" + a.name + "'; accepted: a-z then a-z, 0-9, _ (at most 12), not query or vote");
    if (defined.count(a.name)) bad(line, "agent '" + a.name + "' defined twice");
    std::set<std::string> ins;
    int fed = 0;
    for (const std::string& in : a.inputs) {
      if (!ins.insert(in).second) bad(line, "input '" + in + "' listed twice");
      if (in == "query") bad(line, "'query' in from=: every agent sees the query; from= lists agents only");
      if (in == a.name) bad(line, "agent '" + a.name + "' takes its own output");
      if (!defined.count(in)) bad(line, "input '" + in + "' is not an agent defined above; accepted: an earlier agent");
      fed += m.agents[static_cast<size_t>(m.agent_index(in))].copies;
    }
    if (fed > lim.max_inputs) over(line, "agent '" + a.name + "' receives " + std::to_string(fed) + " answers; limit " + std::to_string(lim.max_inputs));
    defined.insert(a.name);
  }
  if (m.answer.empty()) bad(answer_line, "no answer line; accepted: answer NAME or answer vote A,B");
  std::set<std::string> ans;
  for (const std::string& n : m.answer) {
    if (!defined.count(n)) bad(answer_line, "answer names '" + n + "', which is not an agent");
    if (!ans.insert(n).second) bad(answer_line, "'" + n + "' listed twice in the answer");
  }
  if (!m.vote && (m.answer.size() != 1 || m.agents[static_cast<size_t>(m.agent_index(m.answer[0]))].copies != 1))
    bad(answer_line, "answer without vote takes one agent with one copy; accepted: answer NAME or answer vote A,B");
  // Every agent must contribute to the answer: walk the wiring back from it.
  std::vector<bool> used(m.agents.size(), false);
  for (const std::string& n : m.answer) used[static_cast<size_t>(m.agent_index(n))] = true;
  for (size_t i = m.agents.size(); i-- > 0;)
    if (used[i])
      for (const std::string& in : m.agents[i].inputs) used[static_cast<size_t>(m.agent_index(in))] = true;
  for (size_t i = 0; i < m.agents.size(); ++i)
    if (!used[i]) bad(agent_line[i], "agent '" + m.agents[i].name + "' never reaches the answer");
  if (m.calls() > lim.max_calls)
    over(0, std::to_string(m.calls()) + " LLM calls; limit " + std::to_string(lim.max_calls));
}

}  // namespace

void validate_mas(const Mas& mas, const MasLimits& limits) {
  std::vector<int> lines;
  for (size_t i = 0; i < mas.agents.size(); ++i) lines.push_back(static_cast<int>(i) + 1);
  validate_lines(mas, limits, lines, static_cast<int>(mas.agents.size()) + 1);
}

void visit_limits(MasLimits& l, Visitor& v) {
  v.integer("max_agents", l.max_agents, 1, 64, "limit: agent lines in a MAS");
  v.integer("max_calls", l.max_calls, 6, 256, "limit: LLM calls of one MAS execution (>= 6, the fallback's)");
  v.integer("max_copies", l.max_copies, 5, 64, "limit: copies (xN) of one agent (>= 5, the fallback's)");
  v.integer("max_new_tokens", l.max_new_tokens, 32, 4096, "limit: n= of one agent (>= 32, the fallback's)");
  v.integer("max_inputs", l.max_inputs, 5, 64, "limit: answers one agent receives (>= 5, the fallback's)");
  v.integer("max_text_bytes", l.max_text_bytes, 100, 100000, "limit: bytes of MAS text");
}

Mas parse_mas(const std::string& text, const MasLimits& limits) {
  if (static_cast<int>(text.size()) > limits.max_text_bytes)
    over(0, std::to_string(text.size()) + " bytes of MAS text; limit " + std::to_string(limits.max_text_bytes));
  Mas m;
  std::vector<int> agent_line;
  int answer_line = 0, line = 0;
  for (std::string raw : split(text, '\n')) {
    ++line;
    for (char c : raw)
      if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126)
        bad(line, "byte " + std::to_string(static_cast<unsigned char>(c)) + " is not printable ASCII");
    const std::string l = trim(raw);
    if (l.empty() || l[0] == '#') continue;
    if (answer_line) bad(line, "text after the answer line; the answer line comes last");
    if (l.rfind("agent ", 0) == 0) {
      m.agents.push_back(parse_agent(l, line, limits));
      agent_line.push_back(line);
      if (static_cast<int>(m.agents.size()) > limits.max_agents)
        over(line, "more than " + std::to_string(limits.max_agents) + " agents");
    } else if (l.rfind("answer ", 0) == 0) {
      answer_line = line;
      std::string rest = trim(l.substr(7));
      if (rest.rfind("vote ", 0) == 0) {
        m.vote = true;
        rest = trim(rest.substr(5));
      }
      if (rest.find(' ') != std::string::npos) bad(line, "spaces inside the answer's list; accepted: answer vote a,b");
      m.answer = split(rest, ',');
    } else {
      bad(line, "unknown line '" + l.substr(0, 20) + "'; accepted: agent ..., answer ..., # comment");
    }
  }
  if (!answer_line) bad(line, "no answer line; accepted: answer NAME or answer vote A,B");
  validate_lines(m, limits, agent_line, answer_line);
  return m;
}

std::string to_text(const Mas& m) {
  std::ostringstream o;
  for (const Agent& a : m.agents) {
    o << "agent " << a.name;
    if (a.copies != 1) o << " x" << a.copies;
    if (a.temperature != 0.0) o << " t=" << fmt_decimal(a.temperature);
    if (a.top_k != 0) o << " k=" << a.top_k;
    if (a.max_new_tokens != 16) o << " n=" << a.max_new_tokens;
    if (!a.inputs.empty()) {
      o << " from=";
      for (size_t i = 0; i < a.inputs.size(); ++i) o << (i ? "," : "") << a.inputs[i];
    }
    o << " : " << a.instruction << "\n";
  }
  o << "answer " << (m.vote ? "vote " : "");
  for (size_t i = 0; i < m.answer.size(); ++i) o << (i ? "," : "") << m.answer[i];
  o << "\n";
  return o.str();
}

std::string extract_answer(const std::string& output) {
  const size_t p = output.rfind("=> ");
  return trim(p == std::string::npos ? output : output.substr(p + 3));
}

}  // namespace fedsim::sim::masgpt
