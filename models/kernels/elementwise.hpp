// Pointwise layers: GELU, SwiGLU, residual add, bias.
#pragma once

#include "models/kokkos_compat.hpp"

namespace fedsim::models {

// The (N,C) matrices here are contiguous row-major, so pointwise kernels index them flat.
template <class T>
UVec<T> flat(const UMat<T>& m) {
  return as_vec(m.data(), int64_t(m.extent(0) * m.extent(1)));
}

// GELU, tanh approximation (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units", sec. 2):
// gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), as GPT-2 uses. Computed as
// x * sigmoid(2u) (0.5 (1 + tanh u) = sigmoid(2u)): one exp instead of tanh, which costs several
// times more, and exp(-2u) = inf for very negative x gives exactly -0.
// out (N,F) <- inp (N,F)
template <class T>
void gelu_forward(const ExecSpace& exec, UMat<T> out, UMat<T> inp) {
  const UVec<T> o = flat(out), in = flat(inp);
  Kokkos::parallel_for(
      "fedsim::models::gelu_forward", range(exec, in.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T x = in(i);
        const T u = T(0.7978845608028654) * (x + T(0.044715) * x * x * x);
        o(i) = x / (T(1) + kmath::exp(T(-2) * u));
      });
}

// dinp (N,F) += <- dout (N,F), inp (N,F). With s = sigmoid(2u):
// d gelu / dx = s + 2 x s (1 - s) du/dx  (= 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx).
template <class T>
void gelu_backward(const ExecSpace& exec, UMat<T> dinp, UMat<T> dout, UMat<T> inp) {
  const UVec<T> di = flat(dinp), dout_ = flat(dout), in = flat(inp);
  Kokkos::parallel_for(
      "fedsim::models::gelu_backward", range(exec, in.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T x = in(i);
        const T u = T(0.7978845608028654) * (x + T(0.044715) * x * x * x);
        const T s = T(1) / (T(1) + kmath::exp(T(-2) * u));
        const T du = T(0.7978845608028654) * (T(1) + T(3 * 0.044715) * x * x);
        di(i) += dout_(i) * (s + T(2) * x * s * (T(1) - s) * du);
      });
}

// SwiGLU (Shazeer 2020, "GLU Variants Improve Transformer", eq. 5; transformers' LlamaMLP
// act_fn(gate_proj(x)) * up_proj(x) with act_fn = SiLU): out = silu(gate) * up,
// silu(g) = g sigmoid(g) (Elfwing et al. 2018).
// out (N,F) <- gate (N,F), up (N,F)
template <class T>
void swiglu_forward(const ExecSpace& exec, UMat<T> out, UMat<T> gate, UMat<T> up) {
  const UVec<T> o = flat(out), g = flat(gate), u = flat(up);
  Kokkos::parallel_for(
      "fedsim::models::swiglu_forward", range(exec, g.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T x = g(i);
        o(i) = x / (T(1) + kmath::exp(-x)) * u(i);
      });
}

// dgate (N,F) +=, dup (N,F) += <- dout (N,F), gate (N,F), up (N,F).
// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
template <class T>
void swiglu_backward(const ExecSpace& exec, UMat<T> dgate, UMat<T> dup, UMat<T> dout, UMat<T> gate, UMat<T> up) {
  const UVec<T> dg = flat(dgate), du = flat(dup), d = flat(dout), g = flat(gate), u = flat(up);
  Kokkos::parallel_for(
      "fedsim::models::swiglu_backward", range(exec, g.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T x = g(i);
        const T s = T(1) / (T(1) + kmath::exp(-x));
        dg(i) += d(i) * u(i) * s * (T(1) + x * (T(1) - s));
        du(i) += d(i) * x * s;
      });
}

// out (N,C) = a (N,C) + b (N,C)
template <class T>
void residual_forward(const ExecSpace& exec, UMat<T> out, UMat<T> a, UMat<T> b) {
  const UVec<T> o = flat(out), x = flat(a), y = flat(b);
  Kokkos::parallel_for(
      "fedsim::models::residual_forward", range(exec, x.extent(0)),
      KOKKOS_LAMBDA(const int64_t i) { o(i) = x(i) + y(i); });
}

// out (N,O) += bias (O); one thread per row (no index division in the inner loop).
template <class T>
void bias_forward(const ExecSpace& exec, UMat<T> out, UVec<T> bias) {
  const int64_t O = out.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::bias_forward", range(exec, out.extent(0)), KOKKOS_LAMBDA(const int64_t n) {
        for (int64_t o = 0; o < O; ++o) out(n, o) += bias(o);
      });
}

// dbias (O) += column sums of dout (N,O); one thread per column, rows in order.
template <class T>
void bias_backward(const ExecSpace& exec, UVec<T> dbias, UMat<T> dout) {
  const int64_t N = dout.extent(0);
  Kokkos::parallel_for(
      "fedsim::models::bias_backward", range(exec, dout.extent(1)), KOKKOS_LAMBDA(const int64_t o) {
        T s = 0;
        for (int64_t n = 0; n < N; ++n) s += dout(n, o);
        dbias(o) += s;
      });
}

// x (N,C) = 0
template <class T>
void zero(const ExecSpace& exec, UMat<T> x) {
  Kokkos::deep_copy(exec, flat(x), T(0));
}

}  // namespace fedsim::models
