// Procedural task families with exact ground truth. Each is a small string function a tiny
// byte-level transformer can learn from a few thousand examples: the argument is a 3-6 letter
// lowercase word (or two numbers below 50), so every instruction fits in
// kSyntheticMaxInstructionBytes and every answer in kSyntheticMaxResponseBytes.
#include "synthetic_tasks.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "common/error.hpp"
#include "datasets/dataset.hpp"

namespace fedsim::datasets {
namespace detail {
namespace {

constexpr int kMinWord = 3, kMaxWord = 6;
constexpr int kMaxAddend = 49;  // two digits in, two digits out

enum class ArgKind { word, sum };

struct TaskFamily {
  const char* name;
  ArgKind arg;
  // Answer for a valid argument (a lowercase word, or "a+b" for ArgKind::sum).
  std::string (*solve)(const std::string& arg);
};

std::string solve_upper(const std::string& w) {
  std::string s = w;
  for (char& c : s) c = static_cast<char>(c - 'a' + 'A');
  return s;
}
std::string solve_reverse(const std::string& w) { return std::string(w.rbegin(), w.rend()); }
std::string solve_twice(const std::string& w) { return w + w; }
std::string solve_first(const std::string& w) { return w.substr(0, 1); }
std::string solve_last(const std::string& w) { return w.substr(w.size() - 1); }
std::string solve_length(const std::string& w) { return std::to_string(w.size()); }
std::string solve_sort(const std::string& w) {
  std::string s = w;
  std::sort(s.begin(), s.end());
  return s;
}
std::string solve_add(const std::string& arg) {
  const size_t plus = arg.find('+');
  return std::to_string(std::stol(arg.substr(0, plus)) + std::stol(arg.substr(plus + 1)));
}

// Order is part of the data (Sample::task indices, generated streams): append only.
const TaskFamily kFamilies[] = {
    {"upper", ArgKind::word, solve_upper}, {"reverse", ArgKind::word, solve_reverse},
    {"twice", ArgKind::word, solve_twice}, {"first", ArgKind::word, solve_first},
    {"last", ArgKind::word, solve_last},   {"length", ArgKind::word, solve_length},
    {"add", ArgKind::sum, solve_add},      {"sort", ArgKind::word, solve_sort},
};
constexpr int kNumFamilies = static_cast<int>(sizeof(kFamilies) / sizeof(kFamilies[0]));

bool is_word(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}
// 1-9 decimal digits: keeps std::stol and the sum far from overflow.
bool is_number(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
bool is_sum(const std::string& s) {
  const size_t plus = s.find('+');
  return plus != std::string::npos && is_number(s.substr(0, plus)) && is_number(s.substr(plus + 1));
}

std::string random_word(Rng& rng) {
  std::string w(static_cast<size_t>(rng.range(kMinWord, kMaxWord)), 'a');
  for (char& c : w) c = static_cast<char>('a' + rng.below(26));
  return w;
}

}  // namespace

int n_task_families() { return kNumFamilies; }
const char* task_family_name(int family) {
  FEDSIM_ASSERT(family >= 0 && family < kNumFamilies);
  return kFamilies[family].name;
}
int find_task_family(const std::string& name) {
  for (int i = 0; i < kNumFamilies; ++i)
    if (name == kFamilies[i].name) return i;
  return -1;
}

TaskInstance make_task_instance(int family, Rng& rng) {
  FEDSIM_ASSERT(family >= 0 && family < kNumFamilies);
  const TaskFamily& f = kFamilies[family];
  std::string arg;
  if (f.arg == ArgKind::word) {
    arg = random_word(rng);
  } else {
    const int64_t a = rng.range(0, kMaxAddend);
    const int64_t b = rng.range(0, kMaxAddend);
    arg = std::to_string(a) + "+" + std::to_string(b);
  }
  TaskInstance t{std::string(f.name) + ": " + arg, f.solve(arg)};
  FEDSIM_ASSERT(t.instruction.size() <= kSyntheticMaxInstructionBytes);
  FEDSIM_ASSERT(t.answer.size() <= kSyntheticMaxResponseBytes);
  return t;
}

}  // namespace detail

std::vector<std::string> synthetic_task_names() {
  std::vector<std::string> names;
  for (int i = 0; i < detail::n_task_families(); ++i) names.emplace_back(detail::task_family_name(i));
  return names;
}

std::string solve_task(const std::string& task, const std::string& instruction) {
  const int family = detail::find_task_family(task);
  if (family < 0) {
    std::string accepted;
    for (const auto& n : synthetic_task_names()) accepted += (accepted.empty() ? "" : ", ") + n;
    throw UserError("unknown synthetic task '" + task + "'; accepted: " + accepted);
  }
  const std::string prefix = task + ": ";
  const detail::TaskFamily& f = detail::kFamilies[family];
  const bool sum = f.arg == detail::ArgKind::sum;
  const std::string arg = instruction.compare(0, prefix.size(), prefix) == 0 ? instruction.substr(prefix.size()) : "";
  if (!(sum ? detail::is_sum(arg) : detail::is_word(arg)))
    throw UserError("instruction '" + instruction + "' is not a '" + task + "' task (expected '" + prefix +
                    (sum ? "<number>+<number>" : "<lowercase word>") + "')");
  return f.solve(arg);
}

}  // namespace fedsim::datasets
