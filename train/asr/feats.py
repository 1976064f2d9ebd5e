"""ASR features for training: exactly tests/reference/asr_features.py (the NumPy reference
the C front end engine/asr/asr_features.c is tested against), imported, plus optional
vocal-tract-length perturbation (VTLP) for augmentation.

logmel(x, vtlp=1.0) -> float32 [T, 80], per_feature normalized. With vtlp == 1.0 it is
the reference function itself. With vtlp = alpha the mel filterbank is evaluated at
warped FFT bin frequencies (piecewise linear warp, Jaitly & Hinton 2013):
f' = alpha * f below f0 = 4800 * min(alpha, 1) / alpha, then a straight line to 8000 Hz.
"""
import functools
import os
import sys

import numpy as np

_REF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference")
sys.path.insert(0, os.path.abspath(_REF))
import asr_features as ref  # noqa: E402

SR, HOP, NMELS = ref.SR, ref.HOP, ref.NMELS


@functools.lru_cache(maxsize=64)
def _warped_fb(alpha):
    fb = ref.mel_filterbank()
    if alpha == 1.0:
        return fb
    nyq = SR / 2.0
    freqs = np.arange(ref.NFFT // 2 + 1) * SR / ref.NFFT
    f0 = 4800.0 * min(alpha, 1.0) / alpha
    warped = np.where(freqs <= f0, alpha * freqs,
                      nyq - (nyq - alpha * f0) / (nyq - f0) * (nyq - freqs))
    # filter value at original bin k = reference filter interpolated at warped frequency
    out = np.empty_like(fb)
    for i in range(fb.shape[0]):
        out[i] = np.interp(warped, freqs, fb[i])
    return out


def logmel(x, vtlp=1.0, norm="per_feature"):
    if vtlp == 1.0:
        return ref.logmel(x, norm).astype(np.float32)
    x = np.asarray(x, dtype=np.float64)
    y = np.concatenate([x[:1], x[1:] - ref.PREEMPH * x[:-1]]) if len(x) else x
    n_frames = 1 + len(y) // HOP
    padded = np.concatenate([np.zeros(ref.WIN // 2), y, np.zeros(ref.WIN)])
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(ref.WIN)[None, :]
    n = np.arange(ref.WIN)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (ref.WIN - 1))
    spec = np.abs(np.fft.rfft(padded[idx] * window, n=ref.NFFT, axis=1)) ** 2
    mel = np.log(spec @ _warped_fb(round(float(vtlp), 3)).T + ref.GUARD)
    if norm == "per_feature":
        mean = mel.mean(axis=0)
        std = mel.std(axis=0, ddof=1) if n_frames > 1 else np.zeros(NMELS)
        mel = (mel - mean) / (std + 1e-5)
    return mel.astype(np.float32)


def load_audio(path):
    """Any file sox reads -> float64 mono 16 kHz samples in [-1, 1)."""
    import subprocess
    r = subprocess.run(["sox", "-R", path, "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
                        "-", "rate", "-h", "16000"], stdout=subprocess.PIPE, check=True)
    return np.frombuffer(r.stdout, dtype="<i2").astype(np.float64) / 32768.0
