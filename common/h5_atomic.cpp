// AtomicFile: an HDF5 file built in memory and published under its final name only once its
// bytes are on disk and read back equal. Every system call is checked and reported with the
// system's reason, so a full disk reads "No space left on device" and leaves the previous file
// (and a run's checkpoint) in place.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "error.hpp"
#include "fault.hpp"
#include "h5_detail.hpp"

namespace fedsim::h5 {

using namespace detail;

// The core driver's memory, handed to us by its file image callbacks: at close the driver
// "frees" the buffer, which we keep instead, so the complete image outlives H5Fclose.
struct AtomicFile::Image {
  void* p = nullptr;
  size_t cap = 0;
  bool closed = false;
  ~Image() { std::free(p); }
};

namespace {

using Image = AtomicFile::Image;

void* image_malloc(size_t size, H5FD_file_image_op_t, void* udata) {
  auto* im = static_cast<Image*>(udata);
  void* p = std::malloc(size);
  if (p) {
    im->p = p;
    im->cap = size;
  }
  return p;
}
void* image_memcpy(void* dest, const void* src, size_t size, H5FD_file_image_op_t, void*) {
  return std::memcpy(dest, src, size);
}
void* image_realloc(void* ptr, size_t size, H5FD_file_image_op_t, void* udata) {
  auto* im = static_cast<Image*>(udata);
  void* p = std::realloc(ptr, size);
  if (p) {
    im->p = p;
    im->cap = size;
  }
  return p;
}
herr_t image_free(void* ptr, H5FD_file_image_op_t op, void* udata) {
  auto* im = static_cast<Image*>(udata);
  if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr == im->p) {
    im->closed = true;
    return 0;
  }
  if (ptr == im->p) im->p = nullptr;
  std::free(ptr);
  return 0;
}
void* udata_copy(void* udata) { return udata; }
herr_t udata_free(void*) { return 0; }

// The end of the file's data: the end-of-file address of its superblock (version 2 or 3, which
// the 1.8 format bound gives), so the bytes written never include the driver's spare capacity.
size_t image_length(const Image& im, const std::string& where) {
  const auto* b = static_cast<const uint8_t*>(im.p);
  if (!im.closed || !b || im.cap < 48 || std::memcmp(b, "\x89HDF\r\n\x1a\n", 8) != 0 || (b[8] != 2 && b[8] != 3))
    throw InternalError("HDF5: " + where + ": unexpected in-memory image");
  const size_t O = b[9];
  if (O < 2 || O > 8 || 12 + 4 * O + 4 > im.cap) throw InternalError("HDF5: " + where + ": unexpected superblock");
  uint64_t eof = 0;
  for (size_t i = O; i-- > 0;) eof = eof << 8 | b[12 + 2 * O + i];
  if (eof > im.cap || eof < 12 + 4 * O + 4) throw InternalError("HDF5: " + where + ": image end outside its buffer");
  return static_cast<size_t>(eof);
}

std::string parent_of(const std::string& path) {
  const std::filesystem::path p = std::filesystem::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

// Temporary files `<name>.tmp-<pid>` beside `final_path` whose process is gone (SIGKILL, power
// loss) are removed, so no stale half file stays next to the results.
void remove_stale_temporaries(const std::string& final_path) {
  const std::string prefix = std::filesystem::path(final_path).filename().string() + ".tmp-";
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(parent_of(final_path), ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(digits.c_str()));
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) std::filesystem::remove(it->path(), ec);
  }
}

// The bytes to `tmp`, synced and read back equal. UserError naming `final_path` and the system's
// reason on any failure (the caller removes `tmp`).
void write_image(const std::string& final_path, const std::string& tmp, const uint8_t* data, size_t n, bool disk_full,
                 bool kill_halfway) {
  auto fail = [&](const std::string& what, int err) {
    throw UserError(final_path + ": cannot " + what + ": " + system_reason(err));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail("create " + tmp, errno);
  size_t done = 0;
  const size_t stop = disk_full || kill_halfway ? n / 2 : n;
  while (done < stop) {
    const ssize_t w = ::write(fd, data + done, stop - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : EIO;
      ::close(fd);
      fail("write " + std::to_string(n) + " bytes", err);
    }
    done += static_cast<size_t>(w);
  }
  if (kill_halfway) {  // FEDSIM_FAULT=kill_in_checkpoint: half a file at the temporary name
    ::fsync(fd);
    std::raise(SIGKILL);
  }
  if (disk_full) {  // FEDSIM_FAULT=disk_full_at: what write(2) answers on a full disk
    ::close(fd);
    fail("write " + std::to_string(n) + " bytes", ENOSPC);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail("sync " + tmp, err);
  }
  if (::close(fd) != 0) fail("close " + tmp, errno);
  // Read back: a short file or bytes that differ (a failing device, a full disk a file system
  // reported late) never reach the final name.
  const int rfd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) fail("read back " + tmp, errno);
  std::vector<uint8_t> buf(std::min<size_t>(n + 1, size_t(1) << 22));
  size_t at = 0;
  for (;;) {
    const ssize_t r = ::read(rfd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(rfd);
      fail("read back " + tmp, err);
    }
    if (r == 0) break;
    if (at + static_cast<size_t>(r) > n || std::memcmp(buf.data(), data + at, static_cast<size_t>(r)) != 0) {
      ::close(rfd);
      throw UserError(final_path + ": the bytes read back from " + tmp + " differ from those written (failing disk?)");
    }
    at += static_cast<size_t>(r);
  }
  ::close(rfd);
  if (at != n)
    throw UserError(final_path + ": " + tmp + " holds " + std::to_string(at) + " of the " + std::to_string(n) +
                    " bytes written (failing disk?)");
}

}  // namespace

AtomicFile::AtomicFile(std::string final_path) : final_(std::move(final_path)), image_(new Image) {
  static int64_t serial = 0;
  tmp_ = final_ + ".tmp-" + std::to_string(::getpid());
  struct stat st;
  const std::string dir = parent_of(final_);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw UserError(final_ + ": cannot create HDF5 file: folder " + dir + " does not exist");
  remove_stale_temporaries(final_);
  Handle fapl = file_access();
  H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy, image_realloc, image_free, udata_copy, udata_free,
                                    image_.get()};
  if (H5Pset_fapl_core(fapl.id(), size_t(1) << 20, 0) < 0 || H5Pset_file_image_callbacks(fapl.id(), &cb) < 0)
    throw InternalError("HDF5: cannot make an in-memory file access property list");
  // The name identifies the in-memory file to HDF5 only; unique per process.
  const std::string mem_name = tmp_ + "-mem" + std::to_string(++serial);
  Handle f(H5Fcreate(mem_name.c_str(), H5F_ACC_TRUNC, no_times(H5P_FILE_CREATE).id(), fapl.id()), H5Fclose);
  if (!f.valid()) throw InternalError("HDF5: cannot create an in-memory file for " + final_);
  file_.reset(new File(std::move(f), final_, true));
}

AtomicFile::~AtomicFile() {
  file_.reset();  // closes the in-memory file (the image stays ours until image_ goes)
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void AtomicFile::commit(const std::function<void(const std::string& tmp_path)>& verify) {
  FEDSIM_ASSERT(!committed_);
  file_->close();
  const size_t n = image_length(*image_, final_);
  static int64_t commits = 0;
  const FaultPlan& fault = FaultPlan::get();
  const bool disk_full = fault.disk_full_at == ++commits;
  try {
    write_image(final_, tmp_, static_cast<const uint8_t*>(image_->p), n, disk_full, kill_halfway_);
    if (verify) verify(tmp_);
    if (std::rename(tmp_.c_str(), final_.c_str()) != 0)
      throw UserError(final_ + ": cannot rename " + tmp_ + " into place: " + system_reason(errno));
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
    throw;
  }
  committed_ = true;
  fsync_path(parent_of(final_));
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // best effort for directories on odd file systems
  ::fsync(fd);
  ::close(fd);
}

void atomic_write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    write_image(path, tmp, reinterpret_cast<const uint8_t*>(text.data()), text.size(), false, false);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw UserError(path + ": cannot rename into place: " + system_reason(errno));
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  fsync_path(parent_of(path));
}

}  // namespace fedsim::h5
