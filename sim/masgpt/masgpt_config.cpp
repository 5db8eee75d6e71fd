#include "sim/masgpt/masgpt_config.hpp"

namespace fedsim::sim {

void visit_masgpt(MasgptSection& s, Visitor& v) {
  static const std::vector<std::string> kModes{"off", "on"};
  v.section("masgpt", "MAS-GPT: query-adaptive multi-agent systems generated and executed as jobs (sim/masgpt/README.md)");
  v.choice("mode", s.mode, kModes, "on = schedule MAS-GPT jobs in the simulation");
}

}  // namespace fedsim::sim
