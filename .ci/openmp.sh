#!/usr/bin/env bash
# Second CI configuration: Kokkos 3.4.1 with the OpenMP backend (the Kokkos setup.sh builds,
# cmake/kokkos-openmp.sh, cached), fedsim's whole test suite on 2 threads so that races in
# kernels fail. The sanitizer build is Serial.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC="$PWD"
PREFIX="${FEDSIM_KOKKOS_OPENMP_PREFIX:-/var/cache/fedsim/kokkos-3.4.1-openmp}"
BUILD="${FEDSIM_OPENMP_BUILD:-$SRC/build-openmp}"
JOBS="${FEDSIM_JOBS:-2}"

FEDSIM_JOBS="$JOBS" cmake/kokkos-openmp.sh "$PREFIX"

mkdir -p "$BUILD"
echo "== openmp: fedsim against $PREFIX (OMP_NUM_THREADS=2)"
# Headers are compiled on their own once, in the main build; not again here.
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKokkos_ROOT="$PREFIX" -DFEDSIM_HEADER_CHECK=OFF \
  >"$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log"; exit 1; }
grep 'fedsim: Kokkos' "$BUILD/configure.log" || true
cmake --build "$BUILD" -j"$JOBS"
# Passive waiting: on a loaded 2-core machine spinning OpenMP barriers cost 3-10x.
OMP_NUM_THREADS=2 OMP_PROC_BIND=false OMP_WAIT_POLICY=passive ctest --test-dir "$BUILD" --output-on-failure
