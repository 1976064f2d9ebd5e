#!/usr/bin/python3
"""Pack a WORK folder's features + manifests into one compressed file (and back), to move
training data to another machine (e.g. a GPU box) within a size limit.

    pack.py --pack OUT.npz [--work W] [--max-mib 56]     all dev_* and real records, then
                                                          train records (seeded shuffle)
                                                          until the size estimate is reached
    pack.py --unpack IN.npz --work W2                    writes W2/feats/... + W2/manifests/

Features are stored as int8 with a step of 1/32 (range +-3.97; per_feature normalized
log-mels rarely leave it), i.e. a quantization error <= 1/64.
"""
import argparse
import json
import os
import random

import numpy as np

from train.asr.asrdata import read_manifests
from train.common.paths import work_dir

SETS = ["dev_lj", "dev_fsdd", "dev_synth", "real", "train"]


def pack(work, out, max_mib, max_lj_copies=8):
    recs = []
    for s in SETS:
        rs = read_manifests(work, s)
        if s == "train":
            random.Random(7).shuffle(rs)
        recs += [(s, r) for r in rs]
    budget = max_mib * 2 ** 20 / 0.8  # int8 frames compress to ~80%
    chunks, meta, total = [], [], 0
    for s, r in recs:
        nbytes = r["frames"] * 80
        if s == "train" and total + nbytes > budget:
            continue
        if r["id"].startswith("real-lj-") and int(r["id"].rsplit("-", 1)[1]) >= max_lj_copies:
            continue
        f = np.load(os.path.join(work, r["feat"])).astype(np.float32)
        chunks.append(np.clip(np.round(f * 32), -127, 127).astype(np.int8))
        meta.append(dict(r, set=s))
        total += nbytes
    np.savez_compressed(out, frames=np.concatenate(chunks), meta=np.frombuffer(
        json.dumps(meta).encode(), dtype=np.uint8))
    print("packed %d records, %d frames, %.1f MiB" % (len(meta), total // 80,
                                                       os.path.getsize(out) / 2 ** 20))


def unpack(path, work):
    z = np.load(path)
    frames, meta = z["frames"], json.loads(z["meta"].tobytes().decode())
    os.makedirs(os.path.join(work, "manifests"), exist_ok=True)
    mans, off = {}, 0
    for r in meta:
        n = r["frames"]
        f = frames[off:off + n].astype(np.float16) / np.float16(32)
        off += n
        p = os.path.join(work, r["feat"])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        np.save(p, f)
        s = r.pop("set")
        mans.setdefault(s, []).append(json.dumps(r))
    for s, lines in mans.items():
        with open(os.path.join(work, "manifests", s + ".0.jsonl"), "w") as fo:
            fo.write("\n".join(lines) + "\n")
    print("unpacked %d records into %s" % (len(meta), work))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=work_dir("asr"))
    ap.add_argument("--pack")
    ap.add_argument("--unpack")
    ap.add_argument("--max-mib", type=float, default=56)
    ap.add_argument("--max-lj-copies", type=int, default=8, help="augmented copies of real LJ clips")
    a = ap.parse_args()
    if a.pack:
        pack(a.work, a.pack, a.max_mib, a.max_lj_copies)
    elif a.unpack:
        unpack(a.unpack, a.work)
    else:
        ap.error("--pack or --unpack")
