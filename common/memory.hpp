// Process memory figures shared by the simulator's results and the benchmarks.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fedsim {

// Peak resident set size of the process so far (VmHWM of /proc/self/status), in MiB; 0 where
// /proc is missing.
inline double peak_rss_mb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0.0;
  char line[256];
  double kb = 0.0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::atof(line + 6);
  std::fclose(f);
  return kb / 1024.0;
}

}  // namespace fedsim
