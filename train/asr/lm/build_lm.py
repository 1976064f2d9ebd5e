#!/usr/bin/python3
"""Build Parley's ASR word n-gram language model (ARPA, gzip) from ../shared/data.

Two recipes:
  --large   the shipped model (models/asr-lm/lm.arpa.gz, since 2026-12-05): the pretraining
            prose (text/pretrain, 26.6 M words) plus the in-domain texts (LJ Speech sentences,
            SOTU, SNIPS, the speechocean762 train speakers' transcripts minus the acoustic
            recipe's dev speakers, digits and command words), normalized with
            train/asr/textnorm.py, counted with numpy; word 3-gram with count cut-offs 3,5 by
            default (--order 2-4, --cutoffs, --prune, --source-weights, --vocab). See
            train/asr/lm/large.py and the card. About 7 minutes and 6 GB of memory on one core;
            the normalized text and the counts stay in --work (train/work/asr-lm), so a second
            run (other orders or cut-offs) takes 1-2 minutes.
  default   the first model (shipped until 2026-12-05): 2.2 M words of in-domain text, the
            normalization below, a 3-gram with cut-offs 2,2; rebuilt byte for byte.

Smoothing (both): interpolated modified Kneser-Ney (Chen & Goodman 1998; three
discounts per order from the count-of-counts, continuation counts for the lower
orders, n-grams that start with <s> keep their real counts, the unigrams
interpolate with a uniform distribution). Pruning of the default recipe: count cut-offs (bigrams and
trigrams seen fewer than --min-bigram / --min-trigram times are dropped, except
the bigrams a kept trigram needs) and a vocabulary of the words seen at least
--min-word times (the rest become <unk>). The backoff weight of every context
is recomputed after pruning so that each conditional distribution sums to one:
bow(h) = (1 - sum_kept p(w|h)) / (1 - sum_kept p(w|h')).

Text of the default recipe (all lower case, numbers spelled out, punctuation removed):
  text/ljspeech-sentences.csv (normalized column), text/sotu.txt (split into
  sentences), nlu/snips/train/seq.in.
Held out of training (both recipes): the LJ sentences of speech/ljspeech-subset (the ASR
evaluation clips) and every 50th other LJ sentence; the perplexity on them is
printed. Left out as well: the LJ050-* sentences, the text of the ASR
recipe's synthetic dev set. The LJ training sentences count 3 times (--lj-weight; the count
cut-offs use the real counts): held-out LJ perplexity 338.6 (weight 1) ->
323.0 (3) -> 332.1 (8).

  /usr/bin/python3 -m train.asr.lm.build_lm --large [--data ../shared/data] [--out models/asr-lm/lm.arpa.gz]
  /usr/bin/python3 -m train.asr.lm.build_lm [--out FILE]       # the first model

The default recipe uses the standard library only; about a minute on one core.
"""
import argparse
import collections
import gzip
import io
import math
import os
import re
import sys
import time

from train.common import paths

# --- normalization ---------------------------------------------------------------

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORD = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
       "nine": "ninth", "twelve": "twelfth"}


def cardinal(n):
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + cardinal(rest))
    for scale, name in ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"),
                        (1000, "thousand")):
        if n >= scale:
            rest = n % scale
            return cardinal(n // scale) + " " + name + ("" if rest == 0 else " " + cardinal(rest))
    return str(n)


def year(n):
    if 2000 <= n < 2010:
        return cardinal(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return cardinal(hi) + " hundred"
    return cardinal(hi) + " " + ("oh " + ONES[lo] if lo < 10 else cardinal(lo))


def ordinal(n):
    words = cardinal(n).split()
    last = words[-1]
    if last in ORD:
        words[-1] = ORD[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def spell_number(tok):
    m = re.fullmatch(r"(\d+)(st|nd|rd|th)", tok)
    if m:
        return ordinal(int(m.group(1)))
    if re.fullmatch(r"\d+\.\d+", tok):
        a, b = tok.split(".")
        return cardinal(int(a)) + " point " + " ".join(ONES[int(d)] for d in b)
    if re.fullmatch(r"\d+", tok):
        n = int(tok)
        if len(tok) == 4 and 1100 <= n <= 2099:
            return year(n)
        if len(tok) > 15:
            return " ".join(ONES[int(d)] for d in tok)
        return cardinal(n)
    return tok


def normalize(text):
    t = text.lower()
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)                    # 1,000 -> 1000
    t = re.sub(r"\$(\d+(?:\.\d+)?)", r"\1 dollars", t)
    t = t.replace("%", " percent ").replace("&", " and ")
    t = re.sub(r"(\d+(?:\.\d+)?(?:st|nd|rd|th)?)", r" \1 ", t)
    t = re.sub(r"[^a-z0-9'. ]+", " ", t)
    out = []
    for tok in t.split():
        tok = tok.strip(".")
        if re.fullmatch(r"\d+(\.\d+)?|\d+(st|nd|rd|th)", tok):
            out.extend(spell_number(tok).split())
            continue
        tok = tok.replace(".", " ").strip("'")
        out.extend(w for w in tok.split() if re.fullmatch(r"[a-z][a-z']*", w))
    return out


# the text of the ASR recipe's synthetic dev set (train/asr/synth.py): kept out of the LM too,
# so that the set's text is new to the whole recognizer
SYNTH_DEV_PREFIX = "LJ050-"


def read_corpus(data):
    held_ids = set()
    meta = os.path.join(data, "speech", "ljspeech-subset", "metadata.csv")
    with open(meta, encoding="utf-8") as f:
        for line in f:
            held_ids.add(line.split("|", 1)[0])
    train, held = [], []
    with open(os.path.join(data, "text", "ljspeech-sentences.csv"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("|")
            if len(parts) < 3:
                continue
            words = normalize(parts[2])
            if not words:
                continue
            if parts[0] in held_ids or i % 50 == 0:
                held.append(words)
            elif not parts[0].startswith(SYNTH_DEV_PREFIX):
                train.append(words)
    n_lj = len(train)  # the LJ training sentences come first (see --lj-weight)
    with open(os.path.join(data, "text", "sotu.txt"), encoding="utf-8") as f:
        text = f.read()
    for sent in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
        words = normalize(sent)
        if words:
            train.append(words)
    with open(os.path.join(data, "nlu", "snips", "train", "seq.in"), encoding="utf-8") as f:
        for line in f:
            words = normalize(line)
            if words:
                train.append(words)
    return train, held, n_lj


# --- modified Kneser-Ney -------------------------------------------------------------

def discounts(counts):
    coc = collections.Counter(min(c, 4) for c in counts.values())
    n1, n2, n3, n4 = (coc.get(k, 0) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return (0.5, 1.0, 1.5)
    y = n1 / (n1 + 2.0 * n2)
    return (max(0.0, 1 - 2 * y * n2 / n1), max(0.0, 2 - 3 * y * n3 / n2),
            max(0.0, 3 - 4 * y * n4 / n3))


def disc(d, c):
    return d[0] if c == 1 else d[1] if c == 2 else d[2]


def interpolated(counts, d):
    """Per context: (total, gamma numerator) and per n-gram the discounted mass."""
    ctx = {}
    for g, c in counts.items():
        h = g[:-1]
        t = ctx.get(h)
        if t is None:
            t = ctx[h] = [0.0, 0.0]
        t[0] += c
        t[1] += disc(d, c)
    return ctx


def build(train, min_word, min_bigram, min_trigram, n_lj=0, lj_weight=1):
    """The first n_lj sentences count lj_weight times (domain weighting); the
    cut-offs look at the real counts."""
    wc = collections.Counter(w for s in train for w in s)
    vocab = {w for w, c in wc.items() if c >= min_word}
    c3 = collections.Counter()
    c2 = collections.Counter()
    raw3 = collections.Counter()
    raw2 = collections.Counter()
    for si, s in enumerate(train):
        wgt = lj_weight if si < n_lj else 1
        toks = ["<s>"] + [w if w in vocab else "<unk>" for w in s] + ["</s>"]
        for i in range(1, len(toks)):
            c2[(toks[i - 1], toks[i])] += wgt
            raw2[(toks[i - 1], toks[i])] += 1
            if i >= 2:
                c3[(toks[i - 2], toks[i - 1], toks[i])] += wgt
                raw3[(toks[i - 2], toks[i - 1], toks[i])] += 1
    # adjusted counts: continuation counts, except n-grams starting with <s>
    a2 = collections.Counter()
    for (u, v, w) in c3:
        a2[(v, w)] += 1
    for (v, w), c in c2.items():
        if v == "<s>":
            a2[(v, w)] = c
    a1 = collections.Counter()
    for (v, w) in a2:
        a1[w] += 1
    words = sorted(set(a1) | {"<unk>", "</s>"})
    V = len(words)
    d1, d2, d3 = discounts(a1), discounts(a2), discounts(c3)

    # unigrams
    tot1 = sum(a1.values())
    gam1 = sum(disc(d1, c) for c in a1.values()) / tot1
    p1 = {w: (max(a1.get(w, 0) - disc(d1, a1.get(w, 0)), 0.0) / tot1 if a1.get(w, 0) else 0.0)
          + gam1 / V for w in words}

    # bigrams (interpolated with p1), then pruning
    ctx2 = interpolated(a2, d2)
    p2 = {}
    for g, c in a2.items():
        tot, gnum = ctx2[g[:1]]
        p2[g] = (c - disc(d2, c)) / tot + gnum / tot * p1[g[1]]
    ctx3 = interpolated(c3, d3)
    keep3 = {g for g, c in raw3.items() if c >= min_trigram}
    keep2 = {g for g, c in raw2.items() if c >= min_bigram}
    for (u, v, w) in keep3:
        keep2.add((u, v))
        keep2.add((v, w))
    keep2 &= set(p2)
    bow1 = {}
    kept_by_ctx = collections.defaultdict(list)
    for g in keep2:
        kept_by_ctx[g[0]].append(g)
    for h, gs in kept_by_ctx.items():
        gs.sort()  # a fixed summation order: the output does not depend on hash seeds
        num = 1.0 - sum(p2[g] for g in gs)
        den = 1.0 - sum(p1[g[1]] for g in gs)
        bow1[h] = max(num, 1e-12) / max(den, 1e-12)

    def p2full(v, w):
        g = (v, w)
        if g in keep2:
            return p2[g]
        return bow1.get(v, 1.0) * p1[w]

    p3 = {}
    for g in keep3:
        c = c3[g]
        tot, gnum = ctx3[g[:2]]
        p3[g] = (c - disc(d3, c)) / tot + gnum / tot * p2full(g[1], g[2])
    bow2 = {}
    kept3_by_ctx = collections.defaultdict(list)
    for g in keep3:
        kept3_by_ctx[g[:2]].append(g)
    for h, gs in kept3_by_ctx.items():
        gs.sort()
        num = 1.0 - sum(p3[g] for g in gs)
        den = 1.0 - sum(p2full(h[1], g[2]) for g in gs)
        bow2[h] = max(num, 1e-12) / max(den, 1e-12)
    return words, p1, bow1, {g: p2[g] for g in keep2}, bow2, p3


def write_arpa(path, words, p1, bow1, p2, bow2, p3):
    buf = io.StringIO()
    lg = math.log10
    buf.write("\\data\\\nngram 1=%d\nngram 2=%d\nngram 3=%d\n\n\\1-grams:\n" %
              (len(words) + 1, len(p2), len(p3)))
    buf.write("-99\t<s>\t%.6f\n" % lg(bow1.get("<s>", 1.0)))
    for w in words:
        if w in bow1:
            buf.write("%.6f\t%s\t%.6f\n" % (lg(p1[w]), w, lg(bow1[w])))
        else:
            buf.write("%.6f\t%s\n" % (lg(p1[w]), w))
    buf.write("\n\\2-grams:\n")
    for g in sorted(p2):
        if g in bow2:
            buf.write("%.6f\t%s %s\t%.6f\n" % (lg(p2[g]), g[0], g[1], lg(bow2[g])))
        else:
            buf.write("%.6f\t%s %s\n" % (lg(p2[g]), g[0], g[1]))
    buf.write("\n\\3-grams:\n")
    for g in sorted(p3):
        buf.write("%.6f\t%s %s %s\n" % (lg(p3[g]), g[0], g[1], g[2]))
    buf.write("\n\\end\\\n")
    data = buf.getvalue().encode("utf-8")
    if path.endswith(".gz"):
        with open(path, "wb") as f:
            with gzip.GzipFile(filename="lm.arpa", mode="wb", fileobj=f, mtime=0) as g:
                g.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return len(data)


def load_arpa(path):
    """(n-gram -> (log10 p, log10 bow)) of an ARPA file, for the perplexity."""
    op = gzip.open if path.endswith(".gz") else open
    ng, order = {}, 0
    with op(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("ngram "):
                continue
            if line.startswith("\\"):
                if line.endswith("-grams:"):
                    order = int(line[1])
                continue
            if order == 0:
                continue
            parts = line.split()
            ng[tuple(parts[1:1 + order])] = (float(parts[0]),
                                             float(parts[1 + order]) if len(parts) > 1 + order
                                             else 0.0)
    return ng


def perplexity(ng, sents):
    logsum, n, oov = 0.0, 0, 0
    for s in sents:
        toks = []
        for w in s:
            if (w,) not in ng:
                oov += 1
                w = "<unk>"
            toks.append(w)
        toks.append("</s>")
        hist = ["<s>"]
        for w in toks:
            acc = 0.0
            for k in range(min(len(hist), 2), -1, -1):
                h = tuple(hist[len(hist) - k:])
                e = ng.get(h + (w,))
                if e is not None:
                    acc += e[0]
                    break
                if k > 0 and h in ng:
                    acc += ng[h][1]
            logsum += acc
            n += 1
            hist.append(w)
    return 10 ** (-logsum / n), n, oov


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=paths.data_dir())
    ap.add_argument("--out", default=paths.models_dir("asr-lm", "lm.arpa.gz"))
    ap.add_argument("--min-word", type=int, default=2)
    ap.add_argument("--min-bigram", type=int, default=2)
    ap.add_argument("--min-trigram", type=int, default=2)
    ap.add_argument("--lj-weight", type=int, default=3,
                    help="count each LJ Speech training sentence this many times")
    g = ap.add_argument_group("the large model (train/asr/lm/large.py)")
    g.add_argument("--large", action="store_true",
                   help="the pretraining prose plus the in-domain texts, counted with numpy")
    g.add_argument("--order", type=int, default=3, help="n-gram order, 2-4")
    g.add_argument("--cutoffs", default="3,5",
                   help="least real count of a kept bigram,trigram[,4-gram]")
    g.add_argument("--prune", type=float, default=0.0,
                   help="relative-entropy pruning threshold (0: cut-offs only)")
    g.add_argument("--vocab", type=int, default=64000, help="most frequent words kept (<= 65533)")
    g.add_argument("--indomain-weight", type=int, default=3,
                   help="count each in-domain sentence this many times")
    g.add_argument("--source-weights", default="lj=10,so=10,sotu=1",
                   help="per in-domain source (lj, sotu, snips, so, words), e.g. lj=10,so=10")
    g.add_argument("--decimals", type=int, default=5,
                   help="decimals of the log10 figures in the ARPA file (5: 1e-5 relative)")
    g.add_argument("--max-order", type=int, default=4, help="order of the cached counts")
    g.add_argument("--work", default=paths.work_dir("asr-lm"),
                   help="normalized text and counts (kept: a second run reuses them)")
    g.add_argument("--no-pretrain", action="store_true", help="in-domain texts only")
    a = ap.parse_args()
    if a.large:
        from train.asr.lm import large
        return large.main_large(a)
    t0 = time.time()
    train, held, n_lj = read_corpus(a.data)
    ntok = sum(len(s) for s in train)
    print("training: %d sentences, %d words; held out: %d LJ sentences" %
          (len(train), ntok, len(held)))
    words, p1, bow1, p2, bow2, p3 = build(train, a.min_word, a.min_bigram, a.min_trigram, n_lj,
                                          a.lj_weight)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    raw = write_arpa(a.out, words, p1, bow1, p2, bow2, p3)
    print("model: %d unigrams, %d bigrams, %d trigrams; ARPA %.1f MB, %s %.2f MB" %
          (len(words) + 1, len(p2), len(p3), raw / 1e6, os.path.basename(a.out),
           os.path.getsize(a.out) / 1e6))
    ppl, n, oov = perplexity(load_arpa(a.out), held)
    print("held-out LJ perplexity %.1f over %d tokens (incl. </s>), OOV rate %.2f%%" %
          (ppl, n, 100.0 * oov / max(1, n)))
    print("%.0f s" % (time.time() - t0))


if __name__ == "__main__":
    sys.exit(main())
