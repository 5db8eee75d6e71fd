// Judge replies kept by what was asked, so a repeated or resumed evaluation does not pay for
// a judgment twice. The key is (judge model, system prompt, user prompt, temperature,
// max_tokens); the user prompt holds the question, the reference and the answer, so a new
// answer is a new key. Only replies the endpoint delivered are kept (failures are asked
// again); a reply with no rating is kept too, as upstream keeps it.
//
// File (HDF5, written atomically; format `fedsim-judge-cache` version 1): string columns
// `model`, `system`, `user`, `reply`, float64 `temperature`, int64 `max_tokens`, one row per
// judgment in insertion order.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace fedsim::sim::eval {

struct JudgeKey {
  std::string model, system, user;
  double temperature = 0.0;
  int64_t max_tokens = 0;
};

class JudgmentCache {
 public:
  JudgmentCache() = default;  // in memory only
  // Backed by `path`: loaded when the file exists (UserError naming it when it is not a judge
  // cache of this version or its columns disagree), written by save().
  explicit JudgmentCache(std::string path);

  const std::string* find(const JudgeKey& k) const;  // nullptr when absent
  void put(const JudgeKey& k, const std::string& reply);
  // Writes the file (temporary name, fsync, rename) if anything was added since the last save;
  // nothing without a path.
  void save();
  size_t size() const { return replies_.size(); }
  const std::string& path() const { return path_; }

 private:
  static std::string index_key(const JudgeKey& k);
  std::string path_;
  std::vector<JudgeKey> keys_;
  std::vector<std::string> replies_;
  std::unordered_map<std::string, size_t> index_;
  bool dirty_ = false;
};

}  // namespace fedsim::sim::eval
