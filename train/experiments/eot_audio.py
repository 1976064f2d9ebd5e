#!/usr/bin/python3
"""Probe: can the sound of the speech before a pause tell the end of a turn from a pause
inside it, where the words cannot? (hands-free Converse, docs/dialog.md "End of turn")

A measurement for choosing the next end-of-turn signal, not a shipped model. Labels come from
where speakers really pause, no transcript needed: in a recording of one read sentence or
command, every pause of --min-pause (0.2 s) or more between stretches of speech is
`incomplete` (the speaker went on), the end of the recording's speech is `complete`.

Input, as the service would see it at the end-of-turn check: the last 2 s of audio up to
0.2 s after the end of speech, made 8 kHz (a box filter of rate / 8000 samples and every such
sample when the rate is a multiple of 8 kHz, else linear interpolation; as the tone's pitch
tracker does), the end of speech found as the tone finds it (the last 10 ms frame above 5% of
the loudest frame's RMS), and the --frames (100: 1 s) frames up to 10 frames after it: the ASR
front end's log mels at 8 kHz (engine/asr/asr_features.h: pre-emphasis 0.97, 50 ms symmetric
Hann windows every 10 ms, 512-point FFT, 40 Slaney mel bands 60-3800 Hz), the loudest frame's
mean set to 0, floored at -12.

Model: three 1-D convolutions (kernel 5, 48 channels, the 2nd and 3rd of stride 2) with ReLU,
flattened, a 32-unit ReLU layer, P(complete) by a sigmoid (80k parameters at 100 frames);
AdamW, one-cycle learning rate 2e-3, 30 epochs, classes weighted alike, the end shifted by up
to 3 frames, noise at 15-40 dB SNR on half the training recordings; the epoch with the best
dev AUC is kept.

Data (../shared/data/speech): train: speechocean762's train split (2,500 sentences of 125
speakers), the LJ Speech recordings of ljspeech-real and ljspeech-subset that neither the
latency bench nor its dev parts read (services/dialog/bench_voice_latency.py), the
speech_commands words (complete); dev: speechocean762's test split (other speakers), the
bench's dev LJ recordings (parts 0-2) and dev FSDD digits. The bench's own recordings are never
read. 5,251 training examples (2,878 ends, 2,373 pauses), 4,586 dev (2,590, 1,996).

What it showed (2026-12-07, 1 CPU thread, 75 s of training after 4 min of features), as
ends taken and pauses cut at P(complete) >= 0.8, and the AUC (a random end above a random
pause):

| run | speechocean762 dev: AUC, ends / pauses at 0.8 | LJ dev: AUC, ends (of 60) / pauses (of 86) at 0.8 |
|---|---|---|
| 100 frames | 0.753, 946 / 229 (of 2,500 / 1,910) | 0.634, 12 / 6 |
| 100 frames, LJ examples weighted 8x | 0.702, 932 / 301 | 0.705, 12 / 7 |
| 180 frames, LJ weighted 8x | 0.767, 66 / 10 | 0.709, 0 / 0 (at 0.5: 18 / 11) |

The speakers of speechocean762 (children and adults reading short sentences in a language not
their own, who hesitate inside them) are told apart at an AUC of 0.75-0.77; the LJ Speech
readers, whose voice falls at phrase ends inside a sentence as at its end, at 0.63-0.71: at
any threshold that ends a fifth of the LJ sentences it also cuts one pause in twelve. The
tone's pitch slope measured on the same kind of pauses did about as well (docs/dialog.md,
"Choosing the tone rule on a dev set": ends 0.46 falling against pauses inside 0.22), and the
end-of-turn classifier on the words cuts 1 of 32 at 0.75. So this signal was not wired into
parley-dialog: it would add cuts on read speech for few early ends.

    /usr/bin/python3 -m train.experiments.eot_audio [--frames 100] [--lj-weight 1]
"""
import argparse
import glob
import hashlib
import json
import os
import random
import time

import numpy as np

from train.common import paths

FS = 8000
HOP = 80
WIN = 400
NFFT = 512
NMEL = 40
FMIN, FMAX = 60.0, 3800.0
FRAMES = 100  # model input: frames up to end+10 (--frames)
AFTER = 10
FLOOR = -12.0
SPEECH_REL = 0.05
KEEP_S = 2.0  # what the service keeps
CHECK_S = 0.2  # the check comes about this long after the end of speech


def mel_filters():
    """(NMEL, NFFT/2+1) Slaney-scale mel filters of the ASR front end, at 8 kHz, FMIN-FMAX."""
    from train.asr import feats
    return feats.mel_filterbank(sr=FS, n_fft=NFFT, n_mels=NMEL, fmin=FMIN, fmax=FMAX)


FB = mel_filters()
HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / (WIN - 1))  # symmetric, as the front end


def to_8k(x, rate):
    """The service's 8 kHz: a box filter of rate/8000 samples and every such sample when the
    rate is a multiple of 8 kHz, else linear interpolation."""
    x = np.asarray(x, dtype=np.float64)
    if rate % FS == 0:
        d = rate // FS
        m = len(x) // d
        return x[:m * d].reshape(m, d).mean(axis=1)
    m = int(len(x) * FS // rate)
    t = np.arange(m) * (rate / FS)
    i = np.minimum(t.astype(np.int64), len(x) - 2)
    f = t - i
    return x[i] * (1 - f) + x[i + 1] * f


def frame_rms(y):
    nf = len(y) // HOP
    y = np.asarray(y[:nf * HOP], dtype=np.float64)
    return np.sqrt((y.reshape(nf, HOP) ** 2).mean(axis=1))


def speech_end(y):
    """The last frame above SPEECH_REL of the loudest (-1: none)."""
    r = frame_rms(y)
    if len(r) == 0 or r.max() <= 0:
        return -1
    idx = np.nonzero(r > SPEECH_REL * r.max())[0]
    return int(idx[-1]) if len(idx) else -1


def logmel(y, n_frames=0):
    """The ASR front end's log mels (engine/asr/asr_features.h: pre-emphasis 0.97, frame t
    centred on sample t*HOP, zeros outside y, symmetric Hann, log(mel + 2^-24), no
    normalization) at 8 kHz: float64 [max(n_frames, 1 + len(y) // HOP), NMEL]."""
    y = np.asarray(y, dtype=np.float64)
    z = np.concatenate([y[:1], y[1:] - 0.97 * y[:-1]]) if len(y) else y
    n_frames = max(n_frames, 1 + len(z) // HOP)
    padded = np.concatenate([np.zeros(WIN // 2), z, np.zeros(WIN + n_frames * HOP - len(z))])
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(WIN)[None, :]
    spec = np.abs(np.fft.rfft(padded[idx] * HANN, n=NFFT, axis=1)) ** 2
    return np.log(spec @ FB.T + 2.0 ** -24)


def features(y):
    """(FRAMES, NMEL) input of the 8 kHz buffer y (what the service keeps up to the check),
    None without speech: log-mel frames end-89 .. end+10 (end: the last speech frame; frames
    before the buffer are FLOOR), the loudest frame's mean set to 0, floored at FLOOR."""
    y = np.asarray(y, dtype=np.float64)
    y = y - y.mean()
    end = speech_end(y)
    if end < 0:
        return None
    t0 = end - (FRAMES - 1 - AFTER)
    lm = logmel(y, t0 + FRAMES)
    out = np.full((FRAMES, NMEL), -np.inf)
    for j in range(FRAMES):
        t = t0 + j
        if 0 <= t < len(lm):
            out[j] = lm[t]
    top = out[np.isfinite(out[:, 0])].mean(axis=1).max()
    out = np.where(np.isfinite(out), out - top, FLOOR)
    return np.maximum(out, FLOOR).astype(np.float32)


def pauses(y, min_pause):
    """(end frames of speech followed by a pause of min_pause s or more with speech after it,
    the last speech frame) of the whole 8 kHz recording y."""
    r = frame_rms(y - np.mean(y))
    if len(r) == 0 or r.max() <= 0:
        return [], -1
    sp = r > SPEECH_REL * r.max()
    idx = np.nonzero(sp)[0]
    if len(idx) == 0:
        return [], -1
    first, last = int(idx[0]), int(idx[-1])
    need = int(round(min_pause / 0.01))
    inside, f = [], first
    while f <= last:
        if not sp[f]:
            g = f
            while g <= last and not sp[g]:
                g += 1
            if g - f >= need and (f - first) >= 30:  # 300 ms of speech before it
                inside.append(f - 1)
            f = g
        else:
            f += 1
    return inside, last


def buffer_at(y, end):
    """What the service keeps at the check after speech ending at frame `end`: KEEP_S of audio
    up to CHECK_S after it (silence past the recording's end)."""
    stop = (end + 1) * HOP + int(CHECK_S * FS)
    start = max(0, stop - int(KEEP_S * FS))
    buf = y[start:stop]
    if len(buf) < stop - start:
        buf = np.concatenate([buf, np.zeros(stop - start - len(buf))])
    return buf


# ---- data ----------------------------------------------------------------------------------

def load(path):
    """(float mono samples, rate) of a WAV, FLAC or Opus file (libsndfile)."""
    from train.asr.synth import sndfile_read
    return sndfile_read(path)


def lj_rows(data, folder):
    meta = os.path.join(data, "speech", folder, "metadata.csv")
    rows = [line.rstrip("\n").split("|") for line in open(meta, encoding="utf-8")]
    rows = [(r[0], r[2], folder) for r in rows
            if os.path.exists(os.path.join(data, "speech", folder, "wavs", r[0] + ".flac"))]
    rows.sort(key=lambda r: len(r[1]))
    return rows


def lj_split(data):
    """(bench, dev, train) LJ recordings as bench_voice_latency.py chooses its bench and dev
    parts 0-2 (--lj 4 --commas 8; dev --lj 6 --commas 14)."""
    real = lj_rows(data, "ljspeech-real")
    commas = [r for r in real if "," in r[1]]
    bench = real[:4] + commas[:8]
    taken = set(r[0] for r in bench)
    pool = {}
    for r in real + lj_rows(data, "ljspeech-subset"):
        if r[0] not in taken and r[0] not in pool:
            pool[r[0]] = r
    rows = sorted(pool.values(), key=lambda r: len(r[1]))
    wc = [r for r in rows if "," in r[1]]
    plain = [r for r in rows if "," not in r[1]]
    dev = []
    for part in range(3):
        dev += plain[part * 6:(part + 1) * 6] + wc[part * 14:(part + 1) * 14]
    dev_ids = set(r[0] for r in dev)
    train = [r for r in rows if r[0] not in dev_ids]
    return bench, dev, train


def recordings(data, rng, n_commands):
    """{"train": [(path, source)], "dev": [...]}."""
    sp = os.path.join(data, "speech")
    out = {"train": [], "dev": []}
    so = os.path.join(sp, "speechocean762")
    for line in open(os.path.join(so, "transcripts.tsv"), encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if f[0] in ("train", "test"):
            out["train" if f[0] == "train" else "dev"].append(
                (os.path.join(so, "audio", f[1] + ".opus"), "so"))
    _, dev, train = lj_split(data)
    for rows, split in ((train, "train"), (dev, "dev")):
        for r in rows:
            out[split].append((os.path.join(sp, r[2], "wavs", r[0] + ".flac"), "lj"))
    for s in ("nicolas", "theo", "yweweler"):
        for d in range(10):
            out["dev"].append((os.path.join(sp, "fsdd", "recordings", "%d_%s_0.wav" % (d, s)),
                               "fsdd"))
    words = sorted(glob.glob(os.path.join(sp, "speech-commands", "speech_commands_v0.01",
                                          "*", "*.wav")))
    words = [w for w in words if "_background_noise_" not in w]
    rng.shuffle(words)
    out["train"] += [(w, "word") for w in words[:n_commands]]
    return out


def examples(path, source, min_pause, rng=None, noise=False):
    """[(features, label, source, where)] of one recording: its pauses (0) and its end (1)."""
    x, rate = load(path)
    y = to_8k(x, rate)
    if noise and rng is not None and rng.random() < 0.5:
        level = np.sqrt((y ** 2).mean() + 1e-12) * 10 ** (-rng.uniform(15, 40) / 20)
        y = y + np.random.default_rng(rng.randrange(1 << 30)).normal(0, level, len(y))
    inside, last = pauses(y, min_pause)
    out = []
    if last < 0:
        return out
    for end, label in [(e, 0) for e in inside] + [(last, 1)]:
        f = features(buffer_at(y, end))
        if f is not None:
            out.append((f, label, source, end))
    return out


def build_set(recs, min_pause, rng, noise):
    X, Y, S = [], [], []
    t0 = time.time()
    for i, (path, src) in enumerate(recs):
        for f, lab, s, _ in examples(path, src, min_pause, rng, noise):
            X.append(f)
            Y.append(lab)
            S.append(s)
        if (i + 1) % 500 == 0:
            print("  %d / %d recordings, %d examples, %.0f s" % (i + 1, len(recs), len(X),
                                                                  time.time() - t0), flush=True)
    return np.stack(X), np.array(Y, dtype=np.float32), np.array(S)


# ---- model ---------------------------------------------------------------------------------

def make_model():
    import torch.nn as nn

    class EotAudio(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(NMEL, 48, 5, padding=2)
            self.c2 = nn.Conv1d(48, 48, 5, stride=2, padding=2)
            self.c3 = nn.Conv1d(48, 48, 5, stride=2, padding=2)
            self.fc = nn.Linear(48 * ((FRAMES + 3) // 4), 32)
            self.out = nn.Linear(32, 1)
            self.drop = nn.Dropout(0.3)

        def forward(self, x):  # x: (B, FRAMES, NMEL) -> logit (B,)
            import torch
            h = x.transpose(1, 2)
            h = torch.relu(self.c1(h))
            h = torch.relu(self.c2(h))
            h = torch.relu(self.c3(h))
            h = h.transpose(1, 2).reshape(h.shape[0], -1)  # time-major, as the C code
            h = torch.relu(self.fc(self.drop(h)))
            return self.out(self.drop(h)).squeeze(1)
    return EotAudio()


def predict(model, X):
    import torch
    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(X))).numpy()


def report(p, Y, S, thresholds=(0.5, 0.7, 0.8, 0.9)):
    """Per source and threshold: ends taken (of ends) and pauses cut (of pauses)."""
    rows = []
    for src in ["all"] + sorted(set(S.tolist())):
        sel = np.ones(len(Y), bool) if src == "all" else S == src
        ends, ins = (Y == 1) & sel, (Y == 0) & sel
        line = {"source": src, "ends": int(ends.sum()), "pauses": int(ins.sum())}
        for th in thresholds:
            line["%.2f" % th] = [int((p[ends] >= th).sum()), int((p[ins] >= th).sum())]
        if ends.sum() and ins.sum():
            # AUC: P(a random end scores above a random pause)
            pe, pi = np.sort(p[ends]), p[ins]
            line["auc"] = float(np.mean([np.searchsorted(pe, v, side="right") for v in pi]))
            line["auc"] = 1.0 - line["auc"] / len(pe)
        rows.append(line)
    return rows


def print_report(rows):
    for r in rows:
        th = " ".join("%s: %d/%d ends, %d/%d pauses" % (k, v[0], r["ends"], v[1], r["pauses"])
                      for k, v in r.items() if k[0] == "0")
        print("  %-5s auc %s  %s" % (r["source"], "%.3f" % r["auc"] if "auc" in r else "  -  ", th))


def main():
    global FRAMES
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--work", default=paths.work_dir("eot-audio"))
    ap.add_argument("--min-pause", type=float, default=0.2)
    ap.add_argument("--commands", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lj-weight", type=float, default=1.0,
                    help="weight of an LJ Speech example against the others")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="recordings per split (smoke test)")
    ap.add_argument("--frames", type=int, default=FRAMES, help="input frames (10 ms)")
    a = ap.parse_args()
    FRAMES = a.frames
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    data = paths.data_dir(a.data)
    os.makedirs(a.work, exist_ok=True)
    recs = recordings(data, rng, a.commands)
    if a.limit:
        for k in recs:
            rng.shuffle(recs[k])
            recs[k] = recs[k][:a.limit]
    key = hashlib.sha1(json.dumps([recs, a.min_pause, FRAMES, NMEL, "asr-fe-2"]).encode()
                      ).hexdigest()[:10]
    cache = os.path.join(a.work, "feats-%s.npz" % key)
    if os.path.exists(cache):
        z = np.load(cache)
        Xt, Yt, St, Xd, Yd, Sd = (z[k] for k in ("Xt", "Yt", "St", "Xd", "Yd", "Sd"))
    else:
        print("features: %d train, %d dev recordings" % (len(recs["train"]), len(recs["dev"])))
        Xt, Yt, St = build_set(recs["train"], a.min_pause, random.Random(a.seed), True)
        Xd, Yd, Sd = build_set(recs["dev"], a.min_pause, None, False)
        np.savez(cache, Xt=Xt, Yt=Yt, St=St, Xd=Xd, Yd=Yd, Sd=Sd)
    print("train: %d examples (%d ends, %d pauses); dev: %d (%d ends, %d pauses)" % (
        len(Yt), int(Yt.sum()), int((Yt == 0).sum()), len(Yd), int(Yd.sum()), int((Yd == 0).sum())))
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-2)
    pos = float(Yt.mean())
    # the classes weigh alike
    wt = np.where(Yt == 1, 0.5 / pos, 0.5 / (1 - pos)) * np.where(St == "lj", a.lj_weight, 1.0)
    wt = torch.from_numpy(wt.astype(np.float32))
    Xt_t, Yt_t = torch.from_numpy(Xt), torch.from_numpy(Yt)
    ck = os.path.join(a.work, "ckpt-%s.pt" % key)
    start, best, best_state = 0, -1.0, None
    if os.path.exists(ck):
        c = torch.load(ck)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        start, best, best_state = c["epoch"], c["best"], c["best_state"]
        print("resumed after epoch %d" % start)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs *
                                                ((len(Yt) + 63) // 64), last_epoch=-1)
    for _ in range(start * ((len(Yt) + 63) // 64)):
        sched.step()
    t0 = time.time()
    for ep in range(start, a.epochs):
        model.train()
        perm = torch.randperm(len(Yt))
        tot = 0.0
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
            xb = Xt_t[b]
            shift = random.randint(-3, 3)  # the end found a few frames off
            if shift:
                xb = torch.roll(xb, shift, dims=1)
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                model(xb), Yt_t[b], reduction="none") * wt[b]).sum() / wt[b].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(b)
        model.eval()
        rep = report(predict(model, Xd), Yd, Sd)
        auc = rep[0].get("auc", 0.0)
        lj = [r for r in rep if r["source"] == "lj"]
        print("epoch %d: loss %.4f, dev auc %.4f (lj %.4f), %.0f s" % (
            ep + 1, tot / len(Yt), auc, lj[0].get("auc", 0) if lj else 0, time.time() - t0),
            flush=True)
        if auc > best:
            best = auc
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": ep + 1,
                    "best": best, "best_state": best_state}, ck)
    model.load_state_dict(best_state)
    model.eval()
    rep = report(predict(model, Xd), Yd, Sd)
    print("dev (best epoch by AUC):")
    print_report(rep)
    with open(os.path.join(a.work, "dev-%s.json" % key), "w") as f:
        json.dump({"dev": rep, "args": vars(a)}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
