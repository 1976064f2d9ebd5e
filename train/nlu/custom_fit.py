"""The fits of `parley nlu train` (train/nlu/custom_intents.py): cross-validation folds and the
final fit, each from the base model's encoder with fresh heads, time-boxed; the export.

Trainer is the SNIPS recipe (joint_snips.JointSnips: encoding, batches, loss, metrics,
config.json keys) on the examples of a custom intents file, with the encoder, vocabulary and
max_length of a shipped model directory (--base) instead of a pretraining checkpoint.
"""
import json
import math
import os
import random
import time
from types import SimpleNamespace

import numpy as np
import torch

from train.common import safetensors_io
from train.common.bert import BertConfig, finetune_config
from train.common.data import bio_labels, label_list
from train.common.export import sha256
from train.common.loop import batches
from train.common.metrics import SpanF1
from train.common.wordpiece import WordPiece
from train.nlu.finetune import lr_at_time
from train.nlu.custom_intents import MIN_STEPS, short_path
from train.nlu.joint_snips import JointSnips, evaluate


def load_base(base):
    """(config.json dict, BertConfig, vocab pieces, {bert.* name: float32 tensor}) of a model
    directory with a BERT encoder under Hugging Face names."""
    try:
        with open(os.path.join(base, "config.json")) as f:
            c = json.load(f)
        tensors, _ = safetensors_io.load(os.path.join(base, "model.safetensors"))
        tok = c.get("tokenizer", {})
        with open(os.path.join(base, tok.get("vocab", "vocab.txt")), encoding="utf-8") as f:
            vocab = [line.strip() for line in f]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit("parley nlu train: base model %s: %s" % (base, e))
    cfg = BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__ if k in c})
    enc = {k: torch.from_numpy(np.array(v, dtype=np.float32))
           for k, v in tensors.items() if k.startswith("bert.")}
    if not enc or len(vocab) != cfg.vocab_size:
        raise SystemExit("parley nlu train: base model %s: no BERT encoder with a %d-piece "
                         "vocab.txt" % (base, cfg.vocab_size))
    return c, cfg, vocab, enc


class Trainer(JointSnips):
    served_precision = None  # f32, as its cross-validation was measured; "<name>-int8" beside
    name = "custom_intents"

    def __init__(self, args, data, out):
        torch.set_num_threads(args.threads)
        base_cfg, cfg, vocab, self.encoder = load_base(args.base)
        tok = base_cfg.get("tokenizer", {})
        self.args = SimpleNamespace(**vars(args))
        self.args.out = out
        self.args.max_length = min(int(base_cfg.get("max_length", 64)), cfg.max_position_embeddings)
        self.source = data
        self.pre = None
        self.vocab = vocab
        self.tok = WordPiece(vocab, tok.get("do_lower_case", True),
                             tok.get("max_input_chars_per_word", 100))
        self.cfg = finetune_config(cfg, args.dropout)
        self.labels = {"intents": label_list(e.intent for e in data.examples),
                       "slots": bio_labels(data.examples)}

    # ---- one fit ---------------------------------------------------------------------------

    def fresh_model(self):
        """The base encoder (pooler included) with new heads, seeded."""
        torch.manual_seed(self.args.seed)
        model = self.build_model(self.cfg, self.args)
        missing, unexpected = model.load_state_dict(self.encoder, strict=False)
        heads = [k for k in missing if not k.startswith("bert.")]
        if len(heads) != len(missing) or unexpected:
            raise SystemExit("parley nlu train: base model %s does not fit: missing %s, "
                             "unexpected %s" % (self.args.base, missing[:3], unexpected[:3]))
        if not self.args.train_embeddings:
            model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        layers = model.bert.encoder.layer
        for layer in layers[:max(0, len(layers) - self.args.train_layers)]:
            layer.requires_grad_(False)  # no gradient flows below the lowest trained layer
        return model

    def optimizer(self, model):
        """AdamW with the recipes' rule (no decay on biases and LayerNorm weights) over the
        trainable encoder weights, and the fresh heads at --head-lr (their lr_scale makes
        FineTune.step give them head_lr/lr times the scheduled rate)."""
        a = self.args
        decay, rest = [], []
        for n, p in model.bert.named_parameters():
            if p.requires_grad:
                (decay if p.dim() >= 2 and "LayerNorm" not in n else rest).append(p)
        heads = [p for n, p in model.named_parameters() if not n.startswith("bert.")]
        return torch.optim.AdamW([
            {"params": decay, "weight_decay": a.weight_decay},
            {"params": rest, "weight_decay": 0.0},
            {"params": heads, "weight_decay": a.weight_decay, "lr_scale": a.head_lr / a.lr}],
            lr=a.lr)

    def fit(self, train, held_out, seconds):
        """A model trained on examples `train` (held_out: the "dev" split evaluate() reads),
        stopped at its step target or after `seconds`; (model, steps, seconds taken); the
        target is kept in self.target."""
        a = self.args
        self.examples = {"train": train, "dev": held_out}
        self.encode(a, self.tok)
        model = self.fresh_model()
        opt = self.optimizer(model)
        n = len(train)
        target = self.target = a.steps or max(MIN_STEPS, math.ceil(n / a.batch_size) * a.epochs)
        rng, lengths = random.Random(a.seed), self.lengths()
        model.train()
        t0, step = time.time(), 0
        while True:
            for bidx in batches(n, lengths, a.batch_size, rng):
                progress = max(step / target, (time.time() - t0) / max(seconds, 1e-3))
                if progress >= 1.0:
                    return model, step, time.time() - t0
                self.step(model, opt, self.batch("train", bidx),
                          lr_at_time(progress, 1.0, a.warmup, a.lr))
                step += 1

    def held_out_metrics(self, model, spans=None):
        return evaluate(model, self.data["dev"], self.examples["dev"], self.labels["intents"],
                        self.labels["slots"], self.tok.pad_id, spans=spans)

    # ---- cross-validation and the final fit ------------------------------------------------

    def cross_validate(self, folds, deadline):
        """Each fold held out once; the intent accuracy and slot P/R/F1 pooled over all
        held-out examples (micro), and each fold's figures."""
        ex = self.source.examples
        k, spans, right, total, per_fold = len(folds), SpanF1(), 0, 0, []
        for i, held in enumerate(folds):
            hold = set(held)
            train = [e for j, e in enumerate(ex) if j not in hold]
            test = [ex[j] for j in held]
            # a fold's share of the time left; the final fit, on every example and the one
            # that is kept, counts as two folds
            seconds = (deadline - time.time()) / (k - i + 2)
            model, steps, took = self.fit(train, test, seconds)
            fold_f1 = SpanF1()
            fm = self.held_out_metrics(model, fold_f1)
            spans.correct += fold_f1.correct
            spans.pred += fold_f1.pred
            spans.gold += fold_f1.gold
            right += round(fm["intent_acc"] * fm["n"] / 100.0)
            total += fm["n"]
            per_fold.append({"train": len(train), "held_out": len(test), "steps": steps,
                             "seconds": round(took, 1), "intent_acc": fm["intent_acc"],
                             "slot_f1": fm["slot_f1"] if fold_f1.gold + fold_f1.pred else None})
            print("fold %d/%d: %d train / %d held out, %d steps in %.0f s: intent accuracy "
                  "%.1f%%, slot F1 %s" % (i + 1, k, len(train), len(test), steps, took,
                                          fm["intent_acc"], _f1_str(fold_f1)), flush=True)
        p, r, f = spans.result()
        cv = {"folds": k, "examples": total, "intent_acc": 100.0 * right / max(1, total),
              "slot_p": p, "slot_r": r, "slot_f1": f, "slot_spans": spans.gold,
              "per_fold": per_fold}
        print("cross-validation (%d folds, %d held-out utterances): intent accuracy %.1f%%, "
              "slot F1 %s (P %.1f, R %.1f, %d gold slots)" % (
                  k, total, cv["intent_acc"], _f1_str(spans), p, r, spans.gold), flush=True)
        return cv

    def final_fit(self, deadline):
        ex = self.source.examples
        model, steps, took = self.fit(ex, ex, deadline - time.time())
        m = self.held_out_metrics(model)
        print("final fit on all %d examples: %d steps in %.0f s (on its own examples: intent "
              "accuracy %.1f%%, slot F1 %.1f)" % (len(ex), steps, took, m["intent_acc"],
                                                  m["slot_f1"]), flush=True)
        if steps < self.target:
            print("note: the time budget stopped the final fit at %d of its %d steps; a larger "
                  "--minutes (or fewer --folds) may give a better model" % (steps, self.target),
                  flush=True)
        self.model = model
        return {"steps": steps, "seconds": round(took, 1), "train_fit": m}

    # ---- export ----------------------------------------------------------------------------

    def config_keys(self, args):
        keys = super().config_keys(args)
        src = self.source
        keys["trained_from"] = {"file": os.path.abspath(src.path), "examples": len(src.examples),
                                "base": os.path.abspath(args.base),
                                "recipe": "train/nlu/custom_intents.py"}
        return keys

    def export(self, cv, final, wall):
        self.result = {"cv": cv, "final": final, "wall_seconds": round(wall),
                       "parameters": sum(p.numel() for p in self.model.parameters())}
        super().export(self.model, self.cfg, self.vocab, self.result)
        with open(os.path.join(self.args.out, "train_result.json"), "w") as f:
            json.dump(self.result, f, indent=2)
            f.write("\n")

    def write_card(self, result, st_path, cfg, vocab_size):
        write_card(self.args, self.source, self.labels, result, st_path)


def _f1_str(spans):
    """"92.3", or "n/a" when neither gold nor prediction has a slot."""
    return "%.1f" % spans.result()[2] if spans.gold + spans.pred else "n/a"


def write_card(args, src, labels, r, st_path):
    cv = r["cv"]
    if cv:
        cv_line = ("| %d-fold cross-validation (%d held-out utterances) | %.1f | %.1f (P %.1f / R %.1f) |"
                   % (cv["folds"], cv["examples"], cv["intent_acc"], cv["slot_f1"], cv["slot_p"],
                      cv["slot_r"]))
    else:
        cv_line = "| cross-validation | skipped (--folds 0) | |"
    counts = ", ".join("%s %d" % (i, sum(e.intent == i for e in src.examples))
                       for i in labels["intents"])
    slots = sorted({t[2:] for t in labels["slots"] if t != "O"})
    text = """# {name}

A joint intent and slot model trained by `parley nlu train` (train/nlu/custom_intents.py)
from `{file}`: {n} examples of {ni} intents ({counts});
slots: {slots}. Served by parley-nlu (Riva `AnalyzeIntent`, model name `{name}`) after a
reload. Made by:

    {command}

## Model

The encoder, vocabulary and max_length ({maxlen} tokens) of `{base}`,
with new intent and slot heads (`intent_classifier`, `slot_classifier`; BIO slot tags read at each word's first
sub-token), the same layout as models/nlu-intent-slot-snips. Weights: `model.safetensors`,
{dtype}, {params:,} parameters, sha256 `{sha}`.

## Metrics

| evaluation | intent accuracy | slot F1 |
|---|---|---|
{cv_line}
| the final model on its own training examples | {fi:.1f} | {ff:.1f} |

Slot F1 is span-level (exact words and slot name), pooled over the held-out utterances of
all folds. The final fit took {steps} steps in {secs} s; the whole command {wall} s on {threads}
CPU thread(s).
""".format(name=os.path.basename(args.out), file=src.path, n=len(src.examples),
           ni=len(labels["intents"]), counts=counts, slots=", ".join(slots) or "none",
           maxlen=args.max_length, base=short_path(args.base),
           dtype="float16" if args.export_dtype == "F16" else "float32",
           params=r["parameters"], sha=sha256(st_path), cv_line=cv_line,
           fi=r["final"]["train_fit"]["intent_acc"], ff=r["final"]["train_fit"]["slot_f1"],
           steps=r["final"]["steps"], secs=r["final"]["seconds"], wall=r["wall_seconds"],
           threads=args.threads, command=args.command)
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)
