#!/usr/bin/env bash
# The model and sim test binaries under several OpenBLAS kernel choices (issue: bit-equality
# claims must not depend on the sgemm kernel OpenBLAS selects). Debian's OpenBLAS is built with
# DYNAMIC_ARCH, so OPENBLAS_CORETYPE picks the kernel set for one process. The machine's own
# setting stays as it is for every other step of CI; these are extra runs beside it:
#   Haswell   AVX2 + FMA kernels (what some AMD EPYC machines are forced to)
#   SkylakeX  AVX-512 kernels where the processor has AVX-512F, else Zen (AVX2, AMD's tuning)
#   Prescott  generic SSE3 kernels
# Each test binary prints the core it actually got ("[fedsim tests] ... core X"); a failure
# under any core fails CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD="${FEDSIM_BUILD_DIR:-build}"
wide=Zen
grep -qw avx512f /proc/cpuinfo && wide=SkylakeX
for core in Haswell "$wide" Prescott; do
  echo "== blas-cores: OPENBLAS_CORETYPE=$core"
  log="$(mktemp)"
  if ! OPENBLAS_CORETYPE="$core" ctest --test-dir "$BUILD" -L 'models|sim' --output-on-failure -j2 -V >"$log" 2>&1; then
    cat "$log"
    echo "== blas-cores: FAILED with OPENBLAS_CORETYPE=$core" >&2
    exit 1
  fi
  # The core each binary reported, and the summary lines.
  grep -E '\[fedsim tests\]' "$log" | sed 's/^[0-9]*: //' | sort | uniq -c
  grep -E 'tests passed|Total Test time' "$log"
  rm -f "$log"
done
