#!/usr/bin/env bash
# fedsim set-up on Debian 12: install the Debian packages that are missing (as root, or through
# sudo), build Kokkos 3.4.1 with OpenMP from Debian's trilinos source once (cached in
# $FEDSIM_KOKKOS_PREFIX; cmake/kokkos-openmp.sh), then configure and build fedsim in Release
# against it, so runs use every core. Idempotent: a second run installs and builds nothing new
# and only rebuilds what changed.
#
#   ./setup.sh                          OpenMP build into ./build (the default)
#   FEDSIM_KOKKOS=serial ./setup.sh     Debian's Serial Kokkos + Kokkos Kernels (one core)
#   FEDSIM_BUILD_DIR=b ./setup.sh       another build folder
#   FEDSIM_CMAKE_ARGS="-DKokkos_ROOT=/opt/kokkos" ./setup.sh   your own Kokkos (README "Building by hand")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

build_dir=${FEDSIM_BUILD_DIR:-build}
packages=(
  g++ cmake ninja-build pkg-config
  libtrilinos-kokkos-dev libtrilinos-kokkos-kernels-dev libopenblas-dev libopenblas0-openmp
  libhdf5-dev hdf5-tools libyaml-cpp-dev libboost-program-options-dev doctest-dev
  nlohmann-json3-dev libcurl4-openssl-dev libopenmpi-dev openmpi-bin python3 python3-h5py python3-matplotlib python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "setup: error: missing packages (${missing[*]}) and not root; HINT: run as root or install them first" >&2
      exit 2
    fi
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Which Kokkos: the user's (Kokkos_ROOT / Kokkos_DIR in FEDSIM_CMAKE_ARGS), Debian's Serial one,
# or (default) Kokkos 3.4.1 OpenMP built once into a cache shared by every clone.
kokkos_dir=""
case "${FEDSIM_CMAKE_ARGS:-}" in
*Kokkos_ROOT=* | *Kokkos_DIR=*) ;;
*)
  case "${FEDSIM_KOKKOS:-openmp}" in
  serial) kokkos_dir=/usr/lib/x86_64-linux-gnu/cmake/Kokkos ;;
  openmp)
    prefix=${FEDSIM_KOKKOS_PREFIX:-/var/cache/fedsim/kokkos-3.4.1-openmp}
    if [[ -z ${FEDSIM_KOKKOS_PREFIX:-} ]] && ! mkdir -p "$prefix" 2>/dev/null; then
      prefix="${XDG_CACHE_HOME:-$HOME/.cache}/fedsim/kokkos-3.4.1-openmp"  # not root
    fi
    cmake/kokkos-openmp.sh "$prefix"
    kokkos_dir=$(dirname "$(ls "$prefix"/lib*/cmake/Kokkos/KokkosConfig.cmake | head -n1)")
    ;;
  *)
    echo "setup: error: FEDSIM_KOKKOS=${FEDSIM_KOKKOS} is invalid; accepted: openmp, serial" >&2
    exit 2
    ;;
  esac
  ;;
esac

# Configure when there is no cache yet or it points at another Kokkos (switching backends).
cached_dir=$(sed -n 's/^Kokkos_DIR:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
if [[ ! -f "$build_dir/CMakeCache.txt" || (-n $kokkos_dir && $cached_dir != "$kokkos_dir") ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${kokkos_dir:+-DKokkos_DIR="$kokkos_dir"} \
    ${FEDSIM_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)"
