"""Parley's ASR front end in NumPy (engine/asr/asr_features.h), for training and as the
reference the C front end is tested against (tests/reference/asr_features.py), plus
optional vocal-tract-length perturbation (VTLP) for augmentation.

Pipeline, float64 throughout:
  pre-emphasis y[0] = x[0], y[n] = x[n] - 0.97 x[n-1];
  centred frames (torch.stft center=True, zero pad): frame t = samples
    t*160 - 200 .. t*160 + 199, 1 + N // 160 frames;
  symmetric Hann window of 400 (torch.hann_window(400, periodic=False));
  power spectrum |rfft(frame, 512)|^2;
  80 Slaney-scale mel filters with Slaney area normalization, 0..8000 Hz
    (the formulas of librosa.filters.mel(htk=False, norm='slaney'));
  log(mel + 2^-24);
  per_feature normalization: (x - mean_t) / (std_t(ddof=1) + 1e-5) per mel bin.

reference_logmel(x, norm) is that pipeline (float64 [T, 80]). logmel(x, vtlp=1.0) ->
float32 [T, 80] is what training uses: with vtlp == 1.0 the reference itself; with
vtlp = alpha the mel filterbank is evaluated at warped FFT bin frequencies (piecewise
linear warp, Jaitly & Hinton 2013): f' = alpha * f below f0 = 4800 * min(alpha, 1) /
alpha, then a straight line to 8000 Hz.
"""
import functools
import subprocess

import numpy as np

SR, WIN, HOP, NFFT, NMELS = 16000, 400, 160, 512, 80
GUARD = 2.0 ** -24
PREEMPH = 0.97


# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above
F_SP = 200.0 / 3.0
MIN_LOG_HZ = 1000.0
MIN_LOG_MEL = MIN_LOG_HZ / F_SP
LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    return np.where(f >= MIN_LOG_HZ,
                    MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / MIN_LOG_HZ) / LOGSTEP,
                    f / F_SP)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= MIN_LOG_MEL, MIN_LOG_HZ * np.exp(LOGSTEP * (m - MIN_LOG_MEL)), m * F_SP)


def mel_filterbank(sr=SR, n_fft=NFFT, n_mels=NMELS, fmin=0.0, fmax=None):
    fmax = sr / 2.0 if fmax is None else fmax
    fftfreqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(hz)
    ramps = hz[:, None] - fftfreqs[None, :]
    weights = np.zeros((n_mels, n_fft // 2 + 1))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (hz[2:n_mels + 2] - hz[:n_mels])
    return weights * enorm[:, None]


def reference_logmel(x, norm="per_feature", fb=None):
    """The front end on samples x (float64 [T, NMELS]); fb replaces the mel filterbank."""
    x = np.asarray(x, dtype=np.float64)
    y = np.concatenate([x[:1], x[1:] - PREEMPH * x[:-1]]) if len(x) else x
    n_frames = 1 + len(y) // HOP
    padded = np.concatenate([np.zeros(WIN // 2), y, np.zeros(WIN)])
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(WIN)[None, :]
    frames = padded[idx]
    n = np.arange(WIN)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (WIN - 1))
    spec = np.abs(np.fft.rfft(frames * window, n=NFFT, axis=1)) ** 2
    mel = np.log(spec @ (mel_filterbank() if fb is None else fb).T + GUARD)
    if norm == "per_feature":
        mean = mel.mean(axis=0)
        std = mel.std(axis=0, ddof=1) if n_frames > 1 else np.zeros(NMELS)
        mel = (mel - mean) / (std + 1e-5)
    return mel


@functools.lru_cache(maxsize=64)
def _warped_fb(alpha):
    fb = mel_filterbank()
    if alpha == 1.0:
        return fb
    nyq = SR / 2.0
    freqs = np.arange(NFFT // 2 + 1) * SR / NFFT
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
        return reference_logmel(x, norm).astype(np.float32)
    return reference_logmel(x, norm, _warped_fb(round(float(vtlp), 3))).astype(np.float32)


def load_audio(path):
    """Any file sox reads -> float64 mono 16 kHz samples in [-1, 1)."""
    r = subprocess.run(["sox", "-R", path, "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
                        "-", "rate", "-h", "16000"], stdout=subprocess.PIPE, check=True)
    return np.frombuffer(r.stdout, dtype="<i2").astype(np.float64) / 32768.0
