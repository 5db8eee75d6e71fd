#include "h5.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "checksum.hpp"
#include "error.hpp"
#include "h5_detail.hpp"

namespace fedsim::h5 {
namespace detail {

// HDF5's default error handler prints a stack on every failed call, including the probes we
// make on purpose (H5Lexists on a missing parent, opening a non-HDF5 file). We report errors
// ourselves, so silence it once.
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const SilenceHdf5 silence_hdf5_once;

[[noreturn]] void write_fail(const std::string& where, const char* what) {
  throw InternalError("HDF5: cannot " + std::string(what) + " " + where);
}
[[noreturn]] void read_fail(const std::string& where, const std::string& what) { throw UserError(where + ": " + what); }

Handle no_times(hid_t cls) {
  Handle p(H5Pcreate(cls), H5Pclose);
  if (!p.valid() || H5Pset_obj_track_times(p.id(), 0) < 0) throw InternalError("HDF5: cannot make a creation property list");
  return p;
}

// File access: strong close (closing the file closes every object still open in it, so a
// commit really has the whole file even while a caller still holds group handles) and the 1.8
// format at least, whose metadata HDF5 checksums.
Handle file_access() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_STRONG) < 0 ||
      H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
    throw InternalError("HDF5: cannot make a file access property list");
  return fapl;
}

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

void check_scalar_attr(hid_t a, const std::string& where) {
  Handle space(H5Aget_space(a), H5Sclose);
  const hssize_t n = space.valid() ? H5Sget_simple_extent_npoints(space.id()) : -1;
  if (n != 1) read_fail(where, "expected a single value, found " + std::to_string(n) + " values");
}

void write_attr(hid_t obj, const std::string& name, hid_t type, const void* v, const std::string& where) {
  if (H5Aexists(obj, name.c_str()) > 0 && H5Adelete(obj, name.c_str()) < 0) write_fail(where + "@" + name, "replace attribute");
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.id(), type, v) < 0 || a.close() < 0) write_fail(where + "@" + name, "write attribute");
}

Handle open_dataset(const Group& g, const std::string& name) {
  if (!g.has(name)) read_fail(g.where(name), "missing dataset");
  H5O_info_t info;
  if (H5Oget_info_by_name(g.id(), name.c_str(), &info, H5P_DEFAULT) < 0) read_fail(g.where(name), "unreadable object (damaged file)");
  if (info.type != H5O_TYPE_DATASET) read_fail(g.where(name), "not a dataset");
  Handle ds(H5Dopen2(g.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) read_fail(g.where(name), "cannot open dataset (damaged file)");
  return ds;
}

void check_crc(hid_t ds, uint32_t computed, bool required, const std::string& where) {
  const htri_t has = H5Aexists(ds, kChecksumAttr);
  if (has < 0) read_fail(where, "cannot read its attributes (damaged file)");
  if (has == 0) {
    if (required) read_fail(where, "has no crc32 checksum; the file is damaged or was not written by this fedsim");
    return;
  }
  const std::string at = where + "@" + kChecksumAttr;
  Handle a(H5Aopen(ds, kChecksumAttr, H5P_DEFAULT), H5Aclose);
  if (!a.valid()) read_fail(at, "cannot open attribute (damaged file)");
  check_scalar_attr(a.id(), at);
  Handle t(H5Aget_type(a.id()), H5Tclose);
  if (H5Tget_class(t.id()) != H5T_INTEGER) read_fail(at, "expected an integer checksum");
  uint32_t stored = 0;
  if (H5Aread(a.id(), H5T_NATIVE_UINT32, &stored) < 0) read_fail(at, "cannot read attribute (damaged file)");
  if (stored != computed) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "checksum mismatch (crc32 stored %08x, computed %08x): the file is damaged",
                  static_cast<unsigned>(stored), static_cast<unsigned>(computed));
    read_fail(where, buf);
  }
}

}  // namespace detail

using namespace detail;

namespace {

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

Handle open_attr(const Group& g, const std::string& name) {
  const std::string where = g.where() + "@" + name;
  const htri_t has = H5Aexists(g.id(), name.c_str());
  if (has < 0) read_fail(where, "cannot read attributes (damaged file)");
  if (has == 0) read_fail(where, "missing attribute");
  Handle a(H5Aopen(g.id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.valid()) read_fail(where, "cannot open attribute");
  check_scalar_attr(a.id(), where);
  return a;
}

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

void Handle::reset() { (void)close(); }

herr_t Handle::close() {
  herr_t r = 0;
  if (id_ >= 0 && closer_) r = closer_(id_);
  id_ = H5I_INVALID_HID;
  return r;
}

std::string Group::where(const std::string& child) const {
  std::string p = path_;
  if (!child.empty()) p = (p == "/" ? "/" : p + "/") + child;
  return file_ + ":" + p;
}

Group Group::create_group(const std::string& name) const {
  Handle g(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, no_times(H5P_GROUP_CREATE).id(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) write_fail(where(name), "create group");
  return Group(std::move(g), file_, path_ == "/" ? "/" + name : path_ + "/" + name, checked_);
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
  H5O_info_t info;
  if (H5Oget_info_by_name(id(), name.c_str(), &info, H5P_DEFAULT) < 0) read_fail(where(name), "unreadable object (damaged file)");
  if (info.type != H5O_TYPE_GROUP) read_fail(where(name), "not a group");
  Handle g(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) read_fail(where(name), "not a group");
  return Group(std::move(g), file_, path_ == "/" ? "/" + name : path_ + "/" + name, checked_);
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
  const uint32_t crc = crc32_values(data);
  write_attr(ds.id(), kChecksumAttr, H5T_NATIVE_UINT32, &crc, where(name));
  if (ds.close() < 0) write_fail(where(name), "close dataset");
}

std::vector<hsize_t> Group::shape(const std::string& name) const {
  Handle ds = open_dataset(*this, name);
  Handle space(H5Dget_space(ds.id()), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.id()) : -1;
  if (rank < 0) read_fail(where(name), "unreadable dataspace");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr) < 0) read_fail(where(name), "unreadable dataspace");
  return dims;
}

size_t Group::length(const std::string& name) const {
  const std::string at = has(name + "/ends") ? name + "/ends" : name;  // a text column, or a dataset
  Handle ds = open_dataset(*this, at);
  const std::vector<hsize_t> dims = shape(at);
  if (dims.size() != 1)
    read_fail(where(at), "expected a 1-D dataset, found " + std::to_string(dims.size()) + " dimension(s)");
  Handle ftype(H5Dget_type(ds.id()), H5Tclose);
  const size_t elem = H5Tis_variable_str(ftype.id()) > 0 ? 16 : std::max<size_t>(1, H5Tget_size(ftype.id()));
  return static_cast<size_t>(checked_count(ds.id(), dims, elem, where(at)));
}

template <class T>
std::vector<T> Group::read(const std::string& name, std::vector<hsize_t>* dims_out) const {
  Handle ds = open_dataset(*this, name);
  Handle ftype(H5Dget_type(ds.id()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(ftype.id());
  const bool want_float = std::is_floating_point<T>::value;
  // A file with checksums holds exactly the type it was written with (the checksum is over those bytes).
  const bool exact = !checked_ || H5Tget_size(ftype.id()) == sizeof(T);
  if ((want_float && cls != H5T_FLOAT) || (!want_float && cls != H5T_INTEGER) || !exact)
    read_fail(where(name), std::string("expected a ") + type_name<T>() + " dataset");
  const std::vector<hsize_t> dims = shape(name);
  const hsize_t n = checked_count(ds.id(), dims, H5Tget_size(ftype.id()), where(name));
  std::vector<T> out(n);
  if (n > 0 && H5Dread(ds.id(), mem_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    read_fail(where(name), "cannot read dataset (damaged file)");
  check_crc(ds.id(), crc32_values(out), checked_, where(name));
  if (dims_out) *dims_out = dims;
  return out;
}

void Group::set_attr(const std::string& name, const std::string& v) const {
  // Fixed length, padded with NULs (no terminator needed): stored in the object header, not
  // in the global heap. HDF5 types cannot be 0 bytes long; "" is one NUL.
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!t.valid() || H5Tset_size(t.id(), std::max<size_t>(1, v.size())) < 0 || H5Tset_strpad(t.id(), H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(t.id(), H5T_CSET_UTF8) < 0)
    throw InternalError("HDF5: cannot make a string type");
  const std::string padded = v.empty() ? std::string(1, '\0') : v;
  write_attr(id(), name, t.id(), padded.data(), where());
}
void Group::set_attr(const std::string& name, int64_t v) const { write_attr(id(), name, H5T_NATIVE_INT64, &v, where()); }
void Group::set_attr(const std::string& name, double v) const { write_attr(id(), name, H5T_NATIVE_DOUBLE, &v, where()); }
bool Group::has_attr(const std::string& name) const { return H5Aexists(id(), name.c_str()) > 0; }

std::string Group::attr_string(const std::string& name) const {
  Handle a = open_attr(*this, name);
  const std::string where_attr = where() + "@" + name;
  Handle ftype(H5Aget_type(a.id()), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_STRING) read_fail(where_attr, "expected a string attribute");
  if (H5Tis_variable_str(ftype.id()) > 0) {
    // The global heap: never in a file with checksums (fedsim writes fixed-length text).
    if (checked_) read_fail(where_attr, "expected a fixed-length string, found a variable-length one (damaged file)");
    Handle t = vlen_string_type();
    char* p = nullptr;
    if (H5Aread(a.id(), t.id(), &p) < 0) read_fail(where_attr, "cannot read attribute");
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const size_t n = H5Tget_size(ftype.id());
  if (n > (size_t(1) << 26)) read_fail(where_attr, "string attribute of " + std::to_string(n) + " bytes is too long");
  std::string s(n, '\0');
  if (H5Aread(a.id(), ftype.id(), s.data()) < 0) read_fail(where_attr, "cannot read attribute");
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
  Handle ftype(H5Aget_type(a.id()), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_FLOAT && H5Tget_class(ftype.id()) != H5T_INTEGER)
    read_fail(where() + "@" + name, "expected a number attribute");
  double v = 0;
  if (H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v) < 0) read_fail(where() + "@" + name, "cannot read attribute");
  return v;
}

File File::create(const std::string& path) {
  Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, no_times(H5P_FILE_CREATE).id(), file_access().id()), H5Fclose);
  if (!f.valid()) throw UserError(path + ": cannot create HDF5 file (check that the folder exists and is writable)");
  return File(std::move(f), path, false);
}

File File::open_read(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw UserError(path + ": " + (errno == ENOENT ? "no such file" : system_reason(errno)));
  // A FIFO would block H5Fis_hdf5, a folder gives HDF5's own confusing error.
  if (!S_ISREG(st.st_mode)) throw UserError(path + ": not a regular file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw UserError(path + ": not an HDF5 file (truncated or foreign)");
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.valid()) throw UserError(path + ": cannot open HDF5 file (truncated or damaged)");
  const htri_t marked = H5Aexists(f.id(), kIntegrityAttr);
  if (marked < 0) throw UserError(path + ": cannot read the root group's attributes (damaged file)");
  File out(std::move(f), path, false);
  if (marked > 0) {
    const std::string v = out.root().attr_string(kIntegrityAttr);
    if (v != "crc32") throw UserError(path + ":/@" + kIntegrityAttr + ": '" + v + "' is not supported; accepted: crc32");
    out.checked_ = true;
  }
  return out;
}

Group File::root() const {
  Handle g(H5Gopen2(h_.id(), "/", H5P_DEFAULT), H5Gclose);
  if (!g.valid()) throw UserError(path_ + ": cannot open root group (damaged file)");
  return Group(std::move(g), path_, "/", checked_);
}

void File::flush() const {
  if (H5Fflush(h_.id(), H5F_SCOPE_GLOBAL) < 0) throw InternalError("HDF5: cannot flush " + path_);
}

void File::close() {
  if (h_.valid() && h_.close() < 0) throw InternalError("HDF5: cannot close " + path_);
}

void set_format(const Group& root, const std::string& kind, int64_t version) {
  root.set_attr("format", kind);
  root.set_attr("format_version", version);
  root.set_attr(kIntegrityAttr, "crc32");
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
  if (!f.checked())
    throw UserError(f.path() + ": has no checksums (root attribute '" + kIntegrityAttr +
                    "' is missing); the file is damaged or was not written by this fedsim");
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

std::string system_reason(int err) { return std::strerror(err); }

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
