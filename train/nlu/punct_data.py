"""Punctuation + capitalization data from ../shared/data/text, shared by the
recipe (train/nlu/punct_capit.py) and the evaluation through the service
(train/nlu/eval_service.py), so that both see the same held-out text.

Every source becomes one stream of words; each word carries
    word  the input form: lower-case, surrounding punctuation removed
          (inner apostrophes, hyphens, periods kept: "don't", "u.s")
    mark  the mark after it: "O" (none), "," "." "?"
          ("!" counts as ".", ";" ":" and dashes as ",")
    case  "lower", "Capitalized" (first letter upper) or "UPPER"
          (two or more letters, all upper case)

Sources and the fixed held-out part (the LAST 5% of the lines of each file):
    text/ljspeech-sentences.csv  the normalized column (3rd), lines in order
    text/sotu.txt                State of the Union addresses
    text/moby-dick.txt           Moby Dick
The first 95% of the lines of each file is training text.
"""
import lzma
import os
import random

MARKS = ["O", ",", ".", "?"]
CASES = ["lower", "Capitalized", "UPPER"]
HELDOUT_FRACTION = 0.05
SOURCES = ("ljspeech", "sotu", "moby-dick")

_TRAIL_MARK = {"?": "?", ".": ".", "!": ".", ",": ",", ";": ",", ":": ",", "\u2014": ",", "\u2013": ","}


def _source_lines(data_dir, name):
    if name == "ljspeech":
        out = []
        with open(os.path.join(data_dir, "text", "ljspeech-sentences.csv"), encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("|")
                if len(parts) >= 3:
                    out.append(parts[2])
        return out
    fn = {"sotu": "sotu.txt", "moby-dick": "moby-dick.txt"}[name]
    with open(os.path.join(data_dir, "text", fn), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def _case_of(core):
    letters = [c for c in core if c.isalpha()]
    if not letters:
        return "lower"
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return "UPPER"
    return "Capitalized" if letters[0].isupper() else "lower"


def _mark_of(trail):
    best = "O"
    for ch in trail:
        m = _TRAIL_MARK.get(ch)
        if m == "?":
            return "?"
        if m == "." or (m == "," and best == "O"):
            best = m
    return best


def words_of(text):
    """[(word, mark, case)] of a piece of punctuated, cased text."""
    text = text.replace("--", " \u2014 ").replace("\u2014", " \u2014 ")
    out = []
    for tok in text.split():
        start, end = 0, len(tok)
        while start < end and not tok[start].isalnum():
            start += 1
        while end > start and not tok[end - 1].isalnum():
            end -= 1
        core, trail = tok[start:end], tok[end:]
        if not core:
            # a token of punctuation only ("—", "...") marks the previous word
            if out:
                m = _mark_of(tok)
                w, pm, c = out[-1]
                if m != "O" and (pm == "O" or (pm == "," and m in ".?") or (pm == "." and m == "?")):
                    out[-1] = (w, m, c)
            continue
        out.append((core.lower(), _mark_of(trail), _case_of(core)))
    return out


PROSE_SOURCES = ("gutenberg", "un", "ami", "wiki2018", "wiki2015", "wordnet")


def load_prose(data_dir, name, max_words, seed=1):
    """[(word, mark, case)] of about max_words words of the prose corpus
    text/pretrain/<name>.txt.xz (one paragraph a line; real punctuation and
    casing), training text only: whole paragraphs drawn evenly over the file
    (each kept with the probability that yields max_words; seed fixed). The
    corpus shares no documents with LJ Speech, SOTU or Moby Dick, so the
    held-out 5% of those stays unseen."""
    path = os.path.join(data_dir, "text", "pretrain", name + ".txt.xz")
    with lzma.open(path, "rt", encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    total = sum(line.count(" ") + 1 for line in lines)
    keep = min(1.0, max_words / max(1, total))
    rng = random.Random(seed)
    out = []
    for line in lines:
        if rng.random() < keep:
            out.extend(words_of(line))
    return out


def load_split(data_dir, split):
    """{source: [(word, mark, case), ...]} of "train" (first 95% of lines) or
    "heldout" (last 5%)."""
    out = {}
    for name in SOURCES:
        lines = _source_lines(data_dir, name)
        cut = len(lines) - int(round(len(lines) * HELDOUT_FRACTION))
        part = lines[:cut] if split == "train" else lines[cut:]
        words = []
        for line in part:
            words.extend(words_of(line))
        out[name] = words
    return out


def sentence_groups(words, min_words=30, max_words=60):
    """Consecutive whole sentences grouped until at least min_words words (a
    group longer than max_words is cut at max_words): the evaluation texts."""
    out, cur = [], []
    for w in words:
        cur.append(w)
        if len(cur) >= max_words or (w[1] in ".?" and len(cur) >= min_words):
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def heldout_segments(data_dir, per_source=300):
    """The fixed evaluation texts: per source the first `per_source` groups of
    whole sentences (30-60 words) of its held-out part. List of (source, words)."""
    held = load_split(data_dir, "heldout")
    out = []
    for name in SOURCES:
        groups = sentence_groups(held[name])
        out.extend((name, g) for g in groups[:per_source])
    return out


class MarkScores:
    """Per-mark precision/recall/F1 over words and capitalization accuracy."""

    def __init__(self):
        self.tp = {m: 0 for m in MARKS[1:]}
        self.pred = {m: 0 for m in MARKS[1:]}
        self.gold = {m: 0 for m in MARKS[1:]}
        self.case_right = self.words = 0

    def add(self, gold_marks, pred_marks, gold_cases=None, pred_cases=None):
        if len(gold_marks) != len(pred_marks):
            raise ValueError("gold has %d words, prediction %d" % (len(gold_marks), len(pred_marks)))
        for g, p in zip(gold_marks, pred_marks):
            if p in self.pred:
                self.pred[p] += 1
            if g in self.gold:
                self.gold[g] += 1
                self.tp[g] += g == p
        if gold_cases is not None:
            self.case_right += sum(g == p for g, p in zip(gold_cases, pred_cases))
            self.words += len(gold_cases)

    def result(self):
        r = {}
        for m in MARKS[1:]:
            p = self.tp[m] / self.pred[m] if self.pred[m] else 0.0
            rc = self.tp[m] / self.gold[m] if self.gold[m] else 0.0
            f = 2 * p * rc / (p + rc) if p + rc else 0.0
            r[m] = {"p": p, "r": rc, "f1": f, "gold": self.gold[m]}
        r["macro_f1"] = sum(r[m]["f1"] for m in MARKS[1:]) / 3.0
        r["case_acc"] = self.case_right / self.words if self.words else 0.0
        r["words"] = self.words
        return r


def format_scores(r):
    lines = ["mark  precision  recall     F1   (gold count)"]
    names = {",": "comma", ".": "period", "?": "question"}
    for m in MARKS[1:]:
        lines.append("%-8s %6.3f  %6.3f  %6.3f  (%d)" % (names[m], r[m]["p"], r[m]["r"], r[m]["f1"], r[m]["gold"]))
    lines.append("macro F1 (, . ?) %.3f   capitalization accuracy %.4f over %d words" % (
        r["macro_f1"], r["case_acc"], r["words"]))
    return "\n".join(lines)
