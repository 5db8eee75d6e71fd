// A rule-based LLM for the MAS-GPT tests: its answers are known, so every number is exact.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "sim/llm/backend.hpp"
#include "sim/masgpt/executor.hpp"

namespace fedsim::test {

// Parses "<role> <family>: <arg> | c1 | c2 ...". solve/think answer right unless the argument
// starts with 'z' ("zzz..." queries are the hard ones); check says ok/no; fix and pick return the
// majority of their candidates. Fails every request whose role is in `fail_roles`.
class FakeLlm : public fedsim::sim::llm::Backend {
 public:
  std::string fail_roles;
  std::string solve_blind;  // a family whose solve answers are wrong (think stays right)
  int64_t requests = 0;
  std::string name() const override { return "fake"; }
  std::vector<fedsim::sim::llm::Result> generate(const std::vector<fedsim::sim::llm::Request>& reqs) override {
    std::vector<fedsim::sim::llm::Result> out;
    for (const fedsim::sim::llm::Request& r : reqs) {
      ++requests;
      fedsim::sim::llm::Result res;
      res.prompt_tokens = static_cast<int64_t>(r.prompt.size()) + 3;
      const std::string role = r.prompt.substr(0, r.prompt.find(' '));
      std::vector<std::string> parts;
      std::string rest = r.prompt.substr(role.size() + 1);
      for (size_t p; (p = rest.find(" | ")) != std::string::npos; rest = rest.substr(p + 3)) parts.push_back(rest.substr(0, p));
      parts.push_back(rest);
      const std::string query = parts[0];
      const std::string family = query.substr(0, query.find(':'));
      const std::string arg = query.substr(query.find(": ") + 2);
      const std::string truth = fedsim::datasets::solve_task(family, query);
      const std::string guess = arg[0] == 'z' ? "wrong" : truth;
      if (fail_roles.find(role) != std::string::npos) {
        res.error = "HTTP 500";
        out.push_back(res);
        continue;
      }
      res.ok = true;
      if (role == "solve") res.text = family == solve_blind ? "wrong" : guess;
      if (role == "think") res.text = arg + " => " + guess;
      if (role == "check") res.text = parts.size() > 1 && parts[1] == truth ? "ok" : "no";
      if (role == "fix" || role == "pick") res.text = fedsim::sim::masgpt::majority(std::vector<std::string>(parts.begin() + 1, parts.end()));
      res.completion_tokens = static_cast<int64_t>(res.text.size()) + 1;
      out.push_back(res);
    }
    return out;
  }
};

}  // namespace fedsim::test
