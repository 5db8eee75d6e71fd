// The config schema's visitor: every key is declared once, as a call on a Visitor (path, the
// field it fills, accepted values, a one-line doc). Loading, key listing, the resolved YAML and
// configs/reference.yaml are Visitor implementations in config.cpp. Sections that live with
// their feature (sim/u2s, sim/masgpt) declare their keys through the same interface.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fedsim::sim {

inline constexpr int64_t kConfigMaxInt = std::numeric_limits<int64_t>::max();
inline constexpr double kConfigHuge = 1e300;  // "no upper bound" for numbers

struct Visitor {
  virtual ~Visitor() = default;
  virtual void section(const char* name, const char* doc) = 0;
  virtual void integer(const char* key, int64_t& v, int64_t lo, int64_t hi, const char* doc) = 0;
  virtual void number(const char* key, double& v, double lo, double hi, const char* doc) = 0;
  virtual void text(const char* key, std::string& v, const char* doc) = 0;
  virtual void choice(const char* key, std::string& v, const std::vector<std::string>& accepted, const char* doc) = 0;
  virtual void list(const char* key, std::vector<std::string>& v, const std::vector<std::string>& accepted,
                    const char* doc) = 0;
};

}  // namespace fedsim::sim
