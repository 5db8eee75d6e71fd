#!/usr/bin/env bash
# Short libFuzzer run of every target in tests/fuzz (README.md there): each target starts from
# its committed corpus, runs FEDSIM_FUZZ_SECONDS (default 15) under ASan+UBSan, and fails CI on
# any finding (the input is kept in $BUILD/fuzz-artifacts). Reuses .ci/sanitize.sh's build.
# FEDSIM_FUZZ_UPDATE=1 merges the new crash-free inputs into the committed corpus.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC="$PWD"
BUILD="${FEDSIM_ASAN_BUILD:-$SRC/build-asan}"
JOBS="${FEDSIM_JOBS:-2}"
SECONDS_PER_TARGET="${FEDSIM_FUZZ_SECONDS:-15}"
TARGETS=(${FEDSIM_FUZZ_TARGETS:-$(sed -n 's/^set(FEDSIM_FUZZ_TARGETS \(.*\))$/\1/p' "$SRC/tests/fuzz/CMakeLists.txt")})

# libFuzzer's runtime ships apart from clang in Debian (libclang-rt-<version>-dev).
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  version="$(clang++ --version | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -n1)"
  echo "== fuzz: installing libclang-rt-$version-dev (libFuzzer runtime)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "libclang-rt-$version-dev" >/dev/null
fi
if [ ! -f "$BUILD/CMakeCache.txt" ] || ! grep -q '^FEDSIM_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt"; then
  echo "error: $BUILD is not a FEDSIM_FUZZ build; run .ci/sanitize.sh first" >&2
  exit 1
fi
cmake --build "$BUILD" --target fedsim_fuzz -j"$JOBS"

export ASAN_OPTIONS="detect_leaks=0"  # HDF5 keeps allocations across runs; leaks are checked by the tests
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ARTIFACTS="$BUILD/fuzz-artifacts"
mkdir -p "$ARTIFACTS"
total=0
for t in "${TARGETS[@]}"; do
  corpus="$SRC/tests/fuzz/corpus/$t"
  work="$(mktemp -d "/tmp/fedsim-fuzz-$t.XXXXXX")"
  mkdir -p "$work/new" "$work/tmp"
  dict=()
  [ -f "$SRC/tests/fuzz/$t.dict" ] && dict=(-dict="$SRC/tests/fuzz/$t.dict")
  log="$BUILD/fuzz-$t.log"
  # New inputs go to $work; the committed corpus is only read.
  if ! (cd "$work" && TMPDIR="$work/tmp" "$BUILD/tests/fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$ARTIFACTS/$t-" "$work/new" "$corpus" >"$log" 2>&1); then
    tail -60 "$log"
    echo "== fuzz: fuzz_$t found a bug; input in $ARTIFACTS (replay: $BUILD/tests/fuzz/fuzz_$t FILE)" >&2
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  total=$((total + ${runs:-0}))
  echo "== fuzz: fuzz_$t: ${runs:-0} executions in ${SECONDS_PER_TARGET} s, no finding"
  if [ "${FEDSIM_FUZZ_UPDATE:-0}" = 1 ]; then
    (cd "$work" && TMPDIR="$work/tmp" "$BUILD/tests/fuzz/fuzz_$t" -merge=1 "$corpus" "$work/new" >/dev/null 2>&1)
  fi
  rm -rf "$work"
done
echo "== fuzz: ${#TARGETS[@]} targets, $total executions, no finding"
