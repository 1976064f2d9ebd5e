#!/usr/bin/python3
"""Named-entity recognition (PER, LOC, ORG, MISC) on CoNLL-2003, from scratch or the pretrained encoder.

A small BERT encoder (post-LN, Hugging Face names, no pooler) with Hugging
Face's token-classification head `classifier.*`; a word's BIO tag is read at
its first WordPiece sub-token. Uncased: BERT's uncased vocabulary pruned to
the pieces of the training set (shipped as vocab.txt), so capitalisation, the
strongest NER cue, is not seen by the pieces; --case-feature gives it back
through the token type ids: 1 for every piece of a word whose first character
is an upper-case letter, else 0 (config.json says so; parley-nlu computes the
same ids from the raw text).

    /usr/bin/python3 -m train.nlu.ner_conll2003              # train (resumes), export
    /usr/bin/python3 -m train.nlu.ner_conll2003 --limit 300 --epochs 1 --work /tmp/ner-smoke --no-export

Checkpoints go to --work (train/work/ner_conll2003, git-ignored) after every
epoch; the same command resumes. The best dev epoch (span F1) is exported.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from train.common import safetensors_io
from train.common.bert import BertConfig, TokenClassifier, finetune_config, init_encoder, load_pretrained
from train.common.data import bio_labels, read_conll
from train.common.export import export_model, sha256
from train.common.loop import IGNORE, adamw, batches, log, lr_at, pad_batch, save_atomic
from train.common.metrics import SpanF1
from train.common.paths import data_dir, models_dir, work_dir
from train.common.wordpiece import WordPiece, prune_vocab


def parse_args(argv=None):
    data = data_dir()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(data, "ner", "conll2003"), help="dir with train/valid/test.txt")
    ap.add_argument("--vocab", default=os.path.join(data, "vocab", "bert-base-uncased-vocab.txt"))
    ap.add_argument("--work", default=work_dir("ner_conll2003"))
    ap.add_argument("--out", default=models_dir("ner-conll2003"))
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--min-piece-count", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N sentences only (smoke runs)")
    ap.add_argument("--init", default="",
                    help="start from a pretrained encoder.pt (train/nlu/pretrain.py): its vocabulary and "
                         "architecture replace --vocab/--layers/--hidden/--heads/--ffn")
    ap.add_argument("--case-feature", action="store_true",
                    help="token type 1 for the pieces of words that start with an upper-case letter")
    ap.add_argument("--export-dtype", choices=["F32", "F16"], default="F32")
    return ap.parse_args(argv)


def word_case_type(word):
    """1 when the word's first character is an upper-case letter, else 0."""
    return 1 if word[:1].isupper() else 0


def encode(examples, tok, labels, max_length, case_feature=False):
    """Per sentence: (ids, first sub-token positions, token targets, token types)."""
    lid = {t: i for i, t in enumerate(labels)}
    out = []
    for ex in examples:
        ids, first = tok.encode_words(ex.words, max_length)
        tgt = [IGNORE] * len(ids)
        for pos, tag in zip(first, ex.tags):
            if pos >= 0:
                tgt[pos] = lid.get(tag, 0)
        types = [0] * len(ids)
        if case_feature:
            ends = [p for p in first[1:] if p >= 0] + [len(ids) - 1]
            for w, pos, end in zip(ex.words, first, ends):
                if pos >= 0 and word_case_type(w):
                    types[pos:end] = [1] * (end - pos)
        out.append((ids, first, tgt, types))
    return out


@torch.no_grad()
def type_batch(data, bidx, t):
    types = torch.zeros((len(bidx), t), dtype=torch.long)
    for r, i in enumerate(bidx):
        types[r, :len(data[i][3])] = torch.tensor(data[i][3])
    return types


def evaluate(model, data, examples, labels, pad_id, batch_size=64):
    model.eval()
    f1, right, words = SpanF1(), 0, 0
    for bidx in batches(len(data), None, batch_size):
        ids, mask, _ = pad_batch([data[i][0] for i in bidx], [data[i][2] for i in bidx], pad_id)
        pred_ids = model(ids, mask, type_batch(data, bidx, ids.shape[1])).argmax(-1).tolist()
        for r, i in enumerate(bidx):
            pred = [labels[pred_ids[r][p]] if p >= 0 else "O" for p in data[i][1]]
            f1.add(examples[i].tags, pred)
            right += sum(a == b for a, b in zip(pred, examples[i].tags))
            words += len(pred)
    p, r, f = f1.result()
    return {"f1": f, "p": p, "r": r, "word_acc": 100.0 * right / words, "n": len(data),
            "per_type": {t: round(v[2], 2) for t, v in f1.per_type_result().items()}}


def fmt(m):
    return "span F1 %.2f (P %.2f R %.2f)  word acc %.2f  %s [n=%d]" % (
        m["f1"], m["p"], m["r"], m["word_acc"], " ".join("%s %.1f" % kv for kv in m["per_type"].items()), m["n"])


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "checkpoint.pt")
    train_ex = read_conll(os.path.join(args.data, "train.txt"))
    if args.limit:
        train_ex = train_ex[:args.limit]
    dev_ex = read_conll(os.path.join(args.data, "valid.txt"))
    test_ex = read_conll(os.path.join(args.data, "test.txt"))

    state = None
    pre = load_pretrained(args.init) if args.init else None
    if os.path.exists(ckpt_path) and not args.fresh:
        state = torch.load(ckpt_path)
        vocab, labels = state["vocab"], state["labels"]
        log(args.work, "resuming from %s after epoch %d" % (ckpt_path, state["epoch"]))
    elif pre is not None:
        vocab, labels = pre[0], bio_labels(train_ex)
    else:
        full = WordPiece(args.vocab)
        vocab = prune_vocab(full, [" ".join(e.words) for e in train_ex], args.min_piece_count)
        labels = bio_labels(train_ex)
    tok = WordPiece(vocab)
    train = encode(train_ex, tok, labels, args.max_length, args.case_feature)
    dev = encode(dev_ex, tok, labels, args.max_length, args.case_feature)
    test = encode(test_ex, tok, labels, args.max_length, args.case_feature)

    if state is not None:
        cfg = BertConfig(**state["bert_config"])
    elif pre is not None:
        cfg = finetune_config(pre[1], args.dropout)
    else:
        cfg = BertConfig(vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
                         num_attention_heads=args.heads, intermediate_size=args.ffn,
                         max_position_embeddings=args.max_length, hidden_dropout_prob=args.dropout,
                         attention_probs_dropout_prob=args.dropout, pad_token_id=tok.pad_id)
    torch.manual_seed(args.seed)
    model = TokenClassifier(cfg, len(labels), args.dropout)
    if pre is not None and state is None:
        init_encoder(model.bert, pre[2])
        if args.case_feature:
            # pretraining saw type 0 only: type 1 starts as type 0 (the model
            # learns the difference) rather than as noise
            with torch.no_grad():
                emb = model.bert.embeddings.token_type_embeddings.weight
                emb[1] = emb[0]
        log(args.work, "encoder initialised from %s" % args.init)
    opt = adamw(model, args.lr, args.weight_decay)
    rng = random.Random(args.seed)
    total = (len(train) + args.batch_size - 1) // args.batch_size * args.epochs
    warmup = int(args.warmup * total)
    start_epoch, step, best, t_train = 1, 0, None, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, step, best, t_train = state["epoch"] + 1, state["step"], state["best"], state["train_seconds"]
    n_params = sum(p.numel() for p in model.parameters())
    log(args.work, "vocab %d pieces, %d labels, %d parameters, %d train / %d dev / %d test sentences, %d steps, "
        "%d thread(s)" % (len(vocab), len(labels), n_params, len(train), len(dev), len(test), total, args.threads))
    lengths = [len(d[0]) for d in train]
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        t0, loss_sum = time.time(), 0.0
        for bidx in batches(len(train), lengths, args.batch_size, rng):
            ids, mask, tgt = pad_batch([train[i][0] for i in bidx], [train[i][2] for i in bidx], tok.pad_id)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, args.lr)
            logits = model(ids, mask, type_batch(train, bidx, ids.shape[1]))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            loss_sum += loss.item() * len(bidx)
            step += 1
        t_train += time.time() - t0
        m = evaluate(model, dev, dev_ex, labels, tok.pad_id)
        improved = best is None or m["f1"] > best["dev"]["f1"]
        if improved:
            best = {"epoch": epoch, "dev": m, "model": {k: v.clone() for k, v in model.state_dict().items()}}
        log(args.work, "epoch %d  loss %.4f  %.0fs  dev %s%s" % (epoch, loss_sum / len(train), time.time() - t0,
                                                                 fmt(m), "  *" if improved else ""))
        save_atomic({"epoch": epoch, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                     "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "best": best, "vocab": vocab,
                     "labels": labels, "bert_config": cfg.__dict__, "train_seconds": t_train, "args": vars(args)},
                    ckpt_path)

    model.load_state_dict(best["model"])
    dev_m = evaluate(model, dev, dev_ex, labels, tok.pad_id)
    test_m = evaluate(model, test, test_ex, labels, tok.pad_id)
    log(args.work, "best epoch %d (of %d), %.0f s of training on %d thread(s)" % (
        best["epoch"], args.epochs, t_train, args.threads))
    log(args.work, "dev   " + fmt(dev_m))
    log(args.work, "test  " + fmt(test_m))
    result = {"best_epoch": best["epoch"], "epochs": args.epochs, "train_seconds": round(t_train),
              "threads": args.threads, "dev": dev_m, "test": test_m, "parameters": n_params,
              "vocab_size": len(vocab), "args": vars(args), "pretrained": pre[3] if pre is not None else None}
    with open(os.path.join(args.work, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    if not args.no_export:
        export(args, model, cfg, vocab, labels, result, dev, tok.pad_id)
    return result


def export(args, model, cfg, vocab, labels, result, dev, pad_id):
    parley = {
        "architectures": ["BertForTokenClassification"],  # the engine's token-classification head
        "task": "token_classification",
        "labels": {"token": labels},
        "id2label": {str(i): t for i, t in enumerate(labels)},
        # parley-nlu also serves "<name>-int8" from the same files (docs/nlu.md)
        "variants": {"int8": {"precision": "int8"}},
        "max_length": args.max_length,
        "tokenizer": dict({"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                           "max_input_chars_per_word": 100},
                          **({"token_type_ids": "word_starts_upper"} if args.case_feature else {})),
        "heads": {"token": {"tensor_prefix": "classifier", "input": "tokens", "labels": "token", "scheme": "BIO",
                            "alignment": "first_subtoken_of_each_whitespace_word"}},
    }
    st_path = export_model(args.out, model, cfg, vocab, parley, args.export_dtype,
                           {"recipe": "train/nlu/ner_conll2003.py"})
    # Reload the files into a fresh model and compare logits.
    tensors, _ = safetensors_io.load(st_path)
    fresh = TokenClassifier(cfg, len(labels)).eval()
    fresh.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    model.eval()
    bidx = list(range(min(64, len(dev))))
    ids, mask, _ = pad_batch([dev[i][0] for i in bidx], [dev[i][2] for i in bidx], pad_id)
    types = type_batch(dev, bidx, ids.shape[1])
    with torch.no_grad():
        diff = (model(ids, mask, types) - fresh(ids, mask, types)).abs().max().item()
    if diff > (1e-5 if args.export_dtype == "F32" else 5e-2):
        raise SystemExit("export check failed: reloaded model differs by %g" % diff)
    print("export check: reloaded model matches (max abs diff %.2g)" % diff)
    write_card(args, result, st_path, cfg)


def write_card(args, r, st_path, cfg):
    d, t = r["dev"], r["test"]
    cmd = "/usr/bin/python3 -m train.nlu.ner_conll2003"
    defaults = vars(parse_args([]))
    for k, v in vars(args).items():
        if k == "init" and v:
            cmd += " --init train/work/pretrain/encoder.pt"
        elif k not in ("data", "vocab", "work", "out") and v != defaults[k]:
            cmd += " --%s%s" % (k.replace("_", "-"), "" if v is True else " %s" % v)
    per_type = " | ".join("%s %.1f" % kv for kv in t["per_type"].items())
    text = """# ner-conll2003

English named-entity recognition (PER, LOC, ORG, MISC; BIO tags) {origin}
by Parley's recipe `train/nlu/ner_conll2003.py`.

## Model

- Encoder: BERT (post-LayerNorm), {layers} layers, hidden {hidden}, {heads} heads,
  FFN {ffn}, GELU (erf), {pos} positions, no pooler; {params:,} parameters.
  Hugging Face tensor names (`bert.embeddings.*`, `bert.encoder.layer.N.*`).
- Head: `classifier.{{weight,bias}}` on every token (Hugging Face's
  BertForTokenClassification); a word's tag is read at its **first WordPiece
  sub-token** (words: whitespace-separated). Labels: `config.json`
  `labels.token` (`O` first) and `id2label`.
- Tokenizer: BERT uncased WordPiece over `vocab.txt`, BERT's uncased vocabulary
  pruned to {vocab} pieces ({vocab_rule}, characters seen there, single-character
  pieces up to U+052F); ids are dense in that list. {case_text}
- Inputs: `[CLS] tokens [SEP]`, at most {maxlen} tokens (longer sentences are
  cut; cut words count as `O`). Weights: `model.safetensors`, {dtype},
  {mb:.1f} MB, sha256 `{sha}`.

## Data

CoNLL-2003 English from `../shared/data/ner/conll2003` (Reuters RCV1; research
use): 14,041 / 3,250 / 3,453 sentences (train / valid / test, `-DOCSTART-`
lines skipped). Trained on train, best epoch chosen on valid.

## Metrics (conlleval-style span F1)

| split | span F1 | P / R | word accuracy |
|---|---|---|---|
| valid | {d_f1:.2f} | {d_p:.2f} / {d_r:.2f} | {d_wa:.2f} |
| test | {t_f1:.2f} | {t_p:.2f} / {t_r:.2f} | {t_wa:.2f} |

Test F1 per type: {per_type}.
Best epoch {best} of {epochs}; {secs} s of training on {threads} CPU thread(s).
A pretrained, cased BERT-base reaches 92.4 test F1; {pretrain_note}

## Reproduce

    {cmd}

Checkpoints in `train/work/ner_conll2003/`; the same command resumes. Seed {seed}.
""".format(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=cfg.num_attention_heads,
           ffn=cfg.intermediate_size, pos=cfg.max_position_embeddings, params=r["parameters"], vocab=r["vocab_size"],
           minc=args.min_piece_count, maxlen=args.max_length, mb=os.path.getsize(st_path) / 1e6, sha=sha256(st_path),
           d_f1=d["f1"], d_p=d["p"], d_r=d["r"], d_wa=d["word_acc"], t_f1=t["f1"], t_p=t["p"], t_r=t["r"],
           t_wa=t["word_acc"], per_type=per_type, best=r["best_epoch"], epochs=r["epochs"], secs=r["train_seconds"],
           threads=r["threads"], cmd=cmd, seed=args.seed, dtype="float32" if args.export_dtype == "F32" else "float16",
           case_text=("Uncased pieces lose capitalisation, a strong NER cue; it comes back as the token type "
                      "id: 1 for every piece of a word that starts with an upper-case letter "
                      "(`tokenizer.token_type_ids` = `word_starts_upper` in config.json)." if args.case_feature else
                      "Uncased input loses capitalisation, a strong NER cue."),
           **dict(zip(("origin", "vocab_rule", "pretrain_note"), card_origin(args, r))))
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def card_origin(args, r):
    """(origin phrase, vocabulary rule, pretraining note) of the model card."""
    pre = r.get("pretrained")
    if not pre:
        return ("trained from scratch on CoNLL-2003",
                "pieces used at least %d times on the training set" % args.min_piece_count,
                "this model has no pretraining and had a short schedule: a working default, not a strong "
                "NER model.")
    return ("fine-tuned on CoNLL-2003 from Parley's pretrained encoder",
            "the pretrained encoder's vocabulary: pieces used at least %d times in the pretraining corpus"
            % pre["min_piece_count"],
            "this model's encoder was pretrained by `train/nlu/pretrain.py` (masked LM, %d steps, %d s on %d CPU "
            "thread(s), held-out masked-token accuracy %.2f%%) and then fine-tuned here." % (
                pre["step"], pre["train_seconds"], pre["threads"], pre["heldout"]["masked_acc"]))


if __name__ == "__main__":
    main()
