"""Grapheme-to-phoneme for words outside the CMU dictionary: a joint-sequence ("graphone") n-gram.

    /usr/bin/python3 -m train.tts.g2p            # -> models/tts-g2p/{g2p.bin,config.json}

1. Data: ../shared/data/lexicon/cmudict.dict, words of letters and apostrophes only (words with
   '-' or '.' are left out; the front end splits those). Distinct words in sorted order: every
   20th (index % 20 == 0) is test, index % 20 == 10 is dev, the rest train. Every pronunciation
   of a word stays in its split; ARPAbet with stress digits.
2. Alignment: EM (forward-backward, then Viterbi) of letters to phones with the segment shapes
   1 letter -> 0, 1 or 2 phones and 2 letters -> 1 phone, run on phones without stress; the
   stress digits are put back on the aligned segments, so a graphone is (1-2 letters, 0-2
   stressed phones).
3. Model: an n-gram over graphones (word start and end tokens), interpolated Kneser-Ney with
   three discounts per order (modified KN), optionally pruned by count (--cutoffs), written in backoff form as an automaton (engine/tts/tts_g2p.h has the file
   layout): a state per kept history, arcs sorted by graphone.
4. engine/tts/tts_g2p.c decodes it: a beam search over the segmentations of the word.

Figures (word and phone error rates of the C decoder on the test words) come from
`python3 -m train.tts.g2p_eval --build build`; models/tts-g2p/README.md has the shipped run.
"""
import argparse
import collections
import json
import math
import os
import struct
import time

import numpy as np

from train.common import paths

VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
LETTERS = "abcdefghijklmnopqrstuvwxyz'"
EOS, BOS = 0, 1  # graphone ids of the word end and start tokens
MAGIC = b"PLG2P01\0"


def phone_id(sym):
    """The front end's dense id (tts_front.h): vowel*3 + stress, then 45 + consonant."""
    base = sym.rstrip("012")
    if base in VOWELS:
        stress = int(sym[len(base):] or 0)
        return 3 * VOWELS.index(base) + stress
    return 3 * len(VOWELS) + CONSONANTS.index(base)


def phone_name(pid):
    if pid < 3 * len(VOWELS):
        return VOWELS[pid // 3] + str(pid % 3)
    return CONSONANTS[pid - 3 * len(VOWELS)]


def base_phone(pid):
    """0..38: the phone without stress (vowels first, as tts_front.h's base ids)."""
    return pid // 3 if pid < 3 * len(VOWELS) else pid - 2 * len(VOWELS)


def read_cmudict(path):
    """{word: [pronunciation as a tuple of phone ids, ...]} for words of [a-z'] only."""
    lex = collections.OrderedDict()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            w = parts[0].lower()
            if w.endswith(")") and "(" in w:
                w = w[: w.index("(")]
            if not w or any(c not in LETTERS for c in w):
                continue
            lex.setdefault(w, []).append(tuple(phone_id(p) for p in parts[1:]))
    return lex


def split_words(lex):
    """The deterministic split: (train, dev, test) lists of words, each sorted."""
    words = sorted(lex)
    test = [w for i, w in enumerate(words) if i % 20 == 0]
    dev = [w for i, w in enumerate(words) if i % 20 == 10]
    train = [w for i, w in enumerate(words) if i % 20 not in (0, 10)]
    return train, dev, test


def load_split(data=None):
    path = os.path.join(paths.data_dir(data), "lexicon", "cmudict.dict")
    lex = read_cmudict(path)
    return lex, split_words(lex), path


# ---- alignment ---------------------------------------------------------------------------------

STEPS = ((1, 0), (1, 1), (1, 2), (2, 1))  # (letters, phones) of one graphone (the default)


def letter_code(lt, i, a):
    """Code of letters lt[:, i-a:i] (values 1..27): 1..27 for one, 28.. for two."""
    if a == 1:
        return lt[:, i - 1]
    return 28 + (lt[:, i - 2] - 1) * 27 + (lt[:, i - 1] - 1)


def phone_code(ph, j, b):
    """Code of base phones ph[:, j-b:j] (values 0..38): 0 for none, 1.. for one, 40.. for two."""
    n = ph.shape[0]
    if b == 0:
        return np.zeros(n, dtype=np.int64)
    if b == 1:
        return 1 + ph[:, j - 1]
    return 40 + ph[:, j - 2] * 39 + ph[:, j - 1]


class Group:
    """Pairs with the same number of letters L and phones P, aligned together (vectorized)."""

    def __init__(self, L, P, pairs):
        self.L, self.P, self.pairs = L, P, pairs
        self.lt = np.array([[LETTERS.index(c) + 1 for c in w] for w, _ in pairs], dtype=np.int64)
        self.ph = np.array([[base_phone(p) for p in pr] for _, pr in pairs], dtype=np.int64)
        self.edges = []  # (i, j, step index, keys): a graphone ending at letter i, phone j
        for i in range(1, L + 1):
            for j in range(0, P + 1):
                for k, (a, b) in enumerate(STEPS):
                    if i >= a and j >= b:
                        keys = letter_code(self.lt, i, a) * 1600 + phone_code(self.ph, j, b)
                        self.edges.append((i, j, k, keys))


def make_groups(pairs):
    by = collections.defaultdict(list)
    most = max(b for _, b in STEPS)
    for w, pr in pairs:
        if len(pr) <= most * len(w):
            by[(len(w), len(pr))].append((w, pr))
    return [Group(L, P, ps) for (L, P), ps in sorted(by.items())]


def align(pairs, iters, log):
    """EM over the graphone segmentations of the pairs; returns [(word, pron, [(a, b), ...])]."""
    groups = make_groups(pairs)
    allkeys = np.unique(np.concatenate([e[3] for g in groups for e in g.edges]))
    for g in groups:
        g.edges = [(i, j, k, np.searchsorted(allkeys, keys)) for i, j, k, keys in g.edges]
        g.all_ids = np.concatenate([e[3] for e in g.edges])
    prob = np.full(len(allkeys), 1.0 / len(allkeys))
    for it in range(iters):
        t0 = time.time()
        counts = np.zeros(len(allkeys))
        loglik = 0.0
        for g in groups:
            n = len(g.pairs)
            alpha = np.zeros((g.L + 1, g.P + 1, n))
            alpha[0, 0] = 1.0
            for i, j, k, ids in g.edges:
                a, b = STEPS[k]
                alpha[i, j] += alpha[i - a, j - b] * prob[ids]
            beta = np.zeros((g.L + 1, g.P + 1, n))
            beta[g.L, g.P] = 1.0
            for i, j, k, ids in reversed(g.edges):
                a, b = STEPS[k]
                beta[i - a, j - b] += prob[ids] * beta[i, j]
            z = alpha[g.L, g.P]
            ok = z > 0
            inv = np.where(ok, 1.0 / np.where(ok, z, 1.0), 0.0)
            loglik += float(np.log(z[ok]).sum())
            posts = []
            for i, j, k, ids in g.edges:
                a, b = STEPS[k]
                posts.append(alpha[i - a, j - b] * prob[ids] * beta[i, j] * inv)
            counts += np.bincount(g.all_ids, weights=np.concatenate(posts), minlength=len(allkeys))
        prob = counts / counts.sum()
        log("align: EM iteration %d: log-likelihood %.1f (%.1f s)" % (it + 1, loglik, time.time() - t0))
    out = []
    lp = np.log(np.maximum(prob, 1e-300))
    for g in groups:
        n = len(g.pairs)
        delta = np.full((g.L + 1, g.P + 1, n), -np.inf)
        delta[0, 0] = 0.0
        back = np.full((g.L + 1, g.P + 1, n), -1, dtype=np.int8)
        for i, j, k, ids in g.edges:
            a, b = STEPS[k]
            cand = delta[i - a, j - b] + lp[ids]
            better = cand > delta[i, j]
            delta[i, j] = np.where(better, cand, delta[i, j])
            back[i, j] = np.where(better, k, back[i, j])
        for x, (w, pr) in enumerate(g.pairs):
            if not np.isfinite(delta[g.L, g.P, x]):
                continue
            i, j, segs = g.L, g.P, []
            while i > 0 or j > 0:
                a, b = STEPS[back[i, j, x]]
                segs.append((a, b))
                i, j = i - a, j - b
            out.append((w, pr, segs[::-1]))
    return out


def graphone_sequences(aligned):
    """Graphone vocabulary {(letters, phones): id} (ids from 2) and each pair's id sequence."""
    seqs_raw = []
    vocab = set()
    for w, pr, segs in aligned:
        i = j = 0
        seq = []
        for a, b in segs:
            u = (w[i:i + a], tuple(pr[j:j + b]))
            seq.append(u)
            vocab.add(u)
            i, j = i + a, j + b
        seqs_raw.append(seq)
    units = sorted(vocab)
    ids = {u: k + 2 for k, u in enumerate(units)}
    return [("", ()), ("", ())] + units, [tuple(ids[u] for u in s) for s in seqs_raw]


# ---- the n-gram ------------------------------------------------------------------------------


def kneser_ney(seqs, order, cutoffs, n_units, log):
    """Interpolated modified Kneser-Ney over the sequences, pruned by raw count (n-grams of
    order n seen fewer than cutoffs[n - 1] times are left out; orders 1 and 2 are kept whole).

    Returns (probs, backoffs): probs[n] {ngram: log p} for the kept n-grams of order n (1..order),
    backoffs {history: log alpha} for the kept histories.
    """
    raw = [None] + [collections.Counter() for _ in range(order)]
    for s in seqs:
        t = (BOS,) + s + (EOS,)
        for i in range(1, len(t)):
            for n in range(1, min(order, i + 1) + 1):
                raw[n][t[i - n + 1:i + 1]] += 1
    # counts used for estimation: raw at the top order and for n-grams starting at <s>,
    # continuation counts (distinct left neighbours) below
    cnt = [None] * (order + 1)
    cnt[order] = raw[order]
    for n in range(order - 1, 0, -1):
        c = collections.Counter()
        for g in raw[n + 1]:
            c[g[1:]] += 1
        for g, v in raw[n].items():
            if g[0] == BOS:
                c[g] = v
        cnt[n] = c
    probs = [None] + [dict() for _ in range(order)]
    vocab_size = n_units - 1  # everything but <s> is predicted
    for n in range(1, order + 1):
        coc = collections.Counter(v for v in cnt[n].values() if v <= 4)
        n1, n2, n3, n4 = (max(coc[k], 1) for k in (1, 2, 3, 4))
        y = n1 / (n1 + 2.0 * n2)
        disc = (0.0, 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        disc = tuple(max(d, 0.05) if k else 0.0 for k, d in enumerate(disc))
        tot = collections.defaultdict(float)
        gam = collections.defaultdict(float)
        for g, v in cnt[n].items():
            tot[g[:-1]] += v
            gam[g[:-1]] += disc[min(v, 3)]
        p = probs[n]
        for g, v in cnt[n].items():
            h = g[:-1]
            lower = probs[n - 1][g[1:]] if n > 1 else 1.0 / vocab_size
            p[g] = (v - disc[min(v, 3)]) / tot[h] + gam[h] / tot[h] * lower
        if n == 1:  # units never predicted in training still get the uniform share
            g0 = gam[()] / tot[()] / vocab_size
            for u in range(n_units):
                if u != BOS and (u,) not in p:
                    p[(u,)] = g0
        log("kn: order %d: %d n-grams, discounts %.3f %.3f %.3f" % (n, len(p), *disc[1:]))
    # prune by raw count (orders 3 and up), keeping the prefixes and suffixes of kept n-grams
    kept = [None] + [set() for _ in range(order)]
    kept[1] = set(probs[1])
    kept[2] = set(probs[2])
    for n in range(3, order + 1):
        kept[n] = {g for g in probs[n] if raw[n][g] >= cutoffs[n - 1]}
    for n in range(order, 1, -1):  # prefixes and suffixes of kept n-grams are kept
        for g in kept[n]:
            kept[n - 1].add(g[:-1]) if len(g[:-1]) else None
            kept[n - 1].add(g[1:])
    kept[1].discard((BOS,))
    # backoff weights: alpha(h) = (1 - sum_kept p(w|h)) / (1 - sum_kept p_lower(w|h'))
    hist = collections.defaultdict(list)
    for n in range(2, order + 1):
        for g in kept[n]:
            hist[g[:-1]].append(g)
    logp = [None] + [{g: math.log(probs[n][g]) for g in kept[n]} for n in range(1, order + 1)]

    def lower_p(g):  # p of the last unit of g given g[1:-1] in the backoff model
        h = g[1:]
        while h not in logp[len(h)] if h else False:
            h = h[1:]
        # every kept n-gram's suffix is kept, so h is found unless empty
        return math.exp(logp[len(h)][h])

    backoffs = {}
    for h, gs in hist.items():
        num = 1.0 - sum(probs[len(g)][g] for g in gs)
        den = 1.0 - sum(lower_p(g) for g in gs)
        backoffs[h] = math.log(max(num, 1e-12) / max(den, 1e-12))
    return logp, backoffs, kept


def build_automaton(logp, backoffs, order):
    """States (histories with arcs, shortest first; 0 is the empty history) and arcs."""
    hists = sorted(backoffs, key=lambda h: (len(h), h))
    state = {(): 0}
    for h in hists:
        state[h] = len(state)
    states = [((), 0, 0.0)]  # (history, backoff state, log backoff)
    for h in hists:
        b = h[1:]
        while b not in state:
            b = b[1:]
        states.append((h, state[b], backoffs[h]))
    arcs = [[] for _ in states]
    for n in range(1, order + 1):
        for g, lp in logp[n].items():
            h = g[:-1]
            d = g[-(order - 1):] if order > 1 else ()
            while d not in state:
                d = d[1:]
            arcs[state[h]].append((g[-1], lp, state[d]))
    for a in arcs:
        a.sort()
    return states, arcs, state[(BOS,)]


def write_model(path, units, states, arcs, start, order):
    """engine/tts/tts_g2p.h: header, units, states, arcs (little-endian)."""
    n_arcs = sum(len(a) for a in arcs)
    assert len(units) < 65536
    with open(path + ".tmp", "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<6I", order, len(units), len(states), n_arcs, start, 0))
        for letters, phones in units:
            lb = letters.encode("ascii").ljust(2, b"\0")
            pb = bytes(phones).ljust(2, b"\0")
            f.write(struct.pack("<B2sB2s2x", len(letters), lb, len(phones), pb))
        first = 0
        for (h, bstate, bw), a in zip(states, arcs):
            f.write(struct.pack("<IIIf", first, len(a), bstate if h else 0xFFFFFFFF, bw))
            first += len(a)
        buf = bytearray()
        for a in arcs:
            for u, lp, d in a:
                buf += struct.pack("<HHI", u, min(65535, int(round(-lp * 1024))), d)
        f.write(buf)
    os.replace(path + ".tmp", path)
    return os.path.getsize(path)


# ---- scoring (train.tts.g2p_eval) ------------------------------------------------------------


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def score(pred, refs, stress=True):
    """(phone errors, reference length, word correct) against the closest reference."""
    f = (lambda s: s) if stress else (lambda s: tuple(base_phone(p) for p in s))
    best = None
    for r in refs:
        e = edit_distance(f(pred), f(r))
        if best is None or (e, len(r)) < best[:2]:
            best = (e, len(r))
    return best[0], best[1], best[0] == 0


# ---- main ------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="the shared data folder (default ../shared/data)")
    ap.add_argument("--out", default=paths.models_dir("tts-g2p"))
    ap.add_argument("--order", type=int, default=7)
    ap.add_argument("--cutoffs", default="1,1,1,2",
                    help="least count of a kept n-gram, per order from 1 (the last value repeats), e.g. 1,1,1,1,2")
    ap.add_argument("--em-iters", type=int, default=6)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N training words (smoke runs)")
    ap.add_argument("--steps", default="1:0,1:1,1:2,2:1",
                    help="graphone shapes letters:phones allowed in the alignment")
    args = ap.parse_args(argv)
    global STEPS
    STEPS = tuple(tuple(int(x) for x in st.split(":")) for st in args.steps.split(","))

    t_start = time.time()
    log = lambda m: print("[%6.1fs] %s" % (time.time() - t_start, m), flush=True)
    lex, (train, dev, test), src = load_split(args.data)
    if args.limit:
        train = train[: args.limit]
    log("%s: %d words (train %d, dev %d, test %d)" % (src, len(lex), len(train), len(dev), len(test)))
    pairs = [(w, p) for w in train for p in lex[w]]
    aligned = align(pairs, args.em_iters, log)
    log("aligned %d of %d pronunciations" % (len(aligned), len(pairs)))
    units, seqs = graphone_sequences(aligned)
    log("%d graphones" % (len(units) - 2))
    cutoffs = [int(x) for x in args.cutoffs.split(",")]
    cutoffs = [cutoffs[min(n, len(cutoffs) - 1)] for n in range(args.order)]
    logp, backoffs, _ = kneser_ney(seqs, args.order, cutoffs, len(units), log)
    states, arcs, start = build_automaton(logp, backoffs, args.order)
    os.makedirs(args.out, exist_ok=True)
    size = write_model(os.path.join(args.out, "g2p.bin"), units, states, arcs, start, args.order)
    n_arcs = sum(len(a) for a in arcs)
    log("wrote %s: %d states, %d arcs, %d bytes" % (os.path.join(args.out, "g2p.bin"), len(states), n_arcs, size))
    train_s = time.time() - t_start
    config = {
        "model_type": "g2p_graphone",
        "language_code": "en-US",
        "phone_set": "arpabet-stress",
        "file": "g2p.bin",
        "order": args.order,
        "graphones": len(units) - 2,
        "states": len(states),
        "arcs": n_arcs,
        "training": {"words": len(train), "pronunciations": len(pairs), "aligned": len(aligned),
                     "em_iterations": args.em_iters, "steps": args.steps, "cutoffs": args.cutoffs,
                     "seconds": round(train_s, 1)},
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    log("done")


if __name__ == "__main__":
    main()
