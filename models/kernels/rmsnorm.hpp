// RMSNorm (Zhang & Sennrich 2019, "Root Mean Square Layer Normalization", eq. 4), as
// transformers' LlamaRMSNorm computes it: y = w * x / sqrt(mean(x^2) + eps), no bias, no mean
// subtraction. Qwen3's q_norm / k_norm are the same over each head's hd channels: a (N, H*hd)
// matrix viewed as (N*H, hd) rows. Row kernels are one team per row with fixed-order sums; the
// gain gradient is a two-stage column sum (column_sums in team.hpp).
#pragma once

#include "models/kernels/team.hpp"

namespace fedsim::models {

// out (N,C), rstd (N) <- inp (N,C), weight (C), eps
template <class T>
void rmsnorm_forward(const ExecSpace& exec, UMat<T> out, UVec<T> rstd, UMat<T> inp, UVec<T> weight, double eps) {
  const int64_t C = inp.extent(1);
  const T e = T(eps);
  Kokkos::parallel_for(
      "fedsim::models::rmsnorm_forward", team_policy(exec, inp.extent(0), lanes_bytes<T>()),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const Scratch<T> part(team.team_scratch(0), kLanes);
        const T ss = team_sum(team, part, C, [&](const int64_t c) { return inp(n, c) * inp(n, c); });
        const T s = T(1) / kmath::sqrt(ss / T(C) + e);
        team_for(team, C,
                             [&](const int64_t c) { out(n, c) = inp(n, c) * s * weight(c); });
        Kokkos::single(Kokkos::PerTeam(team), [&]() { rstd(n) = s; });
      });
}

// dinp (N,C) +=, dweight (C) += (skipped when it has no data) <- dout (N,C), inp (N,C),
// weight (C), rstd (N); ws: column_sums_ws(N, C, 1) of T when the gain is trained. With
// xhat = x * rstd and g = dout * w: dx = rstd * (g - xhat * mean(g * xhat)),
// dw = sum over rows of dout * xhat.
template <class T>
void rmsnorm_backward(const ExecSpace& exec, UMat<T> dinp, UVec<T> dweight, UMat<T> dout, UMat<T> inp, UVec<T> weight,
                      UVec<T> rstd, UVec<T> ws) {
  const int64_t N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::rmsnorm_backward_input", team_policy(exec, N, lanes_bytes<T>()),
      KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const T s = rstd(n);
        const Scratch<T> part(team.team_scratch(0), kLanes);
        const T dot =
            team_sum(team, part, C, [&](const int64_t c) { return weight(c) * dout(n, c) * inp(n, c) * s; }) / T(C);
        team_for(team, C, [&](const int64_t c) {
          dinp(n, c) += s * (weight(c) * dout(n, c) - inp(n, c) * s * dot);
        });
      });
  if (dweight.data() == nullptr) return;
  column_sums<1>(exec, N, C, ws, dweight, dweight,
                 KOKKOS_LAMBDA(const int64_t n, const int64_t c, int) { return dout(n, c) * inp(n, c) * rstd(n); });
}

// The (N, H*hd) matrix m as (N*H, hd) rows: the per-head view of q or k.
template <class T>
UMat<T> per_head(const UMat<T>& m, int64_t hd) {
  return as_mat(m.data(), int64_t(m.extent(0) * m.extent(1)) / hd, hd);
}

}  // namespace fedsim::models
