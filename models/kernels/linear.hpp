// Linear layers with an optional LoRA branch (Hu et al. 2021, "LoRA", eq. 3):
//   y = x W^T + b + (alpha/r) * (dropout(x) A^T) B^T,  A (r, d_in), B (d_out, r).
// Dense products go through gemm (kernels/gemm.hpp). Dropout (inverted, as torch.nn.Dropout)
// draws its mask from a counter-based hash of (key, element index), so a mask depends only on
// (dropout seed, step, layer, target, element) and never on the backend or thread schedule.
#pragma once

#include "models/kernels/elementwise.hpp"
#include "models/kernels/dense.hpp"

namespace fedsim::models {

// Dropout masks. Element (r, c), r its row's index in the mask stream: a 32-bit row key
// dmix64(key + r) (once per row), then lowbias32 (C. Wellons 2018, "Prospecting for Hash
// Functions", hash-prospector) of row key + c * 0x9E3779B9 (a Weyl sequence over the columns);
// its top 24 bits as a uniform u in [0, 1), kept when u >= p. Per element only 32-bit
// multiplies, which vectorize (64-bit ones do not before AVX-512).
KOKKOS_INLINE_FUNCTION uint32_t dropout_row_key(uint64_t key, int64_t r) {
  return static_cast<uint32_t>(dmix64(key + static_cast<uint64_t>(r)));
}
KOKKOS_INLINE_FUNCTION bool dropout_keep(uint32_t row_key, int64_t c, float p) {
  uint32_t x = row_key + static_cast<uint32_t>(c) * 0x9E3779B9u;
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return static_cast<float>(x >> 8) * 0x1.0p-24f >= p;
}

// out (N,O) = inp (N,I) W^T (O,I) + bias (O) (no bias when it has no data). With a bias, out's
// rows are set to it first and the product adds into them (beta = 1): the BLAS then skips its
// pass that zeroes C, and no second pass reads out to add the bias. fedsim's own product gives
// the same bits either way (alpha * sum + beta * c = sum + bias).
template <class T>
void linear_forward(const ExecSpace& exec, UMat<T> out, UMat<T> inp, const WMat<T>& w, UVec<T> bias) {
  if (bias.data() == nullptr) return dense_nt(exec, out, inp, w);
  bias_fill(exec, out, bias);
  dense_nt(exec, out, inp, w, T(1));
}

// dinp (N,I) = beta * dinp +, dw (O,I) +=, dbias (O) += (dw/dbias skipped when empty: frozen
// base, or no bias) <- dout (N,O), inp (N,I), w (O,I); ws: column_sums_ws(N, O, 1) of T for dbias
template <class T>
void linear_backward(const ExecSpace& exec, UMat<T> dinp, UMat<T> dw, UVec<T> dbias, UMat<T> dout, UMat<T> inp,
                     const WMat<T>& w, UVec<T> ws, T beta = T(1)) {
  dense_nn(exec, dinp, dout, w, beta);
  if (dw.data() != nullptr) gemm(exec, 'T', 'N', T(1), dout, inp, T(1), dw);
  if (dbias.data() != nullptr) bias_backward(exec, dbias, dout, ws);
}

// The same with a plain matrix in precision T (kernel tests).
template <class T>
void linear_forward(const ExecSpace& exec, UMat<T> out, UMat<T> inp, UMat<T> w, UVec<T> bias) {
  linear_forward(exec, out, inp, wmat(w), bias);
}
template <class T>
void linear_backward(const ExecSpace& exec, UMat<T> dinp, UMat<T> dw, UVec<T> dbias, UMat<T> dout, UMat<T> inp,
                     UMat<T> w, UVec<T> ws) {
  linear_backward(exec, dinp, dw, dbias, dout, inp, wmat(w), ws);
}

// xd (N,I) = dropout(inp) <- inp (N,I), row n drawn as row n of the mask stream (kernel tests;
// training runs kernels/lora.hpp's lora_dropout, which draws the same masks for a padded segment).
template <class T>
void dropout_forward(const ExecSpace& exec, UMat<T> xd, UMat<T> inp, float p, uint64_t key) {
  const int64_t I = inp.extent(1);
  const T keep_scale = T(1) / T(1.0f - p);
  Kokkos::parallel_for(
      "fedsim::models::dropout_forward", range(exec, int64_t(inp.extent(0)) * I), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t n = i / I, c = i % I;
        xd(n, c) = dropout_keep(dropout_row_key(key, n), c, p) ? inp(n, c) * keep_scale : T(0);
      });
}

// dinp (N,I) += dropout'(dxd) <- dxd (N,I), same mask as dropout_forward
template <class T>
void dropout_backward(const ExecSpace& exec, UMat<T> dinp, UMat<T> dxd, float p, uint64_t key) {
  const int64_t I = dxd.extent(1);
  const T keep_scale = T(1) / T(1.0f - p);
  Kokkos::parallel_for(
      "fedsim::models::dropout_backward", range(exec, int64_t(dxd.extent(0)) * I), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t n = i / I, c = i % I;
        dinp(n, c) += dropout_keep(dropout_row_key(key, n), c, p) ? dxd(n, c) * keep_scale : T(0);
      });
}

// LoRA branch of one adapter over all rows (the KV-cache decoder, kernel tests; training runs
// the grouped products of kernels/lora.hpp). out (N,O) +=, u (N,r) cache <- xd (N,I) (dropped input, or the input itself
// when dropout is off), a (r,I), b (O,r), scale = alpha / r
template <class T>
void lora_forward(const ExecSpace& exec, UMat<T> out, UMat<T> u, UMat<T> xd, UMat<T> a, UMat<T> b, T scale) {
  gemm(exec, 'N', 'T', T(1), xd, a, T(0), u);
  gemm(exec, 'N', 'T', scale, u, b, T(1), out);
}

// dxd (N,I) += (through the adapter only), da (r,I) +=, db (O,r) +=, du (N,r) scratch
// <- dout (N,O), u (N,r), xd (N,I), a (r,I), b (O,r), scale
template <class T>
void lora_backward(const ExecSpace& exec, UMat<T> dxd, UMat<T> da, UMat<T> db, UMat<T> du, UMat<T> dout, UMat<T> u,
                   UMat<T> xd, UMat<T> a, UMat<T> b, T scale) {
  gemm(exec, 'N', 'N', scale, dout, b, T(0), du);  // du = scale * dout b
  gemm(exec, 'T', 'N', scale, dout, u, T(1), db);  // db += scale * dout^T u
  gemm(exec, 'T', 'N', T(1), du, xd, T(1), da);    // da += du^T xd
  gemm(exec, 'N', 'N', T(1), du, a, T(1), dxd);    // dxd += du a
}

}  // namespace fedsim::models
