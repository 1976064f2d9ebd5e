#!/usr/bin/env python3
"""Train the Parley voice's acoustic model or vocoder on prep.py's cache; resumable.

    /usr/bin/python3 train/tts/train.py --part acoustic --data /work/tts-data --minutes 60
    /usr/bin/python3 train/tts/train.py --part vocoder  --data /work/tts-data --minutes 60
    /usr/bin/python3 train/tts/train.py --part vocoder  --gta --minutes 20   # then fine-tune on
        # the acoustic model's own mels (teacher-forced durations, pitch and energy, so they
        # line up with the recordings): the vocoder learns the smoothed mels it will be fed

Checkpoints go to train/work/tts/<part>.pt (every few minutes and at the end; a rerun
resumes from it, with the learning-rate schedule continuing over the new budget). The
dev set, held out and scored every checkpoint, is the 40 utterances with ids 01560-01599
(the last 40 of the first 1,600 sentences; it stays the same when more data is generated).
"""
import argparse
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from train.tts import model as M  # noqa: E402

DEV_IDS = {"%05d" % i for i in range(1560, 1600)}


def work_dir():
    d = os.path.join(ROOT, "train", "work", "tts")
    os.makedirs(d, exist_ok=True)
    return d


def log(msg):
    print(msg, flush=True)
    with open(os.path.join(work_dir(), "train.log"), "a") as f:
        f.write(msg + "\n")


def norm(u, stats):
    p = torch.where(u["pitch"] > 0, (u["pitch"] - stats["pitch_mean"]) / stats["pitch_std"],
                    torch.zeros_like(u["pitch"]))
    e = (u["energy"] - stats["energy_mean"]) / stats["energy_std"]
    return p, e


def acoustic_batch(utts, stats, dev):
    n = max(len(u["tokens"]) for u in utts)
    B = len(utts)
    tok = torch.zeros(B, n, dtype=torch.long)
    dur = torch.zeros(B, n, dtype=torch.long)
    pit = torch.zeros(B, n)
    ene = torch.zeros(B, n)
    T = max(u["mel"].shape[0] for u in utts)
    mel = torch.zeros(B, T, M.N_MELS)
    for i, u in enumerate(utts):
        k = len(u["tokens"])
        tok[i, :k] = u["tokens"].long()
        dur[i, :k] = u["dur"].long()
        p, e = norm(u, stats)
        pit[i, :k], ene[i, :k] = p, e
        mel[i, :u["mel"].shape[0]] = u["mel"].float()
    return [t.to(dev) for t in (tok, dur, pit, ene, mel)]


def acoustic_loss(model, batch):
    tok, dur, pit, ene, mel = batch
    pred, fmask, logd, p, e = model(tok, dur, pit, ene)
    tmask = (tok != 0).float()
    nt = tmask.sum()
    l_mel = ((pred - mel[:, :pred.shape[1]]).abs() * fmask).sum() / (fmask.sum() * M.N_MELS)
    l_dur = (((logd - torch.log1p(dur.float())) ** 2) * tmask).sum() / nt
    l_p = (((p - pit) ** 2) * tmask).sum() / nt
    l_e = (((e - ene) ** 2) * tmask).sum() / nt
    return l_mel + l_dur + 0.5 * l_p + 0.5 * l_e, dict(mel=l_mel.item(), dur=l_dur.item(),
                                                         pitch=l_p.item(), energy=l_e.item())


def aw(x):
    """Anti-wrapping distance of phase differences."""
    return torch.abs(x - 2 * math.pi * torch.round(x / (2 * math.pi)))


def mr_stft_loss(y, t):
    loss = 0.0
    for n_fft, hop in ((512, 128), (1024, 256), (256, 64)):
        a = M.stft_mag(y, n_fft, hop)
        b = M.stft_mag(t, n_fft, hop)
        sc = torch.linalg.norm(a - b) / torch.linalg.norm(b).clamp(min=1e-6)
        lm = (torch.log(a + 1e-4) - torch.log(b + 1e-4)).abs().mean()
        loss = loss + sc + lm
    return loss / 3


def vocoder_batch(utts, seg_frames, rng, dev):
    mels, wavs = [], []
    win = torch.hann_window(M.N_FFT)
    specs = []
    for u in utts:
        T = u["mel"].shape[0]
        f0 = rng.randrange(0, max(1, T - seg_frames))
        m = u["mel"][f0:f0 + seg_frames].float()
        if m.shape[0] < seg_frames:
            m = torch.cat([m, torch.full((seg_frames - m.shape[0], M.N_MELS), math.log(1e-5))])
        w = u["wav"].float() / 32768.0
        full = torch.stft(w, M.N_FFT, M.HOP, M.N_FFT, win, center=True, return_complex=True)
        s = full[:, f0:f0 + seg_frames]
        if s.shape[1] < seg_frames:
            s = torch.cat([s, torch.zeros(s.shape[0], seg_frames - s.shape[1], dtype=s.dtype)], 1)
        n = (seg_frames - 1) * M.HOP
        x = w[f0 * M.HOP:f0 * M.HOP + n]
        if x.shape[0] < n:
            x = torch.cat([x, torch.zeros(n - x.shape[0])])
        mels.append(m)
        specs.append(s.t())
        wavs.append(x)
    return torch.stack(mels).to(dev), torch.stack(specs).to(dev), torch.stack(wavs).to(dev)


def vocoder_loss(model, batch):
    mel, spec, wav = batch
    a, p = model.spectra(mel)
    mag_t = spec.abs()
    mag = torch.exp(torch.clamp(a, max=6.0))
    l_mag = (torch.log(mag + 1e-4) - torch.log(mag_t + 1e-4)).abs().mean()
    pt = torch.angle(spec)
    wgt = mag_t / mag_t.mean(dim=(1, 2), keepdim=True).clamp(min=1e-6)
    wgt = wgt.clamp(max=10.0)
    l_ip = (aw(p - pt) * wgt).mean()
    l_gd = (aw(torch.diff(p, dim=2) - torch.diff(pt, dim=2)) * wgt[:, :, 1:]).mean()
    l_iaf = (aw(torch.diff(p, dim=1) - torch.diff(pt, dim=1)) * wgt[:, 1:]).mean()
    spec_p = torch.complex(mag * torch.cos(p), mag * torch.sin(p))
    win = torch.hann_window(M.N_FFT, device=mel.device)
    y = torch.istft(spec_p.transpose(1, 2), M.N_FFT, M.HOP, M.N_FFT, win, center=True)
    y = y[:, :wav.shape[1]]
    l_wmel = (M.log_mel(y) - M.log_mel(wav)).abs().mean()
    l_mr = mr_stft_loss(y, wav)
    loss = l_mag + l_ip + l_gd + l_iaf + l_wmel + 2 * l_mr
    return loss, dict(mag=l_mag.item(), ip=l_ip.item(), gd=l_gd.item(), iaf=l_iaf.item(),
                      wmel=l_wmel.item(), mrstft=l_mr.item())


def gta_mels(data, utts, stats, dev):
    """The acoustic checkpoint's mels for every utterance (teacher-forced), cached."""
    ck = os.path.join(work_dir(), "acoustic.pt")
    path = os.path.join(data, "gta.pt")
    st = torch.load(ck)
    if os.path.exists(path):
        g = torch.load(path)
        if g.get("step") == st["step"]:
            return g["mels"]
    model = M.Acoustic(**st["cfg"]).to(dev)
    model.load_state_dict(st["model"])
    model.eval()
    mels = {}
    with torch.no_grad():
        for i in range(0, len(utts), 16):
            chunk = utts[i:i + 16]
            tok, dur, pit, ene, _ = acoustic_batch(chunk, stats, dev)
            pred, _, _, _, _ = model(tok, dur, pit, ene)
            for j, u in enumerate(chunk):
                mels[u["id"]] = pred[j, :u["mel"].shape[0]].cpu().half()
    torch.save({"step": st["step"], "mels": mels}, path)
    log("gta: %d utterances from acoustic step %d" % (len(mels), st["step"]))
    return mels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("acoustic", "vocoder"), required=True)
    ap.add_argument("--data", default="/work/tts-data")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seg-frames", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gta", action="store_true",
                    help="vocoder: train on the acoustic model's mels instead of the recordings'")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if a.device == "auto" else a.device))
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    cache = torch.load(os.path.join(a.data, "cache.pt"))
    utts, stats = cache["utts"], cache["stats"]
    utts.sort(key=lambda u: u["id"])
    if a.part == "vocoder" and a.gta:
        mels = gta_mels(a.data, utts, stats, dev)
        utts = [dict(u, mel=mels[u["id"]]) for u in utts]
    held = [u for u in utts if u["id"] in DEV_IDS]
    train = [u for u in utts if u["id"] not in DEV_IDS]
    model = (M.Acoustic() if a.part == "acoustic" else M.Vocoder()).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=0.01)
    ck = os.path.join(work_dir(), a.part + ".pt")
    step = 0
    if os.path.exists(ck):
        st = torch.load(ck)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        log("%s: resumed at step %d" % (a.part, step))
    log("%s: %d train / %d held-out utterances, %d parameters, device %s, %d thread(s)" % (
        a.part, len(train), len(held), sum(p.numel() for p in model.parameters()), dev,
        torch.get_num_threads()))
    t0 = time.time()
    budget = a.minutes * 60
    last_ck = t0
    run = {}

    def evaluate():
        model.eval()
        tot, n = {}, 0
        erng = random.Random(7)
        with torch.no_grad():
            for i in range(0, len(held), 8):
                chunk = held[i:i + 8]
                if a.part == "acoustic":
                    _, parts = acoustic_loss(model, acoustic_batch(chunk, stats, dev))
                else:
                    _, parts = vocoder_loss(model, vocoder_batch(chunk, 64, erng, dev))
                for k, v in parts.items():
                    tot[k] = tot.get(k, 0.0) + v
                n += 1
        model.train()
        return {k: v / n for k, v in tot.items()}

    def save():
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), step=step,
                        cfg=model.cfg, stats=stats), ck + ".tmp")
        os.replace(ck + ".tmp", ck)
        log("%s: step %d, %.1f min, held-out %s" % (
            a.part, step, (time.time() - t0) / 60,
            " ".join("%s %.4f" % kv for kv in evaluate().items())))

    if a.part == "acoustic":
        order = sorted(range(len(train)), key=lambda i: len(train[i]["tokens"]))
        buckets = [order[i:i + a.batch] for i in range(0, len(order), a.batch)]
    while True:
        el = time.time() - t0
        if el > budget:
            break
        frac = el / budget
        lr = a.lr * min(1.0, (step + 1) / 300) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        if a.part == "acoustic":
            batch = acoustic_batch([train[i] for i in rng.choice(buckets)], stats, dev)
            loss, parts = acoustic_loss(model, batch)
        else:
            batch = vocoder_batch(rng.sample(train, a.batch), a.seg_frames, rng, dev)
            loss, parts = vocoder_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        for k, v in parts.items():
            run[k] = 0.98 * run.get(k, v) + 0.02 * v
        if step % 100 == 0:
            log("%s: step %d lr %.2e %s" % (a.part, step, lr,
                                            " ".join("%s %.4f" % kv for kv in run.items())))
        if time.time() - last_ck > 300:
            save()
            last_ck = time.time()
    save()


if __name__ == "__main__":
    main()
