#!/usr/bin/python3
"""PyTorch peer for `parley bench encoder`: the same BERT encoder (HF layout,
post-LN, erf GELU) on the same model.safetensors, float32 nn.Linear (and
torch's dynamic int8 quantization; with --bf16 also the model with bf16 weights, which oneDNN
runs with its bf16 kernels on CPUs with AVX-512 BF16), same thread count. Prints one
JSON line: {"threads": N, "f32": {"lat": {"16": [p50_ms, p99_ms], ...}, "tp": seq_per_s},
"int8": {...}, "bf16": {...}}

Usage: bench_torch.py MODEL_DIR --threads N [--seqs 16,64,128,384] [--iters 10]
       [--tp-batch 32 --tp-seq 128 --tp-iters 2] [--int8] [--bf16]
       bench_torch.py MODEL_DIR --export-onnx OUT.onnx   (for the ONNX Runtime peer)
"""
import argparse
import copy
import json
import math
import struct
import time

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__" or v["dtype"] not in ("F32", "F16"):
            continue
        b, e = v["data_offsets"]
        dt = "<f4" if v["dtype"] == "F32" else "<f2"
        a = np.frombuffer(data, dtype=dt, count=(e - b) // np.dtype(dt).itemsize, offset=base + b)
        out[k] = torch.from_numpy(a.astype(np.float32).reshape(v["shape"]))  # f16 weights run as f32
    return out


class Layer(torch.nn.Module):
    def __init__(self, W, p, H, nh):
        super().__init__()
        self.nh, self.d = nh, H // nh

        def lin(name):
            m = torch.nn.Linear(W[name + ".weight"].shape[1], W[name + ".weight"].shape[0])
            m.weight.data.copy_(W[name + ".weight"])
            m.bias.data.copy_(W[name + ".bias"])
            return m

        def ln(name):
            m = torch.nn.LayerNorm(H, eps=1e-12)
            m.weight.data.copy_(W[name + ".weight"])
            m.bias.data.copy_(W[name + ".bias"])
            return m

        self.q, self.k, self.v = (lin(p + "attention.self." + n) for n in ("query", "key", "value"))
        self.o, self.ln1 = lin(p + "attention.output.dense"), ln(p + "attention.output.LayerNorm")
        self.f1, self.f2, self.ln2 = lin(p + "intermediate.dense"), lin(p + "output.dense"), ln(p + "output.LayerNorm")

    def forward(self, x, ext):
        B, S, H = x.shape

        def heads(t):
            return t.view(B, S, self.nh, self.d).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d) + ext, dim=-1)
        ctx = (p @ v).transpose(1, 2).reshape(B, S, H)
        x1 = self.ln1(self.o(ctx) + x)
        return self.ln2(self.f2(torch.nn.functional.gelu(self.f1(x1))) + x1)


class Encoder(torch.nn.Module):
    def __init__(self, W, cfg):
        super().__init__()
        pre = "bert." if "bert.embeddings.word_embeddings.weight" in W else ""
        H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
        self.word = W[pre + "embeddings.word_embeddings.weight"]
        self.pos = W[pre + "embeddings.position_embeddings.weight"]
        self.typ = W[pre + "embeddings.token_type_embeddings.weight"]
        self.ln = torch.nn.LayerNorm(H, eps=1e-12)
        self.ln.weight.data.copy_(W[pre + "embeddings.LayerNorm.weight"])
        self.ln.bias.data.copy_(W[pre + "embeddings.LayerNorm.bias"])
        self.layers = torch.nn.ModuleList(
            Layer(W, f"{pre}encoder.layer.{i}.", H, nh) for i in range(cfg["num_hidden_layers"]))

    def forward(self, ids, mask):
        S = ids.shape[1]
        x = self.ln(self.word[ids] + self.pos[:S][None] + self.typ[0][None, None])
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for l in self.layers:
            x = l(x, ext)
        return x


class Bf16(torch.nn.Module):
    """The same encoder with its layers' weights and activations in bf16 (the embeddings in
    f32, then cast). Not autocast: that casts every weight again on each forward, and at
    1 x 16 on BERT-base ran 22x slower than this (707 against 32 ms, one thread)."""

    def __init__(self, m):
        super().__init__()
        self.m = copy.deepcopy(m)
        self.m.layers.to(torch.bfloat16)

    def forward(self, ids, mask):
        m, S = self.m, ids.shape[1]
        x = m.ln(m.word[ids] + m.pos[:S][None] + m.typ[0][None, None]).to(torch.bfloat16)
        ext = ((1.0 - mask[:, None, None, :].float()) * -1e4).to(torch.bfloat16)
        for l in m.layers:
            x = l(x, ext)
        return x.float()


def timeit(model, B, S, iters, vocab, cpu):
    """cpu: measure process CPU time (one thread on a shared machine), else wall."""
    clock = time.process_time if cpu else time.perf_counter
    ids = torch.randint(2, vocab, (B, S))
    mask = torch.ones(B, S, dtype=torch.long)
    with torch.no_grad():
        model(ids, mask)
        ts = []
        for _ in range(iters):
            t0 = clock()
            model(ids, mask)
            ts.append((clock() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2], ts[min(len(ts) - 1, int(math.ceil(len(ts) * 0.99)) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seqs", default="16,64,128,384")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--tp-batch", type=int, default=32)
    ap.add_argument("--tp-seq", type=int, default=128)
    ap.add_argument("--tp-iters", type=int, default=2)
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="also the model with bf16 weights")
    ap.add_argument("--export-onnx", help="write the f32 encoder as ONNX (inputs ids, mask) and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.model + "/config.json") as f:
        cfg = json.load(f)
    W = load_safetensors(a.model + "/model.safetensors")
    model = Encoder(W, cfg).eval()
    if a.export_onnx:
        ids = torch.randint(2, cfg["vocab_size"], (1, 16))
        torch.onnx.export(model, (ids, torch.ones(1, 16, dtype=torch.long)), a.export_onnx,
                          input_names=["ids", "mask"], output_names=["hidden"], opset_version=14,
                          dynamic_axes={"ids": {0: "b", 1: "s"}, "mask": {0: "b", 1: "s"}, "hidden": {0: "b", 1: "s"}})
        return
    res = {"threads": a.threads, "torch": torch.__version__}
    variants = [("f32", model)]
    if a.int8:
        variants.append(("int8", torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)))
    if a.bf16:
        variants.append(("bf16", Bf16(model).eval()))
    for name, m in variants:
        r = {"lat": {}}
        for s in a.seqs.split(","):
            r["lat"][s] = timeit(m, 1, int(s), a.iters, cfg["vocab_size"], a.threads == 1)
        if a.tp_iters > 0:
            p50, _ = timeit(m, a.tp_batch, a.tp_seq, a.tp_iters, cfg["vocab_size"], a.threads == 1)
            r["tp"] = a.tp_batch / (p50 / 1e3)
        res[name] = r
    print(json.dumps(res))


if __name__ == "__main__":
    main()
