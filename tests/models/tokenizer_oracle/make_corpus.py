#!/usr/bin/env python3
"""Corpus of the tokenizer oracle: real multilingual text from Debian packages plus generated
lines that stress the pre-tokenizer (scripts mixed in one word, emoji sequences, digits, white
space runs, contractions, decomposed accents).

    make_corpus.py OUT_DIR PACKAGE_ROOT...

PACKAGE_ROOT: a Debian package unpacked with `dpkg-deb -x` (fortunes-*: fortune files, samples
split at '%' lines; dict-freedict-*: dictd files, one sample per entry). Writes, as JSON lines
(one string per line):
  OUT_DIR/corpus.jsonl    Debian samples + generated lines; ids and decode(encode(x)) == x
  OUT_DIR/specials.jsonl  lines with added-token strings and U+2581 written in the text, for
                          the ids only (Llama-2's decoder does not give these back unchanged)
  OUT_DIR/chats.jsonl     conversations {"system", "turns"} of corpus samples (1-3 exchanges and
                          a last user turn), for the chat template check
Deterministic: the same packages give the same files.
"""
import gzip
import json
import os
import random
import sys

PER_PACKAGE = 260   # samples taken from each package, evenly spaced
MAX_BYTES = 1500    # longer samples are skipped
CHATS = 300         # conversations for the chat template check
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(s):
    n = 0
    for ch in s:
        n = n * 64 + B64.index(ch)
    return n


def fortune_samples(root):
    out = []
    base = os.path.join(root, "usr/share/games/fortunes")
    for dirpath, _, files in sorted(os.walk(base)):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            if f.endswith(".dat") or os.path.islink(path):
                continue
            try:
                text = open(path, encoding="utf-8").read()
            except UnicodeDecodeError:
                continue  # a few old fortune files are Latin-1 or KOI8
            out += [s.strip("\n") for s in text.split("\n%\n")]
    return out


def dictd_samples(root):
    out = []
    base = os.path.join(root, "usr/share/dictd")
    for f in sorted(os.listdir(base)):
        if not f.endswith(".index"):
            continue
        data = gzip.open(os.path.join(base, f[: -len(".index")] + ".dict.dz")).read()
        for line in open(os.path.join(base, f), encoding="utf-8"):
            head, off, length = line.rstrip("\n").split("\t")[:3]
            if head.startswith("00-database") or head.startswith("00database"):
                continue
            out.append(data[b64(off): b64(off) + b64(length)].decode("utf-8").strip("\n"))
    return out


def pick(samples):
    samples = [s for s in samples if s.strip() and len(s.encode()) <= MAX_BYTES]
    if len(samples) <= PER_PACKAGE:
        return samples
    step = len(samples) / PER_PACKAGE
    return [samples[int(k * step)] for k in range(PER_PACKAGE)]


# Fragments for generated lines. Avoided on purpose: U+0085 and U+FEFF, where JavaScript's \s
# (the oracle's) and Oniguruma's (Hugging Face's) differ; tested by hand in test_text_tokenizer.cpp.
WORDS = [
    "hello", "World", "naïve", "Ünïcödé", "straße", "ÉCOLE", "Москва", "привет", "Ελλάδα", "λόγος",
    "مرحبا", "العالم", "שלום", "नमस्ते", "हिन्दी", "สวัสดี", "ภาษาไทย", "日本語", "東京", "ひらがな",
    "カタカナ", "中文", "汉字", "한국어", "안녕하세요", "ქართული", "Հայերեն", "తెలుగు", "தமிழ்", "ဗမာ",
    "x²", "H₂O", "ﬁne", "Ⅻ", "①②③", "ℌ𝔢𝔩𝔩𝔬", "𝟙𝟚𝟛", "ｆｕｌｌｗｉｄｔｈ", "ＡＢＣ１２３",
]
EMOJI = [
    "🚀", "😀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇩🇪", "🇯🇵", "❤️", "✅", "🤖", "🏳️‍🌈", "🧑🏿‍🔬", "☕", "🙂🙃",
]
PUNCT = [".", ",", "!", "?", "...", "—", "–", "«", "»", "“", "”", "„", "(", ")", "[", "]", "{", "}", "#", "@",
         "$", "%", "&", "*", "/", "\\", "|", "~", "^", "¿", "¡", "、", "。", "！", "؟", "।", "·", "•", "→", "€"]
SPACES = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00a0", "\u3000", "\u2003",
          "\u2028", " \t ", "\n\n\n", "    "]
NUMBERS = ["7", "42", "2024", "1234567", "3.14159", "1,000,000", "٣٤٥", "१२३", "１２３", "0x1F", "-5", "10%"]
CONTRACTIONS = ["don't", "I'M", "we'LL", "they've", "She'S", "it'd", "you're", "O'Neil", "'tis", "rock'n'roll"]
DECOMPOSED = ["e\u0301", "A\u030a", "n\u0303o", "\u1100\u1161\u11a8", "o\u0308\u0301", "\u0915\u093c", "ﬀ"]


def generated(rng, n):
    pools = [WORDS] * 5 + [EMOJI] * 2 + [PUNCT] * 2 + [SPACES] * 4 + [NUMBERS] * 2 + [CONTRACTIONS, DECOMPOSED]
    lines = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 14)):
            parts.append(rng.choice(rng.choice(pools)))
            if rng.random() < 0.5:
                parts.append(" ")
        lines.append("".join(parts))
    # Edge cases: empty, only white space, long runs, a word glued to other scripts.
    lines += ["", " ", "\n", "\r\n\r\n", "   \n\t  ", "a" * 300, "🚀" * 40, "1" * 50, " " * 33 + "x",
              "MixedСкриптыΚαι中文abc123", "end with space ", "\ttab start", "x\n\n\ny", "'s 'S 'll 'LL 'd"]
    return lines


SPECIALS = [
    "<s>hello</s>", "</s><s>", "a<unk>b", "<|begin_of_text|>Hi<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nx",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<think>\n\n</think>\n\nok", "<|endoftext|>",
    "text<|im_end|>more", "a\u2581b", "\u2581lead", "<|fim_prefix|>def f():<|fim_suffix|>", "<tool_call>{}</tool_call>",
]


def main():
    out_dir, roots = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    samples = []
    for root in roots:
        got = fortune_samples(root) if os.path.isdir(os.path.join(root, "usr/share/games/fortunes")) else dictd_samples(root)
        chosen = pick(got)
        print(f"{os.path.basename(root)}: {len(chosen)} of {len(got)} samples")
        samples += chosen
    gen = generated(random.Random(17), 600)
    print(f"generated: {len(gen)} lines")
    with open(os.path.join(out_dir, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for s in samples + gen:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    with open(os.path.join(out_dir, "specials.jsonl"), "w", encoding="utf-8") as f:
        for s in SPECIALS:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    rng = random.Random(18)
    with open(os.path.join(out_dir, "chats.jsonl"), "w", encoding="utf-8") as f:
        for _ in range(CHATS):
            system = rng.choice(samples) if rng.random() < 0.3 else ""
            turns = [rng.choice(samples + gen) for _ in range(2 * rng.randint(0, 2) + 1)]
            f.write(json.dumps({"system": system, "turns": turns}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
