// Cache entries: files named by a hash of everything that determines them (generated data sets,
// pretrained bases, trained generators), loaded when present and readable, otherwise built and
// written once. One helper for every kind of entry:
//   - key -> path: <dir>/<prefix>-<content_hash(key)><ext>;
//   - atomic: the entry is saved under a temporary name next to it (<path>.partial-<pid>) and
//     renamed into place, so the path holds a whole entry or nothing;
//   - no partial file on any exit: the temporary is removed when the build or the save throws
//     (Cancelled included); a handler of SIGINT/SIGTERM that must exit at once can call
//     remove_partial_files() (async-signal-safe); leftovers of a killed process (SIGKILL) are
//     removed by the next build of the same entry, once that process is gone.
//
// Cancellation: long builds call cancellation_point() between steps. It asks the check set with
// set_cancel_check (a signal handler's flag, for example sim::stop_signal) and throws Cancelled
// when that returns a signal number, so a stop request ends a build within one step, and the
// unwinding removes its temporary. Without a check, cancellation_point() never throws.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace fedsim::cache {

// Deterministic 64-bit FNV-1a of `text` (Fowler, Noll, Vo: xor each byte, multiply by the prime
// 1099511628211), 16 hex digits. Its offset is 1469598103934665603, not the published
// 14695981039346656037 (a digit short since the first cache): kept, so existing entries keep
// their names; any offset hashes as well.
std::string content_hash(const std::string& text);
// <dir>/<prefix>-<content_hash(key)><ext>.
std::string entry_path(const std::string& dir, const std::string& prefix, const std::string& key,
                       const std::string& ext = ".h5");

struct Cancelled : std::runtime_error {
  explicit Cancelled(int sig);
  int signal;
};
// check() returns 0 to go on, else the signal number that asked to stop; nullptr = never stop.
void set_cancel_check(int (*check)());
void cancellation_point();
// Unlinks the temporaries of builds in progress. Async-signal-safe (a fixed table and unlink).
void remove_partial_files() noexcept;

using Log = std::function<void(const std::string&)>;

namespace detail {
// Calls load(path) when the entry exists; a UserError from it (unreadable entry) is logged and
// the entry is built again: build_and_save(tmp) writes it at `tmp`, which is then renamed to
// `path` (the folder is created first).
void load_or_build(const std::string& path, const std::function<void(const std::string&)>& load,
                   const std::function<void(const std::string& tmp)>& build_and_save, const Log& log,
                   const std::string& what);
}  // namespace detail

// The entry at `path`: load(path) if it is there and readable, else save(build(), tmp) and the
// rename. `what` names the entry in log lines ("<what>: cached <path>", "<what>: built, cached
// at <path>").
template <class T, class Load, class Build, class Save>
T load_or_build(const std::string& path, Load&& load, Build&& build, Save&& save, const Log& log, const std::string& what) {
  std::optional<T> v;
  detail::load_or_build(
      path, [&](const std::string& p) { v.emplace(load(p)); },
      [&](const std::string& tmp) {
        v.emplace(build());
        save(*v, tmp);
      },
      log, what);
  return std::move(*v);
}

}  // namespace fedsim::cache
