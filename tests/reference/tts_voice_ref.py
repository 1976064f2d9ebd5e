#!/usr/bin/env python3
"""PyTorch reference of the Parley voice (train/tts/model.py) for test_tts_voice_ref.c.

    tts_voice_ref.py OUTDIR [--seed N] [--voice DIR]

Without --voice, writes a voice with random weights to OUTDIR/voice (train/tts/export.py's
random_voice). Then writes raw little-endian arrays to OUTDIR:
  tokens.i32, dur.i32, pin.f32, ein.f32          inputs (forced durations, pitch, energy)
  logd.f32, pitch.f32, energy.f32                 the predictors' outputs
  mel.f32                                         [T, 80] decoder output with the forced inputs
  wav.f32                                         the vocoder on mel.f32 (torch.istft)
All in float64 for the reference, written as float32.
"""
import argparse
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from train.tts import export  # noqa: E402
from train.tts import model as M  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    ac, voc, stats = export.random_voice(a.seed)
    export.write(os.path.join(a.out, "voice"), ac, voc, stats)
    ac, voc = ac.double(), voc.double()
    g = torch.Generator().manual_seed(a.seed + 1)
    n = 37
    tok = torch.randint(1, M.N_TOKENS, (1, n), generator=g)
    tok[0, 0], tok[0, -1] = M.TOK_BOS, M.TOK_EOSQ
    dur = torch.randint(0, 7, (1, n), generator=g)
    dur[0, 5] = 0
    dur[0, 6] = 19
    pin = torch.randn(1, n, generator=g, dtype=torch.float64)
    ein = torch.randn(1, n, generator=g, dtype=torch.float64)
    with torch.no_grad():
        h, mask = ac.encode(tok)
        logd, p, e = ac.predict(h, mask)
        mel, _ = ac.decode(h, mask, dur, pin, ein)
        wav = voc(mel)
    w = lambda name, x, dt: np.ascontiguousarray(x.detach().numpy().astype(dt)).tofile(
        os.path.join(a.out, name))
    w("tokens.i32", tok[0], "<i4")
    w("dur.i32", dur[0], "<i4")
    w("pin.f32", pin[0], "<f4")
    w("ein.f32", ein[0], "<f4")
    w("logd.f32", logd[0], "<f4")
    w("pitch.f32", p[0], "<f4")
    w("energy.f32", e[0], "<f4")
    w("mel.f32", mel[0], "<f4")
    w("wav.f32", wav[0], "<f4")
    print("tts_voice_ref: %d tokens, %d frames, %d samples" % (n, mel.shape[1], wav.shape[1]))


if __name__ == "__main__":
    main()
