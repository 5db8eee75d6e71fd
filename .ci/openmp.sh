#!/usr/bin/env bash
# Second CI configuration: Kokkos 3.4.1 with the OpenMP backend, built from Debian's trilinos
# source package (only packages/kokkos) and cached, then fedsim's whole test suite on 2 threads
# so that races in kernels fail. With a user Kokkos, Debian's Kokkos Kernels is not used
# (cmake/FedsimDeps.cmake): the fallback gemm runs here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC="$PWD"
PREFIX="${FEDSIM_KOKKOS_OPENMP_PREFIX:-/var/cache/fedsim/kokkos-3.4.1-openmp}"
BUILD="${FEDSIM_OPENMP_BUILD:-$SRC/build-openmp}"
JOBS="${FEDSIM_JOBS:-2}"

if [ ! -f "$PREFIX/lib/cmake/Kokkos/KokkosConfig.cmake" ] && [ ! -f "$PREFIX/lib64/cmake/Kokkos/KokkosConfig.cmake" ]; then
  echo "== openmp: building Kokkos 3.4.1 (OpenMP + Serial) into $PREFIX"
  # deb-src for the configured suites, once.
  if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk 'BEGIN{RS="";ORS="\n\n"} /Types:[^\n]*deb( |$|\n)/ {sub(/Types:[^\n]*/,"Types: deb-src"); print}' "$f" \
        >"/etc/apt/sources.list.d/fedsim-src-$(basename "$f")"
    done
    if [ -f /etc/apt/sources.list ]; then
      sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/fedsim-src.list
    fi
    apt-get update -qq
  fi
  command -v dpkg-source >/dev/null || apt-get install -y -qq dpkg-dev >/dev/null
  WORK="$(mktemp -d /tmp/fedsim-kokkos.XXXXXX)"
  trap 'rm -rf "$WORK"' EXIT
  (cd "$WORK" && apt-get source --download-only -qq trilinos)
  ORIG="$(ls "$WORK"/trilinos_*.orig.tar.* | head -n1)"
  # Only the Kokkos core package is needed: extract packages/kokkos, nothing else.
  tar -xf "$ORIG" -C "$WORK" --wildcards '*/packages/kokkos/*'
  KSRC="$(ls -d "$WORK"/*/packages/kokkos | head -n1)"
  cmake -S "$KSRC" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_CXX_STANDARD=17 -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_TESTS=OFF \
    -DKokkos_ENABLE_EXAMPLES=OFF -DBUILD_SHARED_LIBS=ON >"$WORK/configure.log" || { cat "$WORK/configure.log"; exit 1; }
  cmake --build "$WORK/build" -j"$JOBS" >"$WORK/build.log" || { tail -50 "$WORK/build.log"; exit 1; }
  cmake --install "$WORK/build" >/dev/null
  grep -qs 'PACKAGE_VERSION "3.4.01"' "$PREFIX"/lib*/cmake/Kokkos/KokkosConfigVersion.cmake ||
    echo "warning: $ORIG did not give Kokkos 3.4.1"
fi

mkdir -p "$BUILD"
echo "== openmp: fedsim against $PREFIX (OMP_NUM_THREADS=2)"
# Headers are compiled on their own once, in the main build; not again here.
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKokkos_ROOT="$PREFIX" -DFEDSIM_HEADER_CHECK=OFF >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log"; exit 1; }
grep 'fedsim: Kokkos' "$BUILD/configure.log" || true
cmake --build "$BUILD" -j"$JOBS"
# Passive waiting: on a loaded 2-core machine spinning OpenMP barriers cost 3-10x.
OMP_NUM_THREADS=2 OMP_PROC_BIND=false OMP_WAIT_POLICY=passive ctest --test-dir "$BUILD" --output-on-failure
