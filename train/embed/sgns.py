"""Word-piece vectors from the pretraining prose (skip-gram with negative sampling).

The encoders that Parley fine-tunes from scratch (NER, slots, punctuation) start their
word-piece embeddings at random; vectors learnt from the 26 M words of prose give them what
each piece means before the task data is seen (finetune.py --init-embeddings). The vectors
are trained over a pretraining bundle's token stream (train.nlu.pack_pretrain: vocab.txt,
corpus.u16.xz) by sgns.c, compiled here with the system C compiler.

    nice -n 19 /usr/bin/python3 -m train.embed.sgns --bundle train/work/pretrain-prose/bundle \\
        --dim 256 --epochs 3

Writes <work>/vectors.pt: {"vocab": [piece, ...], "vectors": float32 [V, dim], "args": {...},
"neighbours": {probe: [(piece, cosine), ...]}} and logs the nearest pieces of a few probes,
with the mean cosine of probe pairs that should be near against pairs that should not (a
quick check that the vectors mean something; the fine-tuning that uses them is the real
measure).
"""
import argparse
import glob
import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch

from train.common.paths import data_dir
from train.common.wordpiece import CachedEncoder, WordPiece
from train.gpu.pack import documents

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# pairs that share a meaning or role, and pairs that do not (all single pieces of the
# uncased vocabularies the NLU models use)
NEAR = [("monday", "tuesday"), ("london", "paris"), ("king", "queen"), ("red", "blue"),
        ("music", "song"), ("two", "three"), ("january", "february"), ("france", "germany"),
        ("he", "she"), ("city", "town")]
FAR = [("monday", "blue"), ("london", "song"), ("king", "february"), ("red", "three"),
       ("music", "germany"), ("two", "town"), ("january", "she"), ("france", "tuesday"),
       ("he", "paris"), ("city", "queen")]
PROBES = ["monday", "london", "music", "play", "weather", "rain", "book", "restaurant"]


def log(work, msg):
    line = "%s  %s" % (time.strftime("%H:%M:%S"), msg)
    print(line, flush=True)
    with open(os.path.join(work, "train.log"), "a") as f:
        f.write(line + "\n")


def build_tool(work):
    """Compile sgns.c into <work>/sgns when the binary is missing or older than the source."""
    src, exe = os.path.join(HERE, "sgns.c"), os.path.join(work, "sgns")
    if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
        return exe
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise SystemExit("no C compiler (cc, gcc or clang) on PATH")
    flags = ["-O3", "-ffast-math", "-std=c11", "-pthread"]
    # -march=native where the compiler takes it (the vectors' dot products vectorize)
    probe = subprocess.run([cc, "-march=native", "-x", "c", "-E", "-", "-o", os.devnull],
                           input=b"", capture_output=True)
    if probe.returncode == 0:
        flags.append("-march=native")
    subprocess.run([cc] + flags + ["-o", exe, src, "-lm"], check=True)
    return exe


def tokenize_text(args, vocab_path):
    """The prose's documents as one uint16 id stream ([SEP] between documents), written once
    per vocabulary to <work>/corpus-<vocab key>.u16."""
    with open(vocab_path, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:12]
    path = os.path.join(args.work, "corpus-%s.u16" % key)
    if os.path.exists(path):
        return path
    tok = WordPiece(vocab_path)
    if len(tok.pieces) > 65536:
        raise SystemExit("%s: %d pieces do not fit uint16 ids" % (vocab_path, len(tok.pieces)))
    enc, sep = CachedEncoder(tok), tok.ids["[SEP]"]
    t0, n = time.time(), 0
    with open(path + ".part", "wb") as out:
        for name in sorted(glob.glob(os.path.join(args.data, "text", "pretrain", "*.txt.xz"))):
            for doc in documents(name):
                ids = np.array(enc(" ".join(doc)) + [sep], dtype="<u2")
                ids.tofile(out)
                n += len(ids)
            log(args.work, "tokenized %s: %d pieces so far, %d words, %.0f s"
                % (os.path.basename(name), n, enc.words, time.time() - t0))
    if not n:
        raise SystemExit("no prose under %s" % os.path.join(args.data, "text", "pretrain"))
    os.replace(path + ".part", path)
    return path


def read_vectors(path):
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"PLSG":
            raise SystemExit("%s: not an sgns output" % path)
        v, d = int.from_bytes(head[4:8], "little"), int.from_bytes(head[8:12], "little")
        data = f.read()
    if len(data) != 4 * v * d:
        raise SystemExit("%s: %d bytes of vectors, expected %d" % (path, len(data), 4 * v * d))
    return torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(v, d).clone()


def cosine_table(vocab, vectors):
    index = {p: i for i, p in enumerate(vocab)}
    unit = torch.nn.functional.normalize(vectors, dim=1)

    def cos(a, b):
        if a not in index or b not in index:
            return None
        return float(unit[index[a]] @ unit[index[b]])

    def mean(pairs):
        vals = [c for c in (cos(a, b) for a, b in pairs) if c is not None]
        return sum(vals) / len(vals) if vals else float("nan"), len(vals)

    neighbours = {}
    for p in PROBES:
        if p in index:
            sims = unit @ unit[index[p]]
            sims[index[p]] = -2
            top = torch.topk(sims, 8)
            neighbours[p] = [(vocab[int(i)], round(float(s), 3)) for s, i in zip(top.values, top.indices)]
    return mean(NEAR), mean(FAR), neighbours


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=os.path.join(ROOT, "train", "work", "pretrain-prose", "bundle"),
                    help="a pretraining bundle (vocab.txt, corpus.u16.xz)")
    ap.add_argument("--corpus", default="", help="a uint16 id stream to use instead of the bundle's corpus")
    ap.add_argument("--text-vocab", default="",
                    help="tokenize the prose itself (<data>/text/pretrain/*.txt.xz, every document once) "
                         "with this vocab.txt instead of reading the bundle: vectors for another "
                         "vocabulary (e.g. BERT's full uncased one)")
    ap.add_argument("--data", default=data_dir(), help="--text-vocab: the shared data folder")
    ap.add_argument("--vocab", default="", help="vocab.txt to use instead of the bundle's")
    ap.add_argument("--work", default=os.path.join(ROOT, "train", "work", "embed"))
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--alpha", type=float, default=0.025)
    ap.add_argument("--sample", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="", help="default: <work>/vectors.pt")
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    vocab_path = args.text_vocab or args.vocab or os.path.join(args.bundle, "vocab.txt")
    with open(vocab_path, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    specials = sum(1 for p in vocab[:16] if p.startswith("[") and p.endswith("]"))
    corpus = args.corpus
    if not corpus and args.text_vocab:
        corpus = tokenize_text(args, vocab_path)
    elif not corpus:
        corpus = os.path.join(args.work, "corpus.u16")
        src = os.path.join(args.bundle, "corpus.u16.xz")
        if not os.path.exists(corpus) or os.path.getmtime(corpus) < os.path.getmtime(src):
            log(args.work, "decompressing %s" % src)
            with lzma.open(src) as fi, open(corpus + ".part", "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 22)
            os.replace(corpus + ".part", corpus)
    exe = build_tool(args.work)
    raw = os.path.join(args.work, "vectors.bin")
    cmd = [exe, "--corpus", corpus, "--vocab", str(len(vocab)), "--out", raw, "--dim", str(args.dim),
           "--window", str(args.window), "--negative", str(args.negative), "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--alpha", str(args.alpha), "--sample", str(args.sample),
           "--specials", str(specials), "--seed", str(args.seed)]
    log(args.work, "running %s" % " ".join(cmd))
    t0 = time.time()
    subprocess.run(cmd, check=True)
    seconds = time.time() - t0
    vectors = read_vectors(raw)
    if vectors.shape[0] != len(vocab):
        raise SystemExit("the vectors have %d rows for a %d-piece vocabulary" % (vectors.shape[0], len(vocab)))
    (near, n_near), (far, n_far), neighbours = cosine_table(vocab, vectors)
    log(args.work, "%d x %d vectors in %.0f s; mean cosine of related pairs %.3f (%d), unrelated %.3f (%d)"
        % (vectors.shape[0], vectors.shape[1], seconds, near, n_near, far, n_far))
    for p, top in neighbours.items():
        log(args.work, "  %-10s %s" % (p, " ".join("%s:%.2f" % t for t in top)))
    out = args.out or os.path.join(args.work, "vectors.pt")
    torch.save({"vocab": vocab, "vectors": vectors, "args": vars(args), "seconds": seconds,
                "near": near, "far": far, "neighbours": neighbours}, out)
    log(args.work, "wrote %s" % out)
    return {"near": near, "far": far, "seconds": seconds}


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
