#!/usr/bin/env bash
# Builds Kokkos 3.4.1 with the OpenMP and Serial backends from Debian 12's trilinos source
# package (only packages/kokkos; Debian ships Kokkos as a Serial-only build) and installs it
# into PREFIX, once: a second call finds PREFIX complete and does nothing. setup.sh (the
# default build) and .ci/ both use it, so CI tests the Kokkos the README's commands build.
#
#   cmake/kokkos-openmp.sh PREFIX        (prints nothing but progress; exit 0 when PREFIX is ready)
#
# About 35 s of compiling on 2 cores, plus fetching trilinos_13.2.0.orig.tar.gz (166 MB) from
# the Debian mirror with `apt-get source` (deb-src entries are added when missing; root only).
set -euo pipefail
PREFIX="${1:?usage: cmake/kokkos-openmp.sh PREFIX}"
JOBS="${FEDSIM_JOBS:-$(nproc)}"

config() { ls "$PREFIX"/lib*/cmake/Kokkos/KokkosConfig.cmake 2>/dev/null | head -n1; }
if [ -n "$(config)" ]; then exit 0; fi

mkdir -p "$PREFIX" 2>/dev/null || { echo "kokkos-openmp: error: cannot create $PREFIX; HINT: set FEDSIM_KOKKOS_PREFIX to a writable folder" >&2; exit 2; }
# One build at a time per prefix (two clones set up at once share the cache).
exec 9>"$PREFIX.lock"
flock 9
if [ -n "$(config)" ]; then exit 0; fi
echo "kokkos-openmp: building Kokkos 3.4.1 (OpenMP + Serial) into $PREFIX" >&2

# deb-src for the configured suites, once (apt-get source needs them).
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "kokkos-openmp: error: no deb-src entries in /etc/apt and not root; HINT: run setup.sh as root once, or FEDSIM_KOKKOS=serial ./setup.sh" >&2
    exit 2
  fi
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

if ! command -v dpkg-source >/dev/null && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi
WORK="$(mktemp -d /tmp/fedsim-kokkos.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && apt-get source --download-only -qq trilinos) || {
  echo "kokkos-openmp: error: apt-get source trilinos failed; HINT: check the Debian mirror, or FEDSIM_KOKKOS=serial ./setup.sh" >&2
  exit 2
}
ORIG="$(ls "$WORK"/trilinos_*.orig.tar.* | head -n1)"
tar -xf "$ORIG" -C "$WORK" --wildcards '*/packages/kokkos/*'  # the Kokkos core package only
KSRC="$(ls -d "$WORK"/*/packages/kokkos | head -n1)"
cmake -S "$KSRC" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DCMAKE_CXX_STANDARD=17 -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_TESTS=OFF \
  -DKokkos_ENABLE_EXAMPLES=OFF -DBUILD_SHARED_LIBS=ON >"$WORK/configure.log" || { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" -j"$JOBS" >"$WORK/build.log" || { tail -50 "$WORK/build.log"; exit 1; }
cmake --install "$WORK/build" >/dev/null
grep -qs 'PACKAGE_VERSION "3.4.01"' "$PREFIX"/lib*/cmake/Kokkos/KokkosConfigVersion.cmake ||
  echo "kokkos-openmp: warning: $ORIG did not give Kokkos 3.4.1" >&2
[ -n "$(config)" ]
