#!/usr/bin/python3
"""Check an exported model directory against Parley's C engine.

Runs `parley-model forward MODEL_DIR --input-ids IDS.json --output H.f32
[--head-output HEAD.f32]` on a few padded batches of token ids and compares
the last hidden state (and the head's logits, for token classification) with
this package's torch model loaded from the same files.

    /usr/bin/python3 -m train.common.engine_parity MODEL_DIR --parley-model BUILD/clients/parley-model
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
import torch

from train.common import safetensors_io
from train.common.bert import BertConfig, JointIntentSlot, TokenClassifier


def load_torch(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    cfg = BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__ if k in c})
    tensors, _ = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    if c.get("task") == "joint_intent_slot":
        model = JointIntentSlot(cfg, len(c["labels"]["intent"]), len(c["labels"]["slot"]))
    elif c.get("task") == "token_classification":
        model = TokenClassifier(cfg, len(c["labels"]["token"]))
    else:
        raise SystemExit("%s: unknown task %r" % (model_dir, c.get("task")))
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    return model.eval(), c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--parley-model", required=True, help="path of the parley-model executable")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    model, c = load_torch(args.model_dir)
    rng = np.random.default_rng(0)
    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        for batch, lens in ((1, [7]), (3, [5, 12, 2]), (4, [c["max_length"], 9, 30, 1])):
            rows = [[2] + rng.integers(5, c["vocab_size"], n - 1).tolist() if n > 1 else [2] for n in lens]
            with open(os.path.join(d, "ids.json"), "w") as f:
                json.dump(rows, f)
            cmd = [args.parley_model, "forward", args.model_dir, "--input-ids", os.path.join(d, "ids.json"),
                   "--output", os.path.join(d, "h.f32")]
            tok_head = c.get("task") == "token_classification"
            if tok_head:
                cmd += ["--head-output", os.path.join(d, "head.f32")]
            subprocess.run(cmd, check=True)
            t = max(lens)
            ids = torch.zeros(batch, t, dtype=torch.long)
            mask = torch.zeros(batch, t, dtype=torch.long)
            for r, row in enumerate(rows):
                ids[r, :len(row)] = torch.tensor(row)
                mask[r, :len(row)] = 1
            with torch.no_grad():
                h, _ = model.bert(ids, mask)
                logits = model(ids, mask) if tok_head else None
            got = np.fromfile(os.path.join(d, "h.f32"), dtype="<f4").reshape(batch, t, -1)
            m = mask.numpy().astype(bool)
            diff = float(np.abs(got[m] - h.numpy()[m]).max())
            if tok_head:
                gl = np.fromfile(os.path.join(d, "head.f32"), dtype="<f4").reshape(batch, t, -1)
                diff = max(diff, float(np.abs(gl[m] - logits.numpy()[m]).max()))
            print("batch %d lengths %s: max abs diff %.3g" % (batch, lens, diff))
            worst = max(worst, diff)
    if worst > args.tol:
        raise SystemExit("FAIL: engine differs from torch by %.3g (tolerance %g)" % (worst, args.tol))
    print("OK: engine matches torch within %g" % args.tol)


if __name__ == "__main__":
    main()
