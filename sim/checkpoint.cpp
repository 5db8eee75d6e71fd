#include "sim/checkpoint.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/error.hpp"
#include "common/h5.hpp"

namespace fedsim::sim {
namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int sig) { g_stop = sig; }
int64_t g_checkpoints_written = 0;
}  // namespace

std::string checkpoint_path(const std::string& results_path) { return results_path + ".ckpt"; }

void write_checkpoint(const std::string& path, const SimCheckpoint& c) {
  static const FaultPlan fault = FaultPlan::from_env();
  ++g_checkpoints_written;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::write_header(root, kSimStateKind, kSimStateFormatVersion);
  root.set_attr("config_yaml", c.config_yaml);
  root.set_attr("completed_rounds", c.completed_rounds);
  if (fault.kill_in_checkpoint == g_checkpoints_written) {
    // Half a file at the temporary name: what a crash mid-write leaves behind.
    out.file().flush();
    std::raise(SIGKILL);
  }
  root.write("state", c.state);
  out.commit();
}

SimCheckpoint read_checkpoint(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  const h5::Group root = f.root();
  if (root.has_attr("format") && root.attr_string("format") == kSimStateKind && root.has_attr("format_version")) {
    const int64_t v = root.attr_int("format_version");
    if (v != kSimStateFormatVersion)
      throw UserError(path + ": checkpoint format_version " + std::to_string(v) + " is not supported; this fedsim reads version " +
                      std::to_string(kSimStateFormatVersion) + "; HINT: rerun with --fresh to start the run over (the "
                      "checkpoint is replaced)");
  }
  h5::check_format(f, kSimStateKind, kSimStateFormatVersion);
  SimCheckpoint c;
  c.config_yaml = root.attr_string("config_yaml");
  c.completed_rounds = root.attr_int("completed_rounds");
  c.state = root.read<uint8_t>("state");
  return c;
}

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int stop_signal() { return static_cast<int>(g_stop); }

FaultPlan FaultPlan::from_env() {
  FaultPlan p;
  const char* env = std::getenv("FEDSIM_FAULT");
  if (!env) return p;
  const std::string s = env;
  const size_t eq = s.find('=');
  const std::string key = s.substr(0, eq);
  const long long n = eq == std::string::npos ? -1 : std::atoll(s.c_str() + eq + 1);
  if (key == "kill_after_events") p.kill_after_events = n;
  else if (key == "kill_in_checkpoint") p.kill_in_checkpoint = n;
  else if (key == "term_after_events") p.term_after_events = n;
  else
    throw UserError("FEDSIM_FAULT: '" + s +
                    "' is not accepted; accepted: kill_after_events=N, kill_in_checkpoint=N, term_after_events=N");
  return p;
}

}  // namespace fedsim::sim
