// What the row kernels share: team policies whose sizes are valid on every backend, a
// fixed-order in-team sum, the split between host and device code paths, and named fences.
//
// Determinism: team_sum adds in an order fixed by kLanes alone (lane j takes elements j,
// j + kLanes, ...; the lane sums are then added in lane order), and column_sums adds rows in
// chunks of kRowChunk, then the chunks in order, so a result depends on neither the team size
// Kokkos picks, the thread count, nor the scheduling. No float atomics.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "common/error.hpp"
#include "models/kokkos_compat.hpp"

namespace fedsim::models {

using TeamPolicy = Kokkos::TeamPolicy<ExecSpace>;
using Member = TeamPolicy::member_type;
// Team scratch (level 0: shared memory on GPUs, a per-team buffer on the host).
template <class T>
using Scratch = Kokkos::View<T*, ExecSpace::scratch_memory_space, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// True when the default execution space runs on the host and its memory is host memory: the
// BLAS may then be called on device views directly (kernels/gemm.hpp).
inline constexpr bool kHostSpace = Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible &&
                                   std::is_same<ExecSpace, Kokkos::DefaultHostExecutionSpace>::value;

// True when team kernels run as plain loops of one-thread teams (host spaces). A build with
// -DFEDSIM_HOST_TEAMS=ON runs the device code paths on the host instead: teams
// of several OpenMP threads, TeamThreadRange, scratch partial sums and barriers, and gemm_team,
// so that the races a GPU would hit show on a CPU.
#ifdef FEDSIM_HOST_TEAMS
inline constexpr bool kTeamLoops = false;
#else
inline constexpr bool kTeamLoops = kHostSpace;
#endif

// Lanes of team_sum: a warp's width, so a GPU team of 32 threads or more reads coalesced.
inline constexpr int kLanes = 32;
// Threads per team on a device (GPU row kernels); host teams have one thread, and the lanes
// run one after another (FEDSIM_HOST_TEAMS: up to kHostTeam threads).
inline constexpr int kDeviceTeam = 64;
inline constexpr int kHostTeam = 4;

// One team per league entry, each with `scratch_bytes` of level-0 scratch.
inline TeamPolicy team_policy(const ExecSpace& exec, int64_t league, size_t scratch_bytes) {
  int ts = kTeamLoops ? 1 : kDeviceTeam;
  if constexpr (kHostSpace && !kTeamLoops) ts = exec.concurrency() < kHostTeam ? exec.concurrency() : kHostTeam;
  TeamPolicy p(exec, static_cast<int>(league), ts);
  return p.set_scratch_size(0, Kokkos::PerTeam(scratch_bytes));
}
// Scratch of one kLanes-wide partial-sum buffer of T (with Kokkos's alignment).
template <class T>
size_t lanes_bytes() {
  return Scratch<T>::shmem_size(kLanes);
}

// f(i) for i in [0, n) by the team's threads. On the host (one thread per team) a plain loop,
// which the compiler vectorizes (TeamThreadRange's runtime stride would stop it).
template <class F>
KOKKOS_INLINE_FUNCTION void team_for(const Member& team, int64_t n, const F& f) {
  if constexpr (kTeamLoops) {
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, n), f);
  }
}

// Sum of f(i), i in [0, n), in the fixed order described above; every thread of the team
// returns it. `part` is kLanes of team scratch, free again on return. On the host the lanes are
// kept in registers and filled kLanes elements at a time (vectorizes): the same order.
// The same sum by one thread (host code, and team_sum on one-thread teams): the lanes in
// registers, filled kLanes elements at a time (vectorizes), then added in lane order.
template <class T, class F>
KOKKOS_INLINE_FUNCTION T lanes_sum(int64_t n, const F& f) {
  T p[kLanes];
  for (int j = 0; j < kLanes; ++j) p[j] = T(0);
  int64_t i0 = 0;
  for (; i0 + kLanes <= n; i0 += kLanes)
    for (int j = 0; j < kLanes; ++j) p[j] += f(i0 + j);
  for (int j = 0; i0 + j < n; ++j) p[j] += f(i0 + j);
  T total = 0;
  for (int j = 0; j < kLanes; ++j) total += p[j];
  return total;
}
// Largest f(i), i in [lo, hi) (hi > lo), by one thread: a running maximum per lane (the
// compare-and-select vectorizes, where one running maximum is a serial chain), then the lanes.
// Exact in any order; a NaN among the values may or may not be returned (callers get NaN
// downstream either way: exp(NaN - m) or exp(x - NaN)).
template <class T, class F>
KOKKOS_INLINE_FUNCTION T lanes_max(int64_t lo, int64_t hi, const F& f) {
  T p[kLanes];
  const T first = f(lo);
  for (int j = 0; j < kLanes; ++j) p[j] = first;
  int64_t i0 = lo;
  for (; i0 + kLanes <= hi; i0 += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const T x = f(i0 + j);
      p[j] = x > p[j] ? x : p[j];
    }
  for (int j = 0; i0 + j < hi; ++j) {
    const T x = f(i0 + j);
    p[j] = x > p[j] ? x : p[j];
  }
  T m = p[0];
  for (int j = 1; j < kLanes; ++j) m = p[j] > m ? p[j] : m;
  return m;
}

template <class T, class F>
KOKKOS_INLINE_FUNCTION T team_sum(const Member& team, const Scratch<T>& part, int64_t n, const F& f) {
  if constexpr (kTeamLoops) {
    (void)team;
    (void)part;
    return lanes_sum<T>(n, f);
  } else {
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, kLanes), [&](const int lane) {
      T s = 0;
      for (int64_t i = lane; i < n; i += kLanes) s += f(i);
      part(lane) = s;
    });
    team.team_barrier();
    T total = 0;
    for (int j = 0; j < kLanes; ++j) total += part(j);
    team.team_barrier();
    return total;
  }
}

// Largest f(i), i in [lo, hi) (hi > lo); exact in any order.
template <class T, class F>
KOKKOS_INLINE_FUNCTION T team_max(const Member& team, int64_t lo, int64_t hi, const F& f) {
  if constexpr (kTeamLoops) {
    (void)team;
    return lanes_max<T>(lo, hi, f);
  } else {
    T m = f(lo);
    Kokkos::parallel_reduce(
        Kokkos::TeamThreadRange(team, lo, hi), [&](const int64_t i, T& x) { x = f(i) > x ? f(i) : x; },
        Kokkos::Max<T>(m));
    return m;
  }
}

// Rows per partial sum of column_sums: a fixed number, so the sums do not depend on the threads.
inline constexpr int64_t kRowChunk = 128;
// Workspace (in T) column_sums needs for N rows of `cols` columns and `sums` quantities.
inline int64_t column_sums_ws(int64_t N, int64_t cols, int sums) {
  return ((N + kRowChunk - 1) / kRowChunk) * cols * sums;
}

// out_s (cols) += sum over rows n in order of f(n, c, s), for s < S (S = 1 or 2): partial sums
// over chunks of kRowChunk rows, one thread per (chunk, column), then the chunks in order, one
// thread per column. ws: column_sums_ws(N, cols, S) of T.
template <int S, class T, class F>
void column_sums(const ExecSpace& exec, int64_t N, int64_t cols, UVec<T> ws, UVec<T> out0, UVec<T> out1, const F& f) {
  const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
  FEDSIM_ASSERT(static_cast<int64_t>(ws.extent(0)) >= chunks * cols * S);
  Kokkos::parallel_for(
      "fedsim::models::column_partials", range(exec, chunks * cols), KOKKOS_LAMBDA(const int64_t i) {
        const int64_t ch = i / cols, c = i % cols, end = (ch + 1) * kRowChunk < N ? (ch + 1) * kRowChunk : N;
        T s[S];
        for (int k = 0; k < S; ++k) s[k] = T(0);
        for (int64_t n = ch * kRowChunk; n < end; ++n)
          for (int k = 0; k < S; ++k) s[k] += f(n, c, k);
        for (int k = 0; k < S; ++k) ws((k * chunks + ch) * cols + c) = s[k];
      });
  Kokkos::parallel_for(
      "fedsim::models::column_totals", range(exec, cols), KOKKOS_LAMBDA(const int64_t c) {
        for (int k = 0; k < S; ++k) {
          T s = 0;
          for (int64_t ch = 0; ch < chunks; ++ch) s += ws((k * chunks + ch) * cols + c);
          (k == 0 ? out0 : out1)(c) += s;
        }
      });
}

// A fence the profiling callbacks see on every Kokkos version (3.4 reports no fences by
// itself; 4.x reports named ones): the training loops call none, tests and I/O paths do.
inline void fence(const ExecSpace& exec, const std::string& why) {
#if KOKKOS_VERSION >= 40000
  exec.fence(why);
#else
  uint64_t handle = 0;
  Kokkos::Tools::beginFence(why, Kokkos::Profiling::Experimental::device_id(exec), &handle);
  exec.fence();
  Kokkos::Tools::endFence(handle);
#endif
}

}  // namespace fedsim::models
