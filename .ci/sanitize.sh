#!/usr/bin/env bash
# Sanitizer configuration: fedsim and its whole test suite built with clang++ under
# AddressSanitizer + UndefinedBehaviorSanitizer (no recovery: a report fails its test). The build
# also carries libFuzzer's coverage instrumentation (-DFEDSIM_FUZZ=ON) so that .ci/fuzz.sh links
# its fuzz targets against it instead of building fedsim a third time. It is also the build
# without MPI (sim/mpi/comm.cpp's one-rank side; Open MPI's own allocations would trip LSan).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC="$PWD"
BUILD="${FEDSIM_ASAN_BUILD:-$SRC/build-asan}"
JOBS="${FEDSIM_JOBS:-2}"

# clang and its sanitizer/libFuzzer runtimes (Debian: clang, libclang-rt-*-dev).
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.asan-x86_64.a >/dev/null 2>&1; then
  echo "== sanitize: installing clang and its runtimes"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang \
    "libclang-rt-$(clang++ --version 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -n1)-dev" >/dev/null 2>&1 ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi

mkdir -p "$BUILD"
echo "== sanitize: clang++ -fsanitize=address,undefined in $BUILD"
# Headers are compiled on their own once, in the main build; not again here.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DFEDSIM_SANITIZE=address,undefined -DFEDSIM_FUZZ=ON -DFEDSIM_HEADER_CHECK=OFF \
    -DFEDSIM_MPI=OFF >"$BUILD/configure.log" 2>&1 ||
    { cat "$BUILD/configure.log"; exit 1; }
fi
cmake --build "$BUILD" -j"$JOBS"
# Leaks are reported too; Kokkos and HDF5 keep a few process-lifetime allocations (lsan.supp).
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$SRC/.ci/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The tests are single-threaded (Kokkos Serial): run two at once on the two cores.
ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS"
