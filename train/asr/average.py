#!/usr/bin/python3
"""Average the weights of several checkpoints of the same architecture into one.

    python3 -m train.asr.average --out AVG.pt A.pt B.pt [C.pt ...]
    python3 -m train.asr.average --out AVG.pt --run RUN    # RUN/checkpoint-*.pt (train --keep-from)

For runs fine-tuned from one starting point (the phase 3-5 runs all start from the shipped
export), the mean of their weights can score better than each alone; the dev sets decide
(train.asr.eval.lm_sweep --model-dir on each export). Training checkpoints are averaged, not
exports as train.nlu.soup does for the text models: an export folds BatchNorm's scale into
the conv weights, a product, so the mean of folded tensors is not the fold of the mean.
Every floating tensor of "model" is averaged; integer tensors (BatchNorm's batch counter)
come from the first checkpoint, as do "cfg" and the frozen-BatchNorm flag; "state" lists
the ingredients (path, step, training minutes) instead of a step, optimizer or dev history.
train.asr.export and train.asr.train --init read the result.
"""
import argparse
import glob
import os

import torch


def average(paths):
    cks = [torch.load(p, map_location="cpu") for p in paths]
    first = cks[0]["model"]
    for p, c in zip(paths[1:], cks[1:]):
        if c["model"].keys() != first.keys():
            raise SystemExit("%s: tensor names differ from %s" % (p, paths[0]))
        for k, v in c["model"].items():
            if v.shape != first[k].shape:
                raise SystemExit("%s: %s is %s, %s has %s" % (p, k, tuple(v.shape), paths[0],
                                                            tuple(first[k].shape)))
    out = {}
    for k, v in first.items():
        if v.is_floating_point():
            out[k] = sum(c["model"][k].double() for c in cks).div(len(cks)).to(v.dtype)
        else:
            out[k] = v.clone()
    # what each ingredient was (train.asr.export writes it into config.json "training")
    states = [c.get("state", {}) for c in cks]
    made = [{"checkpoint": p, "step": st.get("step"),
             "train_minutes": round(st["seconds"] / 60, 1) if "seconds" in st else None}
            for p, st in zip(paths, states)]
    avg = {"model": out, "state": {"bn_frozen": states[0].get("bn_frozen", False), "averaged": made}}
    if "cfg" in cks[0]:
        avg["cfg"] = cks[0]["cfg"]
    return avg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--run", help="average the checkpoint-STEP.pt files of this run folder")
    ap.add_argument("ckpts", nargs="*")
    a = ap.parse_args(argv)
    if a.run:
        kept = glob.glob(os.path.join(a.run, "checkpoint-*.pt"))
        a.ckpts += sorted(kept, key=lambda p: int(p.rsplit("-", 1)[1][:-3]))
    if len(a.ckpts) < (1 if a.run else 2):  # a run that kept one checkpoint: that one
        ap.error("--run %s: no checkpoint-STEP.pt there" % a.run if a.run
                 else "name at least two checkpoints")
    torch.save(average(a.ckpts), a.out)
    print("averaged %d checkpoints into %s: %s" % (len(a.ckpts), a.out, " ".join(a.ckpts)))


if __name__ == "__main__":
    main()
