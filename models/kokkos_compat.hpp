// Thin layer over what differs between Kokkos 3.4 and 4.x, plus the view types models/ uses.
// Kernels include this instead of naming Kokkos math functions directly.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

namespace fedsim::models {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;

// Rank-2 row-major device matrices. Activations and weights live in flat buffers; Mat views
// over them are unmanaged so one allocation can back views of varying shape.
template <class T>
using Vec = Kokkos::View<T*, Kokkos::LayoutRight, MemSpace>;
template <class T>
using Mat = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;
template <class T>
using UMat = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class T>
using UVec = Kokkos::View<T*, Kokkos::LayoutRight, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

using IVec = Kokkos::View<int32_t*, MemSpace>;

template <class T>
UMat<T> as_mat(T* p, int64_t rows, int64_t cols) {
  return UMat<T>(p, rows, cols);
}
template <class T>
UVec<T> as_vec(T* p, int64_t n) {
  return UVec<T>(p, n);
}

// Range policy over [0, n) on an explicit execution space instance.
inline Kokkos::RangePolicy<ExecSpace> range(const ExecSpace& exec, int64_t n) {
  return Kokkos::RangePolicy<ExecSpace>(exec, 0, n);
}

namespace kmath {
#if KOKKOS_VERSION >= 40000
using Kokkos::exp;
using Kokkos::fabs;
using Kokkos::fmax;
using Kokkos::log;
using Kokkos::log1p;
using Kokkos::sqrt;
using Kokkos::tanh;
#else
using Kokkos::Experimental::exp;
using Kokkos::Experimental::fabs;
using Kokkos::Experimental::fmax;
using Kokkos::Experimental::log;
using Kokkos::Experimental::log1p;
using Kokkos::Experimental::sqrt;
using Kokkos::Experimental::tanh;
#endif

// exp of the row kernels (softmax, cross-entropy, GELU, SiLU). float: Cephes's expf (S. L.
// Moshier, Cephes Math Library 2.2, expf.c: x = n ln2 + r with ln2 split in two, the degree-6
// polynomial for exp(r), 2^n put into the exponent bits; within 2 ulp of exp over the normal
// range, tests/models/test_kernels.cpp), branch-free so that the compiler vectorizes the loops
// that call it (libm's expf is a call per element). Arguments above 88 give exp(88) (no inf: every
// caller divides by 1 + exp or multiplies by a factor below 1), below -87.33 give 0 (where
// exp is denormal). double: the library's exp (the gradient checks run in double).
KOKKOS_INLINE_FUNCTION float fexp(float x_in) {
  // Clamped to [-88, 88] so that 2^n fits the exponent bits; a NaN argument comes back as NaN.
  const bool nan = !(x_in == x_in);  // an equality test: quiet on NaN
  float x = nan ? 0.0f : x_in;
  const bool under = x < -87.33654475f;
  x = x > 88.0f ? 88.0f : x;
  x = x < -88.0f ? -88.0f : x;
  // n = x log2(e) rounded to the nearest integer by the float shift 1.5 * 2^23 (|n| <= 127, so
  // n sits in the shifted value's low mantissa bits); Cephes takes floor(x log2(e) + 0.5), the
  // same n except at exact ties. No float -> int conversion and no compare: the loops
  // vectorize for every instruction set (with AVX2 the conversion's compare did not).
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float nf = shifted - 12582912.0f;
  union {
    float f;
    int32_t i;
  } sh;
  sh.f = shifted;
  const int32_t n = sh.i - 0x4B400000;  // bits of 1.5 * 2^23
  float r = x - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  union {
    int32_t i;
    float f;
  } two_n;
  two_n.i = (n + 127) << 23;  // n in [-127, 127] after the clamps (-127: 0, and then under)
  const float e = under ? 0.0f : p * two_n.f;
  return nan ? x_in : e;
}
KOKKOS_INLINE_FUNCTION double fexp(double x) { return exp(x); }
}  // namespace kmath

// Device copy of fedsim::mix64 (common/rng.hpp: splitmix64 finaliser, Steele, Lea &
// Flood, OOPSLA 2014). rng.hpp's version is plain constexpr, which CUDA only accepts with
// --expt-relaxed-constexpr; tests check the two agree bit for bit.
KOKKOS_INLINE_FUNCTION uint64_t dmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace fedsim::models
