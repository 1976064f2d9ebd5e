#!/usr/bin/python3
"""Punctuation + capitalization model, from scratch or the pretrained encoder, exported for Parley.

For every whitespace word of lower-case text without punctuation the model
predicts the mark after it (O , . ?) and its case (lower, Capitalized, UPPER).
One small BERT encoder (post-LN, Hugging Face tensor names, no pooler) with two
token heads: `punct_classifier` read at the word's LAST WordPiece sub-token
(the mark follows the word) and `capit_classifier` read at its FIRST.

Data (train/nlu/punct_data.py): ../shared/data/text (LJ Speech sentences,
normalized column; State of the Union; Moby Dick), the first 95% of the lines
of each file for training, the last 5% held out. Training texts are runs of
whole consecutive sentences (10-64 words; sometimes a window that starts or
ends mid-sentence), sentences ending in "?" oversampled because they are rare.
The vocabulary is BERT's uncased WordPiece vocabulary pruned to the pieces the
training text uses often (plus single characters), or with --init the
pretrained encoder's (train/nlu/pretrain.py), whose corpus holds out the same
5% of lines.

    /usr/bin/python3 -m train.nlu.punct_capit --minutes 30      # train (resumes), evaluate, export
    /usr/bin/python3 -m train.nlu.punct_capit --minutes 1 --work /tmp/p --no-export   # smoke run

Training is time-boxed: --minutes of training wall time in all (across
resumed runs); the learning rate warms up and then decays linearly over that
time. Checkpoints go to --work (train/work/punct_capit, git-ignored) every
--checkpoint-minutes and at the end; the same command resumes. Evaluation on
the held-out text prints per-mark precision/recall/F1, the macro F1 over
(comma, period, question mark) and capitalization accuracy.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from train.common import safetensors_io
from train.common.bert import BertConfig, BertModel, finetune_config, init_encoder, init_weights, load_pretrained
from train.common.export import export_model, sha256
from train.common.loop import IGNORE, adamw, log, save_atomic
from train.common.wordpiece import WordPiece, prune_by_counts
from train.common.paths import data_dir, models_dir, work_dir
from train.nlu import punct_data as pd

SOURCE_WEIGHTS = {"ljspeech": 0.3, "sotu": 0.4, "moby-dick": 0.3}


def parse_args(argv=None):
    data = data_dir()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=data, help="the shared data dir (with text/ and vocab/)")
    ap.add_argument("--vocab", default=None, help="full WordPiece vocab (default <data>/vocab/bert-base-uncased-vocab.txt)")
    ap.add_argument("--work", default=work_dir("punct_capit"))
    ap.add_argument("--out", default=models_dir("nlu-punct-capit"))
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=30.0, help="training wall time in all (resumes included)")
    ap.add_argument("--checkpoint-minutes", type=float, default=3.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=float, default=0.04, help="fraction of the time of linear warm-up")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--max-length", type=int, default=128, help="tokens per window incl. [CLS]/[SEP]")
    ap.add_argument("--max-words", type=int, default=64, help="words per training text at most")
    ap.add_argument("--question-rate", type=float, default=0.2,
                    help="fraction of training texts that end with a question")
    ap.add_argument("--min-piece-count", type=int, default=30,
                    help="keep WordPiece pieces seen at least this often in the training text")
    ap.add_argument("--eval-per-source", type=int, default=300, help="held-out texts per source")
    ap.add_argument("--export-dtype", choices=["F32", "F16"], default="F16")
    ap.add_argument("--no-calibrate", action="store_true",
                    help="keep the trained punct biases (default: shift them for F1 on training text)")
    ap.add_argument("--init", default="",
                    help="start from a pretrained encoder.pt (train/nlu/pretrain.py): its vocabulary and "
                         "architecture replace --vocab/--layers/--hidden/--heads/--ffn")
    return ap.parse_args(argv)


class PunctCapit(nn.Module):
    """BERT (no pooler) + punct and capit token heads."""

    def __init__(self, c, head_dropout=0.1):
        super().__init__()
        self.bert = BertModel(c, add_pooler=False)
        self.dropout = nn.Dropout(head_dropout)
        self.punct_classifier = nn.Linear(c.hidden_size, len(pd.MARKS))
        self.capit_classifier = nn.Linear(c.hidden_size, len(pd.CASES))
        init_weights(self, c.initializer_range)

    def forward(self, ids, mask):
        h, _ = self.bert(ids, mask)
        h = self.dropout(h)
        return self.punct_classifier(h), self.capit_classifier(h)


class Encoder:
    """Words -> ids with the positions of each word's first and last sub-token."""

    def __init__(self, tok, max_length):
        self.tok, self.max_length, self.cache = tok, max_length, {}

    def pieces(self, w):
        ids = self.cache.get(w)
        if ids is None:
            ids = self.tok.encode(w) or [self.tok.unk_id]
            self.cache[w] = ids
        return ids

    def encode(self, words):
        """(ids, first, last) for the words that fit in max_length (a prefix)."""
        ids, first, last = [self.tok.cls_id], [], []
        for w in words:
            p = self.pieces(w[0])
            if len(ids) + len(p) > self.max_length - 1:
                break
            first.append(len(ids))
            ids.extend(p)
            last.append(len(ids) - 1)
        ids.append(self.tok.sep_id)
        return ids, first, last


class Sampler:
    """Random training texts: runs of whole sentences, sometimes mid-sentence windows."""

    def __init__(self, train, rng, max_words, question_rate):
        self.rng, self.max_words, self.qrate = rng, max_words, question_rate
        self.words, self.starts, self.questions = {}, {}, {}
        for name, ws in train.items():
            starts, qs = [0], []
            for i, w in enumerate(ws):
                if w[1] in ".?" and i + 1 < len(ws):
                    if w[1] == "?":
                        qs.append(len(starts) - 1)
                    starts.append(i + 1)
            self.words[name], self.starts[name], self.questions[name] = ws, starts, qs
        self.names = list(train)
        self.weights = [SOURCE_WEIGHTS.get(n, 1.0) for n in self.names]

    def sample(self):
        rng = self.rng
        name = rng.choices(self.names, self.weights)[0]
        ws, starts, qs = self.words[name], self.starts[name], self.questions[name]
        target = rng.randint(10, self.max_words)
        if qs and rng.random() < self.qrate:
            # end at a question: start 0-2 sentences before it
            q = rng.choice(qs)
            s = max(0, q - rng.randint(0, 2))
            end = starts[q + 1] if q + 1 < len(starts) else len(ws)
            begin = max(starts[s], end - self.max_words)
            return ws[begin:end]
        if rng.random() < 0.2:
            begin = rng.randrange(0, max(1, len(ws) - target))
            return ws[begin:begin + target]
        s = rng.randrange(len(starts))
        begin = starts[s]
        end = begin
        while s < len(starts) and end - begin < target:
            s += 1
            end = starts[s] if s < len(starts) else len(ws)
        return ws[begin:min(end, begin + self.max_words)]


def make_batch(enc, texts):
    rows = []
    for words in texts:
        ids, first, last = enc.encode(words)
        pt = [IGNORE] * len(ids)
        ct = [IGNORE] * len(ids)
        for i, (f, la) in enumerate(zip(first, last)):
            pt[la] = pd.MARKS.index(words[i][1])
            ct[f] = pd.CASES.index(words[i][2])
        rows.append((ids, pt, ct, first, last))
    t = max(len(r[0]) for r in rows)
    b = len(rows)
    ids = torch.full((b, t), enc.tok.pad_id, dtype=torch.long)
    mask = torch.zeros((b, t), dtype=torch.long)
    pt = torch.full((b, t), IGNORE, dtype=torch.long)
    ct = torch.full((b, t), IGNORE, dtype=torch.long)
    for r, row in enumerate(rows):
        n = len(row[0])
        ids[r, :n] = torch.tensor(row[0])
        mask[r, :n] = 1
        pt[r, :n] = torch.tensor(row[1])
        ct[r, :n] = torch.tensor(row[2])
    return ids, mask, pt, ct, [r[3] for r in rows], [r[4] for r in rows]


@torch.no_grad()
def evaluate(model, enc, segments, batch_size=64):
    """MarkScores result over the held-out texts (words beyond one window are
    not scored here; the texts are at most 60 words, well inside 128 tokens)."""
    model.eval()
    sc = pd.MarkScores()
    for i in range(0, len(segments), batch_size):
        texts = [w for _, w in segments[i:i + batch_size]]
        ids, mask, _, _, firsts, lasts = make_batch(enc, texts)
        pl, cl = model(ids, mask)
        pp, cp = pl.argmax(-1).tolist(), cl.argmax(-1).tolist()
        for r, words in enumerate(texts):
            n = len(firsts[r])
            sc.add([w[1] for w in words[:n]], [pd.MARKS[pp[r][p]] for p in lasts[r]],
                   [w[2] for w in words[:n]], [pd.CASES[cp[r][p]] for p in firsts[r]])
    model.train()
    r = sc.result()
    r["texts"] = len(segments)
    return r


@torch.no_grad()
def calibrate(model, enc, train, per_source=100, rounds=2):
    """Shift the punct head's biases of , . ? so that the macro F1 is best on
    calibration texts taken from the END of each source's training part (the
    held-out text is never used). A model trained briefly predicts "O" far too
    often; this trades precision for recall. Returns the offsets added."""
    model.eval()
    cal = []
    for ws in train.values():
        cal.extend(pd.sentence_groups(ws[-per_source * 60:])[-per_source:])
    logits, gold = [], []
    for i in range(0, len(cal), 64):
        texts = cal[i:i + 64]
        ids, mask, _, _, _, lasts = make_batch(enc, texts)
        pl, _ = model(ids, mask)
        for r, words in enumerate(texts):
            logits.append(pl[r, lasts[r]])
            gold.extend(pd.MARKS.index(w[1]) for w in words[:len(lasts[r])])
    logits, gold = torch.cat(logits), torch.tensor(gold)

    def macro(off):
        pred = (logits + off).argmax(-1)
        f = 0.0
        for m in (1, 2, 3):
            tp = ((pred == m) & (gold == m)).sum().item()
            npred, ngold = (pred == m).sum().item(), (gold == m).sum().item()
            f += 2 * tp / (npred + ngold) if npred + ngold else 0.0
        return f / 3

    off = torch.zeros(len(pd.MARKS))
    grid = [x * 0.25 for x in range(0, 25)]
    for _ in range(rounds):
        for m in (1, 2, 3):
            best = max(grid, key=lambda v: macro(torch.cat([off[:m], torch.tensor([v]), off[m + 1:]])))
            off[m] = best
    model.punct_classifier.bias += off
    model.train()
    return [round(v, 2) for v in off.tolist()]


def lr_at_time(t, total, warmup, base):
    if t < warmup:
        return base * max(0.02, t / warmup)
    return base * max(0.0, (total - t) / max(1e-9, total - warmup))


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "checkpoint.pt")
    vocab_path = args.vocab or os.path.join(args.data, "vocab", "bert-base-uncased-vocab.txt")

    t_load = time.time()
    train = pd.load_split(args.data, "train")
    segments = pd.heldout_segments(args.data, args.eval_per_source)
    state = None
    pre = load_pretrained(args.init) if args.init else None
    if os.path.exists(ckpt_path) and not args.fresh:
        state = torch.load(ckpt_path)
        vocab = state["vocab"]
        log(args.work, "resuming from %s after %.0f s of training" % (ckpt_path, state["train_seconds"]))
    else:
        counts = {}
        for ws in train.values():
            for w in ws:
                counts[w[0]] = counts.get(w[0], 0) + 1
        if pre is not None:
            vocab = pre[0]
        else:
            vocab, _ = prune_by_counts(WordPiece(vocab_path), counts, min_count=args.min_piece_count)
    tok = WordPiece(vocab)
    enc = Encoder(tok, args.max_length)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.ffn,
                     max_position_embeddings=args.max_length, hidden_dropout_prob=args.dropout,
                     attention_probs_dropout_prob=args.dropout, pad_token_id=tok.pad_id)
    if pre is not None:
        if args.max_length > pre[1].max_position_embeddings:
            raise SystemExit("--max-length %d exceeds the pretrained encoder's %d positions"
                             % (args.max_length, pre[1].max_position_embeddings))
        cfg = finetune_config(pre[1], args.dropout)
    if state is not None:
        cfg = BertConfig(**state["bert_config"])
    torch.manual_seed(args.seed)
    model = PunctCapit(cfg, args.dropout)
    if pre is not None and state is None:
        init_encoder(model.bert, pre[2])
        log(args.work, "encoder initialised from %s" % args.init)
    opt = adamw(model, args.lr, args.weight_decay)
    rng = random.Random(args.seed)
    step, t_train, history = 0, 0.0, []
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        step, t_train, history = state["step"], state["train_seconds"], state.get("history", [])
    sampler = Sampler(train, rng, args.max_words, args.question_rate)
    n_params = sum(p.numel() for p in model.parameters())
    log(args.work, "vocab %d pieces, %d parameters, train words %s, %d held-out texts (%d words), "
        "%d thread(s), data in %.0f s" % (
            len(vocab), n_params, {k: len(v) for k, v in train.items()}, len(segments),
            sum(len(w) for _, w in segments), args.threads, time.time() - t_load))

    total = args.minutes * 60.0
    warmup = args.warmup * total

    def checkpoint():
        save_atomic({"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                     "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "vocab": vocab,
                     "bert_config": cfg.__dict__, "train_seconds": t_train, "history": history,
                     "args": vars(args)}, ckpt_path)

    model.train()
    last_ckpt = last_log = time.time()
    loss_sum, loss_n = 0.0, 0
    while t_train < total:
        t0 = time.time()
        ids, mask, pt, ct, _, _ = make_batch(enc, [sampler.sample() for _ in range(args.batch_size)])
        for g in opt.param_groups:
            g["lr"] = lr_at_time(t_train, total, warmup, args.lr)
        pl, cl = model(ids, mask)
        loss = (F.cross_entropy(pl.reshape(-1, pl.shape[-1]), pt.reshape(-1), ignore_index=IGNORE)
                + F.cross_entropy(cl.reshape(-1, cl.shape[-1]), ct.reshape(-1), ignore_index=IGNORE))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_sum += loss.item()
        loss_n += 1
        t_train += time.time() - t0
        now = time.time()
        if now - last_log >= 60 or t_train >= total:
            log(args.work, "step %d  %.1f min  lr %.2e  loss %.4f" % (
                step, t_train / 60, opt.param_groups[0]["lr"], loss_sum / max(1, loss_n)))
            history.append({"step": step, "minutes": round(t_train / 60, 2), "loss": loss_sum / max(1, loss_n)})
            loss_sum, loss_n, last_log = 0.0, 0, now
        if now - last_ckpt >= args.checkpoint_minutes * 60:
            checkpoint()
            last_ckpt = now
    checkpoint()

    offsets = None
    if not args.no_calibrate:
        offsets = calibrate(model, enc, train)
        log(args.work, "calibrated punct bias offsets (added to the logits of , . ?): %s" % offsets)
    t_eval = time.time()
    r = evaluate(model, enc, segments)
    log(args.work, "held-out evaluation (%d texts, %.0f s):\n%s" % (len(segments), time.time() - t_eval,
                                                                    pd.format_scores(r)))
    result = {"steps": step, "train_seconds": round(t_train), "threads": args.threads, "heldout": r,
              "pretrained": pre[3] if pre is not None else None,
              "parameters": n_params, "vocab_size": len(vocab), "args": vars(args), "bias_offsets": offsets}
    with open(os.path.join(args.work, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    if not args.no_export:
        export(args, model, cfg, vocab, result, enc, segments)
    return result


def export(args, model, cfg, vocab, result, enc, segments):
    parley = {
        "architectures": ["BertForPunctuationCapitalization"],
        "task": "punctuation_capitalization",
        "labels": {"punct": pd.MARKS, "capit": pd.CASES},
        # parley-nlu also serves "<name>-int8" from the same files (docs/nlu.md)
        "variants": {"int8": {"precision": "int8"}},
        "max_length": args.max_length,
        "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                      "max_input_chars_per_word": 100},
        "heads": {
            "punct": {"tensor_prefix": "punct_classifier", "input": "tokens", "labels": "punct",
                      "alignment": "last_subtoken_of_each_whitespace_word"},
            "capit": {"tensor_prefix": "capit_classifier", "input": "tokens", "labels": "capit",
                      "alignment": "first_subtoken_of_each_whitespace_word"},
        },
    }
    st_path = export_model(args.out, model, cfg, vocab, parley, args.export_dtype,
                           {"recipe": "train/nlu/punct_capit.py"})
    exported = check_export(args.out, model, enc, segments)
    result["heldout_exported"] = exported
    write_card(args, result, st_path, cfg, len(vocab))
    print("exported to %s (%.1f MB)" % (args.out, os.path.getsize(st_path) / 1e6))


def check_export(out_dir, model, enc, segments):
    """Reload the written files into a fresh model, compare logits and return
    the held-out scores of the exported (possibly float16) weights."""
    tensors, _ = safetensors_io.load(os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json")) as f:
        c = json.load(f)
    fresh = PunctCapit(BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__}))
    fresh.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    fresh.eval()
    model.eval()
    ids, mask, _, _, _, _ = make_batch(enc, [w for _, w in segments[:32]])
    with torch.no_grad():
        a, b = model(ids, mask), fresh(ids, mask)
    tol = 1e-5 if c.get("torch_dtype") == "float32" else 5e-2
    diff = max((a[0] - b[0]).abs().max().item(), (a[1] - b[1]).abs().max().item())
    if diff > tol:
        raise SystemExit("export check failed: reloaded model differs by %g" % diff)
    print("export check: reloaded model matches (max abs diff %.2g)" % diff)
    r = evaluate(fresh, enc, segments)
    print("exported weights, held-out:\n" + pd.format_scores(r))
    return r


def write_card(args, res, st_path, cfg, vocab_size):
    r = res["heldout_exported"]
    cmd = "/usr/bin/python3 -m train.nlu.punct_capit"
    defaults = vars(parse_args([]))
    for k, v in vars(args).items():
        if k in ("data", "vocab", "work", "out") or v == defaults[k]:
            continue
        if k == "init":
            cmd += " --init train/work/pretrain/encoder.pt"
            continue
        cmd += " --%s%s" % (k.replace("_", "-"), "" if v is True else " %s" % v)
    rows = "\n".join("| %s | %.3f | %.3f | %.3f | %d |" % (name, r[m]["p"], r[m]["r"], r[m]["f1"], r[m]["gold"])
                     for m, name in ((",", "comma"), (".", "period"), ("?", "question mark")))
    text = """# nlu-punct-capit

Punctuation and capitalization for English text without either (e.g. ASR
transcripts), {origin} by Parley's recipe
`train/nlu/punct_capit.py`. Served by parley-nlu (Riva `PunctuateText`,
`TransformText`; task `punctuation_capitalization`).

## Model

- Encoder: BERT (post-LayerNorm), {layers} layers, hidden {hidden}, {heads} heads,
  FFN {ffn}, GELU (erf), {maxlen} positions, no pooler; {params:,} parameters.
  Tensor names are Hugging Face's (`bert.embeddings.*`, `bert.encoder.layer.N.*`).
- `punct` head: `punct_classifier.{{weight,bias}}` on every token, labels
  `O , . ?` (`O` = no mark), read at each whitespace word's **last** WordPiece
  sub-token (`last_subtoken_of_each_whitespace_word`).
- `capit` head: `capit_classifier.{{weight,bias}}`, labels `lower`,
  `Capitalized`, `UPPER`, read at each word's **first** sub-token.
- Tokenizer: BERT uncased WordPiece over `vocab.txt`: BERT's 30,522-piece
  uncased vocabulary **pruned to {vocab} pieces** ({vocab_rule},
  plus every single-character piece up to U+052F and its `##` form).
- Inputs: `[CLS] tokens [SEP]`, windows of at most {maxlen} tokens.
- Weights: `model.safetensors`, {dtype}, {mb:.1f} MB, sha256 `{sha}`.

## Data

`../shared/data/text` (public domain): LJ Speech sentences (normalized
column), State of the Union addresses, Moby Dick. For every file the **first
95% of its lines train, the last 5% are held out** (`train/nlu/punct_data.py`).
Labels come from the text itself: the mark after each word (`!` counts as `.`;
`;` `:` and dashes as `,`; other marks as none) and its case (`UPPER` = two or
more letters all upper case); the input is the word lower-cased with its
surrounding punctuation removed. Training texts are runs of whole sentences
(10-{maxw} words; 20% windows that start and end mid-sentence; {qrate:.0%} end
with a question, which are rare: 0.07% of training words). Sources are sampled
LJ 0.3 / SOTU 0.4 / Moby Dick 0.3.

## Metrics

Held-out: per source the first {per} groups of whole consecutive sentences
(30-60 words each) of the held-out 5%: {nseg} texts, {words:,} words. Word-level
precision / recall / F1 of the mark after each word (exported weights):

| mark | precision | recall | F1 | gold count |
|---|---|---|---|---|
{rows}

**Macro F1 (comma, period, question mark): {macro:.3f}** (goal 0.70).
Capitalization accuracy (every word's case): {case:.4f}.

{steps:,} steps of {bs} texts, {secs} s of training on {threads} CPU thread(s)
(Debian python3-torch 1.13, on a shared 2-core VM, so the wall time and the
machine's load decide the number of steps). {pretrain_note}

## Reproduce

From the repository root, with `../shared/data` present:

    {cmd}

Checkpoints go to `train/work/punct_capit/`; running the same command again
resumes (the time box counts all runs). Seed {seed}; the number of steps, and
so the result, depends on the machine's speed and load. The recipe ends by
reloading the exported files, checking them against the trained model and
scoring them on the held-out texts.
""".format(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=cfg.num_attention_heads,
           ffn=cfg.intermediate_size, maxlen=args.max_length, params=res["parameters"], vocab=vocab_size,
           minc=args.min_piece_count, dtype="float32" if args.export_dtype == "F32" else "float16",
           mb=os.path.getsize(st_path) / 1e6, sha=sha256(st_path), maxw=args.max_words, qrate=args.question_rate,
           per=args.eval_per_source, nseg=r["texts"], words=r["words"], rows=rows,
           macro=r["macro_f1"], case=r["case_acc"], steps=res["steps"], bs=args.batch_size,
           secs=res["train_seconds"], threads=res["threads"], cmd=cmd, seed=args.seed,
           **card_origin(args, res))
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def card_origin(args, res):
    pre = res.get("pretrained")
    if not pre:
        return {"origin": "trained from scratch",
                "vocab_rule": "the pieces used at least %d times when the training text is tokenized with the "
                              "full vocabulary" % args.min_piece_count,
                "pretrain_note": "No pretraining."}
    return {"origin": "fine-tuned from Parley's pretrained encoder",
            "vocab_rule": "the pretrained encoder's vocabulary: the pieces used at least %d times in its "
                          "pretraining corpus" % pre["min_piece_count"],
            "pretrain_note": "The encoder was pretrained by `train/nlu/pretrain.py` (masked LM, %d steps, %d s "
                             "on %d CPU thread(s), held-out masked-token accuracy %.2f%%; its corpus holds out "
                             "the same 5%% of lines) and then fine-tuned here." % (
                                 pre["step"], pre["train_seconds"], pre["threads"], pre["heldout"]["masked_acc"])}


if __name__ == "__main__":
    main()
