#!/usr/bin/python3
"""Reference outputs for the engine's ASR acoustic model (engine/models/asr_model.c).

Builds train/asr/model.py's QuartzNetCTC with random weights and random BatchNorm
statistics, exports it the way the training recipe does (BatchNorm folded,
model.export_tensors, train/common/safetensors_io.py) into OUT_DIR/{config.json,
model.safetensors}, and for each case writes random features and the expected
log-probabilities:

    OUT_DIR/feats_<i>.f32   [T, n_mels]  float32 little-endian, row-major
    OUT_DIR/logp_<i>.f32    [T', V]      float32, T' = ceil((T + tail_frames) / stride)
    OUT_DIR/manifest.json   {"stride", "vocab_size", "n_mels", "right_context",
                             "cases": [{"frames": T, "out_frames": T'}, ...]}

The expected values come from model.reference_forward (the folded graph) run in
float64 on the exported float32 weights; the script also checks that the training
graph (unfolded BatchNorm, padded batch with lengths) agrees with it to 1e-4.

    OUT_DIR/cases.txt       T of each case, one per line

usage: asr_model_ref.py OUT_DIR [--config default|small|tiny] [--cases 1,7,100]
                        [--seed N] [--scale S] [--gain G]
       asr_model_ref.py OUT_DIR --checkpoint CKPT --feats A.npy,B.npy
         (a training checkpoint {"cfg", "model"} of train/asr/train.py and real
         features [T, n_mels] instead of random ones)
       asr_model_ref.py --suite OUT_DIR   (the unit test's OUT_DIR/{default,small,tiny})

It imports the recipe's code (package `train`), so the repository root must be on the path:
CTest sets PYTHONPATH to it; by hand, run it as `PYTHONPATH=. tests/reference/asr_model_ref.py`.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

from train.asr import model as M
from train.common import safetensors_io


def config(kind):
    cfg = json.loads(json.dumps(M.DEFAULT_CONFIG))
    if kind == "small":
        # odd sizes: channels not a multiple of 16, dilation, stride 3, strided
        # epilogue, right context at both ends of its range
        cfg["n_mels"] = 20
        cfg["prologue"] = {"channels": 24, "kernel": 7, "stride": 3, "dilation": 1, "right": 2}
        cfg["blocks"] = [
            {"channels": 40, "kernel": 5, "repeat": 3, "dilation": 2, "right": 8},
            {"channels": 40, "kernel": 3, "repeat": 1, "dilation": 1, "right": 0},
            {"channels": 33, "kernel": 9, "repeat": 2, "dilation": 1, "right": 4},
        ]
        cfg["epilogue"] = {"channels": 70, "kernel": 4, "stride": 2, "dilation": 1, "right": 1}
        cfg["tail_frames"] = 7  # not a multiple of the stride (6)
    elif kind == "tiny":
        cfg["n_mels"] = 8
        cfg["prologue"] = {"channels": 16, "kernel": 5, "stride": 2, "dilation": 1, "right": 2}
        cfg["blocks"] = [{"channels": 16, "kernel": 5, "repeat": 2, "dilation": 1, "right": 1}]
        cfg["epilogue"] = {"channels": 32, "kernel": 3, "stride": 1, "dilation": 1, "right": 1}
        cfg["tail_frames"] = 0
    elif kind != "default":
        raise SystemExit("unknown config " + kind)
    return cfg


# The unit test's three directories, made in one run (one torch start-up):
# --suite OUT writes OUT/default, OUT/small, OUT/tiny.
SUITE = [
    ("default", ["--config", "default", "--cases", "1,2,3,7,100,333"]),
    ("small", ["--config", "small", "--cases", "1,2,5,6,7,12,13,50,241", "--seed", "99",
               "--scale", "2"]),
    ("tiny", ["--config", "tiny", "--cases", "9"]),
]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--suite":
        for name, args in SUITE:
            generate([os.path.join(sys.argv[2], name)] + args)
        return
    generate(sys.argv[1:])


def generate(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--config", default="default")
    ap.add_argument("--cases", default="1,2,7,100,333")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--scale", type=float, default=1.0, help="feature scale")
    ap.add_argument("--gain", type=float, default=1.0, help="weight init gain")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--feats", default=None, help="comma-separated .npy feature files [T, n_mels]")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    ckpt = torch.load(a.checkpoint, map_location="cpu") if a.checkpoint else None
    cfg = ckpt["cfg"] if ckpt else config(a.config)
    model = M.QuartzNetCTC(cfg)
    model.eval()
    if ckpt:
        model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        for mod in ([] if ckpt else model.modules()):
            # He-scaled weights keep activations O(1) through every layer, so the
            # log-probs spread (PyTorch's default init shrinks them to ~uniform)
            if isinstance(mod, nn.Conv1d):
                fan_in = mod.weight.shape[1] * mod.weight.shape[2]
                mod.weight.normal_(0.0, a.gain / fan_in ** 0.5)
                if mod.bias is not None:
                    mod.bias.uniform_(-0.5, 0.5)
            if isinstance(mod, nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    tensors = M.export_tensors(model)
    safetensors_io.save(os.path.join(a.out_dir, "model.safetensors"), tensors,
                        metadata={"format": "pt"})
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(model.cfg, f, indent=1)
    t64 = {k: v.double() for k, v in tensors.items()}
    stride = model.stride()
    npys = [np.load(f).astype(np.float32) for f in a.feats.split(",")] if a.feats else None
    cases = [x.shape[0] for x in npys] if npys else [int(x) for x in a.cases.split(",") if x.strip()]
    man = {"stride": stride, "vocab_size": len(cfg["vocab"]), "n_mels": cfg["n_mels"],
           "right_context": model.right_context_frames(), "config": a.config, "cases": []}
    feats_all = []
    for i, T in enumerate(cases):
        if npys:
            x = torch.from_numpy(npys[i]).t().contiguous()
        else:
            x = (torch.randn(cfg["n_mels"], T) * a.scale).float()
        feats_all.append(x)
        with torch.no_grad():
            ref = M.reference_forward(t64, cfg, x.double()) if T > 0 else \
                torch.zeros(0, len(cfg["vocab"]), dtype=torch.float64)
        tout = (T + cfg.get("tail_frames", 0) + stride - 1) // stride if T > 0 else 0
        assert ref.shape == (tout, len(cfg["vocab"])), (ref.shape, tout)
        x.t().contiguous().numpy().astype("<f4").tofile(os.path.join(a.out_dir, "feats_%d.f32" % i))
        ref.float().numpy().astype("<f4").tofile(os.path.join(a.out_dir, "logp_%d.f32" % i))
        man["cases"].append({"frames": T, "out_frames": tout,
                             "logp_std": float(ref.std()) if tout >= 1 else 0.0})
    # the training graph (unfolded BN, padded batch + lengths) agrees with the folded one
    lens = [T for T in cases if T > 0]
    if lens:
        Tm = max(lens)
        batch = torch.zeros(len(lens), cfg["n_mels"], Tm)
        for b, x in enumerate([f for f in feats_all if f.shape[1] > 0]):
            batch[b, :, :x.shape[1]] = x
        with torch.no_grad():
            lp, ol = model(batch, torch.tensor(lens))
        worst = 0.0
        j = 0
        for i, T in enumerate(cases):
            if T == 0:
                continue
            ref = np.fromfile(os.path.join(a.out_dir, "logp_%d.f32" % i), "<f4")
            ref = ref.reshape(-1, len(cfg["vocab"]))
            worst = max(worst, float(np.abs(lp[j, :int(ol[j])].numpy() - ref).max()))
            j += 1
        man["train_graph_max_diff"] = worst
        lim = 1e-3 if ckpt else 1e-4  # trained BN scales amplify f32 rounding
        assert worst < lim, "training graph vs folded reference: %g" % worst
    with open(os.path.join(a.out_dir, "cases.txt"), "w") as f:
        f.write("".join("%d\n" % T for T in cases))
    with open(os.path.join(a.out_dir, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print(json.dumps(man)[:400])


if __name__ == "__main__":
    main()
