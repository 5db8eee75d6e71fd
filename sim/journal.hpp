// The checkpoint journal: the history a run only appends to (the /rounds rows, participations,
// per-client evaluations, the job timeline) goes to `<checkpoint>.journal` in segments, each
// holding the elements added since the previous checkpoint; the checkpoint itself stores the
// journal's length and running CRC-32. So a checkpoint costs what the state holds plus what was
// added since the last one, not everything the run has done (747 clients x 747 per round x 2,000
// rounds rewrote its growing timeline at every checkpoint).
//
// File: the magic "fedsimJ1", then segments [u32 stream][u64 count][u64 bytes][archived
// elements], little-endian. A crash after a segment was appended but before the checkpoint that
// counts it was renamed leaves a tail the checkpoint does not count: loading drops it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::sim {

class Journal {
 public:
  struct Stream {
    uint64_t count = 0;          // elements
    std::vector<uint8_t> bytes;  // their archive, segments concatenated
  };

  explicit Journal(std::string path = "") : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  uint64_t length() const { return length_; }  // bytes committed to the file
  uint32_t crc() const { return crc_; }        // CRC-32 of those bytes

  // Writing (ArchiveWriter): elements of `stream` already in the file, and a pending segment.
  uint64_t mark(size_t stream) const { return stream < marks_.size() ? marks_[stream] : 0; }
  void add(size_t stream, uint64_t count, std::vector<uint8_t> bytes);
  // Appends the pending segments to the file and syncs it (UserError with the system's reason);
  // only then do the marks, length and CRC advance. Nothing pending: nothing written.
  void commit();
  void discard_pending() { pending_.clear(); }

  // Reading (ArchiveReader): the first `length` bytes of the file must have CRC `crc` and parse
  // into segments; UserError naming the file otherwise. The marks continue from them and a tail
  // beyond `length` is dropped at the next commit.
  void load(uint64_t length, uint32_t crc);
  const Stream* stream(size_t i) const { return i < streams_.size() ? &streams_[i] : nullptr; }
  void release_loaded() { streams_.clear(); streams_.shrink_to_fit(); }

  // Forget everything (a fresh run); the file is replaced at the next commit.
  void reset();

 private:
  struct Pending {
    size_t stream;
    uint64_t count;
    std::vector<uint8_t> bytes;
  };
  std::string path_;
  uint64_t length_ = 0;
  uint32_t crc_ = 0;
  std::vector<uint64_t> marks_;
  std::vector<Pending> pending_;
  std::vector<Stream> streams_;
};

// Removes a checkpoint and its journal (a run that completed).
void remove_checkpoint_files(const std::string& checkpoint);
std::string journal_path(const std::string& checkpoint);

}  // namespace fedsim::sim
