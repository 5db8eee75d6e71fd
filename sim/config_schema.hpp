// Config sections: the Visitor every key is declared on (common/schema.hpp) and the sections that
// live with their feature (sim/u2s, sim/masgpt), which the core config holds without including
// them. Loading, key listing, the resolved YAML and configs/reference.yaml are Visitor
// implementations in config.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include "common/schema.hpp"

namespace fedsim::sim {

using fedsim::kConfigHuge;
using fedsim::kConfigMaxInt;
using fedsim::name_of;
using fedsim::parse_name;
using fedsim::Visitor;

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

}  // namespace fedsim::sim
