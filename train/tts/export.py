#!/usr/bin/env python3
"""Write a voice directory (config.json + model.safetensors) for Parley's engine.

    /usr/bin/python3 train/tts/export.py --out models/tts-voice          # the trained checkpoints
    /usr/bin/python3 train/tts/export.py --out /tmp/v --random --seed 3  # random weights (parity)

Tensor names are the PyTorch state_dict names prefixed with "ac." (acoustic model) and
"voc." (vocoder); engine/tts/tts_voice.c reads them.
"""
import argparse
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from train.common import safetensors_io  # noqa: E402
from train.tts import model as M  # noqa: E402

VOICE_NAME = "English-US.Female-1"


def config(ac, voc, stats, extra=None):
    c = {
        "model_type": "parley-tts-voice",
        "voice_name": VOICE_NAME,
        "language_code": "en-US",
        "sample_rate": M.SAMPLE_RATE, "hop": M.HOP, "n_fft": M.N_FFT, "n_mels": M.N_MELS,
        "tokens": "0 pad, 1..69 Parley phone ids + 1 (stress 2 read as 1), 70 pause, "
                  "71 sentence start, 72 end of statement, 73 of question, 74 of exclamation",
        "acoustic": ac.cfg, "vocoder": voc.cfg, "stats": stats,
    }
    c.update(extra or {})
    return c


def write(out, ac, voc, stats, extra=None, dtype=torch.float32):
    os.makedirs(out, exist_ok=True)
    tensors = {"ac." + k: v.to(dtype) for k, v in ac.state_dict().items()}
    tensors.update({"voc." + k: v.to(dtype) for k, v in voc.state_dict().items()})
    safetensors_io.save(os.path.join(out, "model.safetensors"), tensors,
                        metadata={"format": "parley-tts-voice"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config(ac, voc, stats, extra), f, indent=2)
        f.write("\n")


def random_voice(seed, ac_kw=None, voc_kw=None):
    """Random weights, with every LayerNorm and bias moved off its default so that the
    parity test sees them."""
    torch.manual_seed(seed)
    ac, voc = M.Acoustic(**(ac_kw or {})), M.Vocoder(**(voc_kw or {}))
    with torch.no_grad():
        for m in (ac, voc):
            for name, p in m.named_parameters():
                if name.endswith("bias") or ".ln." in name or name.startswith("ln."):
                    p.add_(0.1 * torch.randn_like(p))
    stats = dict(pitch_mean=5.15, pitch_std=0.1, energy_mean=4.4, energy_std=3.1)
    return ac.eval(), voc.eval(), stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "tts-voice"))
    ap.add_argument("--acoustic", default=os.path.join(ROOT, "train", "work", "tts", "acoustic.pt"))
    ap.add_argument("--vocoder", default=os.path.join(ROOT, "train", "work", "tts", "vocoder.pt"))
    ap.add_argument("--random", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtype", choices=("f32", "f16"), default="f16",
                    help="weights on disk (the engine computes in f32 either way)")
    a = ap.parse_args()
    if a.random:
        ac, voc, stats = random_voice(a.seed)
        write(a.out, ac, voc, stats)
        return
    sa, sv = torch.load(a.acoustic), torch.load(a.vocoder)
    ac, voc = M.Acoustic(**sa["cfg"]), M.Vocoder(**sv["cfg"])
    ac.load_state_dict(sa["model"])
    voc.load_state_dict(sv["model"])
    write(a.out, ac, voc, sa["stats"], {"trained_steps": {"acoustic": sa["step"],
                                                          "vocoder": sv["step"]}},
          dtype=torch.float16 if a.dtype == "f16" else torch.float32)
    print("wrote %s (acoustic step %d, vocoder step %d)" % (a.out, sa["step"], sv["step"]))


if __name__ == "__main__":
    main()
