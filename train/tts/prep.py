#!/usr/bin/env python3
"""Features for the voice recipe from gen_festival.py's output: per utterance the token
sequence, phone durations in frames, phone-level pitch and energy, log-mel frames and
the samples; written to OUT/cache.pt with the normalization statistics.

    /usr/bin/python3 train/tts/prep.py --data /work/tts-data
"""
import argparse
import os
import sys
import wave

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from train.tts import model as M  # noqa: E402

FEST = {"ax": ("AH", 0)}


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == M.SAMPLE_RATE and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def tokens_of(segs, text):
    toks = []
    for i, (name, _, stress) in enumerate(segs):
        if name == "pau":
            if i == 0:
                toks.append(M.TOK_BOS)
            elif i == len(segs) - 1:
                end = text.rstrip()[-1:]
                toks.append(M.TOK_EOSQ if end == "?" else M.TOK_EOSX if end == "!" else M.TOK_EOS)
            else:
                toks.append(M.TOK_PAU)
            continue
        base, st = FEST.get(name, (name.upper(), None))
        if base in M.VOWELS:
            if st is None:
                st = 1 if stress > 0 else 0
            toks.append(M.phone_token(base, st))
        elif base in M.CONSONANTS:
            toks.append(M.phone_token(base))
        else:
            return None
    return toks


def pitch_track(wav):
    """Per-frame log F0 (0 where unvoiced) by normalized autocorrelation, frames as log_mel."""
    x = torch.from_numpy(wav.astype(np.float32) / 32768.0)
    pad = M.N_FFT // 2
    x = torch.nn.functional.pad(x[None, None], (pad, pad), mode="reflect")[0, 0]
    fr = x.unfold(0, M.N_FFT, M.HOP) * torch.hann_window(M.N_FFT)
    spec = torch.fft.rfft(fr, n=2 * M.N_FFT)
    r = torch.fft.irfft(spec.abs() ** 2)[:, :M.N_FFT]
    lo, hi = M.SAMPLE_RATE // 400, M.SAMPLE_RATE // 70
    r0 = r[:, :1].clamp(min=1e-9)
    nr = r[:, lo:hi] / r0
    best, lag = nr.max(1)
    energy = fr.pow(2).mean(1)
    voiced = (best > 0.45) & (energy > 1e-5)
    f0 = M.SAMPLE_RATE / (lag + lo).float()
    return torch.where(voiced, torch.log(f0), torch.zeros_like(f0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/tts-data")
    a = ap.parse_args()
    texts = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(a.data, "text.tsv")))
    utts = []
    for uid in sorted(texts):
        seg = os.path.join(a.data, "seg", uid + ".txt")
        if not os.path.exists(seg):
            continue
        rows = [l.split() for l in open(seg)]
        segs = [(r[0], float(r[1]), int(float(r[2])) if r[2] not in ("0", "") else 0) for r in rows]
        toks = tokens_of(segs, texts[uid])
        if toks is None:
            continue
        wav = read_wav(os.path.join(a.data, "wav", uid + ".wav"))
        T = len(wav) // M.HOP + 1
        ends = [min(T, int(round(e * M.SAMPLE_RATE / M.HOP))) for _, e, _ in segs]
        ends[-1] = T
        dur, prev = [], 0
        for e in ends:
            e = max(e, prev)
            dur.append(e - prev)
            prev = e
        w = torch.from_numpy(wav.astype(np.float32) / 32768.0)[None]
        mel = M.log_mel(w)[0]
        assert mel.shape[0] == T, (mel.shape, T)
        lf0 = pitch_track(wav)[:T]
        en = torch.log(M.stft_mag(w)[0].pow(2).sum(1).clamp(min=1e-8))
        p, e, s = [], [], 0
        for d in dur:
            seg_f0 = lf0[s:s + d]
            v = seg_f0[seg_f0 > 0]
            p.append(float(v.mean()) if v.numel() else 0.0)
            e.append(float(en[s:s + d].mean()) if d else float(en[min(s, T - 1)]))
            s += d
        utts.append(dict(id=uid, tokens=torch.tensor(toks, dtype=torch.int16),
                         dur=torch.tensor(dur, dtype=torch.int16),
                         pitch=torch.tensor(p), energy=torch.tensor(e),
                         mel=mel.half(), wav=torch.from_numpy(wav)))
    allp = torch.cat([u["pitch"][u["pitch"] > 0] for u in utts])
    alle = torch.cat([u["energy"] for u in utts])
    stats = dict(pitch_mean=float(allp.mean()), pitch_std=float(allp.std()),
                 energy_mean=float(alle.mean()), energy_std=float(alle.std()))
    torch.save(dict(utts=utts, stats=stats), os.path.join(a.data, "cache.pt.tmp"))
    os.replace(os.path.join(a.data, "cache.pt.tmp"), os.path.join(a.data, "cache.pt"))
    secs = sum(len(u["wav"]) for u in utts) / M.SAMPLE_RATE
    print("%d utterances, %.1f minutes, stats %s" % (len(utts), secs / 60, stats))


if __name__ == "__main__":
    main()
