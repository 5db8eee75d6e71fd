// Products with a frozen base matrix that is stored either in the working precision T or in
// bfloat16 (base_dtype: bf16, models/README.md "bf16 base"). There is no bf16 sgemm in BLAS,
// so a bf16 matrix is widened to float panel by panel (a bounded scratch of `panel` floats:
// the largest per-layer matrix) and each panel goes through the same gemm; products therefore
// accumulate in fp32 exactly as with an fp32 base holding the same (bf16-representable) values.
#pragma once

#include "models/kernels/gemm.hpp"
#include "models/hf/half.hpp"  // after Kokkos: the conversions are device functions too

namespace fedsim::models {

template <class T>
using UMat16 = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// A base matrix (rows, cols): `f` in precision T, or `h` in bf16 with `panel` as the widening
// scratch. Exactly one of f / h has data (both none: an absent tensor or a gradient that is
// not computed).
template <class T>
struct WMat {
  UMat<T> f;
  UMat16<Bf16> h;
  UVec<T> panel;
  KOKKOS_INLINE_FUNCTION bool is_half() const { return h.data() != nullptr; }
  bool present() const { return f.data() != nullptr || h.data() != nullptr; }
  int64_t rows() const { return is_half() ? int64_t(h.extent(0)) : int64_t(f.extent(0)); }
  int64_t cols() const { return is_half() ? int64_t(h.extent(1)) : int64_t(f.extent(1)); }
  // Element (i, j) in T, on the device (embedding lookups).
  KOKKOS_INLINE_FUNCTION T operator()(int64_t i, int64_t j) const { return is_half() ? T(bf16_to_float(h(i, j))) : f(i, j); }
  // Rows [r0, r1) of a bf16 matrix widened into the panel: (r1-r0, cols) row-major.
  UMat<T> widen(const ExecSpace& exec, int64_t r0, int64_t r1) const {
    const int64_t C = cols();
    FEDSIM_ASSERT((r1 - r0) * C <= int64_t(panel.extent(0)));
    const UMat<T> out = as_mat(panel.data(), r1 - r0, C);
    const UMat16<Bf16> src = h;
    Kokkos::parallel_for(
        "fedsim::models::bf16_widen", range(exec, (r1 - r0) * C), KOKKOS_LAMBDA(const int64_t i) {
          out.data()[i] = T(bf16_to_float(src.data()[r0 * C + i]));
        });
    return out;
  }
  // Panel rows per widening step (the whole matrix when it fits).
  int64_t chunk_rows() const {
    const int64_t r = int64_t(panel.extent(0)) / cols();
    FEDSIM_ASSERT(r >= 1);
    return r;
  }
};

// A plain matrix in precision T as a WMat.
template <class T>
WMat<T> wmat(UMat<T> m) {
  return WMat<T>{m, UMat16<Bf16>(nullptr, 0, 0), as_vec<T>(nullptr, 0)};
}

// out (N,O) = beta * out + inp (N,I) W^T (W (O,I))
template <class T>
void dense_nt(const ExecSpace& exec, UMat<T> out, UMat<T> inp, const WMat<T>& w, T beta = T(0)) {
  if (!w.is_half()) return gemm(exec, 'N', 'T', T(1), inp, w.f, beta, out);
  const int64_t O = w.rows(), step = w.chunk_rows();
  for (int64_t o0 = 0; o0 < O; o0 += step) {  // output columns [o0, o1) from W's rows [o0, o1)
    const int64_t o1 = o0 + step < O ? o0 + step : O;
    gemm(exec, 'N', 'T', T(1), inp, w.widen(exec, o0, o1), beta,
         Kokkos::subview(out, Kokkos::ALL, std::make_pair(o0, o1)));
  }
}

// dinp (N,I) = beta * dinp + dout (N,O) W (W (O,I)); panels of W's rows add in a fixed order.
template <class T>
void dense_nn(const ExecSpace& exec, UMat<T> dinp, UMat<T> dout, const WMat<T>& w, T beta) {
  if (!w.is_half()) return gemm(exec, 'N', 'N', T(1), dout, w.f, beta, dinp);
  const int64_t O = w.rows(), step = w.chunk_rows();
  for (int64_t o0 = 0; o0 < O; o0 += step) {
    const int64_t o1 = o0 + step < O ? o0 + step : O;
    gemm(exec, 'N', 'N', T(1), Kokkos::subview(dout, Kokkos::ALL, std::make_pair(o0, o1)), w.widen(exec, o0, o1),
         o0 == 0 ? beta : T(1), dinp);
  }
}

}  // namespace fedsim::models
