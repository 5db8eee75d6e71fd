// Shared by the fuzz targets (tests/fuzz/README.md). A target feeds hostile bytes to one reader
// of user input: fedsim::UserError is the expected answer to bad input; any other exception,
// a crash, a sanitizer report, a hang or a huge allocation is a bug.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.hpp"

namespace fedsim::fuzz {

// Runs `f`; UserError is swallowed (bad input rejected cleanly), anything else escapes and
// aborts the fuzzer with the exception as the finding. Returns whether the input was accepted.
template <class F>
bool expect_user_error_only(F&& f) {
  try {
    f();
    return true;
  } catch (const UserError& e) {
    static const bool verbose = std::getenv("FEDSIM_FUZZ_VERBOSE") != nullptr;  // which checks fire
    if (verbose) std::fprintf(stderr, "UserError: %s\n", e.what());
    return false;
  }
}

// A scratch folder of this process (several fuzzers may run at once), removed at exit. Never
// destroyed itself: the exit handler must still see it.
inline const std::string& scratch_dir() {
  static const std::string* const dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    const std::filesystem::path p = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
                                    ("fedsim-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    auto* s = new std::string(p.string());
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return s;
  }();
  return *dir;
}

inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace fedsim::fuzz
