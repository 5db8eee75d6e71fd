// Errors and invariants shared by every fedsim layer.
//
// UserError: something the user can fix (a config key, a file, a CLI argument). The CLI prints
// its message on one line and exits with code 2. Messages name the key or path, the bad value
// and what would be accepted.
// FEDSIM_ASSERT: an internal invariant; always on (never compiled out by NDEBUG), reports
// file:line and exits through std::logic_error so the CLI returns 1.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace fedsim {

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& what) : std::runtime_error(what) {}
};

class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& what) : std::logic_error(what) {}
};

[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::ostringstream os;
  os << "internal error: " << file << ":" << line << ": assertion `" << expr << "` failed";
  if (!msg.empty()) os << ": " << msg;
  throw InternalError(os.str());
}

}  // namespace fedsim

// Host-side invariant check; never compiled out. Keep side effects out of `cond`.
#define FEDSIM_ASSERT(cond) \
  do { if (!(cond)) ::fedsim::assert_fail(#cond, __FILE__, __LINE__, ""); } while (0)
#define FEDSIM_ASSERT_MSG(cond, msg)                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      std::ostringstream fedsim_assert_os_;                          \
      fedsim_assert_os_ << msg;                                      \
      ::fedsim::assert_fail(#cond, __FILE__, __LINE__, fedsim_assert_os_.str()); \
    }                                                                \
  } while (0)
