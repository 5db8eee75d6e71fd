#include "h5.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.hpp"

namespace fedsim::h5 {
namespace {

// HDF5's default error handler prints a stack on every failed call, including the probes we
// make on purpose (H5Lexists on a missing parent, opening a non-HDF5 file). We report errors
// ourselves, so silence it once.
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const SilenceHdf5 silence_hdf5_once;

template <class T> hid_t mem_type();
template <> hid_t mem_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t mem_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t mem_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t mem_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t mem_type<uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t mem_type<uint64_t>() { return H5T_NATIVE_UINT64; }

template <class T> const char* type_name();
template <> const char* type_name<float>() { return "float32"; }
template <> const char* type_name<double>() { return "float64"; }
template <> const char* type_name<int32_t>() { return "int32"; }
template <> const char* type_name<int64_t>() { return "int64"; }
template <> const char* type_name<uint8_t>() { return "uint8"; }
template <> const char* type_name<uint64_t>() { return "uint64"; }

[[noreturn]] void write_fail(const std::string& where, const char* what) {
  throw InternalError("HDF5: cannot " + std::string(what) + " " + where);
}
[[noreturn]] void read_fail(const std::string& where, const std::string& what) {
  throw UserError(where + ": " + what);
}

Handle string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!t.valid() || H5Tset_size(t.id(), H5T_VARIABLE) < 0 || H5Tset_cset(t.id(), H5T_CSET_UTF8) < 0)
    throw InternalError("HDF5: cannot make a string type");
  return t;
}

// Transfer properties for variable-length strings. HDF5 callocs a type-conversion buffer of
// the transfer's buffer size (1 MiB by default) on every H5Dwrite/H5Dread that converts, even
// for a dataset of ten strings: with thousands of small per-client datasets the zeroing and
// page faults took ~1 s for 747 clients. Sizing it to the data (a vlen string is 16 bytes in
// the file, a pointer 8 in memory) removes that cost.
Handle string_transfer(hsize_t n) {
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  const size_t bytes = std::max<size_t>(4096, static_cast<size_t>(n) * 32);
  if (!dxpl.valid() || H5Pset_buffer(dxpl.id(), bytes, nullptr, nullptr) < 0)
    throw InternalError("HDF5: cannot make a transfer property list");
  return dxpl;
}

// Number of elements of `dims`, refusing what the file cannot hold. A hostile file declares
// shapes it does not store (2^40 elements in a few hundred bytes, or dimensions whose product
// wraps): refuse them before allocating. Stored bytes must cover the elements; chunked data may
// be compressed, up to deflate's best ratio (about 1032:1).
hsize_t checked_count(hid_t ds, const std::vector<hsize_t>& dims, size_t elem_bytes, const std::string& where) {
  long double n = 1;
  for (auto d : dims) n *= static_cast<long double>(d);
  if (n == 0) return 0;
  Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  const bool chunked = dcpl.valid() && H5Pget_layout(dcpl.id()) == H5D_CHUNKED;
  const long double stored = static_cast<long double>(H5Dget_storage_size(ds)) * (chunked ? 1100 : 1);
  if (n * static_cast<long double>(elem_bytes) > stored) {
    std::ostringstream os;
    os << "declares shape (";
    for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
    os << ") but stores " << H5Dget_storage_size(ds) << " bytes (truncated or damaged file)";
    read_fail(where, os.str());
  }
  return static_cast<hsize_t>(n);
}

// Creation properties without modification times: HDF5 stamps every object header with the
// time it was written by default, so two identical runs would write different bytes.
Handle no_times(hid_t cls) {
  Handle p(H5Pcreate(cls), H5Pclose);
  if (!p.valid() || H5Pset_obj_track_times(p.id(), 0) < 0) throw InternalError("HDF5: cannot make a creation property list");
  return p;
}

// Attributes are read into one value: refuse arrays (HDF5 would write past it).
void check_scalar_attr(hid_t a, const std::string& where) {
  Handle space(H5Aget_space(a), H5Sclose);
  const hssize_t n = space.valid() ? H5Sget_simple_extent_npoints(space.id()) : -1;
  if (n != 1) read_fail(where, "expected a single value, found " + std::to_string(n) + " values");
}

// Contiguous for small data, chunked + deflate for large 1-D/2-D arrays is not needed yet:
// files are small and written once.
}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

std::string Group::where(const std::string& child) const {
  std::string p = path_;
  if (!child.empty()) p = (p == "/" ? "/" : p + "/") + child;
  return file_ + ":" + p;
}

Group Group::create_group(const std::string& name) const {
  Handle g(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, no_times(H5P_GROUP_CREATE).id(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) write_fail(where(name), "create group");
  return Group(std::move(g), file_, path_ == "/" ? "/" + name : path_ + "/" + name);
}

bool Group::has(const std::string& name) const {
  // H5Lexists only checks the last component; walk intermediate components.
  std::string prefix;
  std::stringstream ss(name);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    prefix += (prefix.empty() ? "" : "/") + part;
    if (H5Lexists(id(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return !prefix.empty();
}

Group Group::open_group(const std::string& name) const {
  if (!has(name)) read_fail(where(name), "missing group");
  Handle g(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) read_fail(where(name), "not a group");
  return Group(std::move(g), file_, path_ == "/" ? "/" + name : path_ + "/" + name);
}

template <class T>
void Group::write(const std::string& name, const std::vector<T>& data, std::vector<hsize_t> dims) const {
  if (dims.empty()) dims = {static_cast<hsize_t>(data.size())};
  hsize_t n = 1;
  for (auto d : dims) n *= d;
  FEDSIM_ASSERT_MSG(n == data.size(), where(name) << ": shape does not match " << data.size() << " values");
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  if (!space.valid()) write_fail(where(name), "create dataspace for");
  Handle ds(H5Dcreate2(id(), name.c_str(), mem_type<T>(), space.id(), H5P_DEFAULT, no_times(H5P_DATASET_CREATE).id(),
                       H5P_DEFAULT),
            H5Dclose);
  if (!ds.valid()) write_fail(where(name), "create dataset");
  if (n > 0 && H5Dwrite(ds.id(), mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
    write_fail(where(name), "write dataset");
}

std::vector<hsize_t> Group::shape(const std::string& name) const {
  if (!has(name)) read_fail(where(name), "missing dataset");
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) read_fail(where(name), "not a dataset");
  Handle space(H5Dget_space(ds.id()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 0) read_fail(where(name), "unreadable dataspace");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return dims;
}

template <class T>
std::vector<T> Group::read(const std::string& name, std::vector<hsize_t>* dims_out) const {
  if (!has(name)) read_fail(where(name), "missing dataset");
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) read_fail(where(name), "not a dataset");
  Handle ftype(H5Dget_type(ds.id()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(ftype.id());
  const bool want_float = std::is_floating_point<T>::value;
  if ((want_float && cls != H5T_FLOAT) || (!want_float && cls != H5T_INTEGER))
    read_fail(where(name), std::string("expected a ") + type_name<T>() + " dataset");
  const std::vector<hsize_t> dims = shape(name);
  const hsize_t n = checked_count(ds.id(), dims, H5Tget_size(ftype.id()), where(name));
  std::vector<T> out(n);
  if (n > 0 && H5Dread(ds.id(), mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    read_fail(where(name), "cannot read dataset");
  if (dims_out) *dims_out = dims;
  return out;
}

void Group::write_strings(const std::string& name, const std::vector<std::string>& s) const {
  std::vector<const char*> ptrs(s.size());
  for (size_t i = 0; i < s.size(); ++i) ptrs[i] = s[i].c_str();
  Handle t = string_type();
  hsize_t n = s.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle ds(H5Dcreate2(id(), name.c_str(), t.id(), space.id(), H5P_DEFAULT, no_times(H5P_DATASET_CREATE).id(), H5P_DEFAULT),
            H5Dclose);
  if (!ds.valid()) write_fail(where(name), "create dataset");
  if (n > 0 && H5Dwrite(ds.id(), t.id(), H5S_ALL, H5S_ALL, string_transfer(n).id(), ptrs.data()) < 0)
    write_fail(where(name), "write dataset");
}

std::vector<std::string> Group::read_strings(const std::string& name) const {
  if (!has(name)) read_fail(where(name), "missing dataset");
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) read_fail(where(name), "not a dataset");
  Handle ftype(H5Dget_type(ds.id()), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_STRING || H5Tis_variable_str(ftype.id()) <= 0)
    read_fail(where(name), "expected a variable-length string dataset");
  const std::vector<hsize_t> dims = shape(name);
  if (dims.size() != 1) read_fail(where(name), "expected a 1-D string dataset");
  checked_count(ds.id(), dims, 8, where(name));  // a stored string reference takes 16 bytes
  std::vector<char*> ptrs(dims[0], nullptr);
  Handle t = string_type();
  if (dims[0] > 0 && H5Dread(ds.id(), t.id(), H5S_ALL, H5S_ALL, string_transfer(dims[0]).id(), ptrs.data()) < 0)
    read_fail(where(name), "cannot read dataset");
  std::vector<std::string> out(dims[0]);
  for (size_t i = 0; i < ptrs.size(); ++i) out[i] = ptrs[i] ? ptrs[i] : "";
  if (dims[0] > 0) {
    Handle space(H5Dget_space(ds.id()), H5Sclose);
    H5Dvlen_reclaim(t.id(), space.id(), H5P_DEFAULT, ptrs.data());
  }
  return out;
}

namespace {
void write_attr(const Group& g, const std::string& name, hid_t type, const void* v) {
  if (H5Aexists(g.id(), name.c_str()) > 0) H5Adelete(g.id(), name.c_str());
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(g.id(), name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.id(), type, v) < 0) write_fail(g.where() + "@" + name, "write attribute");
}
Handle open_attr(const Group& g, const std::string& name) {
  if (H5Aexists(g.id(), name.c_str()) <= 0) read_fail(g.where() + "@" + name, "missing attribute");
  Handle a(H5Aopen(g.id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.valid()) read_fail(g.where() + "@" + name, "cannot open attribute");
  check_scalar_attr(a.id(), g.where() + "@" + name);
  return a;
}
}  // namespace

void Group::set_attr(const std::string& name, const std::string& v) const {
  Handle t = string_type();
  const char* p = v.c_str();
  write_attr(*this, name, t.id(), &p);
}
void Group::set_attr(const std::string& name, int64_t v) const { write_attr(*this, name, H5T_NATIVE_INT64, &v); }
void Group::set_attr(const std::string& name, double v) const { write_attr(*this, name, H5T_NATIVE_DOUBLE, &v); }
bool Group::has_attr(const std::string& name) const { return H5Aexists(id(), name.c_str()) > 0; }

std::string Group::attr_string(const std::string& name) const {
  Handle a = open_attr(*this, name);
  Handle ftype(H5Aget_type(a.id()), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_STRING) read_fail(where() + "@" + name, "expected a string attribute");
  if (H5Tis_variable_str(ftype.id()) > 0) {
    Handle t = string_type();
    char* p = nullptr;
    if (H5Aread(a.id(), t.id(), &p) < 0) read_fail(where() + "@" + name, "cannot read attribute");
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const size_t n = H5Tget_size(ftype.id());
  if (n > (size_t(1) << 26)) read_fail(where() + "@" + name, "string attribute of " + std::to_string(n) + " bytes is too long");
  std::string s(n, '\0');
  if (H5Aread(a.id(), ftype.id(), s.data()) < 0) read_fail(where() + "@" + name, "cannot read attribute");
  s.resize(s.find('\0') == std::string::npos ? n : s.find('\0'));
  return s;
}
int64_t Group::attr_int(const std::string& name) const {
  Handle a = open_attr(*this, name);
  Handle ftype(H5Aget_type(a.id()), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_INTEGER) read_fail(where() + "@" + name, "expected an integer attribute");
  int64_t v = 0;
  if (H5Aread(a.id(), H5T_NATIVE_INT64, &v) < 0) read_fail(where() + "@" + name, "cannot read attribute");
  return v;
}
double Group::attr_double(const std::string& name) const {
  Handle a = open_attr(*this, name);
  double v = 0;
  if (H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v) < 0) read_fail(where() + "@" + name, "cannot read attribute");
  return v;
}

File File::create(const std::string& path) {
  // Strong close: closing the file closes every object still open in it, so AtomicFile's
  // commit() has really written and closed the file before it is renamed, even while a caller
  // still holds group handles (with HDF5's default weak close the file would stay open).
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_STRONG) < 0)
    throw InternalError("HDF5: cannot make a file access property list");
  Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, no_times(H5P_FILE_CREATE).id(), fapl.id()), H5Fclose);
  if (!f.valid()) throw UserError(path + ": cannot create HDF5 file (check that the folder exists and is writable)");
  return File(std::move(f), path);
}

File File::open_read(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw UserError(path + ": no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw UserError(path + ": not an HDF5 file (truncated or foreign)");
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.valid()) throw UserError(path + ": cannot open HDF5 file (truncated or corrupt)");
  return File(std::move(f), path);
}

Group File::root() const {
  Handle g(H5Gopen2(h_.id(), "/", H5P_DEFAULT), H5Gclose);
  if (!g.valid()) throw UserError(path_ + ": cannot open root group");
  return Group(std::move(g), path_, "/");
}

void File::flush() const {
  if (H5Fflush(h_.id(), H5F_SCOPE_GLOBAL) < 0) throw InternalError("HDF5: cannot flush " + path_);
}

AtomicFile::AtomicFile(std::string final_path) : final_(std::move(final_path)) {
  tmp_ = final_ + ".tmp-" + std::to_string(::getpid());
  file_ = new File(File::create(tmp_));
}

AtomicFile::~AtomicFile() {
  delete file_;
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::commit() {
  FEDSIM_ASSERT(!committed_);
  file_->close();
  fsync_path(tmp_);
  if (std::rename(tmp_.c_str(), final_.c_str()) != 0)
    throw UserError(final_ + ": cannot rename " + tmp_ + " into place");
  committed_ = true;
  fsync_path(std::filesystem::path(final_).parent_path().empty() ? "." : std::filesystem::path(final_).parent_path().string());
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;  // best effort for directories on odd file systems
  ::fsync(fd);
  ::close(fd);
}

void atomic_write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream os(tmp, std::ios::binary);
    if (!os) throw UserError(path + ": cannot write (check that the folder exists and is writable)");
    os << text;
    if (!os) throw UserError(path + ": write failed");
  }
  fsync_path(tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw UserError(path + ": cannot rename into place");
  }
}

void set_format(const Group& root, const std::string& kind, int64_t version) {
  root.set_attr("format", kind);
  root.set_attr("format_version", version);
}

void write_header(const Group& root, const std::string& kind, int64_t version, const std::string& fedsim_version) {
  set_format(root, kind, version);
  root.set_attr("fedsim_version", fedsim_version);
}

void check_format(const File& f, const std::string& kind, int64_t version) {
  const Group r = f.root();
  if (!r.has_attr("format") || r.attr_string("format") != kind)
    throw UserError(f.path() + ": not a " + kind + " file (root attribute 'format' is missing or differs)");
  const int64_t v = r.attr_int("format_version");
  if (v != version)
    throw UserError(f.path() + ": " + kind + " format_version " + std::to_string(v) + " is not supported; this fedsim reads version " +
                    std::to_string(version) + " (regenerate the file with this fedsim)");
}

namespace {
template <class V>
V column_of(V v, const Group& g, const std::string& name, size_t n) {
  if (v.size() != n) throw UserError(g.where(name) + ": expected " + std::to_string(n) + " values, got " + std::to_string(v.size()));
  return v;
}
}  // namespace

template <class T>
std::vector<T> read_column(const Group& g, const std::string& name, size_t n) {
  return column_of(g.read<T>(name), g, name, n);
}
std::vector<std::string> read_string_column(const Group& g, const std::string& name, size_t n) {
  return column_of(g.read_strings(name), g, name, n);
}

#define FEDSIM_H5_INSTANTIATE(T)                                                                   \
  template void Group::write<T>(const std::string&, const std::vector<T>&, std::vector<hsize_t>) const; \
  template std::vector<T> Group::read<T>(const std::string&, std::vector<hsize_t>*) const;  \
  template std::vector<T> read_column<T>(const Group&, const std::string&, size_t);
FEDSIM_H5_INSTANTIATE(float)
FEDSIM_H5_INSTANTIATE(double)
FEDSIM_H5_INSTANTIATE(int32_t)
FEDSIM_H5_INSTANTIATE(int64_t)
FEDSIM_H5_INSTANTIATE(uint8_t)
FEDSIM_H5_INSTANTIATE(uint64_t)

}  // namespace fedsim::h5
