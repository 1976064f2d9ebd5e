#!/usr/bin/python3
"""Python reference of Parley's CTC prefix beam search (engine/asr/asr_beam.c).

Same algorithm, same LM scoring (ARPA backoff, natural logs), same candidate
order and tie-breaking, float64 like the C code:

  score(l) = ln(Pb(l) + Pnb(l)) + alpha * sum ln P_lm(completed words)
             + beta * completed words + sum of word boosts
  per frame: candidates = non-blank tokens with logp >= frame max + prune,
             best token_top_n of them, visited by index; for every beam entry
             (best first): blank, repeat of the last token, then candidates;
             the new beam = best beam_width prefixes (ties: first touched first).
  finish: complete the open word, add alpha * ln P(</s>), re-rank, drop
          duplicate texts, keep max_alternatives.

As a test (registered as reference_asr_ctc_beam):
  asr_ctc_beam.py --check DUMP_BIN WORK_DIR
writes a tiny 3-gram ARPA LM, character and SentencePiece vocabularies and
random log-prob matrices, runs the C driver (asr_beam_dump, which feeds
the frames in random chunks) and requires identical n-best texts and scores
within 1e-6, over configurations with and without LM and boosting.
"""
import math
import os
import random
import subprocess
import sys

LN10 = 2.302585092994045684
WB = "\u2581"
NEG_INF = float("-inf")


def lse(a, b):
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a)) if a > b else b + math.log1p(math.exp(a - b))


class ArpaLM:
    def __init__(self, path):
        self.ng = {}
        self.order = 0
        self.words = set()
        section = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if line.startswith("\\"):
                    if line.endswith("-grams:"):
                        section = int(line[1:line.index("-")])
                        self.order = max(self.order, section)
                    continue
                if section == 0 or line.startswith("ngram "):
                    continue
                parts = line.split()
                lp = float(parts[0])
                if lp == NEG_INF:
                    lp = -99.0
                words = tuple(parts[1:1 + section])
                bow = float(parts[1 + section]) if len(parts) > 1 + section else 0.0
                self.ng[words] = (lp * LN10, bow * LN10)
                if section == 1:
                    self.words.add(words[0])
        self.has_unk = "<unk>" in self.words
        self.prefixes = {""}
        for w in self.words:
            if w not in ("<s>", "</s>", "<unk>"):
                for k in range(1, len(w) + 1):
                    self.prefixes.add(w[:k])

    def begin(self):
        return ("<s>",) if self.order > 1 and "<s>" in self.words else ()

    def _backoff(self, h, w):
        acc = 0.0
        n = len(h)
        for k in range(n, -1, -1):
            ctx = h[n - k:]
            e = self.ng.get(ctx + (w,))
            if e is not None:
                return acc + e[0]
            if k > 0:
                c = self.ng.get(ctx)
                if c is not None:
                    acc += c[1]
        return acc - 99.0 * LN10

    def score(self, h, word, oov_logp):
        if word in self.words and word != "<unk>":
            w = word
            s = self._backoff(h, w)
        else:
            s = oov_logp
            w = "<unk>" if self.has_unk else None  # None matches no n-gram
        nh = h + (w if w is not None else "\x00OOV",)
        keep = self.order - 1
        return s, nh[len(nh) - keep:] if keep > 0 else ()

    def end(self, h):
        return self._backoff(h, "</s>")


class Node:
    __slots__ = ("parent", "tok", "t_first", "prob", "word_start", "n_words", "lm", "boost",
                 "pen", "pfx_ok",
                 "lms", "act", "pb", "pnb", "npb", "npnb", "stamp", "touch", "children", "score")

    def __init__(self):
        self.children = {}
        self.stamp = -1


def token_classes(tokens, blank, kind):
    """Per token: (class, text). class: 0 text, 1 separator, 2 word start, 3 blank."""
    out = []
    for i, t in enumerate(tokens):
        if i == blank:
            out.append((3, ""))
        elif kind == "chars":
            out.append((1, "") if t in (" ", "|", WB) else (0, t))
        elif t.startswith(WB):
            out.append((2, t[len(WB):]))
        else:
            out.append((0, t))
    return out


class Beam:
    def __init__(self, tokens, blank, kind, lm=None, beam_width=16, prune=-10.0, top_n=40,
                 alpha=0.5, beta=1.0, oov_logp=-10.0, max_alt=1, boosts=(), unk_prefix=-5.0):
        self.cls = token_classes(tokens, blank, kind)
        self.blank = blank
        self.V = len(tokens)
        self.lm = lm
        self.bw, self.prune, self.top_n = beam_width, prune, top_n
        self.alpha, self.beta, self.oov, self.max_alt = alpha, beta, oov_logp, max_alt
        self.phrases = [(p.split(), float(b)) for p, b in boosts]
        self.unk_prefix = unk_prefix
        self.boost_prefixes = {w[:k] for ws, _ in self.phrases for w in ws
                               for k in range(1, len(w) + 1)}
        root = Node()
        root.parent, root.tok, root.word_start = None, -1, None
        root.n_words, root.lm, root.boost, root.act = 0, 0.0, 0.0, []
        root.pen, root.pfx_ok = 0.0, 1
        root.lms = lm.begin() if lm else ()
        root.pb, root.pnb = 0.0, NEG_INF
        root.t_first, root.prob = 0, 1.0
        self.beam = [root]
        self.t = 0

    def open_word(self, node):
        if node.word_start is None:
            return ""
        parts = []
        k = node
        while True:
            parts.append(self.cls[k.tok][1])
            if k is node.word_start:
                break
            k = k.parent
        return "".join(reversed(parts)).encode("utf-8")[:256].decode("utf-8", "ignore")

    def complete(self, src, word, dst):
        dst.lm, dst.lms, dst.n_words = src.lm, src.lms, src.n_words
        dst.boost, dst.act = src.boost, list(src.act)
        if not word:
            return
        dst.n_words += 1
        if self.lm:
            s, dst.lms = self.lm.score(src.lms, word, self.oov)
            dst.lm = src.lm + s
        if self.phrases:
            new, best, anyb = [], 0.0, False
            for p, m in src.act:
                words, b = self.phrases[p]
                if m < len(words) and words[m] == word:
                    if not anyb or b > best:
                        best = b
                    anyb = True
                    if m + 1 < len(words) and len(new) < 8:
                        new.append((p, m + 1))
            for i, (words, b) in enumerate(self.phrases):
                if words[0] == word:
                    if not anyb or b > best:
                        best = b
                    anyb = True
                    if len(words) > 1 and len(new) < 8:
                        new.append((i, 1))
            if anyb:
                dst.boost += float(_f32(best))
            dst.act = new

    def child(self, l, c, row):
        k = l.children.get(c)
        if k is not None:
            return k
        d = Node()
        d.parent, d.tok, d.t_first = l, c, self.t
        d.prob = math.exp(row[c])
        d.pb = d.pnb = NEG_INF
        d.pen, d.pfx_ok = l.pen, 1
        cls = self.cls[c][0]
        if cls == 0:
            self.complete(l, "", d)
            d.word_start = l.word_start if l.word_start is not None else d
            d.pfx_ok = l.pfx_ok if l.word_start is not None else 1
        else:
            self.complete(l, self.open_word(l), d)
            d.word_start = d if cls == 2 else None
        if self.lm and self.unk_prefix != 0 and d.word_start is not None and not d.pfx_ok:
            d.pen += self.unk_prefix  # every further token of an unknown word
        elif self.lm and self.unk_prefix != 0 and d.word_start is not None:
            w = self.open_word(d)
            if w not in self.lm.prefixes and w not in self.boost_prefixes:
                d.pfx_ok = 0
                d.pen += self.unk_prefix
        l.children[c] = d
        return d

    def step(self, row):
        mx = max(row)
        cands = [c for c in range(self.V) if c != self.blank and row[c] >= mx + self.prune]
        if len(cands) > self.top_n:
            cands = sorted(cands, key=lambda c: (-row[c], c))[:self.top_n]
            cands.sort()
        touched = []

        def touch(n):
            if n.stamp != self.t:
                n.stamp = self.t
                n.npb = n.npnb = NEG_INF
                n.touch = len(touched)
                touched.append(n)

        lb = row[self.blank]
        for l in self.beam:
            pb, pnb = l.pb, l.pnb
            ptot = lse(pb, pnb)
            touch(l)
            l.npb = lse(l.npb, ptot + lb)
            if l.tok >= 0:
                l.npnb = lse(l.npnb, pnb + row[l.tok])
            for c in cands:
                k = self.child(l, c, row)
                touch(k)
                k.npnb = lse(k.npnb, (pb if c == l.tok else ptot) + row[c])
        for n in touched:
            n.score = (lse(n.npb, n.npnb) + self.alpha * n.lm + self.beta * n.n_words + n.boost
                       + n.pen)
        touched.sort(key=lambda n: (-n.score, n.touch))
        self.beam = touched[:self.bw]
        for n in self.beam:
            n.pb, n.pnb = n.npb, n.npnb
        self.t += 1

    def text(self, node):
        toks = []
        k = node
        while k.parent is not None:
            toks.append(k.tok)
            k = k.parent
        words, cur, opened = [], "", False
        for t in reversed(toks):
            cls, txt = self.cls[t]
            if cls in (1, 2):
                if opened and cur:
                    words.append(cur)
                cur, opened = "", False
                if cls == 1:
                    continue
            opened = True
            cur += txt
        if opened and cur:
            words.append(cur)
        return " ".join(words)

    def finish(self):
        fin = []
        for i, n in enumerate(self.beam):
            tmp = Node()
            self.complete(n, self.open_word(n), tmp)
            lm = tmp.lm
            if self.lm:
                lm += self.lm.end(tmp.lms)
            score = (lse(n.pb, n.pnb) + self.alpha * lm + self.beta * tmp.n_words + tmp.boost
                     + n.pen)
            fin.append((score, i, n))
        fin.sort(key=lambda x: (-x[0], x[1]))
        out, seen = [], set()
        for score, _, n in fin:
            t = self.text(n)
            if t in seen:
                continue
            seen.add(t)
            out.append((score, t))
            if len(out) == self.max_alt:
                break
        return out


def _f32(x):
    import struct
    return struct.unpack("f", struct.pack("f", x))[0]


TOY_ARPA = """\\data\\
ngram 1=9
ngram 2=8
ngram 3=4

\\1-grams:
-99\t<s>\t-0.30
-0.60\t</s>
-1.20\t<unk>
-0.90\ta\t-0.25
-0.80\tab\t-0.20
-1.10\tba\t-0.15
-1.30\tcab\t-0.10
-1.00\tabc\t-0.30
-1.40\tc\t-0.05

\\2-grams:
-0.40\t<s> a\t-0.10
-0.50\t<s> ab\t-0.20
-0.30\ta ba\t-0.15
-0.70\tab c\t-0.12
-0.20\tba </s>
-0.45\tc cab\t-0.05
-0.35\tabc a\t-0.10
-0.25\tcab </s>

\\3-grams:
-0.10\t<s> a ba
-0.15\ta ba </s>
-0.20\t<s> ab c
-0.05\tab c cab

\\end\\
"""

CHAR_TOKENS = [" ", "a", "b", "c", "<blank>"]
SPM_TOKENS = ["<blank>", WB + "a", WB + "ab", "a", "b", "c", WB + "c", WB]


def random_logp(rng, T, V, peak):
    rows = []
    for _ in range(T):
        z = [rng.gauss(0, 1) for _ in range(V)]
        z[rng.randrange(V)] += peak
        m = max(z)
        s = m + math.log(sum(math.exp(v - m) for v in z))
        rows.append([_f32(v - s) for v in z])
    return rows


def check(dump_bin, work):
    import struct
    os.makedirs(work, exist_ok=True)
    arpa = os.path.join(work, "toy.arpa")
    with open(arpa, "w", encoding="utf-8") as f:
        f.write(TOY_ARPA)
    lm = ArpaLM(arpa)
    rng = random.Random(1234)
    configs = [
        # kind, tokens, blank, use lm, beam, alpha, beta, max_alt, prune, top_n, boosts,
        # unk_prefix_penalty
        ("chars", CHAR_TOKENS, 4, False, 8, 0.0, 0.0, 4, -10.0, 40, [], -5.0),
        ("chars", CHAR_TOKENS, 4, True, 8, 0.8, 1.5, 5, -10.0, 40, [], 0.0),
        ("chars", CHAR_TOKENS, 4, True, 8, 0.8, 1.5, 5, -10.0, 40, [], -3.0),
        ("chars", CHAR_TOKENS, 4, True, 4, 1.2, -0.5, 3, -4.0, 2, [("cab", 3.0), ("a ba", 2.5)],
         -5.0),
        ("chars", CHAR_TOKENS, 4, True, 16, 0.5, 1.0, 8, -10.0, 40, [("zz", 1.0), ("ab c", 4.0)],
         -1.5),
        ("spm", SPM_TOKENS, 0, True, 8, 0.7, 0.5, 4, -10.0, 40, [], -5.0),
        ("spm", SPM_TOKENS, 0, True, 6, 1.0, 2.0, 3, -6.0, 3, [("ab", 2.0), ("ac", 5.0)], 0.0),
        ("spm", SPM_TOKENS, 0, False, 12, 0.0, 0.0, 6, -10.0, 40, [("a", 1.5)], -5.0),
    ]
    fails = 0
    n_cases = 0
    worst = 0.0
    for ci, (kind, toks, blank, use_lm, bw, alpha, beta, nalt, prune, topn, boosts, upp) in \
            enumerate(configs):
        vocab = os.path.join(work, "vocab_%s.txt" % kind)
        with open(vocab, "w", encoding="utf-8") as f:
            f.write("\n".join(toks) + "\n")
        for case in range(6):
            T = rng.choice([1, 5, 17, 40, 63])
            peak = rng.choice([0.0, 2.0, 4.0])
            rows = random_logp(rng, T, len(toks), peak)
            lp = os.path.join(work, "c%d_%d.f32" % (ci, case))
            with open(lp, "wb") as f:
                for r in rows:
                    f.write(struct.pack("<%df" % len(r), *r))
            bfile = os.path.join(work, "c%d_boosts.txt" % ci)
            with open(bfile, "w", encoding="utf-8") as f:
                for p, b in boosts:
                    f.write("%s\t%r\n" % (p, b))
            cmd = [dump_bin, vocab, str(blank), kind, arpa if use_lm else "-", lp, str(T),
                   str(bw), repr(alpha), repr(beta), str(nalt), repr(prune), str(topn), bfile,
                   str(1000 + case), repr(upp)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                print("FAIL config %d case %d: driver rc %d: %s" % (ci, case, res.returncode,
                                                                  res.stderr))
                fails += 1
                continue
            got = []
            for line in res.stdout.splitlines():
                s, _, t = line.partition("\t")
                got.append((float(s), t))
            bm = Beam(toks, blank, kind, lm if use_lm else None, bw, prune, topn, alpha, beta,
                      -10.0, nalt, boosts, upp)
            for r in rows:
                bm.step(r)
            ref = bm.finish()
            n_cases += 1
            ok = len(got) == len(ref)
            for (gs, gt), (rs, rt) in zip(got, ref):
                worst = max(worst, abs(gs - rs))
                if gt != rt or abs(gs - rs) > 1e-6:
                    ok = False
            if not ok:
                fails += 1
                print("FAIL config %d case %d (T=%d)\n  C:   %r\n  ref: %r" % (ci, case, T, got,
                                                                               ref))
    print("beam reference: %d cases, %d failures, worst |score diff| %.3g" % (n_cases, fails,
                                                                             worst))
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    print(__doc__)
    sys.exit(2)
