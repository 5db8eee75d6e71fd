// The rule-based generator: fact-to-question rewriting with a cloze fallback, so U2S runs with no
// model at all. It reads only the piece (the text after "T:" in the prompt) and ignores the
// examples: it is the floor a learned generator should beat on open text and the reference on
// the synthetic corpus, whose sentences follow the shapes these rules invert.
#include <cctype>
#include <sstream>

#include "sim/u2s/u2s.hpp"

namespace fedsim::sim::u2s {
namespace {

std::vector<std::string> words_of(const std::string& s) {
  std::vector<std::string> w;
  std::istringstream is(s);
  for (std::string x; is >> x;) w.push_back(x);
  return w;
}

// Statements that are complete inside the piece: they end with '.' or '!' and start with an
// upper-case letter or a digit (a piece may begin in the middle of one). A question ('?') ends a
// sentence too but states no fact to ask about, so it is left out.
std::vector<std::string> complete_sentences(const std::string& piece) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < piece.size(); ++i) {
    const char ch = piece[i];
    if ((ch == '.' || ch == '!' || ch == '?') && (i + 1 == piece.size() || piece[i + 1] == ' ' || piece[i + 1] == '\n')) {
      size_t b = start;
      while (b < i && std::isspace(static_cast<unsigned char>(piece[b]))) ++b;
      if (b < i && (std::isupper(static_cast<unsigned char>(piece[b])) || std::isdigit(static_cast<unsigned char>(piece[b]))))
        if (ch != '?') out.push_back(piece.substr(b, i - b));  // without the end mark
      start = i + 1;
    }
  }
  return out;
}

// A subject that is a pronoun or quantifier does not make a self-contained question, nor does a
// sentence that starts with a conjunction (it continues the previous one).
bool vague_subject(const std::string& first_word) {
  static const char* const kVague[] = {"This", "That", "It", "There", "These", "Those", "More", "Many", "Some", "He",
                                       "She", "They", "We", "I", "You", "And", "But", "Or", "So", "Yet"};
  for (const char* v : kVague)
    if (first_word == v) return true;
  return false;
}

std::string rewrite(const std::string& s) {
  const std::vector<std::string> w = words_of(s);
  if (w.size() < 3 || vague_subject(w[0])) return "";
  // "<X> was <verbed> in <Y>" -> "When was <X> <verbed>?"
  const size_t was = s.find(" was ");
  if (was != std::string::npos) {
    const size_t in = s.find(" in ", was + 5);
    const std::string verbed = in == std::string::npos ? "" : s.substr(was + 5, in - was - 5);
    if (!verbed.empty() && verbed.find(' ') == std::string::npos)
      return format_pair("When was " + s.substr(0, was) + " " + verbed + "?", s.substr(in + 4));
  }
  // "<X> is <Y>" -> "What is <x>?" (split at the last " is ")
  const size_t is = s.rfind(" is ");
  if (is != std::string::npos && is > 0) {
    std::string x = s.substr(0, is);
    if (x.rfind("The ", 0) == 0) x[0] = 't';
    return format_pair("What is " + x + "?", s.substr(is + 4));
  }
  // "<X> <verb>s <Y>" with a one-word subject -> "What does <X> <verb>?"
  const std::string& verb = w[1];
  if (verb.size() > 2 && verb.back() == 's' && std::islower(static_cast<unsigned char>(verb[0]))) {
    std::string y;
    for (size_t i = 2; i < w.size(); ++i) y += (i > 2 ? " " : "") + w[i];
    return format_pair("What does " + w[0] + " " + verb.substr(0, verb.size() - 1) + "?", y);
  }
  // Cloze: the last word is the answer (without trailing punctuation, as in "decisions!!!!").
  std::string answer = w.back();
  while (!answer.empty() && std::ispunct(static_cast<unsigned char>(answer.back()))) answer.pop_back();
  if (answer.empty()) return "";
  std::string q = "Complete: ";
  for (size_t i = 0; i + 1 < w.size(); ++i) q += w[i] + " ";
  return format_pair(q + "___", answer);
}

class ExtractiveBackend : public llm::Backend {
 public:
  std::string name() const override { return "extractive"; }
  std::vector<llm::Result> generate(const std::vector<llm::Request>& requests) override {
    std::vector<llm::Result> out;
    for (const auto& r : requests) {
      llm::Result x;
      x.ok = true;
      x.text = extract_pair(piece_of_prompt(r.prompt));
      if (static_cast<int>(x.text.size()) > r.max_new_tokens) x.text.resize(static_cast<size_t>(r.max_new_tokens));
      x.prompt_tokens = static_cast<int64_t>(r.prompt.size()) + 3;
      x.completion_tokens = static_cast<int64_t>(x.text.size()) + 1;
      out.push_back(std::move(x));
    }
    return out;
  }
};

}  // namespace

std::string extract_pair(const std::string& piece) {
  // The first complete sentence a rule turns into a pair (fact rules before the cloze).
  std::string cloze;
  for (const auto& s : complete_sentences(piece)) {
    const std::string p = rewrite(s);
    if (p.empty()) continue;
    if (p.rfind("Q:Complete: ", 0) != 0) return p;
    if (cloze.empty()) cloze = p;
  }
  return cloze;
}

std::unique_ptr<llm::Backend> make_extractive_backend() { return std::make_unique<ExtractiveBackend>(); }

}  // namespace fedsim::sim::u2s
