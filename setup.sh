#!/usr/bin/env bash
# fedsim set-up on Debian 12: install the Debian packages that are missing (as root, or through
# sudo), then configure and build in Release. Idempotent: a second run installs nothing and
# only rebuilds what changed.
#
#   ./setup.sh                      build into ./build
#   FEDSIM_BUILD_DIR=b ./setup.sh   another build folder
#   FEDSIM_CMAKE_ARGS="-DKokkos_ROOT=/opt/kokkos" ./setup.sh   your own Kokkos (3.4+ or 4.x)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

build_dir=${FEDSIM_BUILD_DIR:-build}
packages=(
  g++ cmake ninja-build pkg-config
  libtrilinos-kokkos-dev libtrilinos-kokkos-kernels-dev libopenblas-dev
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

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${FEDSIM_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)"
