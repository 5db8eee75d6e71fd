#include "common/cache.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/error.hpp"
#include "common/h5.hpp"

namespace fedsim::cache {
namespace {

namespace fs = std::filesystem;

int (*g_check)() = nullptr;

// Temporaries of builds in progress, for remove_partial_files(): plain char arrays, so a signal
// handler can read them without locks or allocation. Builds nest (a U2S generator's build loads
// the base) but never deeply.
constexpr int kSlots = 8;
constexpr size_t kPathMax = 4096;
char g_partial[kSlots][2][kPathMax];  // the temporary, and the writer's own (h5::AtomicFile's <name>.tmp-<pid>)
volatile sig_atomic_t g_used[kSlots];

// Registers a build's temporary while it lives; on exceptions removes it and the writer's own.
class Partial {
 public:
  explicit Partial(std::string tmp) : tmp_(std::move(tmp)), inner_(tmp_ + ".tmp-" + std::to_string(::getpid())) {
    for (int i = 0; i < kSlots; ++i)
      if (!g_used[i] && tmp_.size() < kPathMax && inner_.size() < kPathMax) {
        std::snprintf(g_partial[i][0], kPathMax, "%s", tmp_.c_str());
        std::snprintf(g_partial[i][1], kPathMax, "%s", inner_.c_str());
        g_used[i] = 1;
        slot_ = i;
        break;
      }
  }
  Partial(const Partial&) = delete;
  Partial& operator=(const Partial&) = delete;
  ~Partial() {
    std::error_code ec;
    fs::remove(tmp_, ec);  // nothing left after a successful rename
    fs::remove(inner_, ec);
    if (slot_ >= 0) g_used[slot_] = 0;
  }
  const std::string& path() const { return tmp_; }

 private:
  std::string tmp_, inner_;
  int slot_ = -1;
};

// <name>.partial-<pid> files of processes that are gone (killed mid-build).
void remove_stale(const std::string& path) {
  const fs::path p(path);
  const std::string stem = p.filename().string() + ".partial-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(p.parent_path().empty() ? fs::path(".") : p.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.compare(0, stem.size(), stem) != 0) continue;
    const long pid = std::strtol(name.c_str() + stem.size(), nullptr, 10);
    if (pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(e.path(), ec);
  }
}

}  // namespace

std::string content_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string entry_path(const std::string& dir, const std::string& prefix, const std::string& key, const std::string& ext) {
  return dir + "/" + prefix + "-" + content_hash(key) + ext;
}

Cancelled::Cancelled(int sig) : std::runtime_error("stopped by signal " + std::to_string(sig)), signal(sig) {}

void set_cancel_check(int (*check)()) { g_check = check; }

void cancellation_point() {
  const int sig = g_check ? g_check() : 0;
  if (sig != 0) throw Cancelled(sig);
}

void remove_partial_files() noexcept {
  for (int i = 0; i < kSlots; ++i)
    if (g_used[i]) {
      ::unlink(g_partial[i][0]);
      ::unlink(g_partial[i][1]);
    }
}

namespace detail {

void load_or_build(const std::string& path, const std::function<void(const std::string&)>& load,
                   const std::function<void(const std::string& tmp)>& build_and_save, const Log& log,
                   const std::string& what) {
  if (fs::exists(path)) {
    try {
      load(path);
      if (log) log(what + ": cached " + path);
      return;
    } catch (const UserError& e) {
      if (log) log(what + ": ignoring unreadable cache entry " + path + " (" + e.what() + "); building it again");
    }
  }
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  remove_stale(path);
  Partial tmp(path + ".partial-" + std::to_string(::getpid()));
  build_and_save(tmp.path());
  h5::fsync_path(tmp.path());
  if (std::rename(tmp.path().c_str(), path.c_str()) != 0)
    throw UserError(path + ": cannot rename " + tmp.path() + " into place (" + std::strerror(errno) + ")");
  h5::fsync_path(parent.empty() ? "." : parent.string());
  if (log) log(what + ": built, cached at " + path);
}

}  // namespace detail
}  // namespace fedsim::cache
