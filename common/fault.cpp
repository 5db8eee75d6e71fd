#include "common/fault.hpp"

#include <cstdlib>
#include <string>

#include "common/error.hpp"

namespace fedsim {

const FaultPlan& FaultPlan::get() {
  static const FaultPlan plan = [] {
    FaultPlan p;
    const char* env = std::getenv("FEDSIM_FAULT");
    if (!env || !*env) return p;
    const std::string s = env;
    const size_t eq = s.find('=');
    const std::string key = s.substr(0, eq);
    char* end = nullptr;
    const long long n = eq == std::string::npos ? -1 : std::strtoll(s.c_str() + eq + 1, &end, 10);
    const bool number = eq != std::string::npos && end && *end == '\0' && n > 0;
    if (number && key == "kill_after_events") p.kill_after_events = n;
    else if (number && key == "kill_in_checkpoint") p.kill_in_checkpoint = n;
    else if (number && key == "term_after_events") p.term_after_events = n;
    else if (number && key == "disk_full_at") p.disk_full_at = n;
    else
      throw UserError("FEDSIM_FAULT: '" + s +
                      "' is not accepted; accepted: kill_after_events=N, kill_in_checkpoint=N, term_after_events=N, "
                      "disk_full_at=N (N >= 1)");
    return p;
  }();
  return plan;
}

}  // namespace fedsim
