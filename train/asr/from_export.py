#!/usr/bin/python3
"""A training checkpoint from an exported ASR model (models/asr-en-quartznet), so a new run
can start from the shipped weights without the checkpoint that made them.

    /usr/bin/python3 -m train.asr.from_export --model models/asr-en-quartznet --out init.pt

Export folds each BatchNorm into the pointwise conv before it (model.py). Unfolding puts
the folded weight back into the conv and makes the BatchNorm the identity plus the folded
bias (weight 1, bias b, running mean 0, running variance 1 - eps), so the network computes
exactly what the export computes. The checkpoint says bn_frozen, so train.py --init keeps
BatchNorm in inference mode (its statistics fixed), as the shipped model's last phase did.
"""
import argparse
import json
import os

import torch

from train.asr.model import QuartzNetCTC
from train.common import safetensors_io


def unfold(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    cfg.pop("training", None)
    cfg.pop("metrics", None)
    tensors, _ = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    model = QuartzNetCTC(cfg)
    sd = model.state_dict()
    out = {}

    def conv_bn(conv, bn, w, b):
        out[conv + ".weight"] = torch.as_tensor(w).reshape(sd[conv + ".weight"].shape)
        eps = cfg["bn_eps"]
        n = out[conv + ".weight"].shape[0]
        out[bn + ".weight"] = torch.ones(n)
        out[bn + ".bias"] = torch.as_tensor(b).reshape(n)
        out[bn + ".running_mean"] = torch.zeros(n)
        out[bn + ".running_var"] = torch.full((n,), 1.0 - eps)
        out[bn + ".num_batches_tracked"] = torch.tensor(0)

    def sep(prefix):
        out[prefix + ".dw.weight"] = torch.as_tensor(tensors[prefix + ".dw.weight"])
        conv_bn(prefix + ".pw", prefix + ".bn", tensors[prefix + ".pw.weight"],
                tensors[prefix + ".pw.bias"])

    sep("encoder.prologue")
    for i, b in enumerate(cfg["blocks"]):
        for j in range(b["repeat"]):
            sep("encoder.blocks.%d.sub.%d" % (i, j))
        conv_bn("encoder.blocks.%d.res.conv" % i, "encoder.blocks.%d.res.bn" % i,
                tensors["encoder.blocks.%d.res.weight" % i], tensors["encoder.blocks.%d.res.bias" % i])
    sep("encoder.epilogue")
    out["decoder.weight"] = torch.as_tensor(tensors["decoder.weight"])
    out["decoder.bias"] = torch.as_tensor(tensors["decoder.bias"])
    missing = set(sd) - set(out)
    if missing:
        raise SystemExit("from_export: no tensor for %s" % sorted(missing)[:5])
    model.load_state_dict({k: v.to(sd[k].dtype) for k, v in out.items()})
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/asr-en-quartznet")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    model = unfold(args.model).eval()
    # check: the unfolded network against the exported tensors' reference forward
    from train.asr.model import export_tensors
    back = export_tensors(model)
    tensors, _ = safetensors_io.load(os.path.join(args.model, "model.safetensors"))
    worst = max(float((back[k] - torch.as_tensor(tensors[k]).reshape(back[k].shape)).abs().max())
                for k in back)
    print("unfolded %s: largest difference after folding again %.2e" % (args.model, worst))
    if worst > 1e-4:
        raise SystemExit("from_export: round trip differs by %.2e" % worst)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save({"model": model.state_dict(), "state": {"bn_frozen": True}, "cfg": model.cfg},
               args.out)


if __name__ == "__main__":
    main()
