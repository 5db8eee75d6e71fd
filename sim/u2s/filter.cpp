#include <algorithm>
#include <cctype>

#include "sim/u2s/u2s.hpp"

namespace fedsim::sim::u2s {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

Verdict drop(Drop why) {
  Verdict v;
  v.why = why;
  return v;
}

}  // namespace

const char* drop_name(Drop d) {
  switch (d) {
    case Drop::error: return "error";
    case Drop::timeout: return "timeout";
    case Drop::format: return "format";
    case Drop::length: return "length";
    case Drop::duplicate: return "duplicate";
    case Drop::ungrounded: return "ungrounded";
    case Drop::incorrect: return "incorrect";
    case Drop::unverifiable: return "unverifiable";
    case Drop::kCount: break;
  }
  return "?";
}

Verdict judge(const llm::Result& r, const std::string& piece, const FilterSpec& f,
              const std::map<std::string, std::string>* truth) {
  if (!r.ok) return drop(r.error.find("timeout") != std::string::npos || r.error.find("timed out") != std::string::npos
                             ? Drop::timeout
                             : Drop::error);
  const std::string text = trim(r.text);
  // "Q:<q>\nA:<a>": the question on the first line, the answer on the line after it.
  if (text.rfind("Q:", 0) != 0) return drop(Drop::format);
  const size_t a = text.find("\nA:");
  if (a == std::string::npos) return drop(Drop::format);
  Verdict v;
  v.instruction = trim(text.substr(2, a - 2));
  std::string ans = text.substr(a + 3);
  const size_t nl = ans.find('\n');
  if (nl != std::string::npos) ans.resize(nl);
  v.response = trim(ans);
  if (v.instruction.empty() || v.response.empty() || v.instruction.find('\n') != std::string::npos) return drop(Drop::format);
  if (v.instruction.size() < f.min_question || v.instruction.size() > f.max_question || v.response.size() < f.min_answer ||
      v.response.size() > f.max_answer)
    return drop(Drop::length);
  if (f.require_grounded && piece.find(v.response) == std::string::npos) return drop(Drop::ungrounded);
  if (truth) {
    const auto it = truth->find(v.instruction);
    if (it == truth->end()) return drop(Drop::unverifiable);
    if (it->second != v.response) return drop(Drop::incorrect);
  }
  v.keep = true;
  return v;
}

}  // namespace fedsim::sim::u2s
