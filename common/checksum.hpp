// CRC-32 (the zlib/PNG polynomial, zlib's implementation) of the bytes fedsim stores: every
// dataset of a file fedsim writes carries one over its values (common/h5.hpp), and a checkpoint's
// history journal keeps a running one (sim/checkpoint.hpp). Values are hashed as their
// little-endian bytes, so a file checks on any host.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace fedsim {

// Continues `crc` (0 to start) over n bytes.
inline uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (n > 0) {  // zlib takes uInt lengths
    const uInt step = n > (1u << 30) ? (1u << 30) : static_cast<uInt>(n);
    c = ::crc32(c, p, step);
    p += step;
    n -= step;
  }
  return static_cast<uint32_t>(c);
}

// CRC-32 of n arithmetic values as little-endian bytes.
template <class T>
uint32_t crc32_values(const T* v, size_t n) {
  static_assert(std::is_arithmetic<T>::value, "crc32_values: arithmetic values only");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint32_t crc = 0;
  for (size_t i = 0; i < n; ++i) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v[i], sizeof(T));
    for (size_t j = 0; j < sizeof(T) / 2; ++j) std::swap(b[j], b[sizeof(T) - 1 - j]);
    crc = crc32_update(crc, b, sizeof(T));
  }
  return crc;
#else
  return crc32_update(0, v, n * sizeof(T));
#endif
}

template <class T>
uint32_t crc32_values(const std::vector<T>& v) {
  return crc32_values(v.data(), v.size());
}

}  // namespace fedsim
