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
(comma, period, question mark) and capitalization accuracy. The options and the
time-boxed training loop are the NLU recipes' common skeleton
(train/nlu/finetune.py).
"""
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from train.common.bert import BertModel, init_weights
from train.common import safetensors_io
from train.common.export import sha256
from train.common.loop import IGNORE, log
from train.common.wordpiece import load_vocab, prune_by_counts
from train.nlu import punct_data as pd
from train.nlu.finetune import FineTune, hardware_of, pretrain_summary, pretrained_vocab

SOURCE_WEIGHTS = "ljspeech:0.3,sotu:0.4,moby-dick:0.3"


def parse_sources(spec):
    """{source: sampling weight} of "name:weight,..." (names of punct_data.SOURCES or
    punct_data.PROSE_SOURCES)."""
    out = {}
    for item in spec.split(","):
        name, _, w = item.strip().partition(":")
        if name not in pd.SOURCES and name not in pd.PROSE_SOURCES:
            raise SystemExit("--sources: unknown source %r (known: %s)" % (
                name, ", ".join(pd.SOURCES + pd.PROSE_SOURCES)))
        try:
            out[name] = float(w) if w else 1.0
        except ValueError:
            raise SystemExit("--sources: weight of %s is not a number: %r" % (name, w))
    return out


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

    def __init__(self, train, rng, max_words, question_rate, weights):
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
        self.weights = [weights.get(n, 1.0) for n in self.names]

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
    calibration texts taken from the END of the training part of each evaluation
    source (LJ, SOTU, Moby Dick; the held-out text is never used). A model trained briefly predicts "O" far too
    often; this trades precision for recall. Returns the offsets added."""
    model.eval()
    cal = []
    for name in pd.SOURCES:
        ws = train[name]
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


class PunctCapitRecipe(FineTune):
    name, model_dir = "punct_capit", "nlu-punct-capit"
    doc = __doc__
    data_help = "the shared data dir (with text/ and vocab/)"
    schedule = "minutes"
    defaults = {"lr": 1e-3, "warmup": 0.04, "min_piece_count": 30, "export_dtype": "F16", "vocab": None}

    def add_args(self, ap):
        ap.add_argument("--max-words", type=int, default=64, help="words per training text at most")
        ap.add_argument("--question-rate", type=float, default=0.2,
                        help="fraction of training texts that end with a question")
        ap.add_argument("--eval-per-source", type=int, default=300, help="held-out texts per source")
        ap.add_argument("--no-calibrate", action="store_true",
                        help="keep the trained punct biases (default: shift them for F1 on training text)")
        ap.add_argument("--sources", default=SOURCE_WEIGHTS,
                        help="training sources and sampling weights, name:weight,...: ljspeech, sotu, "
                             "moby-dick (their first 95%%) and the prose corpus text/pretrain/NAME.txt.xz "
                             "(" + ", ".join(pd.PROSE_SOURCES) + ")")
        ap.add_argument("--prose-words", type=int, default=1500000,
                        help="words drawn from each prose source (whole paragraphs, evenly over the file)")
        ap.add_argument("--from-export", default="",
                        help="start from an exported model folder (model.safetensors, vocab.txt, "
                             "config.json of this recipe) instead of random weights")

    def read_data(self, args):
        t_load = time.time()
        self.weights = parse_sources(args.sources)
        if args.from_export:
            export_shape(args, args.from_export)
        self.train_text = pd.load_split(args.data, "train")
        for name in self.weights:
            if name in pd.PROSE_SOURCES:
                self.train_text[name] = pd.load_prose(args.data, name, args.prose_words, args.seed)
        self.segments = pd.heldout_segments(args.data, args.eval_per_source)
        self.load_seconds = time.time() - t_load
        self.sampler = None

    def fresh_vocab(self, args, full):
        if args.from_export:
            return load_vocab(os.path.join(args.from_export, "vocab.txt"))
        counts = {}
        for ws in self.train_text.values():
            for w in ws:
                counts[w[0]] = counts.get(w[0], 0) + 1
        return prune_by_counts(full, counts, min_count=args.min_piece_count)[0]

    def encode(self, args, tok):
        self.enc = Encoder(tok, args.max_length)

    def build_model(self, cfg, args):
        model = PunctCapit(cfg, args.dropout)
        if args.from_export:
            load_export(model, cfg, args.from_export)
        return model

    def describe(self):
        return "train words %s, %d held-out texts (%d words), data in %.0f s" % (
            {k: len(v) for k, v in self.train_text.items()}, len(self.segments),
            sum(len(w) for _, w in self.segments), self.load_seconds)

    def next_batch(self, rng):
        if self.sampler is None:
            self.sampler = Sampler(self.train_text, rng, self.args.max_words, self.args.question_rate,
                                   self.weights)
        return make_batch(self.enc, [self.sampler.sample() for _ in range(self.args.batch_size)])

    def loss(self, model, batch):
        ids, mask, pt, ct, _, _ = batch
        pl, cl = model(ids, mask)
        return (F.cross_entropy(pl.reshape(-1, pl.shape[-1]), pt.reshape(-1), ignore_index=IGNORE)
                + F.cross_entropy(cl.reshape(-1, cl.shape[-1]), ct.reshape(-1), ignore_index=IGNORE))

    def finish_timed(self, model, step, t_train, n_params):
        args = self.args
        offsets = None
        if not args.no_calibrate:
            offsets = calibrate(model, self.enc, self.train_text)
            log(args.work, "calibrated punct bias offsets (added to the logits of , . ?): %s" % offsets)
        t_eval = time.time()
        r = evaluate(model, self.enc, self.segments)
        log(args.work, "held-out evaluation (%d texts, %.0f s):\n%s" % (
            len(self.segments), time.time() - t_eval, pd.format_scores(r)))
        return {"steps": step, "train_seconds": round(t_train), "threads": args.threads,
                "hardware": self.hardware(detail=True), "heldout": r,
                "pretrained": self.pre[3] if self.pre is not None else None,
                "parameters": n_params, "vocab_size": len(self.vocab), "args": vars(args),
                "bias_offsets": offsets}

    def config_keys(self, args):
        return {
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

    def check_inputs(self):
        ids, mask, _, _, _, _ = make_batch(self.enc, [w for _, w in self.segments[:32]])
        return ids, mask

    def check_export(self, model):
        """The skeleton's reload check, then the held-out scores of the exported (possibly
        float16) weights, which the model card reports."""
        fresh = super().check_export(model)
        r = evaluate(fresh, self.enc, self.segments)
        print("exported weights, held-out:\n" + pd.format_scores(r))
        self.exported_scores = r
        return fresh

    def write_card(self, result, st_path, cfg, vocab_size):
        result["heldout_exported"] = self.exported_scores
        write_card(self.args, result, st_path, cfg, vocab_size, self.card_command())


def main(argv=None):
    return PunctCapitRecipe().main(argv)


def export_shape(args, folder):
    """Take the encoder's shape options (--layers --hidden --heads --ffn --max-length) from an
    exported model's config.json, so that its weights fit."""
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    args.layers, args.hidden, args.heads = c["num_hidden_layers"], c["hidden_size"], c["num_attention_heads"]
    args.ffn, args.max_length = c["intermediate_size"], c["max_position_embeddings"]


def load_export(model, cfg, folder):
    """Copy an exported model's weights (any float dtype) into model; its shape must match."""
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "max_position_embeddings"):
        if c[k] != getattr(cfg, k):
            raise SystemExit("--from-export %s: %s is %s, the model's is %s" % (folder, k, c[k], getattr(cfg, k)))
    tensors, _ = safetensors_io.load(os.path.join(folder, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})


def write_card(args, res, st_path, cfg, vocab_size, cmd):
    r = res["heldout_exported"]
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
with a question, which are rare: 0.07% of training words). {sources}

## Metrics

Held-out: per source the first {per} groups of whole consecutive sentences
(30-60 words each) of the held-out 5%: {nseg} texts, {words:,} words. Word-level
precision / recall / F1 of the mark after each word (exported weights):

| mark | precision | recall | F1 | gold count |
|---|---|---|---|---|
{rows}

**Macro F1 (comma, period, question mark): {macro:.3f}** (goal 0.70).
Capitalization accuracy (every word's case): {case:.4f}.

{steps:,} steps of {bs} texts, {secs} s of training on {hardware}
(the wall time and the machine's load decide the number of steps). {pretrain_note}

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
           secs=res["train_seconds"], hardware=hardware_of(res), cmd=cmd, seed=args.seed,
           sources=card_sources(args), **card_origin(args, res))
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def card_sources(args):
    """The sentence of the card that names the training sources and their sampling weights."""
    names = {"ljspeech": "LJ", "sotu": "SOTU", "moby-dick": "Moby Dick"}
    w = parse_sources(args.sources)
    text = "Sources are sampled " + " / ".join("%s %g" % (names.get(n, n), v) for n, v in w.items()) + "."
    prose = [n for n in w if n in pd.PROSE_SOURCES]
    if prose:
        text += (" The prose sources are about %s words each of `text/pretrain/<name>.txt.xz` (whole "
                 "paragraphs drawn evenly over the file, seed %d; real punctuation and casing; the corpus "
                 "shares no documents with the evaluation text)." % ("{:,}".format(args.prose_words), args.seed))
    return text


def card_origin(args, res):
    if args.from_export:
        return {"origin": "trained further from an earlier export (`--from-export %s`)" % args.from_export,
                "vocab_rule": "the earlier export's vocabulary",
                "pretrain_note": "No pretraining; the weights started from the earlier export."}
    pre = res.get("pretrained")
    if not pre:
        return {"origin": "trained from scratch",
                "vocab_rule": "the pieces used at least %d times when the training text is tokenized with the "
                              "full vocabulary" % args.min_piece_count,
                "pretrain_note": "No pretraining."}
    return {"origin": "fine-tuned from Parley's pretrained encoder",
            "vocab_rule": "the pretrained encoder's vocabulary: " + pretrained_vocab(pre),
            "pretrain_note": "The encoder was pretrained by `python3 -m train.nlu.pretrain` (%s; its corpus "
                             "holds out the same 5%% of lines) and then fine-tuned here." % pretrain_summary(pre)}


if __name__ == "__main__":
    main()
