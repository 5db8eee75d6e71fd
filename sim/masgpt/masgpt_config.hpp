// Config section `masgpt` (MAS-GPT generator job; sim/masgpt/README.md). Keys are declared in
// visit_masgpt (masgpt_config.cpp).
#pragma once

#include <string>

#include "sim/config_schema.hpp"

namespace fedsim::sim {

struct MasgptSection {
  bool enabled() const { return mode != "off"; }
  std::string mode = "off";  // off | on
};

void visit_masgpt(MasgptSection& s, Visitor& v);

}  // namespace fedsim::sim
