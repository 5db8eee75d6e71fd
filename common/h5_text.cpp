// Text columns. fedsim stores n strings as the group `name` with two datasets, `bytes` (uint8,
// the strings one after the other) and `ends` (int64, n end offsets), each with its crc32: no
// variable-length type, so nothing goes through HDF5's global heap, and any byte (NUL
// included) survives.
//
// Older files (fedsim data sets of format 1 and 2, files from other tools) hold text as 1-D
// datasets of variable-length strings: each element is a reference (length, collection address,
// object index) into a global heap collection, and libhdf5 1.10 follows a damaged reference
// without checking it (a crash in H5HG_read, or an endless loop). Before libhdf5 reads such a
// dataset, every reference is checked here against the file itself (HDF5 file format
// specification, "Global Heap" and "Variable-length Datatype"): the collection must lie inside
// the file, start with "GCOL" version 1, hold well-formed objects that stay inside it, and hold
// the referenced object with at least the referenced length. What stays unchecked: text
// attributes of such files (their references sit in object headers the API does not expose).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "error.hpp"
#include "h5_detail.hpp"

namespace fedsim::h5 {
namespace detail {

Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!t.valid() || H5Tset_size(t.id(), H5T_VARIABLE) < 0 || H5Tset_cset(t.id(), H5T_CSET_UTF8) < 0)
    throw InternalError("HDF5: cannot make a string type");
  return t;
}

}  // namespace detail

using namespace detail;

namespace {

// Little-endian unsigned integer of `n` bytes (HDF5's encoding of addresses and lengths).
uint64_t le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
  return v;
}

class RawFile {
 public:
  RawFile(const std::string& path, const std::string& where) : where_(where) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd_ < 0 || ::fstat(fd_, &st) != 0) read_fail(where, "cannot read the file's bytes: " + system_reason(errno));
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~RawFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  uint64_t size() const { return size_; }
  std::vector<uint8_t> read(uint64_t at, uint64_t n, const char* what) const {
    if (at > size_ || n > size_ - at) read_fail(where_, std::string(what) + " lies outside the file (damaged file)");
    std::vector<uint8_t> b(n);
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, b.data() + done, n - done, static_cast<off_t>(at + done));
      if (r <= 0) read_fail(where_, "cannot read the file's bytes: " + system_reason(r == 0 ? EIO : errno));
      done += static_cast<size_t>(r);
    }
    return b;
  }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string where_;
};

// Objects of one global heap collection: index -> size. UserError unless well formed.
std::map<uint32_t, uint64_t> heap_objects(const RawFile& f, uint64_t at, size_t L, const std::string& where) {
  const std::vector<uint8_t> head = f.read(at, 8 + L, "a global heap collection");
  if (std::memcmp(head.data(), "GCOL", 4) != 0 || head[4] != 1)
    read_fail(where, "a string refers to a global heap collection without its signature (damaged file)");
  const uint64_t size = le(head.data() + 8, L);
  if (size < 8 + L || size > f.size() - at) read_fail(where, "a global heap collection's size runs past the file (damaged file)");
  const std::vector<uint8_t> c = f.read(at, size, "a global heap collection");
  std::map<uint32_t, uint64_t> objects;
  for (uint64_t p = 8 + L; p + 8 + L <= size;) {
    const uint32_t index = static_cast<uint32_t>(le(&c[p], 2));
    const uint64_t n = le(&c[p + 8], L);
    if (index == 0) break;  // free space: the rest of the collection
    const uint64_t padded = (n + 7) / 8 * 8;
    if (n > size || padded > size - (p + 8 + L))
      read_fail(where, "a global heap object runs past its collection (damaged file)");
    if (!objects.emplace(index, n).second) read_fail(where, "a global heap collection lists an object twice (damaged file)");
    p += 8 + L + padded;
  }
  return objects;
}

// Every element of a contiguous dataset of variable-length strings refers to an existing heap
// object of at least its length.
void check_vlen_references(hid_t ds, size_t n, const std::string& file, const std::string& where) {
  Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (!dcpl.valid() || H5Pget_layout(dcpl.id()) != H5D_CONTIGUOUS)
    read_fail(where, "variable-length strings not stored contiguously; fedsim checks and reads only contiguous ones "
                     "(rewrite the file with this fedsim)");
  Handle fid(H5Iget_file_id(ds), H5Fclose);
  Handle fcpl(fid.valid() ? H5Fget_create_plist(fid.id()) : H5I_INVALID_HID, H5Pclose);
  size_t O = 0, L = 0;
  hsize_t base = 0;
  if (!fcpl.valid() || H5Pget_sizes(fcpl.id(), &O, &L) < 0 || H5Pget_userblock(fcpl.id(), &base) < 0 ||
      O < 2 || O > 8 || L < 2 || L > 8)
    read_fail(where, "unsupported address sizes in the file's superblock");
  const haddr_t raw = H5Dget_offset(ds);
  if (raw == HADDR_UNDEF) read_fail(where, "strings declared but not stored (damaged file)");
  const RawFile f(file, where);
  const size_t elem = 4 + O + 4;
  const std::vector<uint8_t> refs = f.read(raw, static_cast<uint64_t>(n) * elem, "the strings' references");
  std::map<uint64_t, std::map<uint32_t, uint64_t>> seen;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = refs.data() + i * elem;
    const uint64_t len = le(r, 4), addr = le(r + 4, O);
    const uint32_t index = static_cast<uint32_t>(le(r + 4 + O, 4));
    if (addr == 0) {  // a null reference: HDF5 reads it as no string without touching the heap
      if (len != 0) read_fail(where, "string " + std::to_string(i) + " has a length but no heap object (damaged file)");
      continue;
    }
    auto it = seen.find(addr);
    if (it == seen.end()) it = seen.emplace(addr, heap_objects(f, base + addr, L, where)).first;
    const auto obj = it->second.find(index);
    if (obj == it->second.end() || obj->second < len)
      read_fail(where, "string " + std::to_string(i) + " refers to a missing or shorter global heap object (damaged file)");
  }
}

std::vector<std::string> read_vlen_strings(const Group& g, const std::string& name) {
  Handle ds = open_dataset(g, name);
  Handle ftype(H5Dget_type(ds.id()), H5Tclose);
  if (H5Tget_class(ftype.id()) != H5T_STRING || H5Tis_variable_str(ftype.id()) <= 0)
    g.checked() ? read_fail(g.where(name), "expected a text column (a group of bytes and ends)")
                : read_fail(g.where(name), "expected a variable-length string dataset");
  if (g.checked())
    read_fail(g.where(name), "expected a text column (a group of bytes and ends), found variable-length strings "
                             "(damaged file)");
  const std::vector<hsize_t> dims = g.shape(name);
  if (dims.size() != 1) read_fail(g.where(name), "expected a 1-D string dataset");
  checked_count(ds.id(), dims, 16, g.where(name));  // a stored string reference takes 16 bytes
  check_vlen_references(ds.id(), dims[0], g.file(), g.where(name));
  std::vector<char*> ptrs(dims[0], nullptr);
  Handle t = vlen_string_type();
  // HDF5 callocs a conversion buffer of the transfer's size (1 MiB by default) per read: size it
  // to the data.
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  if (!dxpl.valid() || H5Pset_buffer(dxpl.id(), std::max<size_t>(4096, dims[0] * 32), nullptr, nullptr) < 0)
    throw InternalError("HDF5: cannot make a transfer property list");
  if (dims[0] > 0 && H5Dread(ds.id(), t.id(), H5S_ALL, H5S_ALL, dxpl.id(), ptrs.data()) < 0)
    read_fail(g.where(name), "cannot read dataset");
  std::vector<std::string> out(dims[0]);
  for (size_t i = 0; i < ptrs.size(); ++i) out[i] = ptrs[i] ? ptrs[i] : "";
  if (dims[0] > 0) {
    Handle space(H5Dget_space(ds.id()), H5Sclose);
    H5Dvlen_reclaim(t.id(), space.id(), H5P_DEFAULT, ptrs.data());
  }
  return out;
}

}  // namespace

void Group::write_strings(const std::string& name, const std::vector<std::string>& s) const {
  size_t total = 0;
  for (const auto& x : s) total += x.size();
  std::vector<uint8_t> bytes;
  bytes.reserve(total);
  std::vector<int64_t> ends;
  ends.reserve(s.size());
  for (const auto& x : s) {
    bytes.insert(bytes.end(), x.begin(), x.end());
    ends.push_back(static_cast<int64_t>(bytes.size()));
  }
  const Group g = create_group(name);
  g.write("bytes", bytes);
  g.write("ends", ends);
}

std::vector<std::string> Group::read_strings(const std::string& name) const {
  if (!has(name)) read_fail(where(name), "missing text column");
  H5O_info_t info;
  if (H5Oget_info_by_name(id(), name.c_str(), &info, H5P_DEFAULT) < 0) read_fail(where(name), "unreadable object (damaged file)");
  if (info.type == H5O_TYPE_DATASET) return read_vlen_strings(*this, name);
  const Group g = open_group(name);
  std::vector<hsize_t> bdims, edims;
  const std::vector<uint8_t> bytes = g.read<uint8_t>("bytes", &bdims);
  const std::vector<int64_t> ends = g.read<int64_t>("ends", &edims);
  if (bdims.size() != 1 || edims.size() != 1) read_fail(where(name), "expected 1-D bytes and ends");
  std::vector<std::string> out(ends.size());
  int64_t at = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    if (ends[i] < at || ends[i] > static_cast<int64_t>(bytes.size()))
      read_fail(g.where("ends"), "value " + std::to_string(ends[i]) + " at index " + std::to_string(i) +
                                     " is not an end offset in [" + std::to_string(at) + ", " +
                                     std::to_string(bytes.size()) + "]");
    out[i].assign(reinterpret_cast<const char*>(bytes.data()) + at, static_cast<size_t>(ends[i] - at));
    at = ends[i];
  }
  if (at != static_cast<int64_t>(bytes.size()))
    read_fail(g.where("ends"), "ends at " + std::to_string(at) + " but " + g.where("bytes") + " holds " +
                                   std::to_string(bytes.size()) + " bytes");
  return out;
}

}  // namespace fedsim::h5
