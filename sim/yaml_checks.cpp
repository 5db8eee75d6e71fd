#include "sim/yaml_checks.hpp"

#include <map>

#include "common/error.hpp"

namespace fedsim::sim {
namespace {

void check_node(const YAML::Node& n, const std::string& source, const std::string& path, int depth) {
  if (depth > 64) return;  // the parser bounds nesting; a check need not go deeper than configs do
  if (n.IsSequence()) {
    size_t i = 0;
    for (const auto& item : n) check_node(item, source, path + "[" + std::to_string(i++) + "]", depth + 1);
    return;
  }
  if (!n.IsMap()) return;
  std::map<std::string, int> first_line;  // key -> 1-based line of its first entry
  for (const auto& kv : n) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    const std::string at = path.empty() ? key : path + "." + key;
    const int line = kv.first.Mark().line + 1;
    const auto [it, fresh] = first_line.emplace(key, line);
    if (!fresh)
      throw UserError(source + ": " + (path.empty() ? "section" : "key") + " '" + at.substr(0, 200) +
                      "' appears twice (lines " + std::to_string(it->second) + " and " + std::to_string(line) +
                      "); each key may appear once");
    check_node(kv.second, source, at, depth + 1);
  }
}

}  // namespace

void check_duplicate_keys(const YAML::Node& root, const std::string& source) { check_node(root, source, "", 0); }

}  // namespace fedsim::sim
