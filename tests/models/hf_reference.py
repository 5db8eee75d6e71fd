#!/usr/bin/env python3
"""Independent reference for fedsim's Llama-family forward: a numpy implementation written from
the published equations (not from fedsim's C++), run on random folders written by
`fedsim model init`, against `fedsim model forward`'s logits.

Equations:
  RMSNorm: Zhang & Sennrich 2019, eq. 4: x / sqrt(mean(x^2) + eps) * g.
  RoPE: Su et al. 2021 (RoFormer), eq. 34, in the half-split pairing of the Llama code
        (channel i with i + d/2), theta_i = base^(-2i/d); Llama 3.1 frequency scaling as the
        Llama 3 model card / transformers' rope_type "llama3" describe it.
  Attention: Vaswani et al. 2017, eq. 1, causal; grouped-query (Ainslie et al. 2023): query
        head h uses key/value head h // (H / H_kv); Mistral's sliding window (Jiang et al. 2023,
        sec. 2): position t sees t' with t - W < t' <= t.
  Qwen3: RMSNorm of every query and key head before RoPE; Qwen2: q/k/v biases.
  MLP: SwiGLU (Shazeer 2020, eq. 5): (silu(x Wg^T) * (x Wu^T)) Wd^T.
  LoRA (Hu et al. 2021, eq. 3) from a PEFT folder: W x + (alpha / r) B A x.

Exit 0 when every case agrees within 1e-4 (max |ref - fedsim| / max |ref|), 1 otherwise,
77 (skipped) without numpy.
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("skipped: python3-numpy is not installed (apt-get install python3-numpy)")
    sys.exit(77)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = data[b:e]
        if t["dtype"] == "F32":
            a = np.frombuffer(buf, dtype="<f4").astype(np.float64)
        elif t["dtype"] == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float64)
        elif t["dtype"] == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            raise ValueError(f"{path}: {name}: dtype {t['dtype']}")
        out[name] = a.reshape(t["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_folder(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    w = {}
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            for shard in sorted(set(json.load(f)["weight_map"].values())):
                w.update(read_safetensors(os.path.join(d, shard)))
    else:
        w.update(read_safetensors(os.path.join(d, "model.safetensors")))
    return cfg, w


def inv_frequencies(cfg, d):
    base = cfg.get("rope_theta", 10000.0)
    inv = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "linear":
        inv = inv / rs["factor"]
    elif kind == "llama3":
        # Llama 3.1: wavelengths above original/low are stretched by `factor`, below
        # original/high kept, and between them blended linearly in original/wavelength.
        factor, lo, hi, orig = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        out = []
        for f in inv:
            wl = 2 * math.pi / f
            if wl < orig / hi:
                out.append(f)
            elif wl > orig / lo:
                out.append(f / factor)
            else:
                s = (orig / wl - lo) / (hi - lo)
                out.append((1 - s) * f / factor + s * f)
        inv = np.array(out)
    return inv


def rmsnorm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rotate(x, cos, sin):  # x (T, H, d)
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def forward(cfg, w, tokens, lora=None):
    arch = cfg["architectures"][0]
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads", H)
    d = cfg.get("head_dim") or C // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    window = cfg.get("sliding_window") if arch == "MistralForCausalLM" else None
    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    ang = pos[:, None] * inv_frequencies(cfg, d)[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    mask = np.tril(np.ones((T, T), dtype=bool))
    if window:
        mask &= (pos[:, None] - pos[None, :]) < window

    def lin(x, name, module):
        y = x @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        if lora is not None and module in lora["modules"]:
            A = lora["tensors"]["base_model.model." + name + ".lora_A.weight"]
            B = lora["tensors"]["base_model.model." + name + ".lora_B.weight"]
            y = y + lora["scale"] * (x @ A.T) @ B.T
        return y

    x = w["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj", "q_proj").reshape(T, H, d)
        k = lin(h, p + "self_attn.k_proj", "k_proj").reshape(T, Hkv, d)
        v = lin(h, p + "self_attn.v_proj", "v_proj").reshape(T, Hkv, d)
        if p + "self_attn.q_norm.weight" in w:
            q = rmsnorm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rmsnorm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k, v = np.repeat(k, H // Hkv, axis=1), np.repeat(v, H // Hkv, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / math.sqrt(d)
        s = np.where(mask[None], s, -np.inf)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        y = np.einsum("hts,shd->thd", s, v).reshape(T, H * d)
        x = x + lin(y, p + "self_attn.o_proj", "o_proj")
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = lin(h, p + "mlp.gate_proj", "gate_proj")
        u = lin(h, p + "mlp.up_proj", "up_proj")
        x = x + lin(g / (1 + np.exp(-g)) * u, p + "mlp.down_proj", "down_proj")
    x = rmsnorm(x, w["model.norm.weight"], eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    return x @ head.T


def random_peft(d, cfg, rng, r=3, alpha=6.0):
    mods = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = cfg.get("head_dim") or C // H
    Q, KV, F = H * dh, cfg.get("num_key_value_heads", H) * dh, cfg["intermediate_size"]
    shapes = {"q_proj": (C, Q), "k_proj": (C, KV), "v_proj": (C, KV), "o_proj": (Q, C),
              "gate_proj": (C, F), "up_proj": (C, F), "down_proj": (F, C)}
    t = {}
    for l in range(cfg["num_hidden_layers"]):
        for m in mods:
            part = "self_attn" if m in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            n = f"base_model.model.model.layers.{l}.{part}.{m}"
            din, dout = shapes[m]
            t[n + ".lora_A.weight"] = rng.uniform(-0.3, 0.3, (r, din))
            t[n + ".lora_B.weight"] = rng.uniform(-0.3, 0.3, (dout, r))
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), t)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
                   "target_modules": mods, "bias": "none"}, f)
    # float32 as written, as fedsim reads them
    return {"modules": set(mods), "scale": alpha / r,
            "tensors": {k: v.astype(np.float32).astype(np.float64) for k, v in t.items()}}


CASES = [
    # name, model init arguments, fedsim model forward arguments, adapter
    ("llama (GQA 4/2, untied)", "--arch llama --heads 4 --kv-heads 2", [], False),
    ("llama3 rope scaling (tied)", "--arch llama --heads 4 --kv-heads 4 --tie --rope-scaling llama3 --rope-factor 8 "
     "--rope-original 64 --rope-theta 10000", [], False),
    ("mistral (sliding window 5 < 12 positions)", "--arch mistral --heads 4 --kv-heads 2 --sliding-window 5", [], False),
    ("qwen2 (q/k/v bias, tied)", "--arch qwen2 --heads 4 --kv-heads 2 --tie", [], False),
    ("qwen3 (q/k norm, head_dim 12 != 32/4)", "--arch qwen3 --heads 4 --kv-heads 2 --head-dim 12", [], False),
    ("qwen2 + PEFT adapter on all seven modules", "--arch qwen2 --heads 4 --kv-heads 2", [], True),
    ("llama, BF16 file into a bf16 base, 2 shards", "--arch llama --heads 4 --kv-heads 2 --dtype BF16 --shards 2",
     ["--base-dtype", "bf16"], False),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fedsim", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="fedsim_hf_reference_")
    rng = np.random.default_rng(7)
    worst_all, failed = 0.0, []
    try:
        for i, (name, init, fwd, adapter) in enumerate(CASES):
            d = os.path.join(work, f"m{i}")
            cmd = [args.fedsim, "model", "init", "--layers", "2", "--hidden", "32", "--intermediate", "48", "--vocab",
                   "300", "--init-std", "0.25", "--noise", "0.3", "--seed", str(11 + i), "--out", d] + init.split()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            cfg, w = load_folder(d)
            tokens = [int(t) for t in rng.integers(0, cfg["vocab_size"], 12)]
            lora = None
            extra = list(fwd)
            if adapter:
                lora = random_peft(os.path.join(work, f"a{i}"), cfg, rng)
                extra += ["--adapter", os.path.join(work, f"a{i}")]
            out = os.path.join(work, f"logits{i}.safetensors")
            subprocess.run([args.fedsim, "model", "forward", d, "--tokens", ",".join(map(str, tokens)), "--out", out]
                           + extra, check=True)
            got = read_safetensors(out)["logits"]
            ref = forward(cfg, w, tokens, lora)
            err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
            worst_all = max(worst_all, err)
            print(f"{name}: max |fedsim - numpy| / max |numpy| = {err:.2e} (logits up to {np.max(np.abs(ref)):.2f})")
            if not err < 1e-4:
                failed.append(name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    print(f"all {len(CASES)} cases within 1e-4 (worst {worst_all:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
