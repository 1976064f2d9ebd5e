"""The skeleton of Parley's NLU fine-tuning recipes (joint_snips, ner_conll2003, punct_capit).

A recipe is a subclass of FineTune that says only what differs: its options and their
defaults, how it reads and encodes its data, its model and loss, its metric and its export
(config.json keys, model card). FineTune.main(argv) does the rest, the same for all three:

  options    --data --vocab --work --out --no-export --fresh --threads --device --seed, the schedule
             (--epochs, or --minutes and --checkpoint-minutes), --batch-size --lr --warmup
             --weight-decay, the encoder (--layers --hidden --heads --ffn --dropout),
             --max-length, --min-piece-count, --limit (epoch recipes), --export-dtype, --init
  start      resume from WORK/checkpoint.pt unless --fresh; else start from a pretrained
             encoder (--init: its vocabulary and architecture) or from scratch (BERT's
             uncased vocabulary pruned on the training text)
  random     torch.manual_seed(seed), then the model's initialisation, then AdamW, then
             Python's random.Random(seed) for the batches; all restored on resume
  training   epochs: length-bucketed batches, an atomic checkpoint after every epoch, the
             best dev epoch kept and evaluated on dev and test at the end;
             minutes: a time box over resumed runs, a checkpoint every --checkpoint-minutes
  device     --device cuda trains on a GPU (bf16 autocast, the same checkpoints, loadable on
             either); evaluation, calibration and export run on the CPU, where the recipes
             build their inputs, so their code is the same on both
  export     train/common/export.py's model directory, then the written files reloaded into
             a fresh model whose logits must match, then the model card

    /usr/bin/python3 -m train.nlu.<recipe> [options]     (from the repository root)
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch

from train.common import safetensors_io
from train.common.bert import BertConfig, finetune_config, init_encoder, load_pretrained
from train.common.export import export_model
from train.common.loop import (add_cpu_bf16_arg, adamw, autocast, batches, device_note, log, lr_at,
                               machine_note, pick_device, save_atomic)
from train.common.paths import data_dir, models_dir, work_dir
from train.common import lineage, piece_vectors
from train.common.wordpiece import WordPiece, prune_vocab

BERT_VOCAB = os.path.join("vocab", "bert-base-uncased-vocab.txt")
PRETRAINED = "train/work/pretrain/encoder.pt"  # where the model cards say --init reads from

# option: default (a recipe's `defaults` replaces any of them)
COMMON_DEFAULTS = {
    "threads": 1, "seed": 1, "epochs": 6, "minutes": 30.0, "checkpoint_minutes": 3.0,
    "batch_size": 32, "lr": 5e-4, "warmup": 0.05, "weight_decay": 0.01, "layers": 4,
    "hidden": 192, "heads": 3, "ffn": 768, "dropout": 0.1, "max_length": 128,
    "min_piece_count": 2, "export_dtype": "F32",
}


def lr_at_time(t, total, warmup, base):
    """Linear warm-up over `warmup` seconds, then linear decay to 0 at `total` seconds."""
    if t < warmup:
        return base * max(0.02, t / warmup)
    return base * max(0.0, (total - t) / max(1e-9, total - warmup))


def to_device(batch, device):
    """A recipe's batch (tensors, or tuples, lists and dicts of them) on device."""
    if device.type == "cpu":
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def hardware_of(result):
    """Where a result's training ran, for its model card (results of older runs: CPU threads)."""
    return result.get("hardware") or "%d CPU thread(s)" % result["threads"]


def pretrain_summary(pre):
    """How a pretrained encoder was made, for the model cards: a finished text-corpus run, or
    (--bundle) a run on the prose corpus, possibly still going (an encoder.pt written at a
    checkpoint: its held-out figures are those of the last scoring before it)."""
    if pre.get("description"):      # an encoder taken from a model (train.nlu.encoder_from_model)
        return pre["description"]
    a = pre.get("args", {})
    start = ", started from %s" % lineage.start_note(a["init_encoder"]) if a.get("init_encoder") else ""
    if not a.get("bundle") and not pre.get("partial"):
        return ("masked LM%s, %d steps, %d s on %d CPU thread(s), held-out masked-token accuracy %.2f%%"
                % (start, pre["step"], pre["train_seconds"], pre["threads"], pre["heldout"]["masked_acc"]))
    what = "masked LM (%s masking) on %s" % (
        "whole-word" if a.get("masking") == "word" else "single-piece",
        "the prose corpus of text/pretrain (a train.gpu.pack bundle)" if a.get("bundle") else "the text corpus")
    steps = ("the encoder at step %d of a %d-step schedule (the run went on)" % (pre["step"], pre["steps"])
             if pre.get("partial") else "%d steps" % pre["step"])
    held = pre.get("heldout")
    if held:
        acc = "held-out masked-token accuracy %.2f%%%s%s" % (
            held["masked_acc"], " at step %d" % held["step"] if pre.get("partial") else "",
            " (%.2f%% on the text corpus's held-out set)" % held["text"]["masked_acc"] if "text" in held else "")
    else:
        acc = "not scored yet"
    return "%s%s, %s, %d s on %d %s thread(s), %s" % (what, start, steps, pre["train_seconds"], pre["threads"],
                                                       "CUDA" if "cuda" in pre.get("device", "") else "CPU", acc)


def pretrained_vocab(pre):
    """How a pretrained encoder's vocabulary was made, for the model cards."""
    if pre.get("source_model"):
        return "the vocabulary of %s" % pre["source_model"]
    if isinstance(pre.get("min_piece_count"), int):
        return "the pieces used at least %d times in its pretraining corpus" % pre["min_piece_count"]
    return "its bundle's vocabulary, %s (the NLU models' pruned vocabulary, docs/nlu-pretraining.md)" % (
        pre.get("min_piece_count") or "")


class FineTune:
    name = ""             # the module (train.nlu.<name>) and work folder (train/work/<name>)
    model_dir = ""        # models/<model_dir>
    doc = ""              # the recipe's docstring (--help)
    data_subdir = ""      # --data default: <shared data>/<data_subdir>
    data_help = ""
    schedule = "epochs"   # "epochs" or "minutes"
    defaults = {}         # option defaults that differ from COMMON_DEFAULTS
    label_keys = ()       # checkpoint keys of the label lists in self.labels
    positions_arg = "max_length"  # the option that sets a fresh encoder's positions
    device = torch.device("cpu")  # the training steps' device: main() sets it from --device
                                  # (users of step() without main(), e.g. custom_fit, stay on the CPU)

    # ---- what a recipe says ----------------------------------------------------------------

    def add_args(self, ap):
        """The recipe's own options (after --max-length)."""

    def read_data(self, args):
        """Read the training and evaluation data (into attributes; the epoch recipes call
        read_splits)."""
        raise NotImplementedError

    def fresh_vocab(self, args, full):
        """The vocabulary of a model trained from scratch: `full` (BERT's) pruned to the pieces
        of the training words seen at least --min-piece-count times."""
        return prune_vocab(full, [" ".join(e.words) for e in self.examples["train"]], args.min_piece_count)

    def new_labels(self, args):
        """{label key: label list} of a new run (kept in the checkpoint)."""
        return {}

    def encode(self, args, tok):
        """Tokenize the data with tok (into attributes)."""
        raise NotImplementedError

    def build_model(self, cfg, args):
        raise NotImplementedError

    def after_init_encoder(self, model, args):
        """Adjust a model whose encoder was just loaded from --init."""

    def describe(self):
        """Labels and data sizes for the start-up log line."""
        return ""

    def loss(self, model, batch):
        raise NotImplementedError

    def config_keys(self, args):
        """The Parley keys of config.json (task, labels, tokenizer, heads, ...)."""
        raise NotImplementedError

    def check_inputs(self):
        """Model inputs for the reload check of an export."""
        raise NotImplementedError

    def write_card(self, result, st_path, cfg, vocab_size):
        raise NotImplementedError

    # epoch recipes: self.examples (read_splits) and self.data, encoded examples whose first
    # item is the token ids
    def read_splits(self, args, read, files):
        """self.examples[split] = read(<--data>/<file>) for split, file in files; --limit cuts
        the training split."""
        self.examples = {k: read(os.path.join(args.data, f)) for k, f in files.items()}
        if args.limit:
            self.examples["train"] = self.examples["train"][:args.limit]

    def train_size(self):
        return len(self.data["train"])

    def lengths(self):
        """Token lengths of the training examples (for length-bucketed batches)."""
        return [len(d[0]) for d in self.data["train"]]

    def split_sizes(self):
        return "%d train / %d dev / %d test" % tuple(len(self.data[k]) for k in ("train", "dev", "test"))

    def batch(self, split, bidx):
        raise NotImplementedError

    def evaluate(self, model, split):
        """Metrics (a dict) of the model on "dev" or "test"."""
        raise NotImplementedError

    def score(self, m):
        """A tuple; the epoch with the largest dev score is the best."""
        raise NotImplementedError

    def fmt(self, m):
        raise NotImplementedError

    # time-boxed recipes
    def next_batch(self, rng):
        """The next training batch; rng is the run's (restored) random stream."""
        raise NotImplementedError

    def finish_timed(self, model, step, t_train, n_params):
        """Evaluation and the result dict after the time box."""
        raise NotImplementedError

    # ---- the skeleton ----------------------------------------------------------------------

    def parse_args(self, argv=None):
        d = dict(COMMON_DEFAULTS, **self.defaults)
        shared = data_dir()
        ap = argparse.ArgumentParser(description=self.doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("--data", default=os.path.join(shared, self.data_subdir) if self.data_subdir else shared,
                        help=self.data_help)
        ap.add_argument("--vocab", default=d.get("vocab", os.path.join(shared, BERT_VOCAB)),
                        help="BERT's uncased WordPiece vocabulary (default <data>/%s)" % BERT_VOCAB)
        ap.add_argument("--work", default=work_dir(self.name),
                        help="checkpoints and logs (resumed from when present)")
        ap.add_argument("--out", default=models_dir(self.model_dir))
        ap.add_argument("--no-export", action="store_true")
        ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
        ap.add_argument("--threads", type=int, default=d["threads"])
        ap.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                        help="where the training steps run (auto: CUDA when torch sees a GPU)")
        ap.add_argument("--seed", type=int, default=d["seed"])
        if self.schedule == "epochs":
            ap.add_argument("--epochs", type=int, default=d["epochs"])
        else:
            ap.add_argument("--minutes", type=float, default=d["minutes"],
                            help="training wall time in all (resumes included)")
            ap.add_argument("--checkpoint-minutes", type=float, default=d["checkpoint_minutes"])
        ap.add_argument("--batch-size", type=int, default=d["batch_size"])
        ap.add_argument("--lr", type=float, default=d["lr"])
        ap.add_argument("--warmup", type=float, default=d["warmup"],
                        help="fraction of the steps (or of --minutes) of linear warm-up")
        ap.add_argument("--weight-decay", type=float, default=d["weight_decay"])
        ap.add_argument("--layers", type=int, default=d["layers"])
        ap.add_argument("--hidden", type=int, default=d["hidden"])
        ap.add_argument("--heads", type=int, default=d["heads"])
        ap.add_argument("--ffn", type=int, default=d["ffn"])
        ap.add_argument("--dropout", type=float, default=d["dropout"])
        ap.add_argument("--max-length", type=int, default=d["max_length"],
                        help="tokens per input incl. [CLS]/[SEP]")
        self.add_args(ap)
        ap.add_argument("--min-piece-count", type=int, default=d["min_piece_count"],
                        help="keep WordPiece pieces seen at least this often in the training data")
        if self.schedule == "epochs":
            ap.add_argument("--limit", type=int, default=0,
                            help="train on the first N examples only (smoke runs)")
        ap.add_argument("--export-dtype", choices=["F32", "F16"], default=d["export_dtype"])
        ap.add_argument("--init", default="",
                        help="start from a pretrained encoder.pt (python3 -m train.nlu.pretrain): its "
                             "vocabulary and architecture replace --vocab and the encoder options")
        piece_vectors.add_args(ap)
        add_cpu_bf16_arg(ap, "the training steps (evaluation stays f32)")
        return ap.parse_args(argv)

    def main(self, argv=None):
        args = self.args = self.parse_args(argv)
        torch.set_num_threads(args.threads)
        self.device = pick_device(args.device, args.cpu_bf16)  # the training steps' (step)
        os.makedirs(args.work, exist_ok=True)
        ckpt_path = os.path.join(args.work, "checkpoint.pt")
        self.read_data(args)
        pre = self.pre = load_pretrained(args.init) if args.init else None
        state = None
        if os.path.exists(ckpt_path) and not args.fresh:
            state = torch.load(ckpt_path, map_location="cpu")
            vocab = state["vocab"]
            self.labels = {k: state[k] for k in self.label_keys}
            log(args.work, "resuming from %s after %s" % (
                ckpt_path, "epoch %d" % state["epoch"] if self.schedule == "epochs"
                else "%.0f s of training" % state["train_seconds"]))
        else:
            vocab = pre[0] if pre is not None else \
                self.fresh_vocab(args, WordPiece(args.vocab or os.path.join(args.data, BERT_VOCAB)))
            self.labels = self.new_labels(args)
        self.vocab = vocab
        tok = self.tok = WordPiece(vocab)
        self.encode(args, tok)
        cfg = self.cfg = self.bert_config(args, pre, state)

        torch.manual_seed(args.seed)
        model = self.build_model(cfg, args)
        if pre is not None and state is None:
            init_encoder(model.bert, pre[2])
            self.after_init_encoder(model, args)
            log(args.work, "encoder initialised from %s" % args.init)
        if state is None:
            piece_vectors.init_from_args(args, model.bert, vocab)
        if state is not None:
            model.load_state_dict(state["model"])
        model.to(self.device)  # before AdamW's state is loaded: it follows its parameters
        opt = adamw(model, args.lr, args.weight_decay)
        rng = random.Random(args.seed)
        if state is not None:
            opt.load_state_dict(state["optimizer"])
            rng.setstate(state["rng"])
            torch.set_rng_state(state["torch_rng"])
        if self.schedule == "epochs":
            result = self.train_epochs(model, opt, rng, state, ckpt_path)
        else:
            result = self.train_timed(model, opt, rng, state, ckpt_path)
        with open(os.path.join(args.work, "result.json"), "w") as f:
            json.dump(result, f, indent=2)
        if not args.no_export:
            self.export(model, cfg, vocab, result)
        return result

    def bert_config(self, args, pre, state):
        """The checkpoint's configuration, else the pretrained encoder's, else a new one."""
        if state is not None:
            return BertConfig(**state["bert_config"])
        if pre is not None:
            if args.max_length > pre[1].max_position_embeddings:
                raise SystemExit("--max-length %d exceeds the pretrained encoder's %d positions"
                                 % (args.max_length, pre[1].max_position_embeddings))
            return finetune_config(pre[1], args.dropout)
        return BertConfig(vocab_size=len(self.vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
                          num_attention_heads=args.heads, intermediate_size=args.ffn,
                          max_position_embeddings=getattr(args, self.positions_arg),
                          hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                          pad_token_id=self.tok.pad_id)

    def log_start(self, model, extra=""):
        n_params = sum(p.numel() for p in model.parameters())
        log(self.args.work, "vocab %d pieces, %s, %d parameters, %s%s" % (
            len(self.vocab), self.describe(), n_params, extra, self.hardware()))
        return n_params

    def checkpoint_state(self, model, opt, rng, **progress):
        return dict(progress, model=model.state_dict(), optimizer=opt.state_dict(), rng=rng.getstate(),
                    torch_rng=torch.get_rng_state(), vocab=self.vocab, bert_config=self.cfg.__dict__,
                    args=vars(self.args), **self.labels)

    def train_epochs(self, model, opt, rng, state, ckpt_path):
        """The resumable epoch loop; returns the result of the best dev epoch."""
        args = self.args
        n = self.train_size()
        total = (n + args.batch_size - 1) // args.batch_size * args.epochs
        warmup = int(args.warmup * total)
        start_epoch, step, best, t_train = 1, 0, None, 0.0
        if state is not None:
            start_epoch, step, best, t_train = (state["epoch"] + 1, state["step"], state["best"],
                                                state["train_seconds"])
        # every invocation that trained, so that the model card can tell a run that was
        # resumed with a different --epochs (learning-rate schedule)
        runs = state.get("runs", [{"start_epoch": 1, "epochs": state["args"]["epochs"]}]) if state else []
        if start_epoch <= args.epochs:
            runs = runs + [{"start_epoch": start_epoch, "epochs": args.epochs}]
        n_params = self.log_start(model, "%d steps, " % total)
        lengths = self.lengths()
        for epoch in range(start_epoch, args.epochs + 1):
            model.train()
            t0, loss_sum = time.time(), 0.0
            for bidx in batches(n, lengths, args.batch_size, rng):
                loss = self.step(model, opt, self.batch("train", bidx), lr_at(step, total, warmup, args.lr))
                loss_sum += loss.item() * len(bidx)
                step += 1
            t_train += time.time() - t0
            m = self.on_cpu(model, lambda: self.evaluate(model, "dev"))
            score = self.score(m)
            improved = best is None or score > self.best_score(best)
            if improved:
                best = {"score": list(score), "epoch": epoch, "dev": m,
                        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
            log(args.work, "epoch %d  loss %.4f  %.0fs  dev %s%s" % (
                epoch, loss_sum / n, time.time() - t0, self.fmt(m), "  *" if improved else ""))
            save_atomic(self.checkpoint_state(model, opt, rng, epoch=epoch, step=step, best=best,
                                              train_seconds=t_train, runs=runs), ckpt_path)

        model.cpu()  # evaluation and export on the CPU
        model.load_state_dict(best["model"])
        dev_m, test_m = self.evaluate(model, "dev"), self.evaluate(model, "test")
        log(args.work, "best epoch %d (of %d), %.0f s of training on %s" % (
            best["epoch"], args.epochs, t_train, self.hardware()))
        log(args.work, "dev   " + self.fmt(dev_m))
        log(args.work, "test  " + self.fmt(test_m))
        return {"best_epoch": best["epoch"], "epochs": args.epochs, "train_seconds": round(t_train),
                "pretrained": self.pre[3] if self.pre is not None else None, "threads": args.threads,
                "hardware": self.hardware(detail=True), "dev": dev_m, "test": test_m,
                "parameters": n_params, "vocab_size": len(self.vocab), "args": vars(args), "runs": runs}

    def step(self, model, opt, batch, lr):
        """One optimizer step at learning rate lr (times a group's "lr_scale" where it has
        one; gradients clipped to norm 1); the loss."""
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        with autocast(self.device):
            loss = self.loss(model, to_device(batch, self.device))
        loss = loss.float()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    def best_score(self, best):
        # checkpoints written before the skeleton kept no score for the NER recipe
        return tuple(best["score"]) if "score" in best else self.score(best["dev"])

    def train_timed(self, model, opt, rng, state, ckpt_path):
        """Training time-boxed at --minutes over all resumed runs, the learning rate warmed up
        and decayed over that time; returns finish_timed's result."""
        args = self.args
        step, t_train, history = 0, 0.0, []
        if state is not None:
            step, t_train, history = state["step"], state["train_seconds"], state.get("history", [])
        n_params = self.log_start(model)
        total = args.minutes * 60.0
        warmup = args.warmup * total

        def checkpoint():
            save_atomic(self.checkpoint_state(model, opt, rng, step=step, train_seconds=t_train,
                                              history=history), ckpt_path)

        model.train()
        last_ckpt = last_log = time.time()
        loss_sum, loss_n = 0.0, 0
        while t_train < total:
            t0 = time.time()
            loss = self.step(model, opt, self.next_batch(rng), lr_at_time(t_train, total, warmup, args.lr))
            step += 1
            loss_sum += loss.item()
            loss_n += 1
            t_train += time.time() - t0
            now = time.time()
            if now - last_log >= 60 or t_train >= total:
                log(args.work, "step %d  %.1f min  lr %.2e  loss %.4f" % (
                    step, t_train / 60, opt.param_groups[0]["lr"], loss_sum / max(1, loss_n)))
                history.append({"step": step, "minutes": round(t_train / 60, 2),
                                "loss": loss_sum / max(1, loss_n)})
                loss_sum, loss_n, last_log = 0.0, 0, now
            if now - last_ckpt >= args.checkpoint_minutes * 60:
                checkpoint()
                last_ckpt = now
        checkpoint()
        model.cpu()  # calibration, evaluation and export on the CPU
        return self.finish_timed(model, step, t_train, n_params)

    def on_cpu(self, model, fn):
        """fn() with the model on the CPU (the recipes' evaluation code builds CPU tensors),
        then the model back on the training device."""
        if self.device.type == "cpu":
            return fn()
        model.cpu()
        try:
            return fn()
        finally:
            model.to(self.device)

    def hardware(self, detail=False):
        """Where the training steps ran, as the logs (and, with detail, the cards) say it."""
        if self.device.type == "cuda":
            return device_note(self.device) if detail else "cuda (%s)" % torch.cuda.get_device_name(self.device)
        return "%d CPU thread(s)%s" % (self.args.threads, " (%s)" % machine_note() if detail else "")

    # ---- export ----------------------------------------------------------------------------

    def export(self, model, cfg, vocab, result):
        args = self.args
        st_path = export_model(args.out, model, cfg, vocab, self.config_keys(args), args.export_dtype,
                               {"recipe": "train/nlu/%s.py" % self.name})
        self.check_export(model)
        self.write_card(result, st_path, cfg, len(vocab))
        print("exported to %s (%.1f MB)" % (args.out, os.path.getsize(st_path) / 1e6))

    def check_export(self, model):
        """Reload the written files into a fresh model and compare its outputs with the
        trained model's on check_inputs(); returns the fresh model."""
        out = self.args.out
        tensors, _ = safetensors_io.load(os.path.join(out, "model.safetensors"))
        with open(os.path.join(out, "config.json")) as f:
            c = json.load(f)
        fresh = self.build_model(BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__}), self.args)
        fresh.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
        fresh.eval()
        model.eval()
        inputs = self.check_inputs()
        with torch.no_grad():
            a, b = model(*inputs), fresh(*inputs)
        if isinstance(a, torch.Tensor):
            a, b = (a,), (b,)
        diff = max((x - y).abs().max().item() for x, y in zip(a, b))
        if diff > (1e-5 if c.get("torch_dtype") == "float32" else 5e-2):
            raise SystemExit("export check failed: reloaded model differs by %g" % diff)
        print("export check: reloaded model matches (max abs diff %.2g)" % diff)
        return fresh

    def card_command(self):
        """The commands that reproduce this run, for the model card (one per line, indented for
        the card's code block): the --init encoder's making when its file records it (see
        train.common.lineage), then this recipe's command."""
        args = self.args
        cmd = "/usr/bin/python3 -m train.nlu.%s" % self.name
        defaults = vars(self.parse_args([]))
        lines = []
        for k, v in vars(args).items():
            if k in ("data", "vocab", "work", "out") or v == defaults[k]:
                continue
            if k == "init":
                pre = self.pre[3] if self.pre is not None else {}
                if pre.get("command") or pre.get("args"):
                    lines = lineage.encoder_commands(pre, v)
                    cmd += " --init " + lineage.init_path(pre, v)
                else:
                    cmd += " --init " + PRETRAINED
                continue
            cmd += " --%s%s" % (k.replace("_", "-"), "" if v is True else " %s" % v)
        return "\n    ".join(lines + [cmd])
