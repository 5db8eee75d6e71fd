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
