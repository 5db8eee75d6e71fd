#include "sim/output.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "sim/results.hpp"

namespace fedsim::sim {
namespace {

std::string folder_of(const std::string& path) {
  const std::filesystem::path p = std::filesystem::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

const char* kind_of(mode_t m) {
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// The stored config of a fedsim results file, or "" if the file is not one (any version).
bool results_config(const std::string& path, std::string* yaml) {
  try {
    const h5::File f = h5::File::open_read(path);
    const h5::Group r = f.root();
    if (!r.has_attr("format") || r.attr_string("format") != kResultsKind) return false;
    *yaml = r.has_attr("config_yaml") ? r.attr_string("config_yaml") : "";
    return true;
  } catch (const UserError&) {
    return false;
  }
}

// What is at `path` now, refused unless the options allow replacing it.
void check_existing(const std::string& path, const ExperimentConfig& c, const OutputOptions& o) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there yet
  if (S_ISDIR(st.st_mode))
    throw UserError(path + ": is a folder; --out takes the results file's name, such as " +
                    (std::filesystem::path(path) / "run.h5").string());
  if (S_ISLNK(st.st_mode)) {
    if (!o.force)
      throw UserError(path + ": is a symbolic link; fedsim replaces only results files it wrote (--force replaces the "
                      "link itself, not its target)");
    return;
  }
  if (!S_ISREG(st.st_mode))
    throw UserError(path + ": is " + kind_of(st.st_mode) + "; fedsim writes results only to regular files");
  if (o.force) return;
  std::string stored;
  if (!results_config(path, &stored))
    throw UserError(path + ": exists and is not a fedsim results file; refusing to replace it (--force replaces it, "
                    "or choose another --out)");
  if (o.fresh) return;
  bool same = false;
  try {
    same = comparable_yaml(parse_config(stored, path)) == comparable_yaml(c);
  } catch (const UserError&) {
    same = false;  // a config this fedsim no longer reads
  }
  if (!same)
    throw UserError(path + ": holds the results of another config; refusing to replace them (--fresh runs this config "
                    "in their place, or choose another --out)");
}

void check_name(const std::string& path) {
  if (path.empty()) throw UserError("--out: empty; expected the results file's name");
  if (path.back() == '/')
    throw UserError(path + ": names a folder; --out takes the results file's name, such as " + path + "run.h5");
}

}  // namespace

std::string comparable_yaml(ExperimentConfig c) {
  c.experiment.out.clear();
  return to_yaml(c);
}

OutputLock::OutputLock(const std::string& path) : lock_(path + ".lock") {
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd_ = ::open(lock_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0)
      throw UserError(folder_of(lock_) + ": cannot write in the output folder (" + lock_ + ": " + h5::system_reason(errno) +
                      ")");
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder;
      std::ifstream(lock_) >> holder >> holder;  // "pid N"
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK)
        throw UserError(path + ": another fedsim run (pid " + (holder.empty() ? "unknown" : holder) +
                        ") is writing it; wait for it to finish or choose another --out");
      throw UserError(lock_ + ": cannot lock: " + h5::system_reason(err));
    }
    // The holder before us may have removed the file after we opened it: lock the file that is
    // at the path now, or try again.
    struct stat a, b;
    if (::fstat(fd_, &a) == 0 && ::stat(lock_.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
      const std::string pid = "pid " + std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
        throw UserError(lock_ + ": cannot write: " + h5::system_reason(errno));
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
  throw UserError(lock_ + ": cannot lock (the file keeps being replaced)");
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(lock_.c_str());  // while still holding it: a waiting run re-checks the inode
  ::close(fd_);
}

void check_results_target(const std::string& path, const ExperimentConfig& c, const OutputOptions& o) {
  check_name(path);
  check_existing(path, c, o);
}

OutputLock claim_results_output(const std::string& path, const ExperimentConfig& c, const OutputOptions& o) {
  check_name(path);
  struct stat st;
  // Whatever is there is refused before anything is created next to it.
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !(S_ISLNK(st.st_mode) && o.force))
    check_existing(path, c, o);
  const std::string dir = folder_of(path);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw UserError(dir + ": cannot create the output folder: " + ec.message());
  OutputLock lock(path);
  check_existing(path, c, o);  // under the lock: nobody replaces it meanwhile
  return lock;
}

OutputLock claim_sweep_output(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    throw UserError(dir + ": exists and is not a folder; --out takes the sweep's folder");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw UserError(dir + ": cannot create the output folder: " + ec.message());
  return OutputLock((std::filesystem::path(dir) / "index.h5").string());
}

}  // namespace fedsim::sim
