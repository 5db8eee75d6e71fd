#include "sim/u2s/u2s_config.hpp"

namespace fedsim::sim {

void visit_u2s(U2sSection& s, Visitor& v) {
  static const std::vector<std::string> kModes{"off", "on"};
  v.section("u2s", "FedIT-U2S: clients turn their own raw text into instruction data (sim/u2s/README.md)");
  v.choice("mode", s.mode, kModes, "on = every client runs a U2S generation job before training");
}

}  // namespace fedsim::sim
