// Thin RAII layer over the HDF5 C API. Every call is checked; failures throw with the file and
// object path. Reading problems (missing file, foreign file, missing dataset, wrong shape,
// damaged bytes) are UserError because the file is the user's; writing problems are
// InternalError, except what the system refuses (a full disk, a read-only folder): UserError
// with the system's reason.
//
// Integrity of the files fedsim writes (common/README.md has the layout):
//  - HDF5 metadata carries HDF5's own checksums: files are created with the 1.8 format at
//    least (superblock 2, version-2 object headers), whose metadata blocks are checksummed and
//    verified by libhdf5 on every read.
//  - Every dataset carries the attribute `crc32`, the CRC-32 of its values as little-endian
//    bytes, verified on every read: a damaged value is a UserError naming the dataset.
//  - Text never goes to HDF5's global heap (variable-length strings, whose damaged references
//    crash libhdf5 1.10): a text column is a group of two datasets, `bytes` (uint8, every string
//    one after the other) and `ends` (int64, the end offset of each string), and text attributes
//    are fixed-length strings stored in the object header.
//  - The root carries `checksums = crc32`; in such a file a dataset without its checksum or text
//    stored the old way is refused. Files without the marker (older fedsim data sets) are read
//    with the checks that can be made: variable-length strings only after every heap reference
//    was checked against the file (h5_text.cpp).
//
// Files that users keep are written through AtomicFile: built in memory, then written to a
// temporary name next to the target with every write checked, fsync'ed, read back and compared,
// then renamed, so neither a crash nor a full disk leaves a file that looks complete
// (STYLE.md habit 7).
#pragma once

#include <hdf5.h>

#include "fedsim_version.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fedsim::h5 {

inline constexpr const char* kChecksumAttr = "crc32";       // on every dataset
inline constexpr const char* kIntegrityAttr = "checksums";  // root marker, value "crc32"

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  ~Handle() { reset(); }
  void reset();           // closes, ignoring the result (destructors, error paths)
  herr_t close();         // closes and returns the closer's result (< 0: failed)
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*closer_)(hid_t) = nullptr;
};

// A group (the root group of a file included). `where_` is "file.h5:/path" for messages.
// `checked`: the file carries checksums, so every dataset must hold a valid one.
class Group {
 public:
  Group(Handle h, std::string file, std::string path, bool checked = false)
      : h_(std::move(h)), file_(std::move(file)), path_(std::move(path)), checked_(checked) {}
  hid_t id() const { return h_.id(); }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  bool checked() const { return checked_; }
  std::string where(const std::string& child = "") const;

  Group create_group(const std::string& name) const;
  Group open_group(const std::string& name) const;  // UserError if missing
  bool has(const std::string& name) const;          // link exists (group or dataset)

  // Datasets of arithmetic type T (float, double, int32_t, int64_t, uint8_t, uint64_t), each
  // with its crc32. `dims` empty means 1-D of data.size(). Row-major.
  template <class T>
  void write(const std::string& name, const std::vector<T>& data, std::vector<hsize_t> dims = {}) const;
  template <class T>
  std::vector<T> read(const std::string& name, std::vector<hsize_t>* dims = nullptr) const;
  std::vector<hsize_t> shape(const std::string& name) const;
  // Values a 1-D column holds, without reading them: a dataset's length, or a text column's
  // string count. UserError for another rank or a length the file does not store.
  size_t length(const std::string& name) const;

  // A text column: the group `name` holding `bytes` and `ends` (any bytes, NUL included).
  // read_strings also reads a 1-D dataset of variable-length strings from a file without the
  // checksums marker, after checking its heap references (h5_text.cpp).
  void write_strings(const std::string& name, const std::vector<std::string>& s) const;
  std::vector<std::string> read_strings(const std::string& name) const;

  // Attributes on this group; text as a fixed-length string.
  void set_attr(const std::string& name, const std::string& v) const;
  void set_attr(const std::string& name, const char* v) const { set_attr(name, std::string(v)); }
  void set_attr(const std::string& name, int64_t v) const;
  void set_attr(const std::string& name, double v) const;
  bool has_attr(const std::string& name) const;
  std::string attr_string(const std::string& name) const;
  int64_t attr_int(const std::string& name) const;
  double attr_double(const std::string& name) const;

 private:
  Handle h_;
  std::string file_, path_;
  bool checked_ = false;
};

// One column of a table (a 1-D dataset with one value per row): `read` / `read_strings` that
// must hold exactly `n` values; UserError "<file>:<path>: expected <n> values, got <m>" otherwise.
template <class T>
std::vector<T> read_column(const Group& g, const std::string& name, size_t n);
std::vector<std::string> read_string_column(const Group& g, const std::string& name, size_t n);

class File {
 public:
  // Writes in place through the sec2 driver (tests and tools; files users keep go through
  // AtomicFile). Truncates.
  static File create(const std::string& path);
  // UserError: missing, not a regular file, unreadable, not HDF5 or damaged metadata.
  static File open_read(const std::string& path);
  Group root() const;
  const std::string& path() const { return path_; }
  bool checked() const { return checked_; }  // the root carries the checksums marker
  void flush() const;
  void close();  // InternalError (or UserError with the system's reason) if HDF5 cannot close it

 private:
  friend class AtomicFile;
  File(Handle h, std::string path, bool checked) : h_(std::move(h)), path_(std::move(path)), checked_(checked) {}
  Handle h_;
  std::string path_;
  bool checked_ = false;
};

// Write `final_path` atomically. The HDF5 file is built in memory (HDF5's core driver, no
// backing store), so libhdf5 never meets a failing disk (a failed H5Fclose on a full disk left
// it in a state that crashed at exit). commit() closes it and then, with every system call
// checked: writes its bytes to `<final>.tmp-<pid>`, fsyncs, reads them back and compares, runs
// `verify` on the temporary file (a reader of the format), renames over `final_path` and fsyncs
// the folder. A failure removes the temporary file and throws UserError naming the file and the
// system's reason ("No space left on device"); the previous file under the final name stays.
// Destroyed uncommitted, nothing is written. Temporary files that a killed process left beside
// the target are removed on construction.
class AtomicFile {
 public:
  explicit AtomicFile(std::string final_path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();
  File& file() { return *file_; }
  Group root() const { return file_->root(); }
  void commit(const std::function<void(const std::string& tmp_path)>& verify = {});
  // Fault injection (FEDSIM_FAULT=kill_in_checkpoint): commit() writes half the bytes to the
  // temporary name and the process SIGKILLs itself.
  void kill_halfway_on_commit() { kill_halfway_ = true; }
  struct Image;

 private:
  std::string final_, tmp_;
  std::unique_ptr<Image> image_;
  std::unique_ptr<File> file_;
  bool committed_ = false, kill_halfway_ = false;
};

// Check a file's format marker: root attribute `format` must equal `kind`, `format_version`
// must equal `version`, and the checksums marker must be there. UserError naming the file.
void check_format(const File& f, const std::string& kind, int64_t version);
// format, format_version and the checksums marker.
void set_format(const Group& root, const std::string& kind, int64_t version);
// The header of a file fedsim writes for users: format, format_version and the fedsim_version
// that wrote it (results, sweep indexes, MAS-GPT results, checkpoints).
void write_header(const Group& root, const std::string& kind, int64_t version,
                  const std::string& fedsim_version = FEDSIM_VERSION_STRING);

// fsync a path's data and then its directory entry (for atomic renames of any file).
void fsync_path(const std::string& path);
// `text` to `path` atomically, every write checked (UserError with the system's reason).
void atomic_write_text(const std::string& path, const std::string& text);
// The system's reason for the last failed call, as strerror(errno) gives it.
std::string system_reason(int err);

}  // namespace fedsim::h5
