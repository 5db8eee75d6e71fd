// Small helpers shared by the evaluation tests: sample paths, scratch files, error text.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.hpp"

namespace fedsim::test {

inline std::string sample(const std::string& name) { return std::string(FEDSIM_EVAL_SAMPLES) + "/" + name; }

inline std::string scratch_file(const std::string& name, const std::string& text) {
  std::filesystem::create_directories(FEDSIM_TEST_TMP_DIR);
  const std::string p = std::string(FEDSIM_TEST_TMP_DIR) + "/" + name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

// The UserError message `f` throws, or "(no error)".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const fedsim::UserError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace fedsim::test
