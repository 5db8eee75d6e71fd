// Sweep specs: parsing (every problem names the spec key) and expansion into points.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "sim/experiment.hpp"
#include "sim/sweep.hpp"
#include "sim/yaml_checks.hpp"

namespace fedsim::sim {
namespace {

const char* const kSpecKeys[] = {"name", "base", "set", "grid", "zip", "seeds", "point_name"};

// A value as `--set` text: scalars as written, lists and maps in YAML flow style.
std::string value_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The key must be a config key that a sweep may vary; `where` is the spec key path.
void check_config_key(const std::string& source, const std::string& where, const std::string& key) {
  const std::vector<std::string> keys = config_keys();
  if (key == "experiment.out" || key == "experiment.name")
    throw UserError(source + ": " + where + ": " + key +
                    " is set per point by the sweep; accepted: any other config key");
  if (key == "experiment.seed")
    throw UserError(source + ": " + where + ": vary experiment.seed with the top-level 'seeds' list");
  if (std::find(keys.begin(), keys.end(), key) != keys.end()) return;
  std::string best = keys.front();
  for (const auto& k : keys)
    if (edit_distance(key, k) < edit_distance(key, best)) best = k;
  throw UserError(source + ": " + where + ": unknown config key '" + key + "'; nearest valid key: " + best);
}

std::vector<SweepAxis> parse_axes(const YAML::Node& n, const std::string& source, const std::string& section) {
  std::vector<SweepAxis> axes;
  if (!n) return axes;
  if (!n.IsMap()) throw UserError(source + ": " + section + ": expected a map of config key -> list of values");
  for (const auto& kv : n) {
    SweepAxis a;
    a.key = kv.first.Scalar();
    const std::string where = section + "." + a.key;
    check_config_key(source, where, a.key);
    if (!kv.second.IsSequence() || kv.second.size() == 0)
      throw UserError(source + ": " + where + ": expected a non-empty list of values, got '" + value_text(kv.second) +
                      "'");
    for (const auto& v : kv.second) a.values.push_back(value_text(v));
    axes.push_back(std::move(a));
  }
  return axes;
}

// File-name-safe text: letters, digits and . + - = kept; list punctuation dropped or mapped.
std::string sanitize(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '+' || ch == '=')
      out += ch;
    else if (ch == ',')
      out += '+';
    else if (ch == '[' || ch == ']' || ch == ' ' || ch == '"' || ch == '\'')
      continue;
    else
      out += '-';
  }
  return out.empty() ? "empty" : out;
}

std::string short_key(const std::string& key) { return key.substr(key.rfind('.') + 1); }

std::string default_name(const std::vector<std::pair<std::string, std::string>>& params, bool full_keys) {
  std::string name;
  for (const auto& [k, v] : params)
    name += (name.empty() ? "" : "_") + (full_keys ? k : short_key(k)) + "=" + sanitize(v);
  return name;
}

std::string templated_name(const SweepSpec& s, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (size_t i = 0; i < s.point_name.size(); ++i) {
    if (s.point_name[i] != '{') {
      out += s.point_name[i];
      continue;
    }
    const size_t close = s.point_name.find('}', i);
    if (close == std::string::npos) throw UserError(s.source + ": point_name: unclosed '{' in '" + s.point_name + "'");
    const std::string key = s.point_name.substr(i + 1, close - i - 1);
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == key; });
    if (it == params.end()) {
      std::string accepted;
      for (const auto& p : params) accepted += (accepted.empty() ? "" : ", ") + p.first;
      throw UserError(s.source + ": point_name: {" + key + "} is not a swept key; accepted: " + accepted);
    }
    out += sanitize(it->second);
    i = close;
  }
  return out;
}

}  // namespace

SweepSpec parse_sweep_spec(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UserError(source + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw UserError(source + ": expected a map with keys base, grid, zip, seeds, ...");
  check_duplicate_keys(root, source);
  SweepSpec s;
  s.source = source;
  s.text = yaml_text;
  for (const auto& kv : root) {
    const std::string k = kv.first.Scalar();
    if (std::find(std::begin(kSpecKeys), std::end(kSpecKeys), k) == std::end(kSpecKeys))
      throw UserError(source + ": unknown key '" + k + "'; accepted: name, base, set, grid, zip, seeds, point_name");
  }
  const std::filesystem::path dir = std::filesystem::path(source).parent_path();
  if (!root["base"] || !root["base"].IsScalar() || root["base"].Scalar().empty())
    throw UserError(source + ": base: missing; accepted: the path of a config file (relative to the spec's folder)");
  const std::filesystem::path base = root["base"].Scalar();
  s.base = base.is_absolute() ? base.string() : (dir / base).lexically_normal().string();
  if (!std::filesystem::exists(s.base)) throw UserError(source + ": base: " + s.base + ": no such file");
  s.name = root["name"] ? root["name"].Scalar() : std::filesystem::path(source).stem().string();
  if (s.name.empty() || sanitize(s.name) != s.name)
    throw UserError(source + ": name: '" + s.name + "' is not file-name safe; accepted: letters, digits, . + - =");
  if (const YAML::Node set = root["set"]) {
    if (!set.IsMap()) throw UserError(source + ": set: expected a map of config key -> value");
    for (const auto& kv : set) {
      check_config_key(source, "set." + kv.first.Scalar(), kv.first.Scalar());
      s.set.push_back(kv.first.Scalar() + "=" + value_text(kv.second));
    }
  }
  s.grid = parse_axes(root["grid"], source, "grid");
  s.zip = parse_axes(root["zip"], source, "zip");
  for (const auto& a : s.zip)
    if (a.values.size() != s.zip.front().values.size())
      throw UserError(source + ": zip." + a.key + ": " + std::to_string(a.values.size()) + " values, but zip." +
                      s.zip.front().key + " has " + std::to_string(s.zip.front().values.size()) +
                      "; accepted: lists of equal length");
  std::set<std::string> seen;
  for (const auto& sv : s.set) seen.insert(sv.substr(0, sv.find('=')));
  for (const auto* axes : {&s.grid, &s.zip})
    for (const auto& a : *axes)
      if (!seen.insert(a.key).second)
        throw UserError(source + ": " + (axes == &s.grid ? "grid." : "zip.") + a.key +
                        ": key given twice (in set, grid or zip)");
  if (const YAML::Node seeds = root["seeds"]) {
    if (!seeds.IsSequence() || seeds.size() == 0)
      throw UserError(source + ": seeds: expected a non-empty list of integers");
    for (const auto& v : seeds) {
      try {
        s.seeds.push_back(v.as<int64_t>());
      } catch (const YAML::Exception&) {
        throw UserError(source + ": seeds: expected integers, got '" + value_text(v) + "'");
      }
      if (s.seeds.back() < 0)
        throw UserError(source + ": seeds: " + value_text(v) + " is negative; accepted: 0 or more");
    }
  }
  if (root["point_name"]) s.point_name = root["point_name"].Scalar();
  return s;
}

SweepSpec load_sweep_spec(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw UserError(path + ": is not a regular file; expected a YAML sweep spec");
  std::ifstream is(path);
  if (!is) throw UserError(path + ": cannot read sweep spec (no such file or not readable)");
  std::stringstream ss;
  ss << is.rdbuf();
  return parse_sweep_spec(ss.str(), path);
}

std::string point_file(const std::string& out_dir, const SweepPoint& p) {
  return (std::filesystem::path(out_dir) / (p.name + ".h5")).string();
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& s, const std::string& out_dir) {
  // Parameter lists of every point: grid (odometer, last axis fastest), zip, seeds.
  std::vector<std::vector<std::pair<std::string, std::string>>> all{{}};
  auto extend = [&all](const std::vector<std::vector<std::pair<std::string, std::string>>>& choices) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& prefix : all)
      for (const auto& c : choices) {
        next.push_back(prefix);
        next.back().insert(next.back().end(), c.begin(), c.end());
      }
    all = std::move(next);
  };
  for (const auto& a : s.grid) {
    std::vector<std::vector<std::pair<std::string, std::string>>> choices;
    for (const auto& v : a.values) choices.push_back({{a.key, v}});
    extend(choices);
  }
  if (!s.zip.empty()) {
    std::vector<std::vector<std::pair<std::string, std::string>>> choices(s.zip.front().values.size());
    for (size_t i = 0; i < choices.size(); ++i)
      for (const auto& a : s.zip) choices[i].push_back({a.key, a.values[i]});
    extend(choices);
  }
  if (!s.seeds.empty()) {
    std::vector<std::vector<std::pair<std::string, std::string>>> choices;
    for (int64_t seed : s.seeds) choices.push_back({{"experiment.seed", std::to_string(seed)}});
    extend(choices);
  }

  std::set<std::string> shorts;
  size_t n_keys = all.front().size();
  for (const auto& p : all.front()) shorts.insert(short_key(p.first));
  const bool full_keys = shorts.size() != n_keys;

  std::vector<SweepPoint> points;
  std::set<std::string> names;
  for (const auto& params : all) {
    SweepPoint p;
    p.params = params;
    p.name = !s.point_name.empty() ? templated_name(s, params)
             : params.empty()      ? s.name
                                   : default_name(params, full_keys);
    if (!names.insert(p.name).second)
      throw UserError(s.source + ": point_name: two points are both named '" + p.name +
                      "'; accepted: a template that names every swept key, e.g. {" +
                      (params.empty() ? std::string("key") : params.back().first) + "}");
    std::vector<std::string> overrides = s.set;
    for (const auto& [k, v] : params) overrides.push_back(k + "=" + v);
    overrides.push_back("experiment.name=" + p.name);
    overrides.push_back("experiment.out=" + point_file(out_dir, p));
    try {
      p.config = load_config(s.base, overrides);
      validate_experiment(p.config);
    } catch (const UserError& e) {
      throw UserError(s.source + ": point " + p.name + ": " + e.what());
    }
    points.push_back(std::move(p));
  }
  return points;
}

}  // namespace fedsim::sim
