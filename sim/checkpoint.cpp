#include "sim/checkpoint.hpp"

#include <filesystem>

#include "common/checksum.hpp"
#include "common/error.hpp"
#include "common/h5.hpp"

namespace fedsim::sim {
namespace {

int64_t g_checkpoints_written = 0;

uint32_t content_crc(const SimCheckpoint& c) {
  uint32_t crc = crc32_update(0, c.config_yaml.data(), c.config_yaml.size());
  const uint32_t rounds = crc32_values(&c.completed_rounds, 1);
  crc = crc32_update(crc, &rounds, sizeof rounds);
  return crc32_update(crc, c.state.data(), c.state.size());
}

SimCheckpoint read_unchecked(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  const h5::Group root = f.root();
  if (root.has_attr("format") && root.attr_string("format") == kSimStateKind && root.has_attr("format_version")) {
    const int64_t v = root.attr_int("format_version");
    if (v != kSimStateFormatVersion)
      throw UserError(path + ": checkpoint format_version " + std::to_string(v) + " is not supported; this fedsim reads version " +
                      std::to_string(kSimStateFormatVersion));
  }
  h5::check_format(f, kSimStateKind, kSimStateFormatVersion);
  SimCheckpoint c;
  c.config_yaml = root.attr_string("config_yaml");
  c.completed_rounds = root.attr_int("completed_rounds");
  c.state = root.read<uint8_t>("state");
  const int64_t stored = root.attr_int("content_crc32");
  if (stored != static_cast<int64_t>(content_crc(c)))
    throw UserError(path + ": checkpoint contents do not match their checksum (content_crc32): the file is damaged");
  return c;
}

}  // namespace

std::string checkpoint_path(const std::string& results_path) { return results_path + ".ckpt"; }

std::string fresh_hint() { return "; HINT: rerun with --fresh to start the run over (the checkpoint is replaced)"; }

void write_checkpoint(const std::string& path, const SimCheckpoint& c) {
  ++g_checkpoints_written;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::write_header(root, kSimStateKind, kSimStateFormatVersion);
  root.set_attr("config_yaml", c.config_yaml);
  root.set_attr("completed_rounds", c.completed_rounds);
  root.set_attr("content_crc32", static_cast<int64_t>(content_crc(c)));
  root.write("state", c.state);
  if (FaultPlan::get().kill_in_checkpoint == g_checkpoints_written) out.kill_halfway_on_commit();
  // Read back before it replaces the previous checkpoint: the bytes on disk must load.
  out.commit([](const std::string& tmp) { read_unchecked(tmp); });
}

SimCheckpoint read_checkpoint(const std::string& path) {
  try {
    return read_unchecked(path);
  } catch (const UserError& e) {
    const std::string what = e.what();
    throw UserError((what.rfind(path, 0) == 0 ? what : path + ": " + what) + fresh_hint());
  }
}

}  // namespace fedsim::sim
