#!/usr/bin/python3
"""Reference BERT-family encoder + heads in PyTorch (float64), for parity tests.

Makes a model directory with random weights under Hugging Face names
(config.json + model.safetensors, written here without the safetensors
package), runs a set of input cases through an independent PyTorch
implementation of the same architecture, and writes inputs and expected
outputs next to it:

  OUT/config.json, OUT/model.safetensors
  OUT/manifest.json   {"cases": [{"batch", "seq", "ids", "mask", "tt", "hidden", "head"}]}
  OUT/cK_*.i32 / .f32 raw little-endian arrays ([batch, seq] and [batch, seq, hidden])
  OUT/cK_ids.json     the unpadded rows, as `parley model forward --input-ids` takes them

With --cli PARLEY_MODEL it also runs `PARLEY_MODEL forward OUT --input-ids cK_ids.json
--output ...` for every case and checks max |diff| <= --tol (exit 1 otherwise).

Usage: bert_ref.py OUT [--arch bert|roberta|distilbert] [--head none|seq_cls|token_cls|qa|mlm]
       [--hidden 64 --layers 2 --heads 4 --inter 128 --vocab 120 --max-pos 512]
       [--act gelu|gelu_new] [--f16] [--cases SPEC] [--seed N] [--cli BIN] [--tol 1e-4]
SPEC: ';'-separated batches, each a ','-separated list of row lengths, e.g. "1;7;5,9,2".
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import torch


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        if arr.dtype == np.float32:
            dt = "F32"
        elif arr.dtype == np.float16:
            dt = "F16"
        elif arr.dtype == np.int64:
            dt = "I64"
        else:
            raise ValueError(arr.dtype)
        b = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_weights(a, rng):
    H, I, V, P = a.hidden, a.inter, a.vocab, a.max_pos
    W = {}
    distil = a.arch == "distilbert"
    pre = {"bert": "bert.", "roberta": "roberta.", "distilbert": "distilbert."}[a.arch]
    if a.head == "none":
        pre = ""  # a bare encoder checkpoint (BertModel) has no prefix

    def lin(name, o, i, std=0.08):
        W[name + ".weight"] = (rng.standard_normal((o, i)) * std).astype(np.float32)
        W[name + ".bias"] = (rng.standard_normal(o) * 0.05).astype(np.float32)

    def ln(name):
        W[name + ".weight"] = (1.0 + rng.standard_normal(H) * 0.1).astype(np.float32)
        W[name + ".bias"] = (rng.standard_normal(H) * 0.05).astype(np.float32)

    npos = P + (2 if a.arch == "roberta" else 0)
    W[pre + "embeddings.word_embeddings.weight"] = (rng.standard_normal((V, H)) * 0.5).astype(np.float32)
    W[pre + "embeddings.position_embeddings.weight"] = (rng.standard_normal((npos, H)) * 0.5).astype(np.float32)
    if not distil:
        W[pre + "embeddings.token_type_embeddings.weight"] = (
            rng.standard_normal((2 if a.arch == "bert" else 1, H)) * 0.5).astype(np.float32)
        # Older checkpoints carry an I64 buffer; the loader must ignore it.
        W[pre + "embeddings.position_ids"] = np.arange(npos, dtype=np.int64)[None, :]
    ln(pre + "embeddings.LayerNorm")
    for l in range(a.layers):
        if distil:
            b = f"{pre}transformer.layer.{l}."
            for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
                lin(b + "attention." + n, H, H)
            ln(b + "sa_layer_norm")
            lin(b + "ffn.lin1", I, H)
            lin(b + "ffn.lin2", H, I)
            ln(b + "output_layer_norm")
        else:
            b = f"{pre}encoder.layer.{l}."
            for n in ("query", "key", "value"):
                lin(b + "attention.self." + n, H, H)
            lin(b + "attention.output.dense", H, H)
            ln(b + "attention.output.LayerNorm")
            lin(b + "intermediate.dense", I, H)
            lin(b + "output.dense", H, I)
            ln(b + "output.LayerNorm")
    L = a.labels
    if a.head == "seq_cls":
        if a.arch == "bert":
            lin("bert.pooler.dense", H, H)
            lin("classifier", L, H)
        elif a.arch == "roberta":
            lin("classifier.dense", H, H)
            lin("classifier.out_proj", L, H)
        else:
            lin("pre_classifier", H, H)
            lin("classifier", L, H)
    elif a.head == "token_cls":
        lin("classifier", L, H)
    elif a.head == "qa":
        lin("qa_outputs", 2, H)
    elif a.head == "mlm":
        tr, lnn, bias = {"bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
                                  "cls.predictions.bias"),
                         "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
                         "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector.bias")}[a.arch]
        lin(tr, H, H)
        ln(lnn)
        W[bias] = (rng.standard_normal(V) * 0.05).astype(np.float32)
    return W, pre


def write_config(a, path):
    arch_name = {"bert": "Bert", "roberta": "Roberta", "distilbert": "DistilBert"}[a.arch]
    head_name = {"none": "Model", "seq_cls": "ForSequenceClassification", "token_cls": "ForTokenClassification",
                 "qa": "ForQuestionAnswering", "mlm": "ForMaskedLM"}[a.head]
    c = {"architectures": [arch_name + head_name], "model_type": a.arch, "vocab_size": a.vocab,
         "id2label": {str(i): f"L{i}" for i in range(a.labels)}}
    if a.arch == "distilbert":
        c.update(dim=a.hidden, n_layers=a.layers, n_heads=a.heads, hidden_dim=a.inter, activation=a.act,
                 max_position_embeddings=a.max_pos, pad_token_id=0)
    else:
        c.update(hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                 intermediate_size=a.inter, hidden_act=a.act, layer_norm_eps=1e-12,
                 max_position_embeddings=a.max_pos + (2 if a.arch == "roberta" else 0),
                 type_vocab_size=2 if a.arch == "bert" else 1, pad_token_id=1 if a.arch == "roberta" else 0)
    with open(path, "w") as f:
        json.dump(c, f, indent=1)


def act_fn(name):
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name == "gelu_new":
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return torch.relu
    raise ValueError(name)


def forward(a, W, pre, ids, tt, mask):
    """ids, tt, mask: int64 [B, S]. Returns (hidden [B,S,H], head or None), float64."""
    T = {k: torch.tensor(v, dtype=torch.float64) for k, v in W.items() if v.dtype != np.int64}
    H, nh = a.hidden, a.heads
    d = H // nh
    B, S = ids.shape
    eps = 1e-12
    distil = a.arch == "distilbert"
    pad = 1 if a.arch == "roberta" else 0

    def LN(x, name):
        return torch.nn.functional.layer_norm(x, (H,), T[name + ".weight"], T[name + ".bias"], eps)

    def lin(x, name):
        return x @ T[name + ".weight"].t() + T[name + ".bias"]

    if a.arch == "roberta":
        m = (ids != pad).long()
        pos = torch.cumsum(m, 1) * m + pad
    else:
        pos = torch.arange(S)[None, :].expand(B, S)
    x = T[pre + "embeddings.word_embeddings.weight"][ids] + T[pre + "embeddings.position_embeddings.weight"][pos]
    if not distil:
        x = x + T[pre + "embeddings.token_type_embeddings.weight"][tt]
    x = LN(x, pre + "embeddings.LayerNorm")
    ext = (1.0 - mask[:, None, None, :].double()) * torch.finfo(torch.float64).min
    act = act_fn(a.act)
    for l in range(a.layers):
        if distil:
            b = f"{pre}transformer.layer.{l}."
            nq, nk, nv, no = (b + "attention." + n for n in ("q_lin", "k_lin", "v_lin", "out_lin"))
            n1, f1, f2, n2 = b + "sa_layer_norm", b + "ffn.lin1", b + "ffn.lin2", b + "output_layer_norm"
        else:
            b = f"{pre}encoder.layer.{l}."
            nq, nk, nv = (b + "attention.self." + n for n in ("query", "key", "value"))
            no, n1 = b + "attention.output.dense", b + "attention.output.LayerNorm"
            f1, f2, n2 = b + "intermediate.dense", b + "output.dense", b + "output.LayerNorm"

        def heads(t):
            return t.view(B, S, nh, d).transpose(1, 2)

        q, k, v = heads(lin(x, nq)), heads(lin(x, nk)), heads(lin(x, nv))
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + ext, dim=-1)
        ctx = (p @ v).transpose(1, 2).reshape(B, S, H)
        x1 = LN(lin(ctx, no) + x, n1)
        x = LN(lin(act(lin(x1, f1)), f2) + x1, n2)
    head = None
    if a.head == "seq_cls":
        c = x[:, 0]
        if a.arch == "bert":
            head = lin(torch.tanh(lin(c, "bert.pooler.dense")), "classifier")
        elif a.arch == "roberta":
            head = lin(torch.tanh(lin(c, "classifier.dense")), "classifier.out_proj")
        else:
            head = lin(torch.relu(lin(c, "pre_classifier")), "classifier")
    elif a.head == "token_cls":
        head = lin(x, "classifier")
    elif a.head == "qa":
        head = lin(x, "qa_outputs")
    elif a.head == "mlm":
        tr, lnn, bias = {"bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
                                  "cls.predictions.bias"),
                         "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
                         "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector.bias")}[a.arch]
        t = LN(act(lin(x, tr)), lnn)
        head = t @ T[pre + "embeddings.word_embeddings.weight"].t() + T[bias]
    return x, head


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="bert", choices=["bert", "roberta", "distilbert"])
    ap.add_argument("--head", default="none", choices=["none", "seq_cls", "token_cls", "qa", "mlm"])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--inter", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=120)
    ap.add_argument("--max-pos", type=int, default=512)
    ap.add_argument("--labels", type=int, default=3)
    ap.add_argument("--act", default="gelu")
    ap.add_argument("--cases", default="1;7;5,9,2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    W, pre = make_weights(a, rng)
    write_safetensors(os.path.join(a.out, "model.safetensors"), W)
    write_config(a, os.path.join(a.out, "config.json"))
    pad = 1 if a.arch == "roberta" else 0
    cases, worst = [], 0.0
    for ci, spec in enumerate(x for x in a.cases.split(";") if x):
        lens = [int(x) for x in spec.split(",")]
        B, S = len(lens), max(lens)
        rows = [[int(t) for t in rng.integers(2, a.vocab, n)] for n in lens]
        ids = torch.full((B, S), pad, dtype=torch.long)
        mask = torch.zeros((B, S), dtype=torch.long)
        tt = torch.zeros((B, S), dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, :len(r)] = torch.tensor(r)
            mask[b, :len(r)] = 1
            if a.arch == "bert":
                tt[b, len(r) // 2:len(r)] = 1
        with torch.no_grad():
            hidden, head = forward(a, W, pre, ids, tt, mask)
        c = {"batch": B, "seq": S}
        for key, arr, dt in (("ids", ids, np.int32), ("mask", mask, np.int32), ("tt", tt, np.int32),
                             ("hidden", hidden, np.float32), ("head", head, np.float32)):
            if arr is None:
                continue
            fn = f"c{ci}_{key}.{'i32' if dt == np.int32 else 'f32'}"
            arr.numpy().astype(dt).astype(np.dtype(dt).newbyteorder("<")).tofile(os.path.join(a.out, fn))
            c[key] = fn
        with open(os.path.join(a.out, f"c{ci}_ids.json"), "w") as f:
            json.dump(rows, f)
        cases.append(c)
        if a.cli:
            outp = os.path.join(a.out, f"c{ci}_cli.f32")
            # type ids are not passed on the command line: compare against tt = 0
            tt0 = torch.zeros_like(tt)
            with torch.no_grad():
                h0, _ = forward(a, W, pre, ids, tt0, mask)
            r = subprocess.run([a.cli, "forward", a.out, "--input-ids", os.path.join(a.out, f"c{ci}_ids.json"),
                                "--output", outp], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"case {ci}: {a.cli} failed ({r.returncode}): {r.stderr}", file=sys.stderr)
                sys.exit(1)
            got = np.fromfile(outp, dtype="<f4")
            if got.size != h0.numel():
                print(f"case {ci}: {got.size} floats, want {h0.numel()}", file=sys.stderr)
                sys.exit(1)
            diff = float(np.max(np.abs(got - h0.numpy().reshape(-1))))
            worst = max(worst, diff)
            print(f"case {ci} batch {B} seq {S}: max |diff| {diff:.3g}")
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump({"arch": a.arch, "head": a.head, "hidden": a.hidden, "cases": cases}, f, indent=1)
    if a.cli:
        print(f"worst max |diff| {worst:.3g} (tol {a.tol})")
        sys.exit(0 if worst <= a.tol else 1)


def main_batch(path):
    """One model per line of path ("OUT ARGS...", shell words): torch is imported once for
    all of them (tests/unit/test_bert.c makes every directory it needs this way)."""
    import shlex
    with open(path) as f:
        for line in f:
            if line.strip():
                main(shlex.split(line))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        main_batch(sys.argv[2])
    else:
        main()
