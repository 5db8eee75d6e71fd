// Thin RAII layer over the HDF5 C API. Every call is checked; failures throw with the file and
// object path. Reading problems (missing file, foreign file, missing dataset, wrong shape) are
// UserError because the file is the user's; writing problems are InternalError.
//
// Files that users keep are written through AtomicFile: a temporary name next to the target,
// flushed and fsync'ed, then renamed, so a crash never leaves a file that looks complete
// (STYLE.md habit 7).
#pragma once

#include <hdf5.h>

#include "fedsim_version.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace fedsim::h5 {

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
  void reset();
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*closer_)(hid_t) = nullptr;
};

// A group (the root group of a file included). `where_` is "file.h5:/path" for messages.
class Group {
 public:
  Group(Handle h, std::string file, std::string path)
      : h_(std::move(h)), file_(std::move(file)), path_(std::move(path)) {}
  hid_t id() const { return h_.id(); }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  std::string where(const std::string& child = "") const;

  Group create_group(const std::string& name) const;
  Group open_group(const std::string& name) const;  // UserError if missing
  bool has(const std::string& name) const;          // link exists (group or dataset)

  // Datasets of arithmetic type T (float, double, int32_t, int64_t, uint8_t, uint64_t).
  // `dims` empty means 1-D of data.size(). Row-major.
  template <class T>
  void write(const std::string& name, const std::vector<T>& data, std::vector<hsize_t> dims = {}) const;
  template <class T>
  std::vector<T> read(const std::string& name, std::vector<hsize_t>* dims = nullptr) const;
  std::vector<hsize_t> shape(const std::string& name) const;

  // 1-D dataset of variable-length UTF-8 strings.
  void write_strings(const std::string& name, const std::vector<std::string>& s) const;
  std::vector<std::string> read_strings(const std::string& name) const;

  // Attributes on this group.
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
};

// One column of a table (a 1-D dataset with one value per row): `read` / `read_strings` that
// must hold exactly `n` values; UserError "<file>:<path>: expected <n> values, got <m>" otherwise.
template <class T>
std::vector<T> read_column(const Group& g, const std::string& name, size_t n);
std::vector<std::string> read_string_column(const Group& g, const std::string& name, size_t n);

class File {
 public:
  static File create(const std::string& path);     // truncates
  static File open_read(const std::string& path);  // UserError: missing, unreadable or not HDF5
  Group root() const;
  const std::string& path() const { return path_; }
  void flush() const;
  void close() { h_.reset(); }

 private:
  File(Handle h, std::string path) : h_(std::move(h)), path_(std::move(path)) {}
  Handle h_;
  std::string path_;
};

// Write `final_path` atomically: create() gives a file at a temporary name in the same folder;
// commit() closes it, fsyncs it and renames it over `final_path`. Destroyed uncommitted, it
// removes the temporary file.
class AtomicFile {
 public:
  explicit AtomicFile(std::string final_path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();
  File& file() { return *file_; }
  Group root() const { return file_->root(); }
  void commit();

 private:
  std::string final_, tmp_;
  File* file_ = nullptr;
  bool committed_ = false;
};

// Check a file's format marker: root attribute `format` must equal `kind` and
// `format_version` must equal `version`. UserError naming the file otherwise.
void check_format(const File& f, const std::string& kind, int64_t version);
void set_format(const Group& root, const std::string& kind, int64_t version);
// The header of a file fedsim writes for users: format, format_version and the fedsim_version
// that wrote it (results, sweep indexes, MAS-GPT results, checkpoints).
void write_header(const Group& root, const std::string& kind, int64_t version,
                  const std::string& fedsim_version = FEDSIM_VERSION_STRING);

// fsync a path's data and then its directory entry (for atomic renames of any file).
void fsync_path(const std::string& path);
void atomic_write_text(const std::string& path, const std::string& text);

}  // namespace fedsim::h5
