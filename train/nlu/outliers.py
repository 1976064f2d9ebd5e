"""Out-of-domain sentences for the SNIPS intent model: trained towards a uniform intent
distribution ("outlier exposure"), and measured as how often the intent score stays under the
dialog's trust threshold.

A classifier trained on seven intents only gives every input one of them, often with a score
near 1: "blah blah blah" or a stray line of a meeting becomes a confident AddToPlaylist, and
the dialog manager acts on it instead of saying it did not understand (its `nlu_threshold`,
0.5 in the shipped assistant). Outlier exposure (Hendrycks et al., 2019) adds sentences from
outside the domain to training with a loss that pulls their intent distribution towards
uniform (the cross-entropy to 1/K on every intent); their slots are not trained.

The sentences: AMI meeting transcripts (spoken chatter: "Mm. Hmm. Yeah, now I'd say ..."),
State of the Union addresses and Moby Dick, each file's first 95% for training and its last 5%
for measuring; lower-cased, punctuation other than apostrophes dropped (what speech
recognition gives), 2 to 24 words, a third of them cut to a fragment of 1 to 4 words.

    /usr/bin/python3 -m train.nlu.outliers models/nlu-intent-slot-snips [more model dirs]

prints, per model, the share of the held-out out-of-domain sentences whose intent score is
under 0.5 (rejected) and the share of the SNIPS test utterances at or over it (kept).
"""
import argparse
import lzma
import os
import random
import re

import numpy as np
import torch

from train.common.data import Example, read_snips
from train.common.paths import data_dir

OUTLIER = "<outlier>"            # the intent of an out-of-domain training example
SOURCES = (("ami", 0.5), ("sotu", 0.25), ("moby-dick", 0.25))
HELDOUT_FRACTION = 0.05
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_DROP = re.compile(r"[^a-z0-9' ]+")


def _lines(data, name):
    if name == "ami":
        with lzma.open(os.path.join(data, "text", "pretrain", "ami.txt.xz"), "rt", encoding="utf-8") as f:
            return [ln.strip() for ln in f if ln.strip()]
    with open(os.path.join(data, "text", name + ".txt"), encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if name == "moby-dick":                  # hard-wrapped: one paragraph at a time
        paras, cur = [], []
        for ln in lines:
            cur.append(ln)
            if ln.endswith((".", "?", "!", '"')):
                paras.append(" ".join(cur))
                cur = []
        lines = paras + ([" ".join(cur)] if cur else [])
    return lines


def _words(sentence):
    return _DROP.sub(" ", sentence.lower().replace("\u2019", "'")).split()


def sentences(data, part="train", n=3000, seed=1):
    """n out-of-domain word lists from the sources' training (or "heldout") part."""
    rng = random.Random(seed)
    out = []
    for name, share in SOURCES:
        lines = _lines(data, name)
        cut = len(lines) - int(round(len(lines) * HELDOUT_FRACTION))
        lines = lines[:cut] if part == "train" else lines[cut:]
        pool = [w for ln in lines for s in _SENTENCE_END.split(ln) for w in [_words(s)] if 2 <= len(w) <= 24]
        want = int(round(n * share)) if name != SOURCES[-1][0] else n - len(out)
        for words in rng.sample(pool, min(want, len(pool))):
            if rng.random() < 1 / 3:
                k = rng.randint(1, min(4, len(words)))
                i = rng.randrange(len(words) - k + 1)
                words = words[i:i + k]
            out.append(words)
    return out


def examples(data, n, seed=1):
    """Training examples of the out-of-domain sentences (intent OUTLIER, every tag O)."""
    return [Example(words=w, tags=["O"] * len(w), intent=OUTLIER) for w in sentences(data, "train", n, seed)]


def uniform_loss(logits):
    """Cross-entropy from the intent logits [b, K] to the uniform distribution, per row."""
    return -torch.log_softmax(logits.float(), -1).mean(-1)


@torch.no_grad()
def top_scores(model, tok, word_lists, max_length, batch_size=64):
    """The highest intent probability of each word list."""
    from train.common.loop import pad_batch
    model.eval()
    out = []
    for i in range(0, len(word_lists), batch_size):
        enc = [tok.encode_words(w, max_length)[0] for w in word_lists[i:i + batch_size]]
        ids, mask, _ = pad_batch(enc, [[0] * len(e) for e in enc], tok.pad_id)
        il, _ = model(ids, mask)
        out.extend(torch.softmax(il.float(), -1).max(-1).values.tolist())
    return out


def measure(model, tok, data, max_length, threshold=0.5, n=1000):
    """{"rejected": % of held-out out-of-domain sentences scored under threshold, "kept": % of the
    SNIPS test utterances scored at or over it, "n": n, "threshold": threshold}."""
    ood = top_scores(model, tok, sentences(data, "heldout", n, seed=7), max_length)
    test = [e.words for e in read_snips(os.path.join(data, "nlu", "snips", "test"))]
    ind = top_scores(model, tok, test, max_length)
    return {"rejected": 100.0 * np.mean([s < threshold for s in ood]),
            "kept": 100.0 * np.mean([s >= threshold for s in ind]),
            "ood_median": float(np.median(ood)), "n": len(ood), "threshold": threshold}


def fmt(m):
    return ("out-of-domain: %.1f%% of %d held-out sentences under %.2f (median score %.3f); "
            "SNIPS test kept %.1f%%" % (m["rejected"], m["n"], m["threshold"], m["ood_median"], m["kept"]))


def load_joint(model_dir):
    """(model, tokenizer, max_length) of an exported joint intent/slot model directory."""
    import json

    from train.common import safetensors_io
    from train.common.bert import BertConfig, JointIntentSlot
    from train.common.wordpiece import WordPiece, load_vocab
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    cfg = BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__ if k in c})
    model = JointIntentSlot(cfg, len(c["labels"]["intent"]), len(c["labels"]["slot"]))
    tensors, _ = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    return model, WordPiece(load_vocab(os.path.join(model_dir, "vocab.txt"))), c.get("max_length", 64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="exported joint intent/slot model directories")
    ap.add_argument("--data", default=data_dir())
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("-n", type=int, default=1000, help="held-out out-of-domain sentences")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for d in args.models:
        model, tok, max_length = load_joint(d)
        print("%s: %s" % (d, fmt(measure(model, tok, args.data, max_length, args.threshold, args.n))))


if __name__ == "__main__":
    main()
