// Running the fedsim executable from a test (FEDSIM_BINARY, set by fedsim_add_test): exit code,
// stdout and stderr of one command.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace fedsim_cli {

struct Outcome {
  int code = -1;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  std::stringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

// `fedsim ARGS`, its output captured in STEM.out and STEM.err of the working folder.
inline Outcome run_fedsim(const std::string& args, const std::string& stem) {
  const char* bin = std::getenv("FEDSIM_BINARY");
  REQUIRE(bin != nullptr);
  const std::string cmd = std::string(bin) + " " + args + " >" + stem + ".out 2>" + stem + ".err";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(stem + ".out"), slurp(stem + ".err")};
}

}  // namespace fedsim_cli
