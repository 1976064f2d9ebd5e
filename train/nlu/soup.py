#!/usr/bin/python3
"""Average the weights of fine-tuned models of one task ("model soup").

    /usr/bin/python3 -m train.nlu.soup --out DIR MODEL_DIR MODEL_DIR [...]

Models fine-tuned from the same pretrained encoder with small changes of the
recipe (learning rate, epochs) can stay in one basin of the loss, and the plain
mean of their weights is then often better than each of them (Wortsman et al.,
2022), at the cost of one model. Whether it is, is for the
valid split to say (train.nlu.eval_service --split valid); nothing here
chooses. Measured (docs/nlu-eval.md, "Choosing among fine-tuning runs"): CoNLL-2003 runs of
one seed at other learning rates average to a better tagger than each; two
SNIPS runs of different seeds (other head initialisation and data order)
average to a worse one. Vary the schedule, keep the seed.

Every input must be a Parley model directory (config.json, model.safetensors,
vocab.txt) with the same config.json (task, labels, shapes), the same vocabulary
and the same tensor names and shapes; anything else is refused. The mean is
taken in float64 and stored in the first model's dtype per tensor; DIR gets the
first model's config.json and vocab.txt, and the safetensors metadata names the
ingredients by their sha256. --weights gives a weighted mean (normalised).
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

from train.common import safetensors_io
from train.common.export import sha256


def read_model(d):
    with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read()
    st = os.path.join(d, "model.safetensors")
    tensors, meta = safetensors_io.load(st)
    return cfg, vocab, tensors, sha256(st), meta


def soup(dirs, weights=None):
    """(config, vocab text, {name: array}, [sha256 of each input], the first's metadata) of the
    weighted mean."""
    if len(dirs) < 2:
        raise ValueError("a soup needs at least two models")
    w = np.asarray(weights if weights else [1.0] * len(dirs), dtype=np.float64)
    if len(w) != len(dirs) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("--weights: one non-negative weight per model, not all zero")
    w = w / w.sum()
    cfg0, vocab0, t0, sha0, meta0 = read_model(dirs[0])
    acc = {k: v.astype(np.float64) * w[0] for k, v in t0.items()}
    shas = [sha0]
    for d, wi in zip(dirs[1:], w[1:]):
        cfg, vocab, t, sha, _ = read_model(d)
        for key in sorted(set(cfg0) | set(cfg)):
            if key not in ("torch_dtype",) and cfg0.get(key) != cfg.get(key):
                raise ValueError("%s: config.json %r differs from %s's" % (d, key, dirs[0]))
        if vocab != vocab0:
            raise ValueError("%s: vocab.txt differs from %s's" % (d, dirs[0]))
        if set(t) != set(t0):
            raise ValueError("%s: tensor names differ from %s's (%s)" % (d, dirs[0],
                             sorted(set(t) ^ set(t0))[:5]))
        for k, v in t.items():
            if v.shape != t0[k].shape:
                raise ValueError("%s: tensor %s has shape %s, %s's %s" % (d, k, v.shape, dirs[0], t0[k].shape))
            acc[k] += v.astype(np.float64) * wi
        shas.append(sha)
    out = {k: acc[k].astype(t0[k].dtype) for k in acc}
    return cfg0, vocab0, out, shas, meta0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the model directory to write")
    ap.add_argument("--weights", default="", help="comma-separated weights, one per model (default: equal)")
    ap.add_argument("models", nargs="+", help="the model directories to average")
    args = ap.parse_args(argv)
    weights = [float(x) for x in args.weights.split(",")] if args.weights else None
    try:
        cfg, vocab, tensors, shas, meta = soup(args.models, weights)
    except (OSError, ValueError) as e:
        print("soup: %s" % e, file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    meta = dict(meta)
    meta.update({"producer": "parley train.nlu.soup", "soup_of": ",".join(shas),
                 "soup_weights": args.weights or "equal"})
    st = os.path.join(args.out, "model.safetensors")
    safetensors_io.save(st, tensors, meta)
    shutil.copyfile(os.path.join(args.models[0], "vocab.txt"), os.path.join(args.out, "vocab.txt"))
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    for d, s in zip(args.models, shas):
        print("ingredient %s  sha256 %s" % (d, s))
    print("soup of %d models -> %s (sha256 %s, %.1f MB)" % (len(args.models), st, sha256(st),
                                                        os.path.getsize(st) / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
