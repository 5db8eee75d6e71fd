#include "sim/eval/judge_cache.hpp"

#include <cstdio>
#include <filesystem>

#include "common/h5.hpp"

namespace fedsim::sim::eval {
namespace {
constexpr const char* kKind = "fedsim-judge-cache";
constexpr int64_t kVersion = 1;
}  // namespace

JudgmentCache::JudgmentCache(std::string path) : path_(std::move(path)) {
  if (!std::filesystem::exists(path_)) return;
  const h5::File f = h5::File::open_read(path_);
  h5::check_format(f, kKind, kVersion);
  const h5::Group r = f.root();
  const std::vector<std::string> model = r.read_strings("model");
  const size_t n = model.size();
  const auto system = h5::read_string_column(r, "system", n), user = h5::read_string_column(r, "user", n),
             reply = h5::read_string_column(r, "reply", n);
  const auto temperature = h5::read_column<double>(r, "temperature", n);
  const auto max_tokens = h5::read_column<int64_t>(r, "max_tokens", n);
  for (size_t i = 0; i < n; ++i) put({model[i], system[i], user[i], temperature[i], max_tokens[i]}, reply[i]);
  dirty_ = false;
}

std::string JudgmentCache::index_key(const JudgeKey& k) {
  // Length-prefixed fields, so no text can make two keys collide.
  char num[64];
  std::snprintf(num, sizeof num, "%.17g|%lld|", k.temperature, static_cast<long long>(k.max_tokens));
  std::string s = num;
  for (const std::string* f : {&k.model, &k.system, &k.user}) s += std::to_string(f->size()) + ":" + *f;
  return s;
}

const std::string* JudgmentCache::find(const JudgeKey& k) const {
  const auto it = index_.find(index_key(k));
  return it == index_.end() ? nullptr : &replies_[it->second];
}

void JudgmentCache::put(const JudgeKey& k, const std::string& reply) {
  const auto [it, fresh] = index_.emplace(index_key(k), replies_.size());
  if (!fresh) {
    if (replies_[it->second] == reply) return;
    replies_[it->second] = reply;
  } else {
    keys_.push_back(k);
    replies_.push_back(reply);
  }
  dirty_ = true;
}

void JudgmentCache::save() {
  if (path_.empty() || !dirty_) return;
  std::vector<std::string> model, system, user;
  std::vector<double> temperature;
  std::vector<int64_t> max_tokens;
  for (const JudgeKey& k : keys_) {
    model.push_back(k.model);
    system.push_back(k.system);
    user.push_back(k.user);
    temperature.push_back(k.temperature);
    max_tokens.push_back(k.max_tokens);
  }
  h5::AtomicFile out(path_);
  const h5::Group r = out.root();
  h5::set_format(r, kKind, kVersion);
  r.write_strings("model", model);
  r.write_strings("system", system);
  r.write_strings("user", user);
  r.write_strings("reply", replies_);
  r.write("temperature", temperature);
  r.write("max_tokens", max_tokens);
  out.commit();
  dirty_ = false;
}

}  // namespace fedsim::sim::eval
