#include "sim/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/checksum.hpp"
#include "common/error.hpp"
#include "common/h5.hpp"

namespace fedsim::sim {
namespace {

constexpr char kMagic[8] = {'f', 'e', 'd', 's', 'i', 'm', 'J', '1'};
constexpr size_t kMaxStreams = 64;  // archives mark a handful of histories

void put_le(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t get_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes; i-- > 0;) v = v << 8 | p[i];
  return v;
}

}  // namespace

std::string journal_path(const std::string& checkpoint) { return checkpoint + ".journal"; }

void remove_checkpoint_files(const std::string& checkpoint) {
  std::error_code ec;
  std::filesystem::remove(checkpoint, ec);
  std::filesystem::remove(journal_path(checkpoint), ec);
}

void Journal::add(size_t stream, uint64_t count, std::vector<uint8_t> bytes) {
  FEDSIM_ASSERT(stream < kMaxStreams);
  if (count > 0) pending_.push_back({stream, count, std::move(bytes)});
}

void Journal::commit() {
  if (pending_.empty()) return;
  FEDSIM_ASSERT_MSG(!path_.empty(), "journal without a file");
  std::vector<uint8_t> out;
  if (length_ == 0) out.assign(kMagic, kMagic + sizeof kMagic);
  for (const Pending& p : pending_) {
    put_le(out, p.stream, 4);
    put_le(out, p.count, 8);
    put_le(out, p.bytes.size(), 8);
    out.insert(out.end(), p.bytes.begin(), p.bytes.end());
  }
  auto fail = [&](const char* what, int err) {
    throw UserError(path_ + ": cannot " + std::string(what) + " the checkpoint journal: " + h5::system_reason(err));
  };
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) fail("open", errno);
  // A tail the last checkpoint does not count (a crash, or a write that failed) goes first.
  if (::ftruncate(fd, static_cast<off_t>(length_)) != 0) {
    const int err = errno;
    ::close(fd);
    fail("truncate", err);
  }
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t w = ::pwrite(fd, out.data() + done, out.size() - done, static_cast<off_t>(length_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : EIO;
      ::close(fd);
      fail("append to", err);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail("sync", err);
  }
  if (::close(fd) != 0) fail("close", errno);
  if (length_ == 0) h5::fsync_path(parent.empty() ? "." : parent.string());
  crc_ = crc32_update(crc_, out.data(), out.size());
  length_ += out.size();
  for (const Pending& p : pending_) {
    if (marks_.size() <= p.stream) marks_.resize(p.stream + 1, 0);
    marks_[p.stream] += p.count;
  }
  pending_.clear();
}

void Journal::load(uint64_t length, uint32_t crc) {
  reset();
  if (length == 0) return;
  auto fail = [&](const std::string& what) { throw UserError(path_ + ": " + what); };
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read the checkpoint journal: " + h5::system_reason(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < length) {
    ::close(fd);
    fail("the checkpoint journal holds fewer bytes than the checkpoint counts (" + std::to_string(length) +
         "): truncated or replaced");
  }
  std::vector<uint8_t> b(length);
  size_t done = 0;
  while (done < length) {
    const ssize_t r = ::pread(fd, b.data() + done, length - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ::close(fd);
      fail("cannot read the checkpoint journal");
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  if (crc32_update(0, b.data(), b.size()) != crc) fail("checkpoint journal checksum mismatch: the file is damaged");
  if (length < sizeof kMagic || std::memcmp(b.data(), kMagic, sizeof kMagic) != 0) fail("not a fedsim checkpoint journal");
  for (size_t p = sizeof kMagic; p < b.size();) {
    if (b.size() - p < 20) fail("truncated checkpoint journal segment");
    const uint64_t stream = get_le(&b[p], 4), count = get_le(&b[p + 4], 8), n = get_le(&b[p + 12], 8);
    p += 20;
    if (stream >= kMaxStreams || n > b.size() - p || count > n) fail("damaged checkpoint journal segment");
    if (streams_.size() <= stream) streams_.resize(stream + 1);
    streams_[stream].count += count;
    streams_[stream].bytes.insert(streams_[stream].bytes.end(), b.begin() + static_cast<long>(p),
                                  b.begin() + static_cast<long>(p + n));
    p += n;
  }
  length_ = length;
  crc_ = crc;
  marks_.assign(streams_.size(), 0);
  for (size_t i = 0; i < streams_.size(); ++i) marks_[i] = streams_[i].count;
}

void Journal::reset() {
  length_ = 0;
  crc_ = 0;
  marks_.clear();
  pending_.clear();
  streams_.clear();
}

}  // namespace fedsim::sim
