#!/usr/bin/python3
"""The check of Parley's ASR front end (engine/asr/asr_features.h) against its NumPy
definition, train/asr/feats.py (reference_logmel: the formulas are in its docstring and
in docs/asr.md). The training recipe computes its features with the same module.

As a test (registered as reference_asr_features; the repository root on PYTHONPATH):
  PYTHONPATH=. asr_features.py --check DUMP_BIN DATA_DIR WORK_DIR
runs the C driver asr_feat_dump on real clips (LJ Speech FLAC 22.05 kHz,
FSDD 8 kHz WAV, speech-commands 16 kHz WAV), recomputes the features from the
exact samples the C front end saw (resampling is common/audio's job and not part
of this comparison; for 16 kHz WAV clips the samples are also read here with the
wave module and must equal the C decode), and requires max |C - ref| <= 1e-4.
"""
import glob
import os
import subprocess
import sys
import wave

import numpy as np

from train.asr.feats import NMELS, SR, reference_logmel as logmel


def read_wav16(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != SR or w.getsampwidth() != 2 or w.getnchannels() != 1:
            return None
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float64) / 32768.0


def clips(data_dir):
    sp = os.path.join(data_dir, "speech")
    lj = sorted(glob.glob(os.path.join(sp, "ljspeech-subset", "wavs", "*.flac")))[:4]
    fsdd = sorted(glob.glob(os.path.join(sp, "fsdd", "recordings", "*.wav")))[:3]
    sc = sorted(glob.glob(os.path.join(sp, "speech-commands", "**", "*.wav"), recursive=True))[:4]
    return lj + fsdd + sc


def check(dump_bin, data_dir, work):
    os.makedirs(work, exist_ok=True)
    cl = clips(data_dir)
    if len(cl) < 8:
        print("FAIL: expected real clips under %s/speech, found %d" % (data_dir, len(cl)))
        return 1
    worst = 0.0
    fails = 0
    for i, path in enumerate(cl):
        for norm in ("none", "per_feature"):
            prefix = os.path.join(work, "clip%02d_%s" % (i, norm))
            subprocess.run([dump_bin, path, prefix, norm], check=True)
            x = np.fromfile(prefix + ".pcm", dtype="<f4")
            c = np.fromfile(prefix + ".feat", dtype="<f4").reshape(-1, NMELS)
            if norm == "none":
                w = read_wav16(path) if path.endswith(".wav") else None
                if w is not None and (len(w) != len(x) or np.max(np.abs(w - x), initial=0) > 0):
                    print("FAIL %s: C decode differs from the wave module" % path)
                    fails += 1
            ref = logmel(x, norm)
            if ref.shape != c.shape:
                print("FAIL %s %s: shape C %s ref %s" % (path, norm, c.shape, ref.shape))
                fails += 1
                continue
            d = float(np.max(np.abs(ref - c)))
            worst = max(worst, d)
            status = "ok" if d <= 1e-4 else "FAIL"
            if d > 1e-4:
                fails += 1
            print("%-4s %-60s %-11s frames %5d  max|diff| %.3g" %
                  (status, os.path.relpath(path, data_dir), norm, c.shape[0], d))
    print("clips %d, worst max|diff| %.3g (limit 1e-4), failures %d" % (len(cl), worst, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))
    print(__doc__)
    sys.exit(2)
