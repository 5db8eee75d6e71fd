// YAML config loader (sim/config.cpp). Input: YAML text, then optionally NUL-separated `--set`
// overrides. A config that loads must print (to_yaml) to YAML that loads to the same config:
// results files and checkpoints keep the resolved YAML and are re-read from it.
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "sim/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string yaml = in.substr(0, nul);
  std::vector<std::string> overrides;
  for (size_t at = nul; at != std::string::npos && at < in.size();) {
    const size_t next = in.find('\0', at + 1);
    overrides.push_back(in.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1));
    at = next;
  }
  fedsim::sim::ExperimentConfig c;
  const bool ok = fedsim::fuzz::expect_user_error_only([&] { c = fedsim::sim::parse_config(yaml, "fuzz.yaml", overrides); });
  if (!ok) return 0;
  const std::string resolved = fedsim::sim::to_yaml(c);
  fedsim::sim::ExperimentConfig again;
  try {
    again = fedsim::sim::parse_config(resolved, "resolved.yaml", {});
  } catch (const fedsim::UserError& e) {
    // Cross-field checks look at the file system (data.path, traces), which can change
    // between the two loads only if another process races us; anything else is a bug.
    throw fedsim::InternalError(std::string("resolved config does not load: ") + e.what() + "\n" + resolved);
  }
  if (fedsim::sim::to_yaml(again) != resolved)
    throw fedsim::InternalError("resolved config does not round-trip:\n" + resolved + "\n---\n" + fedsim::sim::to_yaml(again));
  return 0;
}
