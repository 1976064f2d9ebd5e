#!/usr/bin/python3
"""Export a trained ASR checkpoint to a Parley model directory and measure it.

    /usr/bin/python3 -m train.asr.export [--ckpt train/work/asr/run/best.pt]
                                         [--out models/asr-en-quartznet]
                                         [--lm-alpha A --lm-beta B]

Writes OUT/config.json (model config, docs/asr-model.md keys, plus "metrics" and
"training"), OUT/model.safetensors (BatchNorm folded, F32, train/common/safetensors_io.py),
OUT/vocab.txt (one token per line, line 1 the blank) and OUT/metrics.json. Before writing
it checks that the folded tensors, run through model.reference_forward() (the engine's
specification), reproduce the training graph on dev utterances, and it re-reads the
safetensors file to check the round trip. Metrics: greedy WER on dev_lj (held-out real
LJ clips), digit accuracy on dev_fsdd (FSDD takes 0-4), greedy WER on dev_synth
(held-out voice and text), greedy WER and CER on dev_so (speechocean762's held-out train
speakers) when the work folder has them; also the real-time factor of the PyTorch model on
one thread.
"""
import argparse
import json
import os
import sys
import time

import torch

from train.asr.asrdata import FeatCache, evaluate, read_manifests
from train.asr.model import QuartzNetCTC, export_tensors, n_params, reference_forward
from train.common import safetensors_io
from train.common.paths import models_dir, work_dir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=work_dir("asr"))
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--out", default=models_dir("asr-en-quartznet"))
    ap.add_argument("--note", default="", help="free text stored in config.json training.note")
    ap.add_argument("--lm-alpha", type=float, default=None,
                    help="config.json decoding.lm_alpha (parley-asr's LM weight for this model)")
    ap.add_argument("--lm-beta", type=float, default=None,
                    help="config.json decoding.lm_beta (word insertion bonus)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = args.ckpt or os.path.join(args.work, "run", "best.pt")
    c = torch.load(ckpt, map_location="cpu")
    model = QuartzNetCTC(c["cfg"])
    model.load_state_dict(c["model"])
    model.eval()
    tensors = export_tensors(model)
    cache = FeatCache(args.work)
    dev = {k: read_manifests(args.work, k) for k in ("dev_lj", "dev_fsdd", "dev_synth")}
    so = read_manifests(args.work, "dev_so")  # made by synth.py --more-real
    if so:
        dev["dev_so"] = so

    # folded inference graph == training graph (eval mode)
    worst = 0.0
    with torch.no_grad():
        for r in dev["dev_lj"][:3] + dev["dev_fsdd"][:3]:
            f = torch.from_numpy(cache.get(r).astype("float32")).T.contiguous()
            lp, _ = model(f[None], torch.tensor([f.shape[1]]))
            ref = reference_forward(tensors, model.cfg, f)
            # relative to the log-prob range: trained models emit logp down to about -100
            rel = (lp[0] - ref).abs().max().item() / max(1.0, lp[0].abs().max().item())
            worst = max(worst, rel)
    if worst > 1e-4:
        sys.exit("export: folded graph differs from the training graph by %.3g (relative)" % worst)

    t0 = time.time()
    res = evaluate(model, dev, cache)
    secs = sum(r["frames"] for v in dev.values() for r in v) / 100.0
    rtf = (time.time() - t0) / max(secs, 1e-9)
    metrics = {k: {"value": round(v[0], 4), "n": v[1]} for k, v in res.items()}
    metrics["rtf_pytorch_1thread"] = round(rtf, 4)
    metrics["fold_max_rel_diff"] = worst

    os.makedirs(args.out, exist_ok=True)
    cfg = dict(model.cfg)
    st = c["state"]
    if "averaged" in st:  # train.asr.average
        cfg["training"] = {"averaged": st["averaged"], "checkpoint": os.path.basename(ckpt),
                           "note": args.note}
    else:
        cfg["training"] = {"steps": st["step"], "train_minutes": round(st["seconds"] / 60, 1),
                           "epochs_started": st["epoch"] + 1, "checkpoint": os.path.basename(ckpt),
                           "note": args.note}
    cfg["metrics"] = {k: v["value"] if isinstance(v, dict) else v for k, v in metrics.items()}
    if args.lm_alpha is not None or args.lm_beta is not None:
        cfg["decoding"] = {k: v for k, v in (("lm_alpha", args.lm_alpha), ("lm_beta", args.lm_beta))
                           if v is not None}
    st_path = os.path.join(args.out, "model.safetensors")
    safetensors_io.save(st_path, tensors, metadata={"format": "pt", "model_type": cfg["model_type"]})
    back, _ = safetensors_io.load(st_path)
    for k, v in tensors.items():
        if not (torch.from_numpy(back[k].copy()) == v).all():
            sys.exit("export: safetensors round trip differs at %s" % k)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    with open(os.path.join(args.out, "vocab.txt"), "w") as f:
        for i, t in enumerate(cfg["vocab"]):
            f.write(("<blank>" if i == cfg["blank"] else t) + "\n")
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    print("exported %s: %d parameters, %.2f MB, fold diff %.2g" % (
        args.out, n_params(model), os.path.getsize(st_path) / 1e6, worst))
    for k, v in sorted(metrics.items()):
        print("  %-22s %s" % (k, v))


if __name__ == "__main__":
    main()
