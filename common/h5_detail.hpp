// Helpers shared by h5.cpp, h5_text.cpp and h5_atomic.cpp (not part of the public API).
#pragma once

#include <string>
#include <vector>

#include "h5.hpp"

namespace fedsim::h5::detail {

[[noreturn]] void write_fail(const std::string& where, const char* what);
[[noreturn]] void read_fail(const std::string& where, const std::string& what);
// Creation properties without modification times: HDF5 stamps every object header with the
// time it was written by default, so two identical runs would write different bytes.
Handle no_times(hid_t cls);
Handle file_access();
// Number of elements of `dims`, refusing what the file cannot hold. A hostile file declares
// shapes it does not store (2^40 elements in a few hundred bytes, or dimensions whose product
// wraps): refuse them before allocating. Stored bytes must cover the elements; chunked data may
// be compressed, up to deflate's best ratio (about 1032:1).
hsize_t checked_count(hid_t ds, const std::vector<hsize_t>& dims, size_t elem_bytes, const std::string& where);
// Attributes are read into one value: refuse arrays (HDF5 would write past it).
void check_scalar_attr(hid_t a, const std::string& where);
void write_attr(hid_t obj, const std::string& name, hid_t type, const void* v, const std::string& where);
// Opens g/name, a dataset (UserError naming it otherwise).
Handle open_dataset(const Group& g, const std::string& name);
// Compares a dataset's crc32 attribute with `computed`; a missing one is refused when `required`.
void check_crc(hid_t ds, uint32_t computed, bool required, const std::string& where);
// The variable-length UTF-8 string type (legacy files only).
Handle vlen_string_type();

}  // namespace fedsim::h5::detail
