#!/usr/bin/env bash
# Second CI configuration: the team kernels' device code paths (TeamThreadRange, scratch partial
# sums, team barriers, gemm_team; models/kernels/team.hpp) on teams of OpenMP threads, the closest
# a CPU gets to a GPU's teams. Built with -DFEDSIM_HOST_TEAMS=ON against setup.sh's Kokkos 3.4.1
# OpenMP (cmake/kokkos-openmp.sh, cached); runs test_models (every kernel's host reference and
# finite-difference check, batched == sequential) on 2 threads. The main build is OpenMP too
# (setup.sh) and the sanitizer build is Debian's Serial Kokkos, so both backends run the suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC="$PWD"
PREFIX="${FEDSIM_KOKKOS_OPENMP_PREFIX:-/var/cache/fedsim/kokkos-3.4.1-openmp}"
BUILD="${FEDSIM_TEAMS_BUILD:-$SRC/build-teams}"
JOBS="${FEDSIM_JOBS:-2}"

FEDSIM_JOBS="$JOBS" cmake/kokkos-openmp.sh "$PREFIX"

mkdir -p "$BUILD"
echo "== host teams: test_models with -DFEDSIM_HOST_TEAMS=ON against $PREFIX (OMP_NUM_THREADS=2)"
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKokkos_ROOT="$PREFIX" -DFEDSIM_HEADER_CHECK=OFF \
  -DFEDSIM_HOST_TEAMS=ON -DFEDSIM_MPI=OFF >"$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log"; exit 1; }
grep 'fedsim: Kokkos' "$BUILD/configure.log" || true
cmake --build "$BUILD" -j"$JOBS" --target test_models
# Passive waiting: on a loaded 2-core machine spinning OpenMP barriers cost 3-10x.
# (test_bench_cli runs the fedsim binary, which this configuration does not build.)
OMP_NUM_THREADS=2 OMP_PROC_BIND=false OMP_WAIT_POLICY=passive "$BUILD/tests/models/test_models" --test-case-exclude="fedsim bench model*"
