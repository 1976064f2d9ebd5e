#!/usr/bin/python3
"""Train the ASR acoustic model (train/asr/model.py) with CTC on the features synth.py wrote.

    /usr/bin/python3 -m train.asr.train [--minutes 50] [--threads 1] [--work train/work/asr]

Resumable: WORK/run/checkpoint.pt (model, optimizer, step, training seconds, rng) is
written atomically every --ckpt-minutes and after each evaluation; a rerun continues
from it (--fresh starts over). The learning-rate schedule is a function of training
time, not steps: linear warm-up over --warmup steps, then cosine from --lr to 1% of it
at --minutes of (accumulated) training time, so a run interrupted and resumed follows
the same schedule. Manifests are re-read at every epoch, so training can start while
synth.py is still writing data. Every --eval-minutes (and at the end) greedy WER and CER on
dev_lj / dev_synth / dev_so and digit accuracy on dev_fsdd are printed; the checkpoint with
the best score (score(): --select dev, the default, sums the dev_synth and dev_so CERs) is
kept as WORK/run/best.pt. dev_lj and dev_fsdd are the held-out LJ clips and FSDD takes that
eval_service reports as test sets: they are printed to follow a run, and count only with
--select dev+test, the rule phases 0-3 of the shipped model were chosen by (the recipe keeps
it for them so that it rebuilds that model). Phases 5 and 6 were chosen on dev_so and
dev_synth alone, through the service (train.asr.eval.lm_sweep), among last and averaged
checkpoints. --stop-minutes ends a run early (the schedule still runs to --minutes), as
the first phase of the shipped model was stopped; --keep-from M keeps every checkpoint
written after M minutes (checkpoint-STEP.pt), whose mean (train.asr.average --run) made
the exports of phases 5 and 6; train.asr.recipe chains the phases.

--freeze-bn (a second phase, usually with --init): BatchNorm's training-mode statistics are
per batch, and length-bucketed batches of short clips (digits, commands) have statistics
far from a batch of sentences, while inference uses one set of running statistics. Measured
on FSDD takes 0-4 mid-training: 85.7% correct with batch statistics, 11.7% with the running
ones. So this phase first re-estimates the running statistics over --bn-batches shuffled
(length-mixed) batches (a cumulative average), then trains with BatchNorm in inference mode:
training and inference normalize alike, and the weights adapt to the fixed statistics.
A run started (--init) from a checkpoint of such a phase keeps BatchNorm fixed and its
statistics as they are (re-estimating them cost 3 FSDD points and 4 LJ WER points).

Only what the shipped model's recipe uses is here. Training variants that were measured and
did not help (no SpecAugment, dropout override, LJ weighting, feature warps) are
train/experiments/asr_variants.py, which runs this loop with its own Recipe.
"""
import argparse
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from train.asr.asrdata import (FeatCache, collate, evaluate, make_batches, read_manifests,
                               spec_augment)
from train.asr.model import QuartzNetCTC, n_params
from train.common.loop import adamw, log, save_atomic
from train.common.paths import work_dir


def lr_at(step, seconds, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = min(1.0, seconds / (60.0 * args.minutes))
    return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))


def score(res, select="dev"):
    """Lower is better. Character rates, because word rates over a few hundred words move by
    whole points on one word. select "dev": dev_synth CER + dev_so CER (speechocean762's
    held-out train speakers, when the data has them), the dev sets alone. "dev+test": also
    dev_lj CER and the FSDD digit error, which are clips eval_service reports as test sets;
    phases 0-3 of the shipped model chose their best.pt this way (train.asr.recipe passes it
    to rebuild them)."""
    s = res.get("dev_synth_cer", (1, 0))[0]
    if "dev_so_cer" in res:
        s += res["dev_so_cer"][0]
    if select == "dev+test":
        s += res.get("dev_lj_cer", (1, 0))[0] + 1 - res.get("dev_fsdd_acc", (0, 0))[0]
    return s


def recalibrate_bn(model, recs, cache, rng, n_batches, max_frames, device):
    """Running statistics of every BatchNorm = the average over n_batches batches of
    randomly drawn utterances (not length-bucketed, so each batch mixes kinds)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    model.eval()
    for b in bns:
        b.reset_running_stats()
        b.momentum = None  # cumulative average
        b.train()
    order = list(range(len(recs)))
    rng.shuffle(order)
    pos = 0
    with torch.no_grad():
        for _ in range(n_batches):
            idx, longest = [], 0
            while pos < len(order):
                n = recs[order[pos]]["frames"]
                if idx and max(longest, n) * (len(idx) + 1) > max_frames:
                    break
                idx.append(order[pos])
                longest = max(longest, n)
                pos += 1
            if not idx:
                break
            x, lens, _, _ = collate(recs, idx, cache)
            model(x.to(device), lens.to(device))
    for b in bns:
        b.momentum = 0.1
        b.eval()


class Recipe:
    """The choices of the shipped recipe that a training variant may change
    (train/experiments/asr_variants.py)."""

    def add_args(self, ap):
        """More options."""

    def prepare_model(self, model, args):
        """Change a new model before training (before its checkpoint is loaded)."""

    def real_records(self, args):
        """The real records of an epoch: each --real-weight times."""
        out = []
        for r in read_manifests(args.work, "real"):
            out.extend([r] * args.real_weight)
        return out

    def augment(self, args):
        """(specaug, transform) for collate: SpecAugment, no feature transform."""
        return spec_augment, None


def parser(recipe):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=work_dir("asr"))
    ap.add_argument("--minutes", type=float, default=50.0, help="training time budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--max-frames", type=int, default=6000, help="padded frames per batch")
    ap.add_argument("--max-batch", type=int, default=64, help="utterances per batch at most")
    ap.add_argument("--max-len", type=int, default=1700, help="longest utterance (frames)")
    ap.add_argument("--real-weight", type=int, default=1, help="repeat real records N times")
    ap.add_argument("--eval-minutes", type=float, default=8.0)
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--run", default=None, help="checkpoint/log folder (default WORK/run)")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--init", default=None, help="start a fresh run from this checkpoint's weights")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--bf16", action="store_true",
                    help="training steps under bf16 autocast (CUDA; or a CPU with AVX-512 BF16, about "
                         "1.6x there); evaluation stays f32")
    ap.add_argument("--freeze-bn", action="store_true",
                    help="re-estimate BatchNorm statistics, then train with them fixed")
    ap.add_argument("--bn-batches", type=int, default=120,
                    help="shuffled batches for the statistics of --freeze-bn")
    ap.add_argument("--stop-minutes", type=float, default=None,
                    help="end this run at this much training time (the schedule still ends at "
                         "--minutes; a later run with a larger value continues)")
    ap.add_argument("--select", choices=["dev", "dev+test"], default="dev",
                    help="what best.pt is chosen by (score())")
    ap.add_argument("--keep-from", type=float, default=None,
                    help="from this many minutes of training on, every checkpoint.pt written is also "
                         "kept as checkpoint-STEP.pt (for train.asr.average --run)")
    recipe.add_args(ap)
    return ap


def main(argv=None, recipe=None):
    recipe = recipe or Recipe()
    args = parser(recipe).parse_args(argv)
    torch.set_num_threads(args.threads)
    run_dir = args.run or os.path.join(args.work, "run")
    os.makedirs(run_dir, exist_ok=True)
    torch.manual_seed(args.seed)
    dev_t = torch.device(args.device)
    model = QuartzNetCTC().to(dev_t)
    recipe.prepare_model(model, args)
    opt = adamw(model, args.lr, args.wd)
    state = {"step": 0, "seconds": 0.0, "epoch": 0, "best": None, "evals": []}
    ck = os.path.join(run_dir, "checkpoint.pt")
    if os.path.exists(ck) and not args.fresh:
        c = torch.load(ck, map_location=dev_t)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        state = c["state"]
        log(run_dir, "resumed at step %d, %.1f min trained" % (state["step"], state["seconds"] / 60))
        if state.get("select", "dev+test") != args.select:  # runs before --select: dev+test
            state["best"] = None  # a best on the other rule's scale
    else:
        if args.init:
            init = torch.load(args.init, map_location=dev_t)
            model.load_state_dict(init["model"])
            # weights trained against fixed statistics keep them: re-estimating would move
            # the statistics away from what the weights adapted to
            if init.get("state", {}).get("bn_frozen"):
                state["bn_frozen"] = True
        log(run_dir, "fresh run: %d parameters, args %s" % (n_params(model), vars(args)))
    state["select"] = args.select
    cache = FeatCache(args.work)
    dev = {k: read_manifests(args.work, k) for k in ("dev_lj", "dev_fsdd", "dev_synth", "dev_so")}
    rng = random.Random(args.seed * 1000 + state["epoch"])

    def save(path):
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                     "cfg": model.cfg}, path)

    def save_ck():
        save(ck)
        if args.keep_from is not None and state["seconds"] >= 60 * args.keep_from:
            save(os.path.join(run_dir, "checkpoint-%d.pt" % state["step"]))

    def do_eval():
        res = evaluate(model, dev, cache, dev_t)
        set_train()
        s = score(res, args.select)
        state["evals"].append({"step": state["step"], "minutes": state["seconds"] / 60,
                               "res": {k: v[0] for k, v in res.items()}, "score": s})
        log(run_dir, "eval step %d (%.1f min): %s score %.3f" % (
            state["step"], state["seconds"] / 60,
            " ".join("%s %.3f (n=%d)" % (k, v[0], v[1]) for k, v in sorted(res.items())), s))
        if state["best"] is None or s < state["best"]:
            state["best"] = s
            save(os.path.join(run_dir, "best.pt"))
            log(run_dir, "new best %.3f" % s)
        save_ck()

    def set_train():
        model.train()
        if state.get("bn_frozen"):
            for mod in model.modules():
                if isinstance(mod, torch.nn.BatchNorm1d):
                    mod.eval()

    if args.freeze_bn and not state.get("bn_frozen"):
        recs = read_manifests(args.work, "train") + read_manifests(args.work, "real")
        recs = [r for r in recs if r["frames"] <= args.max_len]
        t0 = time.time()
        recalibrate_bn(model, recs, cache, random.Random(args.seed), args.bn_batches,
                       args.max_frames, dev_t)
        state["bn_frozen"] = True
        log(run_dir, "BatchNorm statistics re-estimated over %d shuffled batches (%.1f min); "
            "BatchNorm fixed from here" % (args.bn_batches, (time.time() - t0) / 60))
        do_eval()

    specaug, transform = recipe.augment(args)
    end = 60 * min(args.minutes, args.stop_minutes if args.stop_minutes is not None else args.minutes)
    last_eval = last_ck = state["seconds"]
    done = state["seconds"] >= end
    while not done:
        recs = read_manifests(args.work, "train") + recipe.real_records(args)
        recs = [r for r in recs if r["frames"] <= args.max_len and
                len(r["text"]) > 0 and 2 * len(r["text"]) + 2 < r["frames"] // 2]
        batches = make_batches(recs, args.max_frames, rng, args.max_batch)
        hours = sum(r["frames"] for r in recs) / 360000.0
        log(run_dir, "epoch %d: %d utterances (%.2f h), %d batches" % (
            state["epoch"], len(recs), hours, len(batches)))
        set_train()
        t_ep, loss_sum, n_sum = time.time(), 0.0, 0
        for bi, idx in enumerate(batches):
            t0 = time.time()
            x, lens, tg, tl = collate(recs, idx, cache, specaug, rng, transform)
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], state["seconds"], args)
            x, lens, tg, tl = x.to(dev_t), lens.to(dev_t), tg.to(dev_t), tl.to(dev_t)
            with torch.autocast(device_type=dev_t.type, dtype=torch.bfloat16, enabled=args.bf16):
                lp, ol = model(x, lens)
            loss = F.ctc_loss(lp.float().transpose(0, 1), tg, ol, tl, blank=0, reduction="mean",
                              zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            state["step"] += 1
            state["seconds"] += time.time() - t0
            loss_sum += loss.item() * len(idx)
            n_sum += len(idx)
            if state["step"] % 50 == 0:
                log(run_dir, "step %d ep %d batch %d/%d loss %.3f lr %.2e  %.1f min" % (
                    state["step"], state["epoch"], bi + 1, len(batches), loss_sum / max(1, n_sum),
                    opt.param_groups[0]["lr"], state["seconds"] / 60))
                loss_sum, n_sum = 0.0, 0
            if state["seconds"] - last_eval >= 60 * args.eval_minutes:
                do_eval()
                last_eval = last_ck = state["seconds"]
            elif state["seconds"] - last_ck >= 60 * args.ckpt_minutes:
                save_ck()
                last_ck = state["seconds"]
            if state["seconds"] >= end:
                done = True
                break
        if not done:
            state["epoch"] += 1
            rng = random.Random(args.seed * 1000 + state["epoch"])
        log(run_dir, "epoch wall %.1f min" % ((time.time() - t_ep) / 60))
    do_eval()
    log(run_dir, "finished: %d steps, %.1f min, best score %.3f" % (
        state["step"], state["seconds"] / 60, state["best"]))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
