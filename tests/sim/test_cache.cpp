// The cache-or-build helper (common/cache.hpp): key -> path, one build per entry, atomic writes,
// and no partial file after a failed or cancelled build, a signal handler's cleanup or a killed
// process.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/cache.hpp"
#include "common/error.hpp"

namespace cache = fedsim::cache;
namespace fs = std::filesystem;

namespace {

const std::string kDir = "cache-test";

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An entry whose content must start with "ok:" to load.
std::string load_text(const std::string& p) {
  const std::string t = slurp(p);
  if (t.rfind("ok:", 0) != 0) throw fedsim::UserError(p + ": not an entry");
  return t;
}
void save_text(const std::string& t, const std::string& p) { std::ofstream(p, std::ios::binary) << t; }

// Files in the test folder other than `keep`.
std::vector<std::string> others(const std::string& keep = "") {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kDir))
    if (e.path().filename() != keep) out.push_back(e.path().filename().string());
  return out;
}

int g_steps = 0;
int stop_after_three() { return ++g_steps > 3 ? 15 : 0; }

}  // namespace

TEST_CASE("cache: key -> path is <dir>/<prefix>-<FNV-1a 64 hex><ext>") {
  // Offset 1469598103934665603 = 0x14650fb0739d0383; "a": (offset ^ 0x61) * 1099511628211 mod 2^64.
  CHECK(cache::content_hash("") == "14650fb0739d0383");
  CHECK(cache::content_hash("a") == "44bd8ad473cd9906");
  CHECK(cache::entry_path("d", "base", "a") == "d/base-44bd8ad473cd9906.h5");
  CHECK(cache::entry_path("d", "x", "", ".txt") == "d/x-14650fb0739d0383.txt");
}

TEST_CASE("cache: an entry is built once, then loaded; a failed build leaves nothing; an unreadable entry is rebuilt") {
  fs::remove_all(kDir);
  const std::string path = cache::entry_path(kDir, "t", "key");
  std::vector<std::string> log;
  auto logger = [&](const std::string& s) { log.push_back(s); };
  int builds = 0;
  auto build = [&] { return std::string("ok:" + std::to_string(++builds)); };
  CHECK(cache::load_or_build<std::string>(path, load_text, build, save_text, logger, "t") == "ok:1");
  CHECK(cache::load_or_build<std::string>(path, load_text, build, save_text, logger, "t") == "ok:1");
  CHECK(builds == 1);
  CHECK(others(fs::path(path).filename().string()).empty());  // the folder was created; no temporary left
  REQUIRE(log.size() == 2);
  CHECK(log[0] == "t: built, cached at " + path);
  CHECK(log[1] == "t: cached " + path);

  // A build that throws (here while saving, with half a file written) leaves no file.
  fs::remove(path);
  auto throwing_save = [](const std::string& t, const std::string& p) {
    std::ofstream(p) << t.substr(0, 2);
    throw fedsim::UserError("disk full");
  };
  CHECK_THROWS_WITH_AS(cache::load_or_build<std::string>(path, load_text, build, throwing_save, logger, "t"), "disk full",
                       fedsim::UserError);
  CHECK(others().empty());

  // An unreadable entry (a foreign or truncated file) is built again, and the log says why.
  save_text("garbage", path);
  CHECK(cache::load_or_build<std::string>(path, load_text, build, save_text, logger, "t") == "ok:3");
  CHECK(slurp(path) == "ok:3");
  CHECK(log.back() == "t: built, cached at " + path);
  CHECK(log[log.size() - 2] == "t: ignoring unreadable cache entry " + path + " (" + path + ": not an entry); building it again");
}

TEST_CASE("cache: a cancelled build throws Cancelled with the signal and leaves no file") {
  fs::remove_all(kDir);
  const std::string path = cache::entry_path(kDir, "t", "cancel");
  g_steps = 0;
  cache::set_cancel_check(stop_after_three);
  int steps = 0;
  auto build = [&] {
    for (int i = 0; i < 10; ++i, ++steps) cache::cancellation_point();
    return std::string("ok:done");
  };
  bool cancelled = false;
  try {
    cache::load_or_build<std::string>(path, load_text, build, save_text, nullptr, "t");
  } catch (const cache::Cancelled& c) {
    cancelled = true;
    CHECK(c.signal == 15);
  }
  cache::set_cancel_check(nullptr);
  CHECK(cancelled);
  CHECK(steps == 3);  // stopped within one step of the request
  CHECK(others().empty());
  cache::cancellation_point();  // no check: never throws
}

TEST_CASE("cache: remove_partial_files unlinks a build's temporary; leftovers of dead processes go at the next build") {
  fs::remove_all(kDir);
  const std::string path = cache::entry_path(kDir, "t", "signal");
  auto save_then_signal = [](const std::string& t, const std::string& p) {
    save_text(t, p);
    REQUIRE(fs::exists(p));
    cache::remove_partial_files();  // what a SIGINT handler that exits at once does
    CHECK_FALSE(fs::exists(p));
  };
  CHECK_THROWS_AS(cache::load_or_build<std::string>(path, load_text, [] { return std::string("ok:x"); }, save_then_signal,
                                                    nullptr, "t"),
                  fedsim::UserError);  // nothing left to rename
  CHECK(others().empty());

  // A temporary of a process that is gone (pid 2^22 + 1 is above Linux's pid_max default) is
  // removed; one of a live process (ours' parent) is that process's and stays.
  const std::string dead = path + ".partial-4194305", alive = path + ".partial-" + std::to_string(::getppid());
  save_text("half", dead);
  save_text("half", alive);
  CHECK(cache::load_or_build<std::string>(path, load_text, [] { return std::string("ok:y"); }, save_text, nullptr, "t") ==
        "ok:y");
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(alive));
  fs::remove_all(kDir);
}
