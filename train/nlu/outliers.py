"""Out-of-domain sentences for the SNIPS intent model: trained towards a uniform intent
distribution ("outlier exposure"), and measured as how often the intent score stays under the
dialog's trust threshold.

A classifier trained on seven intents only gives every input one of them, often with a score
near 1: "blah blah blah" or a stray line of a meeting becomes a confident AddToPlaylist, and
the dialog manager acts on it instead of saying it did not understand (its `nlu_threshold`,
0.5 in the shipped assistant). Outlier exposure (Hendrycks et al., 2019) adds sentences from
outside the domain to training with a loss that pulls their intent distribution towards
uniform (the cross-entropy to 1/K on every intent); their slots are not trained.

The sentences are the domain classifier's "nomatch" prose (train/nlu/domain.py): Wikipedia,
books, UN speeches, meeting transcripts and WordNet glosses, drawn to the word counts of the
SNIPS training utterances, written as speech recognition gives them (lower case, no
punctuation); a third of the training ones are cut to a fragment of 1 to 4 words, since
short out-of-domain turns ("blah blah", "thanks") are what a voice assistant mostly hears.
The measured ones come from the documents held out of pretraining and training alike, and
from SQuAD 2.0 dev questions (another style, never trained on).

    /usr/bin/python3 -m train.nlu.outliers models/nlu-intent-slot-snips [more model dirs]

prints, per model, the share of the held-out out-of-domain sentences whose intent score is
under 0.5 (rejected) and the share of the SNIPS test utterances at or over it (kept).
"""
import argparse
import os
import random

import numpy as np
import torch

from train.common.data import Example, read_snips
from train.common.paths import data_dir
from train.nlu.domain import prose_sets, snips_style, squad_questions

OUTLIER = "<outlier>"            # the intent of an out-of-domain training example


def _snips_lengths(data):
    return [len(e.words) for e in read_snips(os.path.join(data, "nlu", "snips", "train"))]


def sentences(data, part="train", n=3000, seed=1):
    """n out-of-domain word lists: the nomatch prose's training part (a third cut to 1-4 word
    fragments) or, part "heldout", its held-out part as it is."""
    # the domain classifier's held-out and dev quotas, so that the documents split alike (the
    # first ones of each source held out, the next ones dev, later ones training) and no
    # training sentence here comes from a document held out there
    sets = prose_sets(data, _snips_lengths(data), n if part == "train" else 0, 700, 2000, seed)
    out = [snips_style(s).split() for s in sets[part][:n]]
    if part == "train":
        rng = random.Random(seed)
        for i, words in enumerate(out):
            if rng.random() < 1 / 3:
                k = rng.randint(1, min(4, len(words)))
                j = rng.randrange(len(words) - k + 1)
                out[i] = words[j:j + k]
    return [w for w in out if w]


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


def measure(model, tok, data, max_length, threshold=0.5, n=1000, n_questions=300):
    """None without the prose; else {"rejected": % of held-out out-of-domain sentences scored
    under threshold, "questions": the same for SQuAD 2.0 dev questions, "kept": % of the SNIPS
    test utterances scored at or over it, "ood_median", "n", "n_questions", "threshold"}."""
    held = sentences(data, "heldout", n)
    if not held:                     # no prose in the data folder: nothing to measure
        return None
    ood = top_scores(model, tok, held, max_length)
    m = {"rejected": 100.0 * np.mean([s < threshold for s in ood]), "ood_median": float(np.median(ood)),
         "n": len(ood), "threshold": threshold}
    if n_questions and os.path.exists(os.path.join(data, "qa", "squad-v2-dev-half.json")):
        qs = top_scores(model, tok, [snips_style(q).split() for q in squad_questions(data, n_questions)],
                        max_length)
        m.update(questions=100.0 * np.mean([s < threshold for s in qs]), n_questions=len(qs))
    test = [e.words for e in read_snips(os.path.join(data, "nlu", "snips", "test"))]
    m["kept"] = 100.0 * np.mean([s >= threshold for s in top_scores(model, tok, test, max_length)])
    return m


def fmt(m):
    q = ("; %.1f%% of %d SQuAD questions" % (m["questions"], m["n_questions"])) if "questions" in m else ""
    return ("out-of-domain under %.2f: %.1f%% of %d held-out prose sentences (median score %.3f)%s; "
            "SNIPS test kept %.1f%%" % (m["threshold"], m["rejected"], m["n"], m["ood_median"], q, m["kept"]))


def load_joint(model_dir):
    """(model, tokenizer, max_length) of an exported joint intent/slot model directory."""
    from train.common.bert import JointIntentSlot, read_model_dir
    from train.common.wordpiece import WordPiece
    c, cfg, tensors, vocab = read_model_dir(model_dir)
    model = JointIntentSlot(cfg, len(c["labels"]["intent"]), len(c["labels"]["slot"]))
    model.load_state_dict(tensors)
    return model, WordPiece(vocab), c.get("max_length", 64)


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
        m = measure(model, tok, args.data, max_length, args.threshold, args.n)
        if m is None:
            raise SystemExit("%s: no out-of-domain prose (text/pretrain/*.txt.xz)" % args.data)
        print("%s: %s" % (d, fmt(m)))


if __name__ == "__main__":
    main()
