"""Manifests, feature loading, batching, WER and greedy evaluation for the ASR recipe."""
import glob
import json
import os
import random

import numpy as np
import torch

from train.asr.model import greedy_decode, text_to_ids


def read_manifests(work, prefix):
    """All records of WORK/manifests/<prefix>.*.jsonl (lines cut by a kill are skipped)."""
    recs = []
    for p in sorted(glob.glob(os.path.join(work, "manifests", prefix + ".*.jsonl"))):
        with open(p) as f:
            for line in f:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    pass
    return recs


class FeatCache:
    def __init__(self, work):
        self.work, self.mem = work, {}

    def get(self, rec):
        f = self.mem.get(rec["feat"])
        if f is None:
            f = np.load(os.path.join(self.work, rec["feat"]))
            self.mem[rec["feat"]] = f
        return f


def make_batches(recs, max_frames, rng, max_batch=64):
    """Length-sorted buckets with about max_frames padded frames per batch, shuffled."""
    order = sorted(range(len(recs)), key=lambda i: recs[i]["frames"] + rng.random())
    out, cur, longest = [], [], 0
    for i in order:
        n = recs[i]["frames"]
        if cur and (max(longest, n) * (len(cur) + 1) > max_frames or len(cur) >= max_batch):
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(recs, idx, cache, specaug=None, rng=None, transform=None):
    """Padded batch [B, n_mels, T] + lengths + CTC targets; transform(f, rng) may replace each
    utterance's [T, n_mels] features first, specaug(f, rng) then masks them in place."""
    feats = [cache.get(recs[i]).astype(np.float32) for i in idx]
    if transform:
        feats = [transform(f, rng) for f in feats]
    T = max(f.shape[0] for f in feats)
    x = np.zeros((len(idx), 80, T), dtype=np.float32)
    for b, f in enumerate(feats):
        f = f.T.copy()
        if specaug:
            specaug(f, rng)
        x[b, :, :f.shape[1]] = f
    lens = torch.tensor([f.shape[0] for f in feats])
    tg = [text_to_ids(recs[i]["text"]) for i in idx]
    tl = torch.tensor([len(t) for t in tg])
    targets = torch.tensor([c for t in tg for c in t], dtype=torch.long)
    return torch.from_numpy(x), lens, targets, tl


def spec_augment(f, rng, n_freq=2, freq_w=12, time_frac=0.05, n_time=2, time_w=40):
    """In place on f [80, T]: frequency and time masks set to 0 (the normalized mean)."""
    for _ in range(n_freq):
        w = rng.randint(0, freq_w)
        s = rng.randint(0, 80 - w)
        f[s:s + w, :] = 0.0
    T = f.shape[1]
    for _ in range(n_time):
        w = rng.randint(0, max(1, min(time_w, int(time_frac * T))))
        s = rng.randint(0, max(0, T - w))
        f[:, s:s + w] = 0.0


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(b)]


def wer(refs, hyps):
    errs = sum(edit_distance(r.split(), h.split()) for r, h in zip(refs, hyps))
    words = sum(len(r.split()) for r in refs)
    return errs / max(1, words)


def cer(refs, hyps):
    """Character error rate over all pairs (spaces count as characters)."""
    errs = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    return errs / max(1, sum(len(r) for r in refs))


def transcribe(model, recs, cache, device="cpu", max_frames=20000):
    model.eval()
    hyps = [None] * len(recs)
    with torch.no_grad():
        for idx in make_batches(recs, max_frames, random.Random(0)):
            x, lens, _, _ = collate(recs, idx, cache)
            lp, ol = model(x.to(device), lens.to(device))
            for i, h in zip(idx, greedy_decode(lp, ol)):
                hyps[i] = h
    return hyps


def evaluate(model, dev_sets, cache, device="cpu"):
    """{name: (metric, n)}: WER for every set, CER for lj/synth sets, digit accuracy for fsdd."""
    res = {}
    for name, recs in dev_sets.items():
        if not recs:
            continue
        hyps = transcribe(model, recs, cache, device)
        refs = [r["text"] for r in recs]
        if "fsdd" in name:
            res[name + "_acc"] = (sum(h == r for h, r in zip(hyps, refs)) / len(refs), len(refs))
        else:
            res[name + "_cer"] = (cer(refs, hyps), len(refs))
        res[name + "_wer"] = (wer(refs, hyps), len(refs))
    return res
