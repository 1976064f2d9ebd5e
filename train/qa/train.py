#!/usr/bin/python3
"""Extractive question answering (SQuAD 2.0 style) -> models/qa-squad/.

    /usr/bin/python3 -m train.qa.train --init models/nlu-intent-slot-snips --minutes 100 --threads 1
    /usr/bin/python3 -m train.qa.train --limit 300 --minutes 1 --work /tmp/qa-smoke --fresh --no-export

Data (<data> = ../shared/data/qa, README there):
  training  the SQuAD 1.1 training set (87,599 questions) and the training part of the
            SQuAD 2.0 dev half (8 of its 16 articles, 2,828 questions of which 1,529 are
            unanswerable; repeated --v2-repeat times per epoch: the only unanswerable ones written
            as such)
  made      with --negatives S: a share S of the SQuAD 1.1 questions asked again of another
            paragraph of their article that shares their words but not their answer
            (squad.unanswerable_pairs); with --swapped S: a share S asked of their own
            paragraph with one name swapped for another of the article's (squad.swapped_names);
            both unanswerable
  dev       the other 8 articles of the SQuAD 2.0 dev half (3,250 questions, 1,639
            unanswerable): model selection and the no-answer threshold (train/qa/squad.py
            says how the split is made)
  not used  SQuADShifts new-Wikipedia and COVID-QA: evaluation only (python3 -m train.qa.evaluate)

Inputs are the C service's windows (train/qa/windows.py, `pl_wordpiece_windows`):
[CLS] question [SEP] chunk [SEP], --max-length tokens, the question cut to --max-question
tokens, chunks --doc-stride tokens apart. Every window of a training question is a training
example; its targets are the first and last token of the answer when the window holds the
whole answer, else [CLS] (position 0) for both, as for an unanswerable question. Loss: the
mean of the start and end cross-entropies (padding masked).

Start: --init DIR (a Parley model directory: its `bert.*` tensors without the pooler, its
vocabulary and architecture; position embeddings beyond the encoder's are initialised by
repeating its rows) or --init encoder.pt (python3 -m train.nlu.pretrain) or --init best.pt (a
reader of this recipe, head included, to train further on a new schedule), or from scratch
(--vocab as given, or BERT's uncased vocabulary pruned to the training text's pieces).

Schedule: --minutes of training time in all (resumed runs included), linear warm-up over
--warmup of it, then linear decay to 0. A checkpoint every --checkpoint-minutes (and when
--session-minutes ends this invocation); the dev set is scored every --eval-minutes and the
best state (select_score: answerable F1 at the shipped threshold + answerable F1 of the best
spans) is kept in <work>/best.pt with its threshold: the largest that refuses at least --refuse
of the unanswerable dev questions (0: the one that maximizes the overall dev F1). At the end the
best state is exported (train/qa/export.py) unless --no-export. --epochs E also bounds the run by
steps: the schedule then follows the training time or the share of E epochs' steps, whichever
is further along, and ends at either (for fast hardware, where --minutes would be many epochs).

Device: --device auto|cpu|cuda (auto: CUDA when available); bf16 autocast on CUDA, f32 on the
CPU (the same numbers as before) unless --cpu-bf16 asks for bf16 autocast there too (about 3x faster
per step on a CPU with AVX-512 BF16). Checkpoints hold CPU tensors either way.

From a GPU bundle (--bundle DIR, python3 -m train.gpu.pack): the training features are the
bundle's compact ones (qa/squad11.npz.xz, qa/v2train.npz.xz; no SQuAD json needed) and the dev set
comes from its qa/squad-v2-dev-half.json.xz; --init must carry the bundle's vocabulary.
"""
import argparse
import hashlib
import json
import os
import random
import time

import torch
import torch.nn.functional as F

from train.common.bert import BertConfig, load_model_dir, load_pretrained
from train.common.loop import (add_cpu_bf16_arg, adamw, autocast, batches, device_note, log, pick_device,
                               save_atomic)
from train.common.paths import data_dir, models_dir, work_dir
from train.common.wordpiece import WordPiece, load_vocab, prune_vocab
from train.nlu.finetune import lr_at_time
from train.qa import squad
from train.qa.evaluate import predict
from train.qa.features import Features
from train.qa.model import QuestionAnswering
from train.qa.windows import OffsetTokenizer, match_tables

BERT_VOCAB = os.path.join("vocab", "bert-base-uncased-vocab.txt")
SQUAD11 = "squad-v1.1-train.json.xz"
SQUAD2_HALF = "squad-v2-dev-half.json"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(data_dir(), "qa"), help="the SQuAD-format files")
    ap.add_argument("--vocab", default="",
                    help="from scratch: this vocab.txt as it is (default: BERT's uncased vocabulary pruned "
                         "to the pieces of the training text seen --min-piece-count times)")
    ap.add_argument("--work", default=work_dir("qa"), help="checkpoints and logs")
    ap.add_argument("--cache", default=work_dir("qa-features"), help="tokenized data, shared by runs")
    ap.add_argument("--out", default=models_dir("qa-squad"))
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=100.0, help="training time in all (the schedule)")
    ap.add_argument("--session-minutes", type=float, default=0.0,
                    help="stop this invocation after this much training (0: run to the end); run again to resume")
    ap.add_argument("--checkpoint-minutes", type=float, default=3.0)
    ap.add_argument("--eval-minutes", type=float, default=15.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of --minutes of linear warm-up")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--min-piece-count", type=int, default=5)
    ap.add_argument("--max-length", type=int, default=256, help="tokens per window incl. [CLS]/[SEP]")
    ap.add_argument("--doc-stride", type=int, default=128)
    ap.add_argument("--max-question", type=int, default=64, help="question tokens kept")
    ap.add_argument("--max-answer-tokens", type=int, default=30)
    ap.add_argument("--v2-repeat", type=int, default=2, help="SQuAD 2.0 training part copies per epoch")
    ap.add_argument("--negatives", type=float, default=0.0,
                    help="this share of the SQuAD 1.1 questions is also asked, unanswerable, of another "
                         "paragraph of its article (squad.unanswerable_pairs)")
    ap.add_argument("--swapped", type=float, default=0.0,
                    help="this share of the SQuAD 1.1 questions is also asked, unanswerable, with one of its "
                         "names swapped for another of the article's (squad.swapped_names)")
    ap.add_argument("--refuse", type=float, default=0.70,
                    help="the no-answer threshold refuses at least this share of the unanswerable dev "
                         "questions (0: the one that maximizes dev F1)")
    ap.add_argument("--question-match", action="store_true",
                    help="context words that are also words of the question get token type 2 (type_vocab_size "
                         "3, its row started from type 1's): the exact-match feature (train/qa/windows.py "
                         "question_match; config.json tokenizer.token_type_ids = question_match)")
    ap.add_argument("--limit", type=int, default=0,
                    help="smoke runs: the first N SQuAD 1.1 questions, N/4 of the SQuAD 2.0 part, N dev")
    ap.add_argument("--dev-limit", type=int, default=0, help="periodic dev scoring on the first N (0: all)")
    ap.add_argument("--export-dtype", choices=["F32", "F16"], default="F16")
    ap.add_argument("--init", default="", help="a model directory or an encoder.pt to start from")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="auto: CUDA when available (bf16 autocast there), else the CPU (f32)")
    add_cpu_bf16_arg(ap)
    ap.add_argument("--bundle", default="", help="training features and dev set from a GPU bundle")
    ap.add_argument("--epochs", type=float, default=0.0,
                    help="also end after this many epochs (the schedule follows the further of time and steps)")
    args = ap.parse_args(argv)
    if args.bundle and not args.init:
        ap.error("--bundle needs --init (the bundle's features are in its vocabulary)")
    if not all(0.0 <= x <= 1.0 for x in (args.negatives, args.swapped, args.refuse)):
        ap.error("--negatives, --swapped and --refuse are shares between 0 and 1")
    return args


# ---- data -------------------------------------------------------------------------------------

def read_data(args):
    """(training questions, dev questions); with --bundle only the dev questions (None, None, dev)."""
    if args.bundle:
        _, v2_dev = squad.split_by_article(squad.read_squad(os.path.join(args.bundle, "qa", SQUAD2_HALF + ".xz")))
        return None, None, v2_dev[:args.limit] if args.limit else v2_dev
    s11 = squad.read_squad(os.path.join(args.data, SQUAD11))
    v2_train, v2_dev = squad.split_by_article(squad.read_squad(os.path.join(args.data, SQUAD2_HALF)))
    if args.limit:
        s11, v2_train, v2_dev = s11[:args.limit], v2_train[:max(1, args.limit // 4)], v2_dev[:args.limit]
    return s11, v2_train, v2_dev


def vocab_key(vocab):
    return hashlib.sha1("\n".join(vocab).encode("utf-8")).hexdigest()[:12]


def encode_cached(args, name, questions, tok, vocab, with_targets):
    """Features of `questions`, cached in <cache>/<name>-<key>.pt."""
    key = "%s-%d-%d-%d-%d-%d" % (vocab_key(vocab), args.max_length, args.doc_stride, args.max_question,
                                 len(questions), int(with_targets))
    os.makedirs(args.cache, exist_ok=True)
    path = os.path.join(args.cache, "%s-%s.pt" % (name, key))
    if os.path.exists(path):
        blob = torch.load(path, map_location="cpu", weights_only=False)
        f = Features([], tok, args.max_length, args.doc_stride, args.max_question)
        f.questions = questions
        f.contexts, f.items, f.unlocated = blob["contexts"], blob["items"], blob["unlocated"]
        return f
    t0 = time.time()
    f = Features(questions, tok, args.max_length, args.doc_stride, args.max_question, with_targets)
    save_atomic({"contexts": f.contexts, "items": f.items, "unlocated": f.unlocated}, path)
    log(args.work, "encoded %s: %d questions, %d contexts in %.0f s" % (name, len(questions), len(f.contexts),
                                                                         time.time() - t0))
    return f


def training_examples(feats_list, repeats):
    """[(features index, question index, window)] and their lengths."""
    ex, lengths = [], []
    for fi, (f, rep) in enumerate(zip(feats_list, repeats)):
        for qi, e in enumerate(f.items):
            if e is None:
                continue
            win = f.windows(qi)
            for w, (_, n) in enumerate(win.spans):
                for _ in range(rep):
                    ex.append((fi, qi, w))
                    lengths.append(win.k0 + n + 1)
    return ex, lengths


def make_batch(feats_list, ex, bidx, pad_id):
    rows, tgt = [], []
    for k in bidx:
        fi, qi, w = ex[k]
        f = feats_list[fi]
        e = f.items[qi]
        win = f.windows(qi)
        rows.append(win.input(w, f.contexts[e.ctx][1], f.tok.wp.cls_id, f.tok.wp.sep_id, f.question_match(qi, win)))
        tgt.append(win.targets(w, e.tok_start, e.tok_end))
    t = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), t), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), t), dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for r, (a, ty) in enumerate(rows):
        ids[r, :len(a)] = torch.from_numpy(a)
        types[r, :len(a)] = torch.from_numpy(ty)
        mask[r, :len(a)] = 1
    return ids, mask, types, torch.tensor(tgt, dtype=torch.long)


def qa_loss(model, batch, device=None):
    ids, mask, types, tgt = batch
    if device is not None and device.type != "cpu":
        ids, mask, types, tgt = (x.to(device, non_blocking=True) for x in batch)
    with autocast(device or torch.device("cpu")):
        s, e = model(ids, mask, types)
    s, e = s.float(), e.float()
    neg = (1 - mask) * -10000.0
    return (F.cross_entropy(s + neg, tgt[:, 0]) + F.cross_entropy(e + neg, tgt[:, 1])) / 2


# ---- the start: vocabulary, configuration, initial weights --------------------------------------

def load_init(path):
    """(vocab, BertConfig, state, description) of --init: a model directory or an encoder.pt
    give the encoder (keys without the "bert." prefix, no pooler); a reader's state (this
    recipe's best.pt or checkpoint.pt) gives the whole reader (keys "bert.*" and "qa_outputs.*")."""
    if os.path.isdir(path):
        return load_model_dir(path) + ("the encoder of %s" % path,)
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if "model" in blob and "bert_config" in blob:
        return blob["vocab"], BertConfig(**blob["bert_config"]), blob["model"], "the reader %s" % path
    vocab, cfg, state, _ = load_pretrained(path)
    return vocab, cfg, {k: v for k, v in state.items() if not k.startswith("pooler.")}, "the encoder %s" % path


def reader_state(state):
    """True when `state` holds a whole reader (load_init of a best.pt)."""
    return any(k.startswith("qa_outputs.") for k in state)


def extend_positions(state, n, prefix=""):
    """Position embeddings grown to n rows by repeating the existing ones."""
    key = prefix + "embeddings.position_embeddings.weight"
    pe = state[key]
    if pe.shape[0] < n:
        reps = (n + pe.shape[0] - 1) // pe.shape[0]
        state = dict(state, **{key: pe.repeat(reps, 1)[:n].clone()})
    return state


def extend_types(state, n, prefix=""):
    """Token-type embeddings grown to n rows, the new ones copies of the last (the context's)."""
    key = prefix + "embeddings.token_type_embeddings.weight"
    te = state[key]
    if te.shape[0] < n:
        extra = te[-1:].repeat(n - te.shape[0], 1)
        state = dict(state, **{key: torch.cat([te, extra]).clone()})
    return state


def start(args, s11):
    """(vocab, BertConfig, encoder state or None, description) of a new run."""
    drop = {"hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout}
    types = {"type_vocab_size": 3} if args.question_match else {}
    if args.init:
        vocab, cfg, state, what = load_init(args.init)
        pos = max(cfg.max_position_embeddings, args.max_length)
        if types:  # an encoder with more token types keeps them
            types["type_vocab_size"] = max(3, cfg.type_vocab_size)
        cfg = BertConfig(**dict(cfg.__dict__, max_position_embeddings=pos, **drop, **types))
        prefix = "bert." if reader_state(state) else ""
        return vocab, cfg, extend_types(extend_positions(state, pos, prefix), cfg.type_vocab_size, prefix), what
    if args.vocab:
        vocab = load_vocab(args.vocab)
    else:
        full = WordPiece(os.path.join(os.path.dirname(args.data.rstrip("/")), BERT_VOCAB))
        texts = {q.context for q in s11} | {q.question for q in s11}
        vocab = prune_vocab(full, sorted(texts), args.min_piece_count)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.ffn,
                     max_position_embeddings=args.max_length, pad_token_id=WordPiece(vocab).pad_id, **drop, **types)
    return vocab, cfg, None, "scratch"


# ---- the loop ---------------------------------------------------------------------------------

def dev_score(model, dev, args, limit=0):
    f = dev
    if limit and limit < len(dev.questions):
        f = Features.__new__(Features)
        f.__dict__.update(dev.__dict__)
        f.questions, f.items = dev.questions[:limit], dev.items[:limit]
    preds, diffs = predict(model, f, args.max_answer_tokens)
    m = squad.evaluate_predictions(f.questions, preds, diffs)
    m["noans_auc"] = squad.noans_auc(f.questions, diffs)
    if args.refuse:
        m.update(squad.refusal_figures(f.questions, preds, diffs, args.refuse))
    return m


def shipped_threshold(m):
    """The no-answer threshold the model is exported with: --refuse's when it was measured."""
    return m.get("refuse_threshold", m["threshold"])


def select_score(m):
    """What the best state maximizes: the answerable dev F1 at the shipped threshold (--refuse;
    without it the overall F1 at the tuned one) plus the answerable F1 with every question given
    its best span (what a caller that ignores "no answer" gets; it also keeps a weak early reader,
    still at the always-"no answer" figure, from being chosen over a later one with better spans)."""
    return m.get("refuse_answerable_f1", m["all_f1"]) + m["span_answerable_f1"]


def fmt(m):
    line = ("all F1 %.2f EM %.2f | answerable F1 %.2f EM %.2f | no-answer acc %.2f | threshold %.3f | "
            "span-only answerable F1 %.2f" % (m["all_f1"], m["all_em"], m["answerable_f1"], m["answerable_em"],
                                              m["noans_acc"], m["threshold"], m["span_answerable_f1"]))
    if m.get("noans_auc") is not None:
        line += " | no-answer AUC %.3f" % m["noans_auc"]
    if "refuse_threshold" in m:
        line += " | refusing %.2f%%: answerable F1 %.2f, all F1 %.2f (threshold %.3f)" % (
            m["refuse_noans_acc"], m["refuse_answerable_f1"], m["refuse_all_f1"], m["refuse_threshold"])
    return line


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device, args.cpu_bf16)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path, best_path = os.path.join(args.work, "checkpoint.pt"), os.path.join(args.work, "best.pt")
    s11, v2_train, v2_dev = read_data(args)
    state = None
    if os.path.exists(ckpt_path) and not args.fresh:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    if state is not None:
        vocab, cfg, init_state, what = state["vocab"], BertConfig(**state["bert_config"]), None, state["init"]
        log(args.work, "resuming from %s after %.0f s of training (step %d)" % (
            ckpt_path, state["train_seconds"], state["step"]))
    else:
        vocab, cfg, init_state, what = start(args, s11)
        if os.path.exists(best_path):
            os.remove(best_path)
    tok = OffsetTokenizer(vocab)
    if args.bundle:
        from train.gpu import bundle
        f11, f2t = (bundle.load_features(os.path.join(args.bundle, "qa", n + ".npz.xz"), tok, vocab,
                                         args.max_length, args.doc_stride, args.max_question)
                    for n in ("squad11", "v2train"))
        s11, v2_train = f11.questions, f2t.questions
    else:
        f11 = encode_cached(args, "squad11", s11, tok, vocab, True)
        f2t = encode_cached(args, "v2train", v2_train, tok, vocab, True)
    dev = encode_cached(args, "v2dev", v2_dev, tok, vocab, False)
    feats, repeats = [f11, f2t], [1, args.v2_repeat]
    made = 0  # questions made unanswerable
    run_args = state["args"] if state is not None else vars(args)
    for key, name, make, load in (("negatives", "other", squad.unanswerable_pairs, "load_other"),
                                  ("swapped", "swapped", squad.swapped_names, "load_swapped")):
        share = run_args.get(key, 0.0)
        if not share:
            continue
        if args.bundle:
            path = os.path.join(args.bundle, "qa", name + ".npz.xz")
            if not os.path.exists(path):
                raise SystemExit("%s is missing (a bundle packed before --%s): pack again" % (path, key))
            feats.append(getattr(bundle, load)(path, f11, share, args.seed))
        else:
            feats.append(encode_cached(args, "%s-%g-%d" % (name, share, args.seed), make(s11, share, args.seed),
                                       tok, vocab, True))
        repeats.append(1)
        made += len(feats[-1].items)
    if (state["args"] if state is not None else vars(args)).get("question_match"):
        for f in feats + [dev]:
            f.match = match_tables(vocab)
    ex, lengths = training_examples(feats, repeats)

    torch.manual_seed(args.seed)
    model = QuestionAnswering(cfg)
    if init_state is not None and reader_state(init_state):
        model.load_state_dict(init_state, strict=True)
    elif init_state is not None:
        model.bert.load_state_dict(init_state, strict=True)
    model.to(device)
    opt = adamw(model, args.lr, args.weight_decay)
    rng = random.Random(args.seed)
    step, epoch, pending, t_train, history, best = 0, 0, [], 0.0, [], None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        step, epoch, pending = state["step"], state["epoch"], state["pending"]
        t_train, history, best = state["train_seconds"], state["history"], state["best"]
    n_params = sum(p.numel() for p in model.parameters())
    log(args.work, "start: %s; vocab %d pieces, %d layers x %d, %d positions, %d parameters; train %d + %d x %d "
        "questions + %d made unanswerable (%d unlocated answers dropped), %d windows/epoch; dev %d questions; %d thread(s)" % (
            what, len(vocab), cfg.num_hidden_layers, cfg.hidden_size, cfg.max_position_embeddings, n_params,
            len(s11), len(v2_train), args.v2_repeat, made, f11.unlocated + f2t.unlocated, len(ex), len(v2_dev),
            args.threads))
    log(args.work, device_note(device))
    total, warmup = args.minutes * 60.0, args.warmup * args.minutes * 60.0
    last_eval = history[-1]["train_seconds"] if history else 0.0
    pool = args.batch_size * 50  # batches(): pools of 50 batches, each cut into batches
    per_epoch = sum(-(-min(pool, len(ex) - p) // args.batch_size) for p in range(0, len(ex), pool))
    steps_total = args.epochs * per_epoch

    def sched_t():
        """Where the schedule is, in training seconds: t_train, or with --epochs the step
        share of --minutes when that is further along."""
        return max(t_train, step / steps_total * total) if steps_total else t_train

    def cpu_state():
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}

    def checkpoint():
        save_atomic({"model": cpu_state(), "optimizer": opt.state_dict(), "rng": rng.getstate(),
                     "torch_rng": torch.get_rng_state(), "step": step, "epoch": epoch, "pending": pending,
                     "train_seconds": t_train, "history": history, "best": best, "vocab": vocab,
                     "bert_config": cfg.__dict__, "init": what, "args": vars(args)}, ckpt_path)

    def evaluate_now():
        nonlocal best, last_eval
        t0 = time.time()
        m = dev_score(model, dev, args, args.dev_limit)
        model.train()
        improved = best is None or select_score(m) > select_score(best["dev"])
        history.append({"step": step, "epoch": epoch, "train_seconds": round(t_train), "dev": m})
        if improved:
            best = {"step": step, "train_seconds": round(t_train), "dev": m}
            save_atomic({"model": cpu_state(), "vocab": vocab, "bert_config": cfg.__dict__,
                         "threshold": shipped_threshold(m), "step": step, "train_seconds": t_train, "dev": m,
                         "init": what, "args": vars(args)}, best_path)
        log(args.work, "eval step %d  %.1f min  dev %s  (%.0f s)%s" % (
            step, t_train / 60, fmt(m), time.time() - t0, "  *" if improved else ""))
        last_eval = t_train

    model.train()
    t_session = 0.0
    last_ckpt = last_log = time.time()
    loss_sum, loss_n = 0.0, 0
    while sched_t() < total and not (args.session_minutes and t_session >= args.session_minutes * 60):
        if not pending:
            epoch += 1
            pending = batches(len(ex), lengths, args.batch_size, rng)
        bidx = pending.pop()
        t0 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at_time(sched_t(), total, warmup, args.lr)
        loss = qa_loss(model, make_batch(feats, ex, bidx, tok.wp.pad_id), device)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        dt = time.time() - t0
        t_train += dt
        t_session += dt
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        now = time.time()
        if now - last_log >= 60:
            log(args.work, "step %d  epoch %d (%d batches left)  %.1f min  lr %.2e  loss %.4f" % (
                step, epoch, len(pending), t_train / 60, opt.param_groups[0]["lr"], loss_sum / loss_n))
            loss_sum, loss_n, last_log = 0.0, 0, now
        if t_train - last_eval >= args.eval_minutes * 60 and sched_t() < total:
            evaluate_now()
        if now - last_ckpt >= args.checkpoint_minutes * 60:
            checkpoint()
            last_ckpt = time.time()
    if sched_t() < total:
        checkpoint()
        log(args.work, "session ends after %.1f min; %.1f of %.1f min trained (run again to resume)" % (
            t_session / 60, t_train / 60, args.minutes))
        return None
    if not history or history[-1]["step"] != step:
        evaluate_now()
    checkpoint()
    b = torch.load(best_path, map_location="cpu", weights_only=False)
    model.load_state_dict(b["model"])
    log(args.work, "best: step %d (%.1f min) of %d, %.0f s of training on %d thread(s); dev %s" % (
        b["step"], b["train_seconds"] / 60, step, t_train, args.threads, fmt(b["dev"])))
    result = {"best_step": b["step"], "best_train_seconds": round(b["train_seconds"]), "steps": step,
              "epochs": epoch, "train_seconds": round(t_train), "threads": args.threads, "init": what,
              "parameters": n_params, "vocab_size": len(vocab), "dev": b["dev"], "threshold": b["threshold"],
              "history": history, "args": vars(args), "train_windows_per_epoch": len(ex),
              "device": device_note(device), "windows_per_second": round(step * args.batch_size / max(1e-9, t_train))}
    with open(os.path.join(args.work, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    if not args.no_export:
        from train.qa.export import export
        export(best_path, args.out, args.export_dtype)
    return result


if __name__ == "__main__":
    main()
