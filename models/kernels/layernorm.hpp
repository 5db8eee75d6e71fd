// LayerNorm (Ba, Kiros & Hinton 2016), eps 1e-5 as in GPT-2. Forward/backward as in llm.c.
// Row kernels are one team per row with fixed-order sums (kernels/team.hpp); the parameter
// gradients are column sums in two fixed stages (column_sums), parallel over rows and columns.
#pragma once

#include "models/kernels/team.hpp"

namespace fedsim::models {

// out (N,C), mean (N), rstd (N) <- inp (N,C), weight (C), bias (C)
template <class T>
void layernorm_forward(const ExecSpace& exec, UMat<T> out, UVec<T> mean, UVec<T> rstd, UMat<T> inp, UVec<T> weight,
                       UVec<T> bias) {
  const int64_t N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::layernorm_forward", team_policy(exec, N, lanes_bytes<T>()), KOKKOS_LAMBDA(const Member& team) {
        const int64_t n = team.league_rank();
        const Scratch<T> part(team.team_scratch(0), kLanes);
        const T m = team_sum(team, part, C, [&](const int64_t c) { return inp(n, c); }) / T(C);
        const T v = team_sum(team, part, C, [&](const int64_t c) {
                      const T d = inp(n, c) - m;
                      return d * d;
                    }) / T(C);
        const T s = T(1) / kmath::sqrt(v + T(1e-5));
        team_for(team, C,
                             [&](const int64_t c) { out(n, c) = (inp(n, c) - m) * s * weight(c) + bias(c); });
        Kokkos::single(Kokkos::PerTeam(team), [&]() {
          mean(n) = m;
          rstd(n) = s;
        });
      });
}

// dinp (N,C) +=, dweight (C) +=, dbias (C) += (both skipped when empty) <- dout (N,C), inp (N,C),
// weight (C), mean (N), rstd (N); ws: column_sums_ws(N, C, 2) of T when the gains are trained.
template <class T>
void layernorm_backward(const ExecSpace& exec, UMat<T> dinp, UVec<T> dweight, UVec<T> dbias, UMat<T> dout, UMat<T> inp,
                        UVec<T> weight, UVec<T> mean, UVec<T> rstd, UVec<T> ws) {
  const int64_t N = inp.extent(0), C = inp.extent(1);
  Kokkos::parallel_for(
      "fedsim::models::layernorm_backward_input", team_policy(exec, N, lanes_bytes<T>()),
      KOKKOS_LAMBDA(const Member& team) {
        // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight
        const int64_t n = team.league_rank();
        const T mu = mean(n), rs = rstd(n);
        const Scratch<T> part(team.team_scratch(0), kLanes);
        const T dnorm_mean = team_sum(team, part, C, [&](const int64_t c) { return weight(c) * dout(n, c); }) / T(C);
        const T dnorm_norm_mean = team_sum(team, part, C, [&](const int64_t c) {
                                    return weight(c) * dout(n, c) * ((inp(n, c) - mu) * rs);
                                  }) / T(C);
        team_for(team, C, [&](const int64_t c) {
          const T xhat = (inp(n, c) - mu) * rs;
          const T g = weight(c) * dout(n, c);
          dinp(n, c) += (g - dnorm_mean - xhat * dnorm_norm_mean) * rs;
        });
      });
  if (dweight.data() == nullptr) return;
  column_sums<2>(exec, N, C, ws, dweight, dbias, KOKKOS_LAMBDA(const int64_t n, const int64_t c, const int k) {
    return k == 0 ? (inp(n, c) - mean(n)) * rstd(n) * dout(n, c) : dout(n, c);
  });
}

}  // namespace fedsim::models
