"""Probe: would a phone-level CTC model read real speech better than the character model?

Takes a character checkpoint's encoder, puts a new output layer over 39 ARPAbet phones
(stress removed, CMU dictionary, first pronunciation) plus word space and blank, and
fine-tunes everything with BatchNorm fixed (as --freeze-bn leaves it). Utterances with a
word the dictionary lacks are skipped. At each evaluation it prints the greedy phone error
rate (PER) on dev_lj and dev_synth next to the character error rate (CER) of the starting
character model, so the two can be compared on the same clips. This is a measurement for
choosing the next model, not a shipped model: the engine's decoder would need a lexicon
(phones -> words, homophones) to use it.

  /usr/bin/python3 -m train.experiments.phone_probe --init train/work/asr/run-frozen/best.pt \\
      --minutes 25 --threads 2 [--run train/work/asr/run-phone]

What it showed (docs/asr-training.md, 22 minutes from the shipped weights): phones help on
the held-out synthetic voice (PER 35.1% against CER 40.1%) but not on the real reader (48.0%
against 45.6%), so a phone model with a lexicon decoder is no shortcut to the LJ goal.
"""
import argparse
import os
import random
import time

import torch
import torch.nn.functional as F

from train.asr.asrdata import (FeatCache, collate, edit_distance, make_batches, read_manifests,
                               spec_augment)
from train.asr.model import QuartzNetCTC, greedy_decode, greedy_ids
from train.common import paths
from train.common.loop import adamw, log

PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T "
          "TH UH UW V W Y Z ZH").split()
PH_VOCAB = ["<blank>", " "] + PHONES


def load_lexicon(path):
    lex = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.split("#")[0].split()
            if len(p) < 2 or "(" in p[0]:
                continue
            lex.setdefault(p[0], [ph.rstrip("012") for ph in p[1:]])
    return lex


def to_phones(text, lex):
    """Phone ids with the space id between words; None when a word is not in lex."""
    ids = []
    for w in text.split():
        if w not in lex:
            return None
        if ids:
            ids.append(1)
        ids.extend(2 + PHONES.index(ph) for ph in lex[w])
    return ids


def phone_batch(recs, idx, cache, rng, aug):
    x, lens, _, _ = collate(recs, idx, cache, spec_augment if aug else None, rng)
    tg = [recs[i]["ph"] for i in idx]
    return x, lens, torch.tensor([c for t in tg for c in t]), torch.tensor([len(t) for t in tg])


def error_rate(model, recs, cache, ref_hyp):
    """Greedy token error rate: ref_hyp(rec, logp, length) -> (reference, hypothesis) lists."""
    model.eval()
    errs = n = 0
    with torch.no_grad():
        for idx in make_batches(recs, 20000, random.Random(0)):
            x, lens, _, _ = collate(recs, idx, cache)
            lp, ol = model(x, lens)
            for b, i in enumerate(idx):
                ref, hyp = ref_hyp(recs[i], lp[b:b + 1], ol[b:b + 1])
                errs += edit_distance(ref, hyp)
                n += len(ref)
    return errs / max(1, n)


def per(model, recs, cache):
    """Phone error rate, word spaces left out."""
    return error_rate(model, recs, cache, lambda r, lp, ol: (
        [c for c in r["ph"] if c != 1], [c for c in greedy_ids(lp, ol)[0] if c != 1]))


def cer(model, recs, cache):
    """Character error rate of a character model, spaces left out."""
    return error_rate(model, recs, cache, lambda r, lp, ol: (
        list(r["text"].replace(" ", "")), list(greedy_decode(lp, ol)[0].replace(" ", ""))))


def freeze_bn(model):
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=paths.work_dir("asr"))
    ap.add_argument("--data", default=paths.data_dir())
    ap.add_argument("--init", required=True, help="character checkpoint (frozen BatchNorm)")
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--eval-minutes", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-frames", type=int, default=12000)
    ap.add_argument("--run", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    run = a.run or os.path.join(a.work, "run-phone")
    os.makedirs(run, exist_ok=True)
    lex = load_lexicon(os.path.join(a.data, "lexicon", "cmudict.dict"))
    cache = FeatCache(a.work)

    def with_phones(recs):
        out = []
        for r in recs:
            ph = to_phones(r["text"], lex)
            if ph:
                out.append(dict(r, ph=ph))
        return out

    dev = {k: read_manifests(a.work, k) for k in ("dev_lj", "dev_synth")}
    char = QuartzNetCTC()
    char.load_state_dict(torch.load(a.init, map_location="cpu")["model"])
    dev_ph = {k: with_phones(v) for k, v in dev.items()}
    base = {k: cer(char, dev_ph[k], cache) for k in dev}
    log(run, "start: %s; character model CER on the same clips: %s" % (
        ", ".join("%s %d/%d clips in the lexicon" % (k, len(dev_ph[k]), len(dev[k])) for k in dev),
        " ".join("%s %.3f" % kv for kv in base.items())))

    cfg = dict(char.cfg, vocab=PH_VOCAB)
    model = QuartzNetCTC(cfg)
    sd = {k: v for k, v in char.state_dict().items() if not k.startswith("decoder.")}
    model.load_state_dict(sd, strict=False)
    opt = adamw(model, a.lr, 1e-3)
    recs = with_phones(read_manifests(a.work, "train") + read_manifests(a.work, "real") * 2)
    recs = [r for r in recs if r["frames"] <= 1700 and 2 * len(r["ph"]) + 2 < r["frames"] // 2]
    log(run, "%d training utterances with phone targets" % len(recs))
    rng, step, spent, last_eval = random.Random(1), 0, 0.0, 0.0
    while spent < 60 * a.minutes:
        for idx in make_batches(recs, a.max_frames, rng):
            t0 = time.time()
            model.train()
            freeze_bn(model)
            x, lens, tg, tl = phone_batch(recs, idx, cache, rng, True)
            p = min(1.0, spent / (60 * a.minutes))
            for g in opt.param_groups:
                g["lr"] = a.lr * min(1.0, (step + 1) / 50) * (0.01 + 0.99 * (1 - p))
            lp, ol = model(x, lens)
            loss = F.ctc_loss(lp.transpose(0, 1), tg, ol, tl, blank=0, zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            spent += time.time() - t0
            if step % 50 == 0:
                log(run, "step %d loss %.3f %.1f min" % (step, loss.item(), spent / 60))
            done = spent >= 60 * a.minutes
            if done or spent - last_eval >= 60 * a.eval_minutes:
                last_eval = spent
                log(run, "eval step %d (%.1f min): PER %s | character CER %s" % (
                    step, spent / 60,
                    " ".join("%s %.3f" % (k, per(model, v, cache)) for k, v in dev_ph.items()),
                    " ".join("%s %.3f" % kv for kv in base.items())))
            if done:
                break
    torch.save({"model": model.state_dict(), "cfg": cfg}, os.path.join(run, "phone.pt"))


if __name__ == "__main__":
    main()
