"""The encoder of a Parley model directory as an encoder.pt, the file that the fine-tuning
recipes' --init and train.nlu.pretrain --init-encoder read.

    /usr/bin/python3 -m train.nlu.encoder_from_model models/ner-conll2003 --out train/work/encoders/ner-encoder.pt

Takes the directory's `bert.*` tensors (no pooler, no task head) and its vocabulary; token type
rows beyond --token-types are dropped (a NER model's case classes use 4; the recipes' inputs use
0 and 1), and with --type-from-row0 every kept row is a copy of row 0 (the lower-case class of a
NER model, the one its uncased training text mostly had). The encoder's pretraining is gone from
such a file: its `result` says where it came from, and the fine-tuning recipes' model cards quote
that note ("description") instead of pretraining figures.
"""
import argparse
import dataclasses
import os

import torch

from train.common.bert import BertConfig, load_model_dir
from train.common.export import sha256


def encoder_of(model_dir, token_types=2, type_from_row0=False):
    """(vocab, BertConfig, encoder state without the "bert." prefix) of a model directory."""
    vocab, cfg, state = load_model_dir(model_dir)
    if not state:
        raise SystemExit("%s: no bert.* tensors" % model_dir)
    tt = state["embeddings.token_type_embeddings.weight"]
    if token_types > tt.shape[0]:
        raise SystemExit("%s has %d token types, fewer than --token-types %d" % (model_dir, tt.shape[0], token_types))
    tt = tt[:1].repeat(token_types, 1) if type_from_row0 else tt[:token_types]
    state["embeddings.token_type_embeddings.weight"] = tt.clone()
    cfg = BertConfig(**dict(cfg.__dict__, type_vocab_size=token_types))
    if len(vocab) != cfg.vocab_size:
        raise SystemExit("%s: vocab.txt has %d pieces, config.json says %d" % (model_dir, len(vocab), cfg.vocab_size))
    return vocab, cfg, state


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--token-types", type=int, default=2)
    ap.add_argument("--type-from-row0", action="store_true")
    args = ap.parse_args(argv)
    vocab, cfg, state = encoder_of(args.model_dir, args.token_types, args.type_from_row0)
    card = os.path.join(args.model_dir, "README.md")
    first = ""
    if os.path.exists(card):  # the card's first sentence, as plain text
        with open(card, encoding="utf-8") as f:
            para = []
            for ln in f:
                if ln.startswith("#") or (not ln.strip() and not para):
                    continue
                if not ln.strip():
                    break
                para.append(ln.strip())
        text = " ".join(para).replace("**", "")
        end = text.find(". ")
        first = text[:end + 1] if end >= 0 else text
    flags = "%s --token-types %d%s" % (args.model_dir, args.token_types, " --type-from-row0" if args.type_from_row0 else "")
    weights = os.path.join(args.model_dir, "model.safetensors")
    sha = sha256(weights)[:16] if os.path.exists(weights) else "unknown"
    note = ("the encoder of %s (%s; model.safetensors sha256 %s...), taken by "
            "`python3 -m train.nlu.encoder_from_model %s`" % (args.model_dir, first.rstrip("."), sha, flags))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save({"vocab": vocab, "bert_config": dataclasses.asdict(cfg), "encoder": state,
                "result": {"description": note, "source_model": args.model_dir, "source_sha256": sha,
                           "command": "/usr/bin/python3 -m train.nlu.encoder_from_model %s --out %s"
                                      % (flags, args.out)}}, args.out)
    print("wrote %s: %d layers x %d, %d pieces, %d token types; %s" % (
        args.out, cfg.num_hidden_layers, cfg.hidden_size, len(vocab), args.token_types, note))


if __name__ == "__main__":
    main()
