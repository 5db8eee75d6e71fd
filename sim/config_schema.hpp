// The config schema's visitor: every key is declared once, as a call on a Visitor (path, the
// field it fills, accepted values, a one-line doc). Loading, key listing, the resolved YAML and
// configs/reference.yaml are Visitor implementations in config.cpp. Sections that live with
// their feature (sim/u2s, sim/masgpt) declare their keys through the same interface.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <limits>
#include <memory>
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
  // A name from a list fixed elsewhere (presets of another layer).
  virtual void choice(const char* key, std::string& v, const std::vector<std::string>& accepted, const char* doc) = 0;
  // One of a fixed set of spellings, held as its index: an enum (option) or on/off (flag).
  virtual void option(const char* key, int& index, const std::vector<std::string>& names, const char* doc) = 0;
  virtual void list(const char* key, std::vector<std::string>& v, const std::vector<std::string>& accepted,
                    const char* doc) = 0;

  // An enum choice; names(E) (found by argument-dependent lookup) lists its spellings in order.
  template <class E>
  void pick(const char* key, E& v, const char* doc) {
    int i = static_cast<int>(v);
    option(key, i, names(v), doc);
    v = static_cast<E>(i);
  }
  // on | off (or off | on, as the key lists them), held as a bool.
  void flag(const char* key, bool& v, const char* doc, bool off_first = false) {
    static const std::vector<std::string> on_off{"on", "off"}, off_on{"off", "on"};
    int i = (v != off_first) ? 0 : 1;
    option(key, i, off_first ? off_on : on_off, doc);
    v = (i == 0) != off_first;
  }
};

// A config section that lives with its feature (sim/u2s, sim/masgpt): the core config holds it
// behind this interface, so the core includes none of the features.
class ConfigSection {
 public:
  virtual ~ConfigSection() = default;
  virtual std::unique_ptr<ConfigSection> clone() const = 0;
  virtual void visit(Visitor& v) = 0;
};

// A section of type S whose keys `visit_keys` declares.
template <class S, void (*visit_keys)(S&, Visitor&)>
class SectionOf : public ConfigSection {
 public:
  S value;
  std::unique_ptr<ConfigSection> clone() const override { return std::make_unique<SectionOf>(*this); }
  void visit(Visitor& v) override { visit_keys(value, v); }
};

// The feature sections, in registration order (the order of reference.yaml); copies are deep.
class FeatureSections {
 public:
  FeatureSections();  // one default section of every registered feature
  FeatureSections(const FeatureSections& o) { *this = o; }
  FeatureSections& operator=(const FeatureSections& o);
  FeatureSections(FeatureSections&&) = default;
  FeatureSections& operator=(FeatureSections&&) = default;
  template <class Section>
  Section& get() {
    for (auto& s : items)
      if (auto* p = dynamic_cast<Section*>(s.get())) return *p;
    throw std::logic_error("config: feature section not registered (sim/generators/generators.cpp)");
  }
  std::vector<std::unique_ptr<ConfigSection>> items;
};

// The registered feature sections' factories: defined once, in sim/generators/generators.cpp
// (the one list of generators), so the core names no feature.
const std::vector<std::function<std::unique_ptr<ConfigSection>()>>& feature_section_factories();

// Defines names(E): an enum's YAML spellings in enum order (one table per enum, in a .cpp).
#define FEDSIM_ENUM_NAMES(E, ...)                           \
  const std::vector<std::string>& names(E) {                \
    static const std::vector<std::string> n{__VA_ARGS__};   \
    return n;                                               \
  }

// The YAML spelling of an enum value.
template <class E>
const std::string& name_of(E e) {
  return names(e)[static_cast<size_t>(e)];
}

}  // namespace fedsim::sim
