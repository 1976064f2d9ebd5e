"""The large ASR language model: word n-grams (order 2-4) from the pretraining prose plus the
in-domain texts, counted with numpy (build_lm.py --large calls main_large()).

Text (train/asr/textnorm.py, the acoustic model's own normalization: a-z and "'", numbers
spelled out), one sentence a line, cached under --work/norm (resumable: a source already
normalized is read back):
  pretrain   ../shared/data/text/pretrain/*.txt.xz (paragraphs split into sentences)
  lj         text/ljspeech-sentences.csv minus the held-out sentences of build_lm (the
             ljspeech-subset clips, every 50th sentence, LJ050-*)
  sotu       text/sotu.txt
  snips      nlu/snips/train/seq.in
  so         speechocean762 transcripts of the corpus's train split, minus the dev speakers of
             the acoustic recipe (train/asr/synth.py: every 10th train speaker, sorted); the
             test split's texts are never read
  words      digits ("zero".."nine", "oh") and the Speech Commands words, one a line
The in-domain sources count --indomain-weight times, or as --source-weights says (for
example lj=10,so=10: the sources not named keep --indomain-weight, the pretraining texts 1);
the cut-offs look at the real counts.

Counting: words get 16-bit ids (the --vocab most frequent words of count >= 2; the rest are
<unk>), an n-gram is one uint64 key (oldest word in the high bits), so sorting the keys gives
the counts and puts each context's n-grams next to each other.
Smoothing: interpolated modified Kneser-Ney as in build_lm.py (continuation counts for the
lower orders, n-grams starting with <s> keep their counts). Pruning: count cut-offs per order
on the real counts (--cutoffs 2,3,3 = bigrams seen >= 2, trigrams >= 3, 4-grams >= 3), the
prefixes and suffixes of kept n-grams kept too) and, with --prune THETA, relative-entropy
pruning (see prune_masks); then the backoff weights are recomputed so
that every context's distribution sums to one.
Held out: perplexity and OOV rate on the held-out LJ sentences of build_lm and on the
speechocean762 dev speakers' transcripts (<unk> scored as a word, as build_lm does).
"""
import collections
import gzip
import lzma
import os
import re
import time

import numpy as np

from train.asr import textnorm
from train.asr.lm import build_lm as small

UNK, BOS, EOS = 0, 1, 2
BITS = 16
MAXV = 1 << BITS
COMMAND_WORDS = ("yes no up down left right on off stop go zero one two three four five six seven "
                 "eight nine bed bird cat dog happy house marvin sheila tree wow oh").split()


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# --- text ------------------------------------------------------------------------------

def split_sentences(paragraph):
    return re.split(r"(?<=[.!?])\s+", paragraph)


def so_rows(data):
    path = os.path.join(data, "speech", "speechocean762", "transcripts.tsv")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return [r for r in rows[1:] if len(r) >= 6]


def so_dev_speakers(rows):
    """As train/asr/synth.py speechocean_dev_speakers(): every 10th train speaker, sorted."""
    spk = sorted({r[2] for r in rows if r[0] == "train"})
    return set(spk[::10])


def in_domain_texts(data):
    """{source: [sentence text]} of the in-domain training texts, and the two held-out sets."""
    lj_train, lj_held = [], []
    held_ids = set()
    with open(os.path.join(data, "speech", "ljspeech-subset", "metadata.csv"), encoding="utf-8") as f:
        for line in f:
            held_ids.add(line.split("|", 1)[0])
    with open(os.path.join(data, "text", "ljspeech-sentences.csv"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("|")
            if len(parts) < 3 or not small.normalize(parts[2]):
                continue  # the same sentences as build_lm's held-out set
            if parts[0] in held_ids or i % 50 == 0:
                lj_held.append(parts[2])
            elif not parts[0].startswith(small.SYNTH_DEV_PREFIX):
                lj_train.append(parts[2])
    with open(os.path.join(data, "text", "sotu.txt"), encoding="utf-8") as f:
        sotu = [s for p in re.split(r"\n\s*\n", f.read()) for s in split_sentences(p)]
    with open(os.path.join(data, "nlu", "snips", "train", "seq.in"), encoding="utf-8") as f:
        snips = f.read().splitlines()
    rows = so_rows(data)
    dev = so_dev_speakers(rows)
    so_train = [r[5] for r in rows if r[0] == "train" and r[2] not in dev]
    so_dev = [r[5] for r in rows if r[0] == "train" and r[2] in dev]
    texts = {"lj": lj_train, "sotu": sotu, "snips": snips, "so": so_train,
             "words": COMMAND_WORDS}
    return texts, {"lj": lj_held, "so_dev": so_dev}


def normalized(sentences):
    out = []
    for s in sentences:
        n = textnorm.normalize(s)
        if n:
            out.append(n)
    return out


def pretrain_sentences(path):
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield from split_sentences(line)


def prepare(data, work, pretrain):
    """Normalized sources under work/norm: [(name, path, in_domain)], held-out {name: [words]}."""
    d = os.path.join(work, "norm")
    os.makedirs(d, exist_ok=True)
    texts, held = in_domain_texts(data)
    out = []
    for name, sents in texts.items():
        path = os.path.join(d, name + ".txt")
        write_lines(path, normalized(sents))
        out.append((name, path, True))
    pdir = os.path.join(data, "text", "pretrain")
    for fn in sorted(os.listdir(pdir)) if pretrain and os.path.isdir(pdir) else []:
        if not fn.endswith(".txt.xz"):
            continue
        name = fn[:-len(".txt.xz")]
        path = os.path.join(d, "pretrain-" + name + ".txt")
        if not os.path.exists(path):  # resumable: a finished source is kept
            t0 = time.time()
            write_lines(path, normalized(pretrain_sentences(os.path.join(pdir, fn))))
            log("normalized %s in %.0f s" % (fn, time.time() - t0))
        out.append(("pretrain-" + name, path, False))
    held = {k: [s.split() for s in normalized(v)] for k, v in held.items()}
    return out, held


def write_lines(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for s in lines:
            f.write(s + "\n")
    os.replace(tmp, path)


# --- counting --------------------------------------------------------------------------

def source_weights(a):
    """{source: weight} of the in-domain sources from --indomain-weight and --source-weights."""
    w = {name: a.indomain_weight for name in ("lj", "sotu", "snips", "so", "words")}
    for item in filter(None, (a.source_weights or "").split(",")):
        name, _, val = item.partition("=")
        if name not in w or not val.isdigit():
            raise SystemExit("build_lm: --source-weights wants name=N with name one of %s"
                             % ", ".join(sorted(w)))
        w[name] = int(val)
    return w


def choose_vocab(sources, weights, size):
    wc = collections.Counter()
    for name, path, indom in sources:
        c = collections.Counter()
        with open(path, encoding="utf-8") as f:
            for line in f:
                c.update(line.split())
        w = weights.get(name, 1)
        for k, v in c.items():
            wc[k] += v * w
    words = [w for w, c in sorted(wc.items(), key=lambda x: (-x[1], x[0])) if c >= 2]
    words = sorted(words[:min(size, MAXV - 3)])
    return ["<unk>", "<s>", "</s>"] + words


def token_stream(sources, ids, weights):
    """All sentences as one id stream (<s> w.. </s> per sentence) and a weight per token."""
    toks, wts = [], []
    for name, path, indom in sources:
        arr = []
        get = ids.get
        with open(path, encoding="utf-8") as f:
            for line in f:
                arr.append(BOS)
                arr.extend(get(w, UNK) for w in line.split())
                arr.append(EOS)
        a = np.array(arr, dtype=np.uint64)
        toks.append(a)
        wts.append(np.full(len(a), weights.get(name, 1), dtype=np.int64))
        log("%s: %d tokens" % (name, len(a)))
    return np.concatenate(toks), np.concatenate(wts)


def count_order(toks, sent, wts, k):
    """(sorted unique keys, weighted counts, real counts) of the k-grams."""
    n = len(toks)
    end = np.arange(k - 1, n)
    ok = (sent[end - (k - 1)] == sent[end]) & (toks[end] != BOS)
    end = end[ok]
    key = np.zeros(len(end), dtype=np.uint64)
    for j in range(k):
        key = (key << np.uint64(BITS)) | toks[end - (k - 1) + j]
    w = wts[end]
    order = np.argsort(key, kind="stable")
    key = key[order]
    w = w[order]
    first = np.concatenate(([True], key[1:] != key[:-1]))
    starts = np.flatnonzero(first)
    uk = key[starts]
    cw = np.add.reduceat(w, starts)
    raw = np.diff(np.append(starts, len(key)))
    return uk, cw.astype(np.int64), raw.astype(np.int64)


def count_all(toks, wts, order, nvocab):
    sent = np.cumsum(toks == BOS)
    res = []
    for k in range(1, order + 1):
        res.append(count_order(toks, sent, wts, k))
        if k == 1:  # every word of the vocabulary is a unigram (<s> and unseen ones count 0)
            keys, cw, raw = res[0]
            full = np.arange(nvocab, dtype=np.uint64)
            c, r = np.zeros(nvocab, dtype=np.int64), np.zeros(nvocab, dtype=np.int64)
            c[keys.astype(np.int64)] = cw
            r[keys.astype(np.int64)] = raw
            res[0] = (full, c, r)
        log("order %d: %d n-gram types" % (k, len(res[-1][0])))
    return res


# --- Kneser-Ney ------------------------------------------------------------------------

def mask(k):
    return np.uint64((1 << (BITS * k)) - 1)


def first_word(keys, k):
    return keys >> np.uint64(BITS * (k - 1))


def lookup(keys, q):
    """Index of each q in the sorted keys (all must be present)."""
    i = np.searchsorted(keys, q)
    assert np.all(keys[np.minimum(i, len(keys) - 1)] == q), "missing lower-order n-gram"
    return i


def adjusted_counts(counts):
    """Kneser-Ney counts: the highest order as counted, the lower ones continuation counts
    (distinct left extensions), except the n-grams that start with <s>."""
    order = len(counts)
    adj = [None] * order
    adj[order - 1] = counts[order - 1][1].copy()
    for k in range(order - 1, 0, -1):
        keys, cw, _ = counts[k - 1]
        suf = counts[k][0] & mask(k)
        su, sc = np.unique(suf, return_counts=True)
        a = np.zeros(len(keys), dtype=np.int64)
        a[lookup(keys, su)] = sc
        bos = first_word(keys, k) == BOS
        a[bos] = cw[bos]
        adj[k - 1] = a
    return adj


def discounts(c):
    n = [np.count_nonzero(c == i) for i in (1, 2, 3, 4)]
    if min(n) == 0:
        return np.array([0.5, 1.0, 1.5])
    y = n[0] / (n[0] + 2.0 * n[1])
    return np.array([max(0.0, 1 - 2 * y * n[1] / n[0]), max(0.0, 2 - 3 * y * n[2] / n[1]),
                     max(0.0, 3 - 4 * y * n[3] / n[2])])


def disc(d, c):
    return np.where(c == 1, d[0], np.where(c == 2, d[1], d[2])) * (c > 0)


def group_starts(ctx):
    first = np.concatenate(([True], ctx[1:] != ctx[:-1]))
    return np.flatnonzero(first)


def interpolated_probs(counts, adj, vsize):
    """Unpruned interpolated probabilities of every counted n-gram, per order, and what
    the model would give each n-gram of order >= 2 from its lower order alone
    (gamma(h) p(w | h minus its oldest word))."""
    order = len(counts)
    probs, backed = [], [None]
    a1 = adj[0].astype(np.float64)
    d = discounts(adj[0])
    tot = a1.sum()
    gam = disc(d, adj[0]).sum() / tot
    p = np.maximum(a1 - disc(d, adj[0]), 0) / tot + gam / vsize
    # every word (also <unk> and ones never seen as a continuation) gets the uniform share; <s>
    # (count 0) too, but the ARPA file writes -99 for it and vsize leaves it out
    probs.append(p)
    for k in range(2, order + 1):
        keys, a = counts[k - 1][0], adj[k - 1]
        d = discounts(a)
        ctx = keys >> np.uint64(BITS)
        st = group_starts(ctx)
        dc = disc(d, a)
        tot = np.add.reduceat(a.astype(np.float64), st)
        gnum = np.add.reduceat(dc, st)
        grp = np.repeat(np.arange(len(st)), np.diff(np.append(st, len(keys))))
        lower = probs[k - 2][lookup(counts[k - 2][0], keys & mask(k - 1))]
        probs.append((a - dc) / tot[grp] + gnum[grp] / tot[grp] * lower)
        backed.append(gnum[grp] / tot[grp] * lower)
    return probs, backed


def prune_masks(counts, cutoffs, probs, backed, theta):
    """Kept mask per order: real count >= the order's cut-off and, with theta > 0, a weighted
    difference above theta (the n-gram's share of the training text times
    log(p(w|h) / (gamma(h) p(w|h'))): the relative entropy it adds, ignoring the change of the
    backoff weight; Stolcke 1998 without the renormalization term); plus every prefix and
    suffix of a kept higher-order n-gram. All unigrams are kept."""
    order = len(counts)
    ntok = float(counts[0][2].sum())
    keep = [None] * order
    forced = None
    for k in range(order, 0, -1):
        keys, _, raw = counts[k - 1]
        if k == 1:
            keep[0] = np.ones(len(keys), dtype=bool)
            break
        m = raw >= cutoffs[k - 2]
        if theta > 0:
            gain = raw / ntok * np.log(probs[k - 1] / np.maximum(backed[k - 1], 1e-300))
            m &= gain >= theta
        if forced is not None:
            m |= forced
        keep[k - 1] = m
        kept = keys[m]
        lower = counts[k - 2][0]
        forced = np.zeros(len(lower), dtype=bool)
        forced[lookup(lower, kept >> np.uint64(BITS))] = True
        forced[lookup(lower, kept & mask(k - 1))] = True
    return keep


def backoffs(counts, probs, keep):
    """Pruned model: per order (sorted keys, log10 p, log10 bow or 0)."""
    order = len(counts)
    model = []
    for k in range(1, order + 1):
        model.append([counts[k - 1][0][keep[k - 1]], probs[k - 1][keep[k - 1]], None])
    for k in range(order, 1, -1):
        keys, p = model[k - 1][0], model[k - 1][1]
        lkeys, lp = model[k - 2][0], model[k - 2][1]
        ctx = keys >> np.uint64(BITS)
        st = group_starts(ctx)
        num = 1.0 - np.add.reduceat(p, st)
        den = 1.0 - np.add.reduceat(lp[lookup(lkeys, keys & mask(k - 1))], st)
        bow = np.zeros(len(lkeys))
        bow[lookup(lkeys, ctx[st])] = np.log10(np.maximum(num, 1e-12) / np.maximum(den, 1e-12))
        model[k - 2][2] = bow
    model[order - 1][2] = np.zeros(len(model[order - 1][0]))
    return [(keys, np.log10(p), bow) for keys, p, bow in model]


# --- output and evaluation -------------------------------------------------------------

def write_arpa(path, vocab, model, decimals=5):
    order = len(model)
    tmp = path + ".tmp"
    raw = 0
    with open(tmp, "wb") as f:
        with gzip.GzipFile(filename="lm.arpa", mode="wb", fileobj=f, mtime=0) as g:
            head = "\\data\\\n" + "".join("ngram %d=%d\n" % (k + 1, len(model[k][0]))
                                           for k in range(order))
            raw += g.write(head.encode())
            for k in range(order):
                keys, lp, bow = model[k]
                buf = ["\n\\%d-grams:\n" % (k + 1)]
                if k == 0:  # <s>: no probability of its own, its backoff weight
                    bos = np.searchsorted(keys, BOS)
                    b = bow[bos] if bos < len(keys) and keys[bos] == BOS else 0.0
                    buf.append("-99\t<s>\t%.*f\n" % (decimals, b))
                wids = [(keys >> np.uint64(BITS * (k - j))) & mask(1) for j in range(k + 1)]
                wids = np.stack(wids, axis=1).tolist()
                has_bow = k < order - 1
                f2 = "%%.%df\t%%s\t%%.%df\n" % (decimals, decimals)
                f1 = "%%.%df\t%%s\n" % decimals
                for i, (ws, p, b) in enumerate(zip(wids, lp.tolist(), bow.tolist())):
                    if k == 0 and ws[0] == BOS:
                        continue
                    text = " ".join(vocab[w] for w in ws)
                    if has_bow and b != 0.0:
                        buf.append(f2 % (p, text, b))
                    else:
                        buf.append(f1 % (p, text))
                    if len(buf) >= 200000:
                        raw += g.write("".join(buf).encode())
                        buf = []
                raw += g.write("".join(buf).encode())
            raw += g.write(b"\n\\end\\\n")
    os.replace(tmp, path)
    return raw


def score(model, ids, sents):
    """Perplexity (incl. </s>, <unk> scored as a word) and OOV count, as build_lm does."""
    order = len(model)
    logsum, n, oov = 0.0, 0, 0
    for s in sents:
        toks = []
        for w in s:
            i = ids.get(w)
            if i is None:
                oov += 1
                i = UNK
            toks.append(i)
        toks.append(EOS)
        hist = [BOS]
        for w in toks:
            acc = 0.0
            for k in range(min(len(hist), order - 1), -1, -1):
                h = hist[len(hist) - k:]
                key = 0
                for x in h + [w]:
                    key = (key << BITS) | x
                keys, lp, bow = model[k]
                j = np.searchsorted(keys, np.uint64(key))
                if j < len(keys) and keys[j] == key:
                    acc += lp[j]
                    break
                if k > 0:
                    hk = 0
                    for x in h:
                        hk = (hk << BITS) | x
                    hkeys, _, hbow = model[k - 1]
                    j = np.searchsorted(hkeys, np.uint64(hk))
                    if j < len(hkeys) and hkeys[j] == hk:
                        acc += hbow[j]
            logsum += acc
            n += 1
            hist.append(w)
    return 10 ** (-logsum / n), n, oov


# --- the command -----------------------------------------------------------------------

def build_counts(a):
    """Normalized text, vocabulary and counts; the counts are cached in --work (resumable)."""
    sources, held = prepare(a.data, a.work, not a.no_pretrain)
    weights = source_weights(a)
    tag = "v%d-%s-o%d%s" % (a.vocab, "-".join("%s%d" % (k, weights[k]) for k in sorted(weights)), a.max_order,
                             "-nopre" if a.no_pretrain else "")
    cache = os.path.join(a.work, "counts-%s.npz" % tag)
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=False)
        vocab = [str(w) for w in z["vocab"]]
        counts = [(z["k%d" % k], z["c%d" % k], z["r%d" % k]) for k in range(1, a.max_order + 1)]
        log("counts read from %s" % cache)
        return vocab, counts, held, sources
    vocab = choose_vocab(sources, weights, a.vocab)
    ids = {w: i for i, w in enumerate(vocab)}
    log("vocabulary: %d words" % (len(vocab) - 3))
    toks, wts = token_stream(sources, ids, weights)
    counts = count_all(toks, wts, a.max_order, len(vocab))
    del toks, wts
    arrays = {"vocab": np.array(vocab)}
    for k, (keys, cw, raw) in enumerate(counts, 1):
        arrays.update({"k%d" % k: keys, "c%d" % k: cw, "r%d" % k: raw})
    np.savez(cache + ".tmp.npz", **arrays)
    os.replace(cache + ".tmp.npz", cache)
    return vocab, counts, held, sources


def main_large(a):
    t0 = time.time()
    order = a.order
    cutoffs = [int(x) for x in a.cutoffs.split(",")]
    if not 2 <= order <= 4 or order > a.max_order or len(cutoffs) < order - 1:
        raise SystemExit("build_lm: --order 2..4 (<= --max-order) with one cut-off per order above 1")
    vocab, counts, held, sources = build_counts(a)
    counts = counts[:order]
    ntok = int(counts[0][2].sum())
    log("training: %d tokens (incl. </s>, real counts)" % ntok)
    adj = adjusted_counts(counts)
    vsize = len(vocab) - 1  # without <s>
    probs, backed = interpolated_probs(counts, adj, vsize)
    keep = prune_masks(counts, cutoffs, probs, backed, a.prune)
    del backed
    model = backoffs(counts, probs, keep)
    ids = {w: i for i, w in enumerate(vocab)}
    ngr = [len(m[0]) for m in model]
    log("model: order %d, cut-offs %s, pruning %g: %s n-grams" %
        (order, a.cutoffs, a.prune, " / ".join(map(str, ngr))))
    for name, sents in held.items():
        ppl, n, oov = score(model, ids, sents)
        print("held-out %s perplexity %.1f over %d tokens (incl. </s>), OOV rate %.2f%%" %
              (name, ppl, n, 100.0 * oov / max(1, n)), flush=True)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        raw = write_arpa(a.out, vocab, model, a.decimals)
        print("wrote %s: ARPA %.1f MB, gzip %.2f MB" % (a.out, raw / 1e6, os.path.getsize(a.out) / 1e6))
    print("%.0f s" % (time.time() - t0))
