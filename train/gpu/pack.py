#!/usr/bin/python3
"""Pack what a GPU run needs from ../shared/data into one folder inside the repository
(default train/gpu/bundle/, git-ignored), so the device tool can carry it (`carry`).

    /usr/bin/python3 -m train.gpu.pack                      # writes train/gpu/bundle/ (a few minutes)
    /usr/bin/python3 -m train.gpu.pack --max-mib 12 --out /tmp/b   # another size or place

What (train/gpu/bundle.py describes the files):
  vocabulary  --vocab, default the NLU models' 8,123 pieces (models/nlu-intent-slot-snips/vocab.txt;
              train/gpu/README.md says why not BERT's 30,522)
  QA          train/qa's training features (SQuAD 1.1 train, the SQuAD 2.0 dev half's training
              articles) in compact form, and the SQuAD 2.0 dev half itself (xz) for the dev split
  held-out    --heldout-segments windows of --heldout-length pieces from the first documents of
              each pretraining source (never in the stream)
  corpus      documents of text/pretrain/*.txt.xz, tokenized, interleaved by --weights (so any
              prefix keeps the mix), as many as fit: the stream is cut so that the whole bundle
              stays within the size limit

Size limit: the device tool carries the working tree (tracked and untracked files that git does
not ignore) plus the carried paths, 64 MiB in all. --max-mib 0 (default) takes
min(60 MiB, 64 MiB - that tree's size now - --margin-mib); the tree is measured with git.
"""
import argparse
import json
import lzma
import os
import random
import shutil
import subprocess
import time

import numpy as np

from train.common.lineage import command_of
from train.common.paths import ROOT, data_dir, models_dir
from train.common.wordpiece import CachedEncoder, WordPiece, load_vocab
from train.gpu import bundle
from train.qa import squad
from train.qa.features import Features
from train.qa.windows import OffsetTokenizer

MIB = 1 << 20
SOURCES = ("wiki2015", "wiki2018", "gutenberg", "un", "ami", "wordnet")
# the stream is read this far past the first million tokens' estimate, then cut to fit: a
# longer stream compresses better (0.96 bytes/token on 1M tokens, 0.90 on 7.7M)
OVERSHOOT = 1.08
DEFAULT_WEIGHTS = "wiki2015=4,wiki2018=3,gutenberg=1.5,un=0.5,ami=0.5,wordnet=0.5"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=data_dir(), help="the shared data folder")
    ap.add_argument("--out", default=os.path.join(ROOT, "train", "gpu", "bundle"))
    ap.add_argument("--vocab", default=models_dir("nlu-intent-slot-snips", "vocab.txt"))
    ap.add_argument("--max-mib", type=float, default=0.0, help="bundle size at most (0: what the tool's limit leaves)")
    ap.add_argument("--margin-mib", type=float, default=1.5, help="--max-mib 0: room left for the tree to grow")
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS, help="source=weight,... of the corpus mix")
    ap.add_argument("--heldout-segments", type=int, default=1000)
    ap.add_argument("--heldout-length", type=int, default=126, help="pieces per held-out segment")
    ap.add_argument("--max-tokens", type=int, default=0, help="corpus tokens at most (0: as many as fit)")
    ap.add_argument("--qa-limit", type=int, default=0, help="tests: the first N SQuAD 1.1 questions, N/4 of the rest")
    ap.add_argument("--max-length", type=int, default=256, help="QA window (train.qa.train --max-length)")
    ap.add_argument("--doc-stride", type=int, default=128)
    ap.add_argument("--max-question", type=int, default=64)
    ap.add_argument("--preset", type=int, default=9, help="xz preset of the token files")
    ap.add_argument("--vectors", default="",
                    help="word-piece vectors (python3 -m train.embed.sgns: vectors.pt) to put in the bundle "
                         "as vectors.pt (f16, the bundle vocabulary's pieces): train.gpu.run starts the "
                         "masked LM's embeddings from them")
    return ap.parse_args(argv)


def tree_bytes(root=ROOT):
    """Bytes of what the device tool carries without `carry`: tracked files and untracked
    files git does not ignore (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    total = 0
    for p in set(out.split(b"\0")):
        if p:
            try:
                total += os.lstat(os.path.join(root.encode(), p)).st_size
            except OSError:
                pass
    return total


def du(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)



def documents(path, max_lines=200):
    """Lists of paragraph lines: a blank line ends a document (at most max_lines lines each)."""
    doc = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                doc.append(line)
            if (not line or len(doc) >= max_lines) and doc:
                yield doc
                doc = []
    if doc:
        yield doc


def pack_qa(args, vocab, out):
    """qa/squad11.npz.xz, qa/v2train.npz.xz, qa/other.npz.xz, qa/swapped.npz.xz, qa/squad-v2-dev-half.json.xz;
    returns their figures."""
    from train.qa.train import SQUAD11, SQUAD2_HALF
    qa = os.path.join(args.data, "qa")
    os.makedirs(os.path.join(out, "qa"), exist_ok=True)
    s11 = squad.read_squad(os.path.join(qa, SQUAD11))
    v2_train, v2_dev = squad.split_by_article(squad.read_squad(os.path.join(qa, SQUAD2_HALF)))
    if args.qa_limit:
        s11, v2_train = s11[:args.qa_limit], v2_train[:max(1, args.qa_limit // 4)]
    tok = OffsetTokenizer(vocab)
    figures = {}
    for name, qs in (("squad11", s11), ("v2train", v2_train)):
        t0 = time.time()
        f = Features(qs, tok, args.max_length, args.doc_stride, args.max_question, with_targets=True)
        path = os.path.join(out, "qa", name + ".npz.xz")
        bundle.save_features(path, f, vocab)
        figures[name] = {"questions": len(qs), "contexts": len(f.contexts), "unlocated": f.unlocated,
                         "context_tokens": int(sum(len(c[1]) for c in f.contexts)), "bytes": du(path),
                         "seconds": round(time.time() - t0, 1)}
        print("qa %s: %s" % (name, figures[name]), flush=True)
        if name == "squad11":
            path = os.path.join(out, "qa", "other.npz.xz")
            figures["other"] = {"questions_with_a_paragraph": bundle.save_other(path, qs, f), "bytes": du(path)}
            print("qa other: %s" % figures["other"], flush=True)
            path = os.path.join(out, "qa", "swapped.npz.xz")
            figures["swapped"] = {"questions_with_a_swap": bundle.save_swapped(path, qs, tok), "bytes": du(path)}
            print("qa swapped: %s" % figures["swapped"], flush=True)
    src = os.path.join(qa, SQUAD2_HALF)
    with open(src, "rb") as f:
        raw = f.read()
    dst = os.path.join(out, "qa", SQUAD2_HALF + ".xz")
    with open(dst, "wb") as f:
        f.write(lzma.compress(raw, preset=9))
    figures["dev"] = {"questions": len(v2_dev), "file": os.path.basename(dst), "bytes": du(dst)}
    return figures


def pack_vectors(path, vocab, out):
    """The rows of `path` (train.embed.sgns) for the pieces of `vocab`, as out/vectors.pt in f16
    (train.common.piece_vectors reads it). Counted in the bundle before the corpus fills it."""
    import torch
    from train.common.piece_vectors import load_piece_vectors
    src_vocab, vectors = load_piece_vectors(path)
    index = {p: i for i, p in enumerate(src_vocab)}
    keep = [p for p in vocab if p in index]
    if not keep:
        raise SystemExit("%s shares no piece with the bundle's vocabulary" % path)
    rows = vectors[torch.tensor([index[p] for p in keep])].half()
    torch.save({"vocab": keep, "vectors": rows, "source": os.path.basename(path)}, os.path.join(out, "vectors.pt"))
    print("vectors: %d of %d pieces, %d wide, from %s" % (len(keep), len(vocab), rows.shape[1], path), flush=True)
    return {"file": "vectors.pt", "pieces": len(keep), "dim": int(rows.shape[1]), "source": path}


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    tree = tree_bytes()
    cap = args.max_mib * MIB if args.max_mib else \
        min(60 * MIB, 64 * MIB - (tree or 0) - args.margin_mib * MIB)
    print("working tree %.1f MiB; bundle limit %.2f MiB" % ((tree or 0) / MIB, cap / MIB), flush=True)
    if not args.max_mib and cap < 2 * MIB:
        raise SystemExit("no room for a bundle: the working tree alone is %.1f MiB of the tool's 64" % (tree / MIB))
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    vocab = load_vocab(args.vocab)
    shutil.copyfile(args.vocab, os.path.join(args.out, "vocab.txt"))
    tok = WordPiece(vocab)
    sep = tok.sep_id
    qa = pack_qa(args, vocab, args.out)
    vectors = pack_vectors(args.vectors, vocab, args.out) if args.vectors else None

    weights = dict((k, float(v)) for k, v in (kv.split("=") for kv in args.weights.split(",")))
    names = [s for s in SOURCES if weights.get(s, 0) > 0
             and os.path.exists(os.path.join(args.data, "text", "pretrain", s + ".txt.xz"))]
    docs = {s: documents(os.path.join(args.data, "text", "pretrain", s + ".txt.xz")) for s in names}
    enc = CachedEncoder(tok)
    L = args.heldout_length

    # held-out: full windows inside each source's first documents
    held, per = [], -(-args.heldout_segments // max(1, len(names)))
    for s in names:
        got = 0
        for doc in docs[s]:
            ids = enc(" ".join(doc))
            for i in range(0, len(ids) - L + 1, L):
                held.append(ids[i:i + L])
                got += 1
            if got >= per:
                break
    random.Random(7).shuffle(held)
    held = np.array(held[:args.heldout_segments], dtype=np.uint16).reshape(-1, L)
    bundle.write_u16(os.path.join(args.out, "heldout.u16.xz"), held, args.preset)

    # the stream: documents interleaved by weight until the estimated size is reached
    used = du(args.out) + 4096  # the manifest
    room = cap - used
    ratio = None  # compressed bytes per token, measured on the first million tokens
    target = args.max_tokens or None
    chunks, n_tok = [], 0
    taken = {s: 0 for s in names}
    words = {s: 0 for s in names}
    live = list(names)
    while live:
        s = min(live, key=lambda x: taken[x] / weights[x])
        doc = next(docs[s], None)
        if doc is None:
            live.remove(s)
            continue
        w0 = enc.words
        ids = enc(" ".join(doc)) + [sep]
        words[s] += enc.words - w0
        chunks.append(np.array(ids, dtype=np.uint16))
        taken[s] += len(ids)
        n_tok += len(ids)
        if ratio is None and n_tok >= 1_000_000:
            probe = np.concatenate(chunks)
            ratio = len(lzma.compress(probe.astype("<u2").tobytes(), preset=args.preset)) / len(probe)
            est = int(room / ratio)
            target = min(target, est) if target else est
            print("corpus: %.3f compressed bytes per token on the first %d; aiming at %d tokens" % (
                ratio, len(probe), target), flush=True)
        if target and n_tok >= target * OVERSHOOT:
            break
    stream = np.concatenate(chunks) if chunks else np.zeros(0, np.uint16)
    if target:
        stream = stream[:int(target * OVERSHOOT)]
    path = os.path.join(args.out, "corpus.u16.xz")
    while True:
        bundle.write_u16(path, stream, args.preset)
        size = du(path)
        if size <= room and (not args.max_tokens or len(stream) <= args.max_tokens):
            break
        keep = min(int(len(stream) * room / size * 0.995), args.max_tokens or len(stream))
        print("corpus: %d tokens are %.2f MiB (room %.2f MiB, --max-tokens %d): cutting to %d" % (
            len(stream), size / MIB, room / MIB, args.max_tokens, keep), flush=True)
        stream = stream[:keep]
    total_words = sum(words.values())
    pieces_per_word = n_tok / max(1, total_words)
    manifest = {
        "command": command_of("train.gpu.pack", vars(args), vars(parse_args([])), skip=("data",)),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.time() - t_start),
        "vocab_name": os.path.relpath(args.vocab, ROOT) if args.vocab.startswith(ROOT) else args.vocab,
        "vocab_size": len(vocab), "vocab_key": bundle.vocab_key(vocab),
        "limit_bytes": int(cap), "tree_bytes": tree,
        "corpus": {"tokens": int(len(stream)), "bytes": size, "bytes_per_token": round(size / max(1, len(stream)), 4),
                   "pieces_per_word": round(pieces_per_word, 4), "weights": weights,
                   "sources": {s: taken[s] for s in names}, "source_words": words,
                   "note": "sources: tokens read per source before the final cut of the stream's tail"},
        "heldout": {"segments": int(len(held)), "length": L},
        "qa": dict(qa, max_length=args.max_length, doc_stride=args.doc_stride, max_question=args.max_question),
    }
    if vectors:
        manifest["vectors"] = vectors
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    total = du(args.out)
    print("bundle %s: %.2f MiB (limit %.2f); corpus %d tokens (%.3f bytes/token, %.3f pieces/word), "
          "QA %d + %d training questions, %d held-out segments; %.0f s" % (
              args.out, total / MIB, cap / MIB, len(stream), size / max(1, len(stream)), pieces_per_word,
              qa["squad11"]["questions"], qa["v2train"]["questions"], len(held), time.time() - t_start))
    if total > cap:
        raise SystemExit("bundle is over its limit")
    return manifest


if __name__ == "__main__":
    main()
