#!/usr/bin/python3
"""Joint intent + slot model on SNIPS, from scratch or from the pretrained encoder, exported for Parley.

One small BERT encoder (post-LN, Hugging Face tensor names) with two heads:
the intent from the pooled [CLS] token and a BIO slot tag per word, read at
the word's first WordPiece sub-token (the other sub-tokens are not trained).
The vocabulary is BERT's uncased WordPiece vocabulary pruned to the pieces the
SNIPS training set uses (plus single characters), shipped as vocab.txt.

    /usr/bin/python3 -m train.nlu.joint_snips                 # train (resumes), export
    /usr/bin/python3 -m train.nlu.joint_snips --limit 500 --epochs 1 --work /tmp/smoke --no-export

Checkpoints go to --work (train/work/joint_snips by default, git-ignored) after
every epoch; running the same command again resumes from the last one. The
model with the best dev score (semantic-frame accuracy, then slot F1) is
exported to --out with a model card.
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
from train.common.bert import BertConfig, JointIntentSlot, finetune_config, init_encoder, load_pretrained
from train.common.data import bio_labels, label_list, read_snips
from train.common.export import export_model, sha256
from train.common.loop import IGNORE, adamw, batches, log, lr_at, pad_batch, save_atomic
from train.common.metrics import SpanF1
from train.common.paths import data_dir, models_dir, work_dir
from train.common.wordpiece import WordPiece, prune_vocab


def parse_args(argv=None):
    data = data_dir()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(data, "nlu", "snips"), help="SNIPS dir with train/valid/test")
    ap.add_argument("--vocab", default=os.path.join(data, "vocab", "bert-base-uncased-vocab.txt"))
    ap.add_argument("--work", default=work_dir("joint_snips"),
                    help="checkpoints and logs (resumed from when present)")
    ap.add_argument("--out", default=models_dir("nlu-intent-slot-snips"))
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of steps of linear warm-up")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--max-length", type=int, default=64, help="tokens per input incl. [CLS]/[SEP]")
    ap.add_argument("--max-positions", type=int, default=128)
    ap.add_argument("--min-piece-count", type=int, default=2,
                    help="keep WordPiece pieces seen at least this often in train")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N examples only (smoke runs)")
    ap.add_argument("--export-dtype", choices=["F32", "F16"], default="F32")
    ap.add_argument("--init", default="",
                    help="start from a pretrained encoder.pt (train/nlu/pretrain.py): its vocabulary and "
                         "architecture replace --vocab/--layers/--hidden/--heads/--ffn/--max-positions")
    return ap.parse_args(argv)


def encode_split(examples, tok, intents, slots, max_length):
    """Per example: (ids, first sub-token positions, slot targets per token, intent id)."""
    slot_id = {s: i for i, s in enumerate(slots)}
    intent_id = {s: i for i, s in enumerate(intents)}
    out = []
    for ex in examples:
        ids, first = tok.encode_words(ex.words, max_length)
        target = [IGNORE] * len(ids)
        for pos, tag in zip(first, ex.tags):
            if pos >= 0:
                target[pos] = slot_id.get(tag, 0)  # a tag unseen in train trains as O
        out.append((ids, first, target, intent_id.get(ex.intent, -1)))
    return out


def collate(data, bidx, pad_id):
    """Padded ids, mask and slot targets plus the intent ids of a batch."""
    ids, mask, slot = pad_batch([data[i][0] for i in bidx], [data[i][2] for i in bidx], pad_id)
    return ids, mask, slot, torch.tensor([data[i][3] for i in bidx], dtype=torch.long)


@torch.no_grad()
def evaluate(model, data, examples, intents, slots, pad_id, batch_size=64):
    """Intent accuracy, slot span P/R/F1 and semantic-frame accuracy (intent and
    every word's tag right), all in percent."""
    model.eval()
    f1, right_intent, right_frame = SpanF1(), 0, 0
    for bidx in batches(len(data), None, batch_size):
        ids, mask, _, _ = collate(data, bidx, pad_id)
        il, sl = model(ids, mask)
        ip, sp = il.argmax(-1).tolist(), sl.argmax(-1).tolist()
        for r, i in enumerate(bidx):
            ex, first = examples[i], data[i][1]
            pred = [slots[sp[r][p]] if p >= 0 else "O" for p in first]
            f1.add(ex.tags, pred)
            ok = intents[ip[r]] == ex.intent
            right_intent += ok
            right_frame += ok and pred == ex.tags
    n = len(data)
    p, r, f = f1.result()
    return {"intent_acc": 100.0 * right_intent / n, "slot_p": p, "slot_r": r, "slot_f1": f,
            "frame_acc": 100.0 * right_frame / n, "n": n}


def fmt(m):
    return "intent acc %.2f  slot F1 %.2f (P %.2f R %.2f)  frame acc %.2f  [n=%d]" % (
        m["intent_acc"], m["slot_f1"], m["slot_p"], m["slot_r"], m["frame_acc"], m["n"])


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "checkpoint.pt")

    train_ex = read_snips(os.path.join(args.data, "train"))
    if args.limit:
        train_ex = train_ex[:args.limit]
    dev_ex = read_snips(os.path.join(args.data, "valid"))
    test_ex = read_snips(os.path.join(args.data, "test"))

    state, pre = None, None
    if args.init:
        pre = load_pretrained(args.init)
    if os.path.exists(ckpt_path) and not args.fresh:
        state = torch.load(ckpt_path)
        vocab, intents, slots = state["vocab"], state["intents"], state["slots"]
        log(args.work, "resuming from %s after epoch %d" % (ckpt_path, state["epoch"]))
    else:
        if pre is not None:
            vocab = pre[0]
        else:
            full = WordPiece(args.vocab)
            vocab = prune_vocab(full, [" ".join(e.words) for e in train_ex], args.min_piece_count)
        intents = label_list(e.intent for e in train_ex)
        slots = bio_labels(train_ex)
    tok = WordPiece(vocab)
    train = encode_split(train_ex, tok, intents, slots, args.max_length)
    dev = encode_split(dev_ex, tok, intents, slots, args.max_length)
    test = encode_split(test_ex, tok, intents, slots, args.max_length)

    cfg = BertConfig(vocab_size=len(vocab), hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.ffn,
                     max_position_embeddings=args.max_positions, hidden_dropout_prob=args.dropout,
                     attention_probs_dropout_prob=args.dropout, pad_token_id=tok.pad_id)
    if pre is not None:
        cfg = finetune_config(pre[1], args.dropout)
    if state is not None:
        cfg = BertConfig(**state["bert_config"])
    torch.manual_seed(args.seed)
    model = JointIntentSlot(cfg, len(intents), len(slots), args.dropout)
    if pre is not None and state is None:
        init_encoder(model.bert, pre[2])
        log(args.work, "encoder initialised from %s" % args.init)
    opt = adamw(model, args.lr, args.weight_decay)
    rng = random.Random(args.seed)
    steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.epochs
    warmup = int(args.warmup * total)
    start_epoch, step, best = 1, 0, None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, step, best = state["epoch"] + 1, state["step"], state["best"]
    # Every invocation that trained, so that the model card can tell a run
    # that was resumed with a different --epochs (learning-rate schedule).
    runs = state.get("runs", [{"start_epoch": 1, "epochs": state["args"]["epochs"]}]) if state else []
    if start_epoch <= args.epochs:
        runs = runs + [{"start_epoch": start_epoch, "epochs": args.epochs}]

    n_params = sum(p.numel() for p in model.parameters())
    log(args.work, "vocab %d pieces, %d intents, %d slot tags, %d parameters, %d train / %d dev / %d test, "
        "%d steps, %d thread(s)" % (len(vocab), len(intents), len(slots), n_params, len(train), len(dev),
                                    len(test), total, args.threads))
    t_train = state["train_seconds"] if state is not None else 0.0
    lengths = [len(d[0]) for d in train]
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        t0, loss_sum = time.time(), 0.0
        for bidx in batches(len(train), lengths, args.batch_size, rng):
            ids, mask, slot, intent = collate(train, bidx, tok.pad_id)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, args.lr)
            il, sl = model(ids, mask)
            loss = F.cross_entropy(il, intent) + F.cross_entropy(sl.reshape(-1, sl.shape[-1]), slot.reshape(-1),
                                                                 ignore_index=IGNORE)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            loss_sum += loss.item() * len(bidx)
            step += 1
        t_train += time.time() - t0
        m = evaluate(model, dev, dev_ex, intents, slots, tok.pad_id)
        score = (m["frame_acc"], m["slot_f1"], m["intent_acc"])
        improved = best is None or score > tuple(best["score"])
        if improved:
            best = {"score": list(score), "epoch": epoch, "dev": m,
                    "model": {k: v.clone() for k, v in model.state_dict().items()}}
        log(args.work, "epoch %d  loss %.4f  %.0fs  dev %s%s" % (epoch, loss_sum / len(train), time.time() - t0,
                                                                 fmt(m), "  *" if improved else ""))
        save_atomic({"epoch": epoch, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                     "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "best": best,
                     "vocab": vocab, "intents": intents, "slots": slots, "bert_config": cfg.__dict__,
                     "train_seconds": t_train, "args": vars(args), "runs": runs}, ckpt_path)

    model.load_state_dict(best["model"])
    dev_m = evaluate(model, dev, dev_ex, intents, slots, tok.pad_id)
    test_m = evaluate(model, test, test_ex, intents, slots, tok.pad_id)
    log(args.work, "best epoch %d (of %d), %.0f s of training on %d thread(s)" % (
        best["epoch"], args.epochs, t_train, args.threads))
    log(args.work, "dev   " + fmt(dev_m))
    log(args.work, "test  " + fmt(test_m))
    result = {"best_epoch": best["epoch"], "epochs": args.epochs, "train_seconds": round(t_train),
              "pretrained": pre[3] if pre is not None else None,
              "threads": args.threads, "dev": dev_m, "test": test_m, "parameters": n_params,
              "vocab_size": len(vocab), "args": vars(args), "runs": runs}
    with open(os.path.join(args.work, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    if not args.no_export:
        export(args, model, cfg, vocab, intents, slots, result, dev, dev_ex, tok)
    return result


def export(args, model, cfg, vocab, intents, slots, result, dev, dev_ex, tok):
    parley = {
        # No Hugging Face class has these two heads: the engine loads the
        # encoder (and pooler) and the NLU service applies the heads.
        "architectures": ["BertForJointIntentSlot"],
        "task": "joint_intent_slot",
        "labels": {"intent": intents, "slot": slots},
        # parley-nlu also serves "<name>-int8" from the same files (docs/nlu.md)
        "variants": {"int8": {"precision": "int8"}},
        "max_length": args.max_length,
        "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "do_lower_case": True,
                      "max_input_chars_per_word": 100},
        "heads": {
            "intent": {"tensor_prefix": "intent_classifier", "input": "pooler",
                       "labels": "intent"},
            "slot": {"tensor_prefix": "slot_classifier", "input": "tokens", "labels": "slot",
                     "scheme": "BIO", "alignment": "first_subtoken_of_each_whitespace_word"},
        },
    }
    st_path = export_model(args.out, model, cfg, vocab, parley, args.export_dtype,
                           {"recipe": "train/nlu/joint_snips.py"})
    check_export(args.out, model, cfg, len(intents), len(slots), dev, tok.pad_id)
    write_card(args, result, st_path, cfg, len(vocab))
    print("exported to %s (%.1f MB)" % (args.out, os.path.getsize(st_path) / 1e6))


def check_export(out_dir, model, cfg, n_intents, n_slots, dev, pad_id):
    """Reload the written files into a fresh model and compare logits on dev."""
    tensors, _ = safetensors_io.load(os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json")) as f:
        c = json.load(f)
    keys = {k: c[k] for k in BertConfig.__dataclass_fields__}
    fresh = JointIntentSlot(BertConfig(**keys), n_intents, n_slots)
    fresh.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    fresh.eval()
    model.eval()
    ids, mask, _, _ = collate(dev, list(range(min(64, len(dev)))), pad_id)
    with torch.no_grad():
        a, b = model(ids, mask), fresh(ids, mask)
    tol = 1e-5 if c.get("torch_dtype") == "float32" else 5e-2
    diff = max((a[0] - b[0]).abs().max().item(), (a[1] - b[1]).abs().max().item())
    if diff > tol:
        raise SystemExit("export check failed: reloaded model differs by %g" % diff)
    print("export check: reloaded model matches (max abs diff %.2g)" % diff)


def segments_note(runs):
    """A sentence on resumed runs whose --epochs differed (else "")."""
    if len({run["epochs"] for run in runs}) <= 1:
        return ""
    parts = []
    for i, run in enumerate(runs):
        end = runs[i + 1]["start_epoch"] - 1 if i + 1 < len(runs) else run["epochs"]
        parts.append("epochs %d-%d under the schedule of `--epochs %d`" % (run["start_epoch"], end, run["epochs"]))
    return (",\ntrained in %d runs: %s (resumed with a different --epochs, here to fit the time available, "
            "so the linear learning-rate decay changed at that point)" % (len(runs), "; ".join(parts)))


def write_card(args, r, st_path, cfg, vocab_size):
    d, t = r["dev"], r["test"]
    cmd = "/usr/bin/python3 -m train.nlu.joint_snips" + ("" if args.threads == 1 else " --threads %d" % args.threads)
    defaults = vars(parse_args([]))
    for k, v in vars(args).items():
        if k in ("data", "vocab", "work", "out", "threads") or v == defaults[k]:
            continue
        if k == "init":
            cmd += " --init train/work/pretrain/encoder.pt"
            continue
        cmd += " --%s%s" % (k.replace("_", "-"), "" if v is True else " %s" % v)
    text = """# nlu-intent-slot-snips

Joint intent classification and slot filling for English voice-assistant
commands, {origin} by Parley's recipe
`train/nlu/joint_snips.py`. Served by parley-nlu (Riva `AnalyzeIntent`).

## Model

- Encoder: BERT (post-LayerNorm), {layers} layers, hidden {hidden}, {heads} heads,
  FFN {ffn}, GELU (erf), max {pos} positions; {params:,} parameters.
  Tensor names are Hugging Face's (`bert.embeddings.*`, `bert.encoder.layer.N.*`,
  `bert.pooler.dense.*`).
- Intent head: `intent_classifier.{{weight,bias}}` on the pooled `[CLS]`
  (tanh pooler, as in Hugging Face's sequence classification).
- Slot head: `slot_classifier.{{weight,bias}}` on every token; the tag of a word
  is read at the word's **first WordPiece sub-token** (words are the
  whitespace-separated words of the input). BIO tags, labels in
  `config.json` (`labels.slot`, `O` first).
- Tokenizer: BERT uncased WordPiece (lower-case, strip accents, split on
  punctuation, greedy longest match) over `vocab.txt`: BERT's 30,522-piece
  uncased vocabulary **pruned to {vocab} pieces**: {vocab_rule}, every
  single character seen there, and every single-character
  piece (with its `##` form) up to U+052F, so unseen words still split into
  pieces. Ids are renumbered densely in the original order (`[PAD]`=0,
  `[UNK]`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4). Pruning keeps the shipped
  weights at {mb:.1f} MB.
- Inputs: `[CLS] tokens [SEP]`, at most {maxlen} tokens; token_type_ids 0.
- Weights: `model.safetensors`, {dtype}, sha256 `{sha}`.

## Data

SNIPS NLU benchmark (CC0) from `../shared/data/nlu/snips`: 13,084 train /
700 valid / 700 test utterances, 7 intents, 39 slot types. Trained on train,
model selected on valid (best semantic-frame accuracy), reported on test.

## Metrics

Span-level slot F1 counted like conlleval (exact start, end and type);
semantic-frame accuracy: intent and every word's tag right.

| split | intent accuracy | slot F1 | slot P / R | frame accuracy |
|---|---|---|---|---|
| valid | {d_ia:.2f} | {d_f1:.2f} | {d_p:.2f} / {d_r:.2f} | {d_fa:.2f} |
| test | {t_ia:.2f} | {t_f1:.2f} | {t_p:.2f} / {t_r:.2f} | {t_fa:.2f} |

Best epoch {best} of {epochs}; {secs} s of training on {threads} CPU thread(s){segments}
(the 2-vCPU AMD EPYC VM, AVX2, Debian python3-torch 1.13). For comparison, published results
with a pretrained BERT-base are about 98.6 intent accuracy and 97.0 slot F1;
{pretrain_note}
Training time is wall-clock and depends on the machine's load.

## Reproduce

From the repository root, with `../shared/data` present:

    {cmd}

Checkpoints go to `train/work/joint_snips/` after every epoch; running the
same command again resumes. Seed {seed}; results vary slightly with the
thread count and CPU. The recipe ends by reloading the exported files and
checking that they reproduce the trained model's logits.
""".format(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=cfg.num_attention_heads,
           ffn=cfg.intermediate_size, pos=cfg.max_position_embeddings, params=r["parameters"], vocab=vocab_size,
           minc=args.min_piece_count, mb=os.path.getsize(st_path) / 1e6, maxlen=args.max_length,
           dtype="float32" if args.export_dtype == "F32" else "float16", sha=sha256(st_path),
           d_ia=d["intent_acc"], d_f1=d["slot_f1"], d_p=d["slot_p"], d_r=d["slot_r"], d_fa=d["frame_acc"],
           t_ia=t["intent_acc"], t_f1=t["slot_f1"], t_p=t["slot_p"], t_r=t["slot_r"], t_fa=t["frame_acc"],
           best=r["best_epoch"], epochs=r["epochs"], secs=r["train_seconds"], threads=r["threads"], cmd=cmd,
           seed=args.seed, segments=segments_note(r.get("runs", [])),
           **dict(zip(("origin", "vocab_rule", "pretrain_note"), card_origin(args, r, "SNIPS"))))
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def card_origin(args, r, task_words):
    """(origin phrase, vocabulary rule, pretraining note) of a model card."""
    pre = r.get("pretrained")
    share = 110e6 / max(1, r["parameters"])
    if not pre:
        return ("trained from scratch on %s" % task_words,
                "the pieces that occur at least %d times when the training set is tokenized with the full "
                "vocabulary" % args.min_piece_count,
                "this model has no pretraining and about 1/%.0f of BERT-base's 110M parameters." % share)
    h = pre["heldout"]
    return ("fine-tuned on %s from Parley's pretrained encoder" % task_words,
            "the vocabulary of the pretrained encoder (train/nlu/pretrain.py), the pieces that occur at least "
            "%d times in its pretraining corpus (the training part of ../shared/data/text plus the SNIPS and "
            "CoNLL-2003 training sentences)" % pre["min_piece_count"],
            "this model has about 1/%.0f of BERT-base's 110M parameters; its encoder was pretrained by "
            "`train/nlu/pretrain.py` (masked LM, %d steps, %d s on %d CPU thread(s), held-out masked-token "
            "accuracy %.2f%%) and then fine-tuned here." % (share, pre["step"], pre["train_seconds"],
                                                            pre["threads"], h["masked_acc"]))


if __name__ == "__main__":
    main()
