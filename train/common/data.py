"""Readers for the public NLU/NER data sets in ../shared/data.

SNIPS (nlu/snips/<split>/): three parallel files, one utterance per line:
    seq.in   space-separated words        "listen to westbam alumb allergic"
    seq.out  one BIO tag per word          "O O B-artist O B-album"
    label    the intent                    "PlayMusic"

CoNLL-2003 (ner/conll2003/<split>.txt): one token per line with four columns
"word POS chunk NER", blank lines between sentences, "-DOCSTART-" lines
between documents (each sentence's meta["doc"] numbers its document).
"""
import os
from dataclasses import dataclass, field
from typing import List


@dataclass
class Example:
    words: List[str]
    tags: List[str]                 # one BIO tag per word
    intent: str = ""                # SNIPS only
    meta: dict = field(default_factory=dict)


def _read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def read_snips(split_dir):
    """Examples of one SNIPS split directory (train, valid or test)."""
    words = _read_lines(os.path.join(split_dir, "seq.in"))
    tags = _read_lines(os.path.join(split_dir, "seq.out"))
    intents = _read_lines(os.path.join(split_dir, "label"))
    # A trailing empty line (final newline) is not an utterance.
    while words and not words[-1].strip() and len(words) > len(intents):
        words.pop()
    while tags and not tags[-1].strip() and len(tags) > len(intents):
        tags.pop()
    if not (len(words) == len(tags) == len(intents)):
        raise ValueError("%s: seq.in/seq.out/label have %d/%d/%d lines"
                         % (split_dir, len(words), len(tags), len(intents)))
    out = []
    for i, (w, t, lab) in enumerate(zip(words, tags, intents)):
        ws, ts = w.split(), t.split()
        if len(ws) != len(ts):
            raise ValueError("%s line %d: %d words but %d tags" % (split_dir, i + 1, len(ws), len(ts)))
        if not ws:
            raise ValueError("%s line %d: empty utterance" % (split_dir, i + 1))
        for tag in ts:
            check_bio_tag(tag, "%s line %d" % (split_dir, i + 1))
        out.append(Example(ws, ts, lab.strip()))
    return out


def read_conll(path, tag_column=-1):
    """Sentences of a CoNLL-2003 style file; tags from `tag_column` (last by default); meta["doc"]
    counts the "-DOCSTART-" lines before the sentence."""
    out, words, tags, doc = [], [], [], 0
    for n, line in enumerate(_read_lines(path), 1):
        cols = line.split()
        if not cols:
            if words:
                out.append(Example(words, tags, meta={"doc": doc}))
                words, tags = [], []
            continue
        if cols[0] == "-DOCSTART-":
            if words:
                out.append(Example(words, tags, meta={"doc": doc}))
                words, tags = [], []
            doc += 1
            continue
        if len(cols) < 2:
            raise ValueError("%s:%d: expected at least 2 columns, got %r" % (path, n, line))
        check_bio_tag(cols[tag_column], "%s:%d" % (path, n))
        words.append(cols[0])
        tags.append(cols[tag_column])
    if words:
        out.append(Example(words, tags, meta={"doc": doc}))
    return out


def check_bio_tag(tag, where):
    if tag == "O":
        return
    if len(tag) < 3 or tag[:2] not in ("B-", "I-"):
        raise ValueError("%s: %r is not a BIO tag" % (where, tag))


def label_list(values, first=None):
    """Sorted distinct labels; `first` (e.g. "O") is put at index 0 when given."""
    labels = sorted(set(values) - ({first} if first else set()))
    return ([first] if first else []) + labels


def bio_labels(examples):
    """All B-/I- tags of every entity type seen, plus "O" first.

    Both B-x and I-x are included for every type x, so a model can predict an
    I- tag even when the training data never showed it for that type."""
    types = set()
    for ex in examples:
        for t in ex.tags:
            if t != "O":
                types.add(t[2:])
    return ["O"] + [p + t for t in sorted(types) for p in ("B-", "I-")]
