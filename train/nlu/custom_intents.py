#!/usr/bin/python3
"""parley nlu train: a joint intent/slot model for your own intents, from a file of examples.

    parley nlu train FILE [--out DIR] [--name NAME] [--minutes M] [--folds K]
    /usr/bin/python3 -m train.nlu.custom_intents FILE ...      (the same, from the source root)

FILE holds intents with example utterances and inline slot annotations, in a format close to
Rasa's nlu.yml, or is a dialog spec with such an `nlu:` section (docs/nlu.md, "Custom
intents"). The model starts from the shipped SNIPS model's encoder (its weights and vocab.txt;
--base) with fresh intent and slot heads, and has the layout parley-nlu serves (the same
config keys and tensor names as models/nlu-intent-slot-snips). It is written to DIR/NAME
(default models/<the dialog's name or the file's stem>), which parley-nlu serves as NAME after
a reload (SIGHUP; `parley up` serves ./models).

First K-fold cross-validation (stratified by intent: each fold's examples are held out once
while the rest train), which prints the mean intent accuracy and slot F1 over the folds; then
the final fit on every example, which is exported. The whole command stays within --minutes
(5 by default): each fit gets its share of the time left (the final fit twice a fold's) and
stops at its step target (--epochs over its examples) or when its share runs out, whichever
comes first; the learning rate warms up and decays over that progress. Only the top
--train-layers encoder layers (4: all of the shipped encoder's), the pooler and the heads train. Word embeddings stay as pretrained
(--train-embeddings to change them), so that words absent from the examples keep their
meaning.

The recipe reuses joint_snips (encoding, loss, metrics, config.json keys) and finetune
(the optimizer step, the export and its reload check); only the data, the cross-validation and
the time box are its own.
"""
import argparse
import json
import os
import random
import sys
import time

from train.common.paths import models_dir
from train.nlu import intents_file

BASE = models_dir("nlu-intent-slot-snips")
EXPORT_RESERVE_S = 5.0  # kept back from the time box for the export and its check
MIN_STEPS = 150         # the least step target --epochs gives


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="parley nlu train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tune a joint intent/slot model on FILE's examples (docs/nlu.md, "
                    "\"Custom intents\") and write a model directory parley-nlu serves.",
        epilog="After training, `kill -HUP` parley-nlu (or restart `parley up`) and ask for the "
               "model by name: parley nlu intent --model NAME 'TEXT'.")
    ap.add_argument("file", metavar="FILE", help="the examples: an nlu.yml-style file or a "
                    "dialog spec with an nlu: section")
    ap.add_argument("--out", metavar="DIR", default="models",
                    help="model repository to write NAME into (default: models, the one "
                         "`parley up` serves from this directory)")
    ap.add_argument("--name", help="the model's name and folder (default: the dialog's name, "
                    "else the file's name without extension)")
    ap.add_argument("--minutes", type=float, default=5.0,
                    help="wall-time budget of the whole command, cross-validation included "
                         "(default 5)")
    ap.add_argument("--folds", type=int, default=5,
                    help="K of the K-fold cross-validation (default 5; 0 skips it)")
    ap.add_argument("--epochs", type=int, default=40,
                    help="step target of each fit, in passes over its examples (default 40, "
                         "and at least %d steps; the time budget may stop it sooner)" % MIN_STEPS)
    ap.add_argument("--steps", type=int, default=0,
                    help="step target of each fit instead (the time budget still applies)")
    ap.add_argument("--base", default=BASE, help="model directory whose encoder and vocab.txt "
                    "start the training (default: the shipped SNIPS model)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default 3e-4)")
    ap.add_argument("--head-lr", type=float, default=3e-3,
                    help="peak learning rate of the fresh intent and slot heads (default 3e-3)")
    ap.add_argument("--warmup", type=float, default=0.1, help="fraction of a fit's progress "
                    "spent warming up (default 0.1)")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--train-layers", type=int, default=4,
                    help="encoder layers trained, from the top (default 4: all of the shipped "
                         "encoder's; any below, like the word embeddings, stay as pretrained and "
                         "cost no backward pass)")
    ap.add_argument("--train-embeddings", action="store_true",
                    help="also train the word embeddings (off: they stay as pretrained)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: on a busy 2-core machine more threads "
                         "wait on each other)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--export-dtype", choices=["F16", "F32"], default="F16",
                    help="stored weights (default F16, as the shipped model; served in f32)")
    ap.add_argument("--force", action="store_true",
                    help="overwrite an existing model directory that this command did not write")
    args = ap.parse_args(argv)
    args.command = "parley nlu train " + " ".join(sys.argv[1:] if argv is None else argv)
    for opt, v, lo in (("--folds", args.folds, 0), ("--epochs", args.epochs, 1),
                       ("--steps", args.steps, 0), ("--batch-size", args.batch_size, 1),
                       ("--threads", args.threads, 1), ("--train-layers", args.train_layers, 0)):
        if v < lo:
            ap.error("%s must be at least %d" % (opt, lo))
    if args.folds == 1:
        ap.error("--folds 1 holds nothing out: use 2 or more, or 0 to skip cross-validation")
    if not (args.minutes > 0):
        ap.error("--minutes must be positive")
    return args


def stratified_folds(examples, k, seed):
    """k lists of example indices; each intent's examples are dealt round the folds in a
    shuffled order, so every fold holds out part of every intent that has enough examples."""
    rng = random.Random(seed)
    by_intent = {}
    for i, e in enumerate(examples):
        by_intent.setdefault(e.intent, []).append(i)
    folds, turn = [[] for _ in range(k)], 0
    for intent in sorted(by_intent):
        idx = by_intent[intent]
        rng.shuffle(idx)
        for i in idx:
            folds[turn % k].append(i)
            turn += 1
    return folds


def short_path(path):
    """path relative to the working directory when it lies below it, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def check_out_dir(path, force):
    """Refuse to overwrite a directory that holds something other than a model this command
    wrote (the shipped models above all)."""
    if not os.path.exists(path):
        return
    if not os.path.isdir(path):
        raise SystemExit("parley nlu train: %s exists and is not a directory" % path)
    cfg = os.path.join(path, "config.json")
    ours = False
    if os.path.exists(cfg):
        try:
            with open(cfg) as f:
                ours = "trained_from" in json.load(f)
        except (OSError, ValueError):
            ours = False
    if os.listdir(path) and not ours and not force:
        raise SystemExit("parley nlu train: %s holds a model that `parley nlu train` did not "
                         "write; choose another --name or --out (or --force)" % path)


# The intent model parley-nlu prefers for requests that name none (first of nlu.default_models).
SHIPPED_INTENT_MODEL = "nlu-intent-slot-snips"


def default_note(repo, name):
    """A note when `name` becomes the intent model parley-nlu answers unnamed requests with, else
    "". With its default settings parley-nlu prefers the shipped model when the repository has
    it; only without it does the first joint intent/slot model by directory name answer."""
    intent_models = []
    for d in sorted(os.listdir(repo)):
        try:
            with open(os.path.join(repo, d, "config.json")) as f:
                if json.load(f).get("task") == "joint_intent_slot":
                    intent_models.append(d)
        except (OSError, ValueError, AttributeError):
            continue
    if SHIPPED_INTENT_MODEL in intent_models and name != SHIPPED_INTENT_MODEL:
        return ""
    if len(intent_models) < 2 or intent_models[0] != name:
        return ""
    return ("note: '%s' sorts before %s in %s, so parley-nlu will also answer AnalyzeIntent "
            "requests that name no model with it; choose a --name after them to keep the "
            "current default" % (name, ", ".join("'%s'" % m for m in intent_models[1:]), repo))


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    try:
        data = intents_file.read(args.file)
    except intents_file.IntentsError as e:
        print("parley nlu train: %s" % e, file=sys.stderr)
        return 1
    for w in data.warnings:
        print("parley nlu train: warning: %s" % w, file=sys.stderr)
    name = args.name or data.name
    if not intents_file.MODEL_NAME.match(name):
        print("parley nlu train: model name %r: use letters, digits, '_', '-' and '.' (--name)"
              % name, file=sys.stderr)
        return 2
    out = os.path.join(args.out, name)
    check_out_dir(out, args.force)
    folds = min(args.folds, len(data.examples))
    # torch only now: a bad file fails in a fraction of a second
    from train.nlu.custom_fit import Trainer
    trainer = Trainer(args, data, out)
    print("%s: %d examples, %d intents (%s), %d slots (%s); base %s" % (
        args.file, len(data.examples), len(data.intents), ", ".join(data.intents),
        len(data.slots), ", ".join(data.slots) or "none", short_path(args.base)), flush=True)
    deadline = t_start + args.minutes * 60.0 - EXPORT_RESERVE_S
    cv = trainer.cross_validate(stratified_folds(data.examples, folds, args.seed), deadline) \
        if folds else None
    final = trainer.final_fit(deadline)
    trainer.export(cv, final, time.time() - t_start)
    print("wrote %s in %.0f s: parley-nlu serves it as '%s' after a reload (kill -HUP its "
          "process, or restart parley up)" % (out, time.time() - t_start, name))
    note = default_note(args.out, name)
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
