// Config section `u2s` (FedIT-U2S generator job; sim/u2s/README.md). Keys are declared in
// visit_u2s (u2s_config.cpp).
#pragma once

#include <string>

#include "sim/config_schema.hpp"

namespace fedsim::sim {

struct U2sSection {
  bool enabled() const { return mode != "off"; }
  std::string mode = "off";  // off | on
};

void visit_u2s(U2sSection& s, Visitor& v);

}  // namespace fedsim::sim
