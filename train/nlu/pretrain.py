#!/usr/bin/python3
"""Masked-LM pretraining of the small BERT encoder that Parley's NLU models share.

    /usr/bin/python3 -m train.nlu.pretrain --threads 2             # train (resumes), write encoder.pt
    /usr/bin/python3 -m train.nlu.pretrain --steps 20 --minutes 1 --work /tmp/pt-smoke   # smoke run

Corpus: the training part of ../shared/data/text (the first 95% of the lines of
the LJ Speech sentences, the State of the Union addresses and Moby Dick; the
last 5% is the punctuation model's held-out text and is not trained on here)
plus the words of the SNIPS and CoNLL-2003 training splits. Consecutive
sentences are packed into segments of at most --max-length pieces
("[CLS] ... [SEP]", no next-sentence task).

Vocabulary: BERT's uncased WordPiece vocabulary pruned to the pieces this
corpus uses at least N times, N the smallest count that keeps the vocabulary
within --vocab-size pieces (plus every single-character piece, so unseen words
still split). One vocabulary serves every fine-tuned model, which then all
load this encoder (--init in joint_snips.py, ner_conll2003.py, punct_capit.py).
A pruned vocabulary rather than the full 30,522 pieces: the embedding matrix
is most of a small model's weights (30,522 x 256 = 7.8M parameters against
3.2M in four layers), and pieces this corpus never shows would stay untrained.

Objective: BERT's masked LM, 15% of the pieces chosen (80% [MASK], 10% a
random piece, 10% unchanged), the output layer tied to the word embeddings.
Scored on held-out segments (from the held-out 5% of lines, fixed masks):
masked-token accuracy.

Resumable: checkpoints every --checkpoint-minutes to --work (encoder.pt is rewritten with
each, so a long run's encoder so far can be fine-tuned from while it goes on); the same
command continues the same learning-rate schedule (--steps in all). --minutes bounds
one invocation's training time so that each run fits a working session.

From a bundle (--bundle DIR, written by python3 -m train.gpu.pack; train/gpu/README.md):
the corpus is the bundle's token stream (vocab.txt, corpus.u16.xz, heldout.json) rather
than the text above; a batch is --batch-size windows of --max-length - 2 pieces at random
offsets of the stream; --extra-qa adds the bundle's SQuAD training contexts to the stream.
--masking word chooses whole words (all pieces of a chosen word are masked together).
--text-heldout also scores the default mode's held-out set (the held-out 5% of the text
files, 64-piece segments, single-piece masks), so the figures compare with a run on the text.

Time-boxed schedule (--schedule-minutes M): the learning rate follows the training time
(warm-up over --warmup of it, linear decay to 0 at M minutes) or the step count (--steps),
whichever is further along, and training ends when either is reached, so a run on
unknown hardware stops on time and the rate still reaches 0.

Device: --device auto|cpu|cuda (auto: CUDA when available). On CUDA the forward passes
run under bf16 autocast; on the CPU everything stays f32, with the same numbers as before.
Masks and batches are drawn on the CPU from the same seeded generators either way.
"""
import argparse
import json
import os
import random
import re
import time

import torch
import torch.nn.functional as F
from torch import nn

from train.common.bert import BertConfig, BertModel, init_encoder, init_weights, load_pretrained
from train.common.data import read_conll, read_snips
from train.common.loop import (IGNORE, add_cpu_bf16_arg, adamw, autocast, device_note, log, lr_at,
                               pick_device, save_atomic)
from train.common.wordpiece import CachedEncoder, WordPiece, basic_tokenize, prune_by_counts
from train.common.paths import data_dir, work_dir
from train.common import piece_vectors
from train.nlu import punct_data
from train.nlu.finetune import lr_at_time, pretrain_summary

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def parse_args(argv=None):
    data = data_dir()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=data, help="the shared data dir (text/, vocab/, nlu/snips, ner/conll2003)")
    ap.add_argument("--work", default=work_dir("pretrain"),
                    help="checkpoints, logs and encoder.pt (resumed from when present)")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=6000, help="optimizer steps in all (the schedule's length)")
    ap.add_argument("--minutes", type=float, default=85.0, help="training wall time of this invocation at most")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=float, default=0.04, help="fraction of --steps of linear warm-up")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--max-length", type=int, default=64, help="pieces per segment incl. [CLS]/[SEP]")
    ap.add_argument("--max-positions", type=int, default=128)
    ap.add_argument("--vocab-size", type=int, default=8192, help="pieces at most after pruning")
    ap.add_argument("--mask-rate", type=float, default=0.15)
    ap.add_argument("--heldout-segments", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=0, help="sentences per source at most (smoke runs)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="auto: CUDA when available (bf16 autocast there), else the CPU (f32)")
    add_cpu_bf16_arg(ap)
    piece_vectors.add_args(ap, "the word-piece embeddings (tied to the MLM output)")
    ap.add_argument("--bundle", default="", help="train on a bundle's token stream (train.gpu.pack)")
    ap.add_argument("--extra-qa", action="store_true",
                    help="--bundle: add the bundle's SQuAD training contexts to the stream")
    ap.add_argument("--masking", choices=["piece", "word"], default="piece",
                    help="choose single pieces (BERT) or whole words for masking")
    ap.add_argument("--schedule-minutes", type=float, default=0.0,
                    help="time-boxed schedule: this much training time in all (0: by --steps alone)")
    ap.add_argument("--encoder-out", default="", help="the encoder for --init (default <work>/encoder.pt); "
                                                     "also written at each checkpoint")
    ap.add_argument("--encoder-dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("--text-heldout", action="store_true",
                    help="--bundle: also score the held-out segments of the text corpus (the held-out 5%% of "
                         "LJ Speech, SOTU, Moby Dick; the default mode's held-out set) with the bundle's vocabulary")
    ap.add_argument("--eval-every", type=int, default=500, help="score the held-out set(s) every N steps")
    ap.add_argument("--init-encoder", default="",
                    help="start the encoder from this encoder.pt (its architecture and vocabulary, which must be "
                         "the corpus's; the MLM head starts fresh); only at step 0, like --init-embeddings")
    ap.add_argument("--resume-from", default="",
                    help="when --work holds no checkpoint yet: continue the run whose --work is this folder "
                         "(its checkpoint.pt: model, MLM head, optimizer, step) in --work, with this "
                         "invocation's --steps; that folder is left as it is")
    args = ap.parse_args(argv)
    if args.init_encoder and getattr(args, "init_embeddings", ""):
        ap.error("--init-encoder and --init-embeddings both set the word-piece embeddings: give one")
    return args


class MaskedLM(nn.Module):
    """BERT + Hugging Face's BertForMaskedLM head (cls.predictions.*): dense,
    GELU, LayerNorm, then a decoder tied to the word embeddings plus a bias.
    Scores only the masked positions."""

    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.transform = nn.Linear(c.hidden_size, c.hidden_size)
        self.transform_ln = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.decoder_bias = nn.Parameter(torch.zeros(c.vocab_size))
        init_weights(self, c.initializer_range)

    def forward(self, ids, mask, positions):
        h, _ = self.bert(ids, mask)
        h = h.reshape(-1, h.shape[-1])[positions]
        h = self.transform_ln(F.gelu(self.transform(h)).float())  # f32 LayerNorm under autocast too
        return h @ self.bert.embeddings.word_embeddings.weight.t() + self.decoder_bias


def sentences(line):
    return [s for s in _SENTENCE_END.split(line.strip()) if s]


def corpus_texts(data_dir, split, limit=0):
    """{source: [sentence, ...]} of the text sources' train or held-out part, and
    (train only) the SNIPS and CoNLL-2003 training sentences."""
    out = {}
    for name in punct_data.SOURCES:
        lines = punct_data._source_lines(data_dir, name)
        cut = len(lines) - int(round(len(lines) * punct_data.HELDOUT_FRACTION))
        part = lines[:cut] if split == "train" else lines[cut:]
        if name == "moby-dick":
            # hard-wrapped: join the lines of a paragraph before splitting sentences
            part = [" ".join(part)]
        out[name] = [s for line in part for s in sentences(line)]
    if split == "train":
        out["snips"] = [" ".join(e.words) for e in read_snips(os.path.join(data_dir, "nlu", "snips", "train"))]
        out["conll"] = [" ".join(e.words) for e in read_conll(os.path.join(data_dir, "ner", "conll2003",
                                                                            "train.txt"))]
    if limit:
        out = {k: v[:limit] for k, v in out.items()}
    return out


def word_counts(texts):
    counts = {}
    for sents in texts.values():
        for s in sents:
            for w in basic_tokenize(s):
                counts[w] = counts.get(w, 0) + 1
    return counts



def pack(sents, enc, max_pieces, single=False):
    """Segments of consecutive sentences with at most max_pieces pieces each
    (a longer sentence is cut); single: one sentence per segment."""
    segs, cur = [], []
    for s in sents:
        ids = enc(s)[:max_pieces]
        if not ids:
            continue
        if single:
            segs.append(ids)
            continue
        if cur and len(cur) + len(ids) > max_pieces:
            segs.append(cur)
            cur = []
        cur = cur + ids
    if cur:
        segs.append(cur)
    return segs


def mask_batch(segs, tok, vocab_size, rate, gen):
    """ids, attention mask, flat positions of the chosen pieces and their targets."""
    t = max(len(s) for s in segs) + 2
    ids = torch.full((len(segs), t), tok.pad_id, dtype=torch.long)
    att = torch.zeros((len(segs), t), dtype=torch.long)
    for r, s in enumerate(segs):
        ids[r, :len(s) + 2] = torch.tensor([tok.cls_id] + s + [tok.sep_id])
        att[r, :len(s) + 2] = 1
    real = att.bool()
    real[:, 0] = False
    real[torch.arange(len(segs)), torch.tensor([len(s) + 1 for s in segs])] = False
    chosen = (torch.rand(ids.shape, generator=gen) < rate) & real
    # at least one piece per segment, so every row carries a loss
    for r, s in enumerate(segs):
        if not chosen[r].any():
            chosen[r, 1 + int(torch.randint(len(s), (1,), generator=gen))] = True
    target = ids[chosen]
    u = torch.rand(target.shape, generator=gen)
    new = target.clone()
    new[u < 0.8] = tok.ids["[MASK]"]
    rnd = (u >= 0.8) & (u < 0.9)
    new[rnd] = torch.randint(5, vocab_size, (int(rnd.sum()),), generator=gen)
    ids[chosen] = new
    positions = chosen.reshape(-1).nonzero().squeeze(1)
    return ids, att, positions, target


def batches_of(segs, batch_size, rng):
    """Shuffled batches of segments of similar length."""
    idx = list(range(len(segs)))
    rng.shuffle(idx)
    pool = batch_size * 50
    out = []
    for p in range(0, len(idx), pool):
        chunk = sorted(idx[p:p + pool], key=lambda i: len(segs[i]))
        out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


class Stream:
    """Bundle mode: batches of windows at random offsets of one token stream, masked by
    single pieces (as mask_batch) or by whole words (a piece is chosen with its word; a word
    starts at every piece that does not begin with "##"). Specials ([PAD] [UNK] [CLS] [SEP]
    [MASK], ids 0-4, e.g. the [SEP] between documents) are never chosen; every window has at
    least one chosen piece."""

    def __init__(self, tokens, vocab, length, whole_word):
        self.tokens = torch.from_numpy(tokens.astype("int64"))
        self.length = min(length, len(tokens))
        self.cont = torch.tensor([p.startswith("##") for p in vocab])
        self.whole_word = whole_word

    def __len__(self):
        return len(self.tokens)

    def batch(self, n, tok, vocab_size, rate, gen):
        t = self.length + 2
        off = torch.randint(0, len(self.tokens) - self.length + 1, (n,), generator=gen)
        ids = torch.empty((n, t), dtype=torch.long)
        ids[:, 0], ids[:, -1] = tok.cls_id, tok.sep_id
        ids[:, 1:-1] = self.tokens[off[:, None] + torch.arange(self.length)]
        real = ids >= 5
        real[:, 0] = real[:, -1] = False
        r = torch.rand(ids.shape, generator=gen)
        u = torch.rand(ids.shape, generator=gen)
        first = torch.arange(t).expand(n, t)  # the position of each piece's word start
        if self.whole_word:
            first = torch.cummax(torch.where(self.cont[ids], torch.zeros_like(first), first), 1).values
            r, u = r.gather(1, first), u.gather(1, first)
        chosen = (r < rate) & real
        none = ~chosen.any(1) & real.any(1)
        if none.any():  # the first word with a real piece
            rows = none.nonzero().squeeze(1)
            w = first[rows, real[rows].float().argmax(1)]
            chosen[rows] = real[rows] & (first[rows] == w[:, None])
        target = ids[chosen]
        uu = u[chosen]
        new = target.clone()
        new[uu < 0.8] = tok.ids["[MASK]"]
        rnd = (uu >= 0.8) & (uu < 0.9)
        new[rnd] = torch.randint(5, vocab_size, (int(rnd.sum()),), generator=gen)
        ids[chosen] = new
        return ids, torch.ones_like(ids), chosen.reshape(-1).nonzero().squeeze(1), target


@torch.no_grad()
def evaluate(model, held, tok, vocab_size, rate, batch_size=128, device=None):
    """Masked-token accuracy (%) and mean loss on held-out segments, fixed masks."""
    model.eval()
    gen = torch.Generator().manual_seed(12345)
    right = total = 0
    loss = 0.0
    device = device or torch.device("cpu")
    for i in range(0, len(held), batch_size):
        ids, att, pos, tgt = (x.to(device) for x in mask_batch(held[i:i + batch_size], tok, vocab_size, rate, gen))
        with autocast(device):
            logits = model(ids, att, pos)
        logits = logits.float()
        loss += F.cross_entropy(logits, tgt, reduction="sum").item()
        right += (logits.argmax(-1) == tgt).sum().item()
        total += len(tgt)
    model.train()
    return {"masked_acc": 100.0 * right / max(1, total), "loss": loss / max(1, total), "masked": total}


def text_heldout(args, vocab):
    """The default mode's held-out segments (packed from the held-out 5% of the text files,
    shuffled with seed 7, the first --heldout-segments), tokenized with `vocab`: with the
    vocabulary the default mode prunes to, the same segments as its own held-out set."""
    enc = CachedEncoder(WordPiece(vocab))
    held = []
    for sents in corpus_texts(args.data, "heldout", args.limit).values():
        held += pack(sents, enc, 64 - 2)
    random.Random(7).shuffle(held)
    return held[:args.heldout_segments]


def build(args):
    """Vocabulary, tokenizer and train/held-out segments (cached in --work); with --bundle,
    the bundle's vocabulary, token stream (a numpy array) and held-out segments."""
    if args.bundle:
        from train.gpu import bundle
        return bundle.load_corpus(args.bundle, args.extra_qa, args.heldout_segments)
    cache = os.path.join(args.work, "corpus.pt")
    if os.path.exists(cache) and not args.fresh:
        c = torch.load(cache, weights_only=False)
        if (c["max_length"], c["vocab_size_limit"], len(c["heldout"]), c.get("limit", 0)) == (
                args.max_length, args.vocab_size, args.heldout_segments, args.limit):
            return c
    t0 = time.time()
    train_texts = corpus_texts(args.data, "train", args.limit)
    held_texts = corpus_texts(args.data, "heldout", args.limit)
    full = WordPiece(os.path.join(args.data, "vocab", "bert-base-uncased-vocab.txt"))
    vocab, min_count = prune_by_counts(full, word_counts(train_texts), max_size=args.vocab_size)
    tok = WordPiece(vocab)
    enc = CachedEncoder(tok)
    train = []
    for name, sents in train_texts.items():
        train += pack(sents, enc, args.max_length - 2, single=name in ("snips", "conll"))
    held = []
    for name, sents in held_texts.items():
        held += pack(sents, enc, args.max_length - 2)
    random.Random(7).shuffle(held)
    held = held[:args.heldout_segments]
    c = {"vocab": vocab, "min_count": min_count, "train": train, "heldout": held,
         "sources": {k: len(v) for k, v in train_texts.items()}, "max_length": args.max_length,
         "vocab_size_limit": args.vocab_size, "limit": args.limit, "seconds": time.time() - t0}
    os.makedirs(args.work, exist_ok=True)
    save_atomic(c, cache)
    return c



def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device, args.cpu_bf16)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "checkpoint.pt")
    encoder_path = args.encoder_out or os.path.join(args.work, "encoder.pt")
    corpus = build(args)
    vocab, train, held = corpus["vocab"], corpus["train"], corpus["heldout"]
    tok = WordPiece(vocab)
    stream = Stream(train, vocab, args.max_length - 2, args.masking == "word") if args.bundle else None
    # extra held-out sets, scored next to `held` (whose figures stay the history's top-level ones)
    extra_held = {"text": text_heldout(args, vocab)} if args.bundle and args.text_heldout else {}
    n_pieces = len(train) if stream is not None else sum(len(s) for s in train)
    n_segments = n_pieces // stream.length if stream is not None else len(train)
    if stream is not None:
        log(args.work, "vocab %d pieces (%s), stream of %d pieces (%d windows of %d; pieces by source %s), "
            "%d held-out segments, %s masking" % (len(vocab), args.bundle, n_pieces, n_segments, stream.length,
                                                 corpus["sources"], len(held), args.masking))
        for name, h in extra_held.items():
            log(args.work, "held-out set %r: %d segments, %d pieces" % (name, len(h), sum(len(x) for x in h)))
    else:
        log(args.work, "vocab %d pieces (kept pieces seen >= %d times), %d train segments (%d pieces; sentences %s), "
            "%d held-out segments" % (len(vocab), corpus["min_count"], len(train), n_pieces, corpus["sources"],
                                      len(held)))
    log(args.work, device_note(device))

    state = None
    if os.path.exists(ckpt_path) and not args.fresh:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    elif args.resume_from and not args.fresh:
        src = os.path.join(args.resume_from, "checkpoint.pt")
        if not os.path.exists(src):
            raise SystemExit("--resume-from %s: no checkpoint.pt there" % args.resume_from)
        state = torch.load(src, map_location="cpu", weights_only=False)
        log(args.work, "continuing the run of %s (its step %d) here" % (args.resume_from, state["step"]))
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.ffn,
                     max_position_embeddings=args.max_positions, hidden_dropout_prob=args.dropout,
                     attention_probs_dropout_prob=args.dropout, pad_token_id=tok.pad_id)
    start = None
    if state is not None:
        cfg = BertConfig(**state["bert_config"])
    elif args.init_encoder:
        start = load_pretrained(args.init_encoder)
        if list(start[0]) != list(vocab):
            raise SystemExit("--init-encoder %s: its vocabulary (%d pieces) is not the corpus's (%d)"
                             % (args.init_encoder, len(start[0]), len(vocab)))
        cfg = BertConfig(**dict(start[1].__dict__, hidden_dropout_prob=args.dropout,
                                attention_probs_dropout_prob=args.dropout))
    torch.manual_seed(args.seed)
    model = MaskedLM(cfg).to(device)
    if state is None and start is not None:
        init_encoder(model.bert, start[2])
        log(args.work, "encoder initialised from %s (%s)" % (
            args.init_encoder, start[3].get("description") or pretrain_summary(start[3]) if start[3] else "no notes"))
    elif state is None:
        piece_vectors.init_from_args(args, model.bert, vocab)
    opt = adamw(model, args.lr, args.weight_decay)
    rng, gen = random.Random(args.seed), torch.Generator().manual_seed(args.seed)
    step, epoch, pending, t_train, history = 0, 0, [], 0.0, []
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        step, epoch, pending = state["step"], state["epoch"], state["pending"]
        t_train, history = state["train_seconds"], state["history"]
        log(args.work, "resuming at step %d of %d (%.0f s trained)" % (step, args.steps, t_train))
    n_params = sum(p.numel() for p in model.bert.parameters())
    log(args.work, "encoder %d parameters, %d layers x %d hidden, %d steps of %d segments, %d thread(s)" % (
        n_params, cfg.num_hidden_layers, cfg.hidden_size, args.steps, args.batch_size, args.threads))
    warmup = int(args.warmup * args.steps)
    budget = args.schedule_minutes * 60.0

    def progress():
        """Fraction of the schedule done: by steps, or (time-boxed) by steps or time, the larger."""
        p = step / args.steps
        return max(p, t_train / budget) if budget else p

    def score():
        """The held-out figures: the main set's at the top level, the extra sets' under their names."""
        m = evaluate(model, held, tok, len(vocab), args.mask_rate, device=device)
        for name, h in extra_held.items():
            m[name] = evaluate(model, h, tok, len(vocab), args.mask_rate, device=device)
        return m

    def score_text(m):
        return "held-out masked-token accuracy %.2f%%, loss %.4f%s" % (m["masked_acc"], m["loss"], "".join(
            "; %s held-out %.2f%%, loss %.4f (%d masked)" % (name, m[name]["masked_acc"], m[name]["loss"],
                                                             m[name]["masked"]) for name in extra_held))

    def write_encoder(result):
        enc_state = {k[len("bert."):]: v.detach().cpu() for k, v in model.state_dict().items()
                     if k.startswith("bert.")}
        if args.encoder_dtype == "f16":
            enc_state = {k: v.half() if v.is_floating_point() else v for k, v in enc_state.items()}
        save_atomic({"vocab": vocab, "bert_config": cfg.__dict__, "encoder": enc_state, "result": result},
                    encoder_path)

    def summary(m, partial):
        """The encoder's result (stored in encoder.pt, read by the fine-tuning recipes' model cards)."""
        return {"step": step, "steps": args.steps, "train_seconds": round(t_train), "threads": args.threads,
                "heldout": m, "history": history, "parameters": n_params, "vocab_size": len(vocab),
                "min_piece_count": corpus["min_count"], "train_segments": n_segments, "train_pieces": n_pieces,
                "sources": corpus["sources"], "args": vars(args), "device": device_note(device),
                "partial": partial}

    def checkpoint():
        save_atomic({"step": step, "epoch": epoch, "pending": pending, "model": model.state_dict(),
                     "optimizer": opt.state_dict(), "rng": rng.getstate(), "gen": gen.get_state(),
                     "torch_rng": torch.get_rng_state(), "bert_config": cfg.__dict__, "vocab": vocab,
                     "train_seconds": t_train, "history": history, "args": vars(args)}, ckpt_path)
        # the encoder so far, for --init while a long run goes on (the end of the run rewrites it)
        # (its held-out figures: the last scoring's, with its step)
        write_encoder(summary(history[-1] if history else None, True))

    model.train()
    t_start = t_ckpt = time.time()
    t_run, loss_sum, loss_n = 0.0, 0.0, 0
    while progress() < 1.0 and t_run < args.minutes * 60:
        t0 = time.time()
        if stream is not None:
            epoch = 1 + step * args.batch_size * stream.length // len(stream)
            batch = stream.batch(args.batch_size, tok, len(vocab), args.mask_rate, gen)
        else:
            if not pending:
                epoch += 1
                pending = batches_of(train, args.batch_size, rng)
            bidx = pending.pop()
            t0 = time.time()
            batch = mask_batch([train[i] for i in bidx], tok, len(vocab), args.mask_rate, gen)
        ids, att, pos, tgt = (x.to(device, non_blocking=True) for x in batch)
        for g in opt.param_groups:
            g["lr"] = lr_at_time(progress(), 1.0, args.warmup, args.lr) if budget else \
                lr_at(step, args.steps, warmup, args.lr)
        with autocast(device):
            logits = model(ids, att, pos)
        loss = F.cross_entropy(logits.float(), tgt)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        dt = time.time() - t0
        t_train += dt
        t_run = time.time() - t_start
        if step % 100 == 0 or step == args.steps:
            log(args.work, "step %d  epoch %d  lr %.2e  loss %.4f  %.2f s/step" % (
                step, epoch, opt.param_groups[0]["lr"], loss_sum / loss_n, t_train / max(1, step)))
            loss_sum, loss_n = 0.0, 0
        if step % args.eval_every == 0 or step == args.steps:
            m = score()
            history.append({"step": step, "train_seconds": round(t_train), **m})
            log(args.work, "step %d  %s" % (step, score_text(m)))
        if time.time() - t_ckpt > args.checkpoint_minutes * 60:
            checkpoint()
            t_ckpt = time.time()
    checkpoint()
    m = score()
    log(args.work, "after %d of %d steps (%.0f s of training): %s" % (step, args.steps, t_train, score_text(m)))
    # partial: this invocation ended (--minutes) before the schedule did
    result = dict(summary(dict(m, step=step), step < args.steps), pieces_per_second=round(
        step * args.batch_size * (args.max_length if stream is not None else n_pieces / max(1, n_segments)) /
        max(1e-9, t_train)))
    with open(os.path.join(args.work, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    # The encoder the fine-tuning recipes start from (--init).
    write_encoder(result)
    log(args.work, "wrote %s" % encoder_path)
    return result


if __name__ == "__main__":
    main()
