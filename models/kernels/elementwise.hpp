// Pointwise layers: GELU, SwiGLU, residual add, bias.
#pragma once

#include "models/kernels/team.hpp"

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
// 1 + exp(-2u) = 1 / sigmoid(2u)
template <class T>
KOKKOS_INLINE_FUNCTION T gelu_denom(T x) {
  const T u = T(0.7978845608028654) * (x + T(0.044715) * x * x * x);
  return T(1) + kmath::fexp(T(-2) * u);
}
// d gelu / dx from s = sigmoid(2u) (gelu_backward)
template <class T>
KOKKOS_INLINE_FUNCTION T gelu_deriv(T x, T s) {
  const T du = T(0.7978845608028654) * (T(1) + T(3 * 0.044715) * x * x);
  return s + T(2) * x * s * (T(1) - s) * du;
}

// out (N,F) <- inp (N,F)
template <class T>
void gelu_forward(const ExecSpace& exec, UMat<T> out, UMat<T> inp) {
  const UVec<T> o = flat(out), in = flat(inp);
  Kokkos::parallel_for(
      "fedsim::models::gelu_forward", range(exec, in.extent(0)),
      KOKKOS_LAMBDA(const int64_t i) { o(i) = in(i) / gelu_denom(in(i)); });
}

// dinp (N,F) = <- dout (N,F), inp (N,F) (overwrites: no zeroing launch before). With s = sigmoid(2u):
// d gelu / dx = s + 2 x s (1 - s) du/dx  (= 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx).
template <class T>
void gelu_backward(const ExecSpace& exec, UMat<T> dinp, UMat<T> dout, UMat<T> inp) {
  const UVec<T> di = flat(dinp), dout_ = flat(dout), in = flat(inp);
  Kokkos::parallel_for(
      "fedsim::models::gelu_backward", range(exec, in.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T x = in(i);
        di(i) = dout_(i) * gelu_deriv(x, T(1) / gelu_denom(x));
      });
}

// The training forward: out (N,F) = gelu(x) and x (N,F) overwritten with gelu'(x), so that the
// backward is one product (gelu_backward_cached) instead of a second exp per element. The
// derivative as in gelu_backward; x is no longer needed once the derivative is known.
template <class T>
void gelu_forward_cached(const ExecSpace& exec, UMat<T> out, UMat<T> x_dgelu) {
  const UVec<T> o = flat(out), xg = flat(x_dgelu);
  Kokkos::parallel_for(
      "fedsim::models::gelu_forward", range(exec, xg.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T x = xg(i), s = T(1) / gelu_denom(x);
        o(i) = x * s;
        xg(i) = gelu_deriv(x, s);
      });
}
// dinp (N,F) = dout (N,F) * dgelu (N,F) (gelu_forward_cached's derivative)
template <class T>
void gelu_backward_cached(const ExecSpace& exec, UMat<T> dinp, UMat<T> dout, UMat<T> dgelu) {
  const UVec<T> di = flat(dinp), d = flat(dout), g = flat(dgelu);
  Kokkos::parallel_for(
      "fedsim::models::gelu_backward", range(exec, d.extent(0)), KOKKOS_LAMBDA(const int64_t i) { di(i) = d(i) * g(i); });
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
        o(i) = x / (T(1) + kmath::fexp(-x)) * u(i);
      });
}

// dgate (N,F) =, dup (N,F) = (overwritten) <- dout (N,F), gate (N,F), up (N,F).
// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
template <class T>
void swiglu_backward(const ExecSpace& exec, UMat<T> dgate, UMat<T> dup, UMat<T> dout, UMat<T> gate, UMat<T> up) {
  const UVec<T> dg = flat(dgate), du = flat(dup), d = flat(dout), g = flat(gate), u = flat(up);
  Kokkos::parallel_for(
      "fedsim::models::swiglu_backward", range(exec, g.extent(0)), KOKKOS_LAMBDA(const int64_t i) {
        const T x = g(i);
        const T s = T(1) / (T(1) + kmath::fexp(-x));
        dg(i) = d(i) * u(i) * s * (T(1) + x * (T(1) - s));
        du(i) = d(i) * x * s;
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

// out (N,O) = bias (O) in every row
template <class T>
void bias_fill(const ExecSpace& exec, UMat<T> out, UVec<T> bias) {
  const int64_t O = out.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::bias_fill", team_policy(exec, out.extent(0), 0), KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        team_for(team, O, [&](const int64_t o) { out(n, o) = bias(o); });
      });
}

// dbias (O) += column sums of dout (N,O) (column_sums: fixed chunks of rows, then in order);
// ws: column_sums_ws(N, O, 1) of T.
template <class T>
void bias_backward(const ExecSpace& exec, UVec<T> dbias, UMat<T> dout, UVec<T> ws) {
  column_sums<1>(exec, dout.extent(0), dout.extent(1), ws, dbias, dbias,
                 KOKKOS_LAMBDA(const int64_t n, const int64_t o, int) { return dout(n, o); });
}

// x (N,C) = 0
template <class T>
void zero(const ExecSpace& exec, UMat<T> x) {
  Kokkos::deep_copy(exec, flat(x), T(0));
}

}  // namespace fedsim::models
