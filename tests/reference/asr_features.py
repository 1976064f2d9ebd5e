#!/usr/bin/python3
"""NumPy reference of Parley's ASR front end (engine/asr/asr_features.h).

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

As a test (registered as reference_asr_features):
  asr_features.py --check DUMP_BIN DATA_DIR WORK_DIR
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

SR, WIN, HOP, NFFT, NMELS = 16000, 400, 160, 512, 80
GUARD = 2.0 ** -24
PREEMPH = 0.97


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz,
                    min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep,
                    f / f_sp)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), m * f_sp)


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


def logmel(x, norm="per_feature"):
    x = np.asarray(x, dtype=np.float64)
    y = np.concatenate([x[:1], x[1:] - PREEMPH * x[:-1]]) if len(x) else x
    n_frames = 1 + len(y) // HOP
    padded = np.concatenate([np.zeros(WIN // 2), y, np.zeros(WIN)])
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(WIN)[None, :]
    frames = padded[idx]
    n = np.arange(WIN)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (WIN - 1))
    spec = np.abs(np.fft.rfft(frames * window, n=NFFT, axis=1)) ** 2
    mel = np.log(spec @ mel_filterbank().T + GUARD)
    if norm == "per_feature":
        mean = mel.mean(axis=0)
        std = mel.std(axis=0, ddof=1) if n_frames > 1 else np.zeros(NMELS)
        mel = (mel - mean) / (std + 1e-5)
    return mel


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
