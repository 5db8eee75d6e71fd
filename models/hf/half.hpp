// 16-bit floating-point formats, as bit patterns. bfloat16: the upper half of an IEEE binary32
// (Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training", sec. 2); binary16:
// IEEE 754-2008 half precision (1 sign, 5 exponent, 10 fraction bits). Narrowing rounds to
// nearest, ties to even, as torch's conversions do. Callable in kernels when Kokkos is
// included first (kernels/dense.hpp), else plain host functions.
#pragma once

#include <cstdint>

#ifdef KOKKOS_INLINE_FUNCTION
#define FEDSIM_HOST_DEVICE KOKKOS_INLINE_FUNCTION
#else
#define FEDSIM_HOST_DEVICE inline
#endif

namespace fedsim::models {

using Bf16 = uint16_t;

FEDSIM_HOST_DEVICE float bits_to_float(uint32_t u) {
  union {
    uint32_t u;
    float f;
  } x;
  x.u = u;
  return x.f;
}
FEDSIM_HOST_DEVICE uint32_t float_to_bits(float f) {
  union {
    uint32_t u;
    float f;
  } x;
  x.f = f;
  return x.u;
}

FEDSIM_HOST_DEVICE float bf16_to_float(Bf16 h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }
FEDSIM_HOST_DEVICE Bf16 float_to_bf16(float f) {
  const uint32_t u = float_to_bits(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return static_cast<Bf16>((u >> 16) | 0x40u);  // NaN
  const uint32_t round = 0x7fffu + ((u >> 16) & 1u);  // to nearest, ties to even
  return static_cast<Bf16>((u + round) >> 16);
}

// binary16 -> binary32, exact (subnormals, infinities and NaNs included).
FEDSIM_HOST_DEVICE float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (frac << 13));  // inf, NaN
  if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (frac << 13));
  // Subnormal: frac * 2^-24, exact in float.
  const float v = static_cast<float>(frac) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}
// binary32 -> binary16, round to nearest even; overflow to infinity.
FEDSIM_HOST_DEVICE uint16_t float_to_f16(float f) {
  const uint32_t u = float_to_bits(f), sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504: infinity
  if (a < 0x38800000u) {  // below 2^-14: subnormal (or zero) in half
    const uint32_t shift = 126u - (a >> 23);  // 14 - (e - 127) + 13 - ... : bits to drop + 1
    if (shift > 24) return static_cast<uint16_t>(sign);
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    return static_cast<uint16_t>(sign | (q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u)));
  }
  const uint32_t r = a + 0xfffu + ((a >> 13) & 1u);  // round the 13 dropped bits to nearest even
  return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));
}

}  // namespace fedsim::models
