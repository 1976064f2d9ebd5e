#!/usr/bin/python3
"""Reference BERT WordPiece tokenizer with offsets (standard library only).

Two independent implementations of the algorithm of BERT's tokenization.py:

* `BertLiteral`: BasicTokenizer + WordpieceTokenizer written the way BERT
  defines them, on whole strings (str.lower(), unicodedata.normalize('NFD')
  of each whitespace token, str.split()). It yields token strings only.
* `OffsetTokenizer`: the same steps character by character, so that every
  token keeps the span of the original text it came from. It splits each
  line at the characters that end up as whitespace and caches the result per
  chunk (words repeat), which keeps a pass over 15 MB of text fast.

Usage:
  wordpiece_ref.py VOCAB FILE...            one output line per input line:
      <file>:<line>\t<id>:<cs>:<ce>:<bs>:<be>:<word> ...   (code-point and
      byte spans into the original line, word = basic-token index)
  wordpiece_ref.py --selfcheck VOCAB FILE... check that OffsetTokenizer's ids
      equal BertLiteral's on every line, and that each token's original span,
      normalized, spells the token; exit 1 on any difference.
Lines are the file's bytes split at b'\\n' (a final newline ends the last
line); a line that is not valid UTF-8 prints "<file>:<line>\\tINVALID".
"""
import re
import sys
import unicodedata

MAX_CHARS = 100


def is_whitespace(c):
    if c in " \t\n\r":
        return True
    return unicodedata.category(c) == "Zs"


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf")


def is_dropped(c):
    cp = ord(c)
    return cp == 0 or cp == 0xFFFD or is_control(c)


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F
            or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def load_vocab(path):
    """BERT's load_vocab: id = line number, token stripped, later lines win."""
    vocab, pieces = {}, []
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    if data.endswith("\n"):
        lines.pop()
    for i, line in enumerate(lines):
        tok = line.strip(" \t\n\r\x0b\x0c")
        vocab[tok] = i
        pieces.append(tok)
    return vocab, pieces


def wordpiece(chars, vocab, unk):
    """Greedy longest-match-first over a list of characters.
    Returns [(id, start, end)] in character positions of `chars`."""
    if len(chars) > MAX_CHARS:
        return [(unk, 0, len(chars))]
    out, start = [], 0
    while start < len(chars):
        end, found = len(chars), None
        while start < end:
            sub = "".join(chars[start:end])
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                found = vocab[sub]
                break
            end -= 1
        if found is None:
            return [(unk, 0, len(chars))]
        out.append((found, start, end))
        start = end
    return out


class BertLiteral:
    """BasicTokenizer + WordpieceTokenizer on whole strings."""

    def __init__(self, vocab, lower=True):
        self.vocab, self.lower = vocab, lower

    def basic(self, text):
        text = "".join(" " if is_whitespace(c) else c for c in text if not is_dropped(c))
        text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in text)
        out = []
        for token in text.strip().split():
            if self.lower:
                token = token.lower()
                token = "".join(c for c in unicodedata.normalize("NFD", token)
                                if unicodedata.category(c) != "Mn")
            cur = None
            for c in token:
                if is_punctuation(c):
                    out.append(c)
                    cur = None
                elif cur is None:
                    cur = [c]
                    out.append(cur)
                else:
                    cur.append(c)
        joined = " ".join(t if isinstance(t, str) else "".join(t) for t in out)
        return joined.strip().split()

    def tokenize_ids(self, text):
        ids = []
        for tok in self.basic(text):
            ids.extend(i for i, _, _ in wordpiece(list(tok), self.vocab, self.vocab["[UNK]"]))
        return ids


class OffsetTokenizer:
    """The same algorithm per character, keeping original spans."""

    def __init__(self, vocab, lower=True):
        self.vocab, self.lower, self.unk = vocab, lower, vocab["[UNK]"]
        self.cache = {}
        seps = []
        for cp in range(0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            c = chr(cp)
            # whitespace after cleaning, or what str.split() splits on and
            # cleaning keeps (U+2028, U+2029)
            if is_whitespace(c) or (c.isspace() and not is_dropped(c)):
                seps.append(c)
        self.chunk_re = re.compile("[^" + "".join(re.escape(c) for c in seps) + "]+")

    def transform(self, word):
        """word: [(char, src)] -> lower + NFD + strip Mn, keeping src."""
        s = "".join(c for c, _ in word)
        low = s.lower()  # whole token: final sigma needs the context
        parts, pos = [], 0
        for c, src in word:
            n = len(c.lower())
            parts.extend((x, src) for x in low[pos:pos + n])
            pos += n
        assert pos == len(low), "lower() length mismatch in %r" % s
        d = []
        for c, src in parts:
            d.extend((x, src) for x in unicodedata.normalize("NFD", c))
        # canonical ordering across characters: stable sort runs of marks
        i = 0
        while i < len(d):
            if unicodedata.combining(d[i][0]) == 0:
                i += 1
                continue
            j = i
            while j < len(d) and unicodedata.combining(d[j][0]) != 0:
                j += 1
            d[i:j] = sorted(d[i:j], key=lambda t: unicodedata.combining(t[0]))
            i = j
        assert "".join(x for x, _ in d) == unicodedata.normalize("NFD", low), \
            "NFD mismatch in %r" % s
        # drop Mn; a dropped mark's source joins the previous kept character
        # (or the next one, for marks that start the word)
        out, pending = [], None
        for x, src in d:
            if unicodedata.category(x) == "Mn":
                if out:
                    c, lo, hi = out[-1]
                    out[-1] = (c, min(lo, src), max(hi, src))
                else:
                    pending = (src, src) if pending is None else (
                        min(pending[0], src), max(pending[1], src))
                continue
            lo = hi = src
            if pending is not None:
                lo, hi = min(lo, pending[0]), max(hi, pending[1])
                pending = None
            out.append((x, lo, hi))
        return out

    def chunk(self, chunk):
        """Tokens of a whitespace-free chunk: [(id, cs, ce, word)] relative
        to the chunk, and the number of basic words."""
        hit = self.cache.get(chunk)
        if hit is not None:
            return hit
        words, cur = [], []
        for i, c in enumerate(chunk):
            if is_dropped(c):
                continue
            if is_cjk(ord(c)):
                if cur:
                    words.append(cur)
                    cur = []
                words.append([(c, i)])
            else:
                cur.append((c, i))
        if cur:
            words.append(cur)
        out, nword = [], 0
        for word in words:
            t = self.transform(word) if self.lower else [(c, i, i) for c, i in word]
            pieces, cur = [], []
            for x in t:
                if is_punctuation(x[0]):
                    if cur:
                        pieces.append(cur)
                    pieces.append([x])
                    cur = []
                else:
                    cur.append(x)
            if cur:
                pieces.append(cur)
            for p in pieces:
                chars = [x[0] for x in p]
                for tid, a, b in wordpiece(chars, self.vocab, self.unk):
                    lo = min(x[1] for x in p[a:b])
                    hi = max(x[2] for x in p[a:b])
                    out.append((tid, lo, hi + 1, nword))
                nword += 1
        res = (out, nword)
        if len(self.cache) < 2000000:
            self.cache[chunk] = res
        return res

    def line(self, line):
        """[(id, cs, ce, bs, be, word)] for one line (str)."""
        if line.isascii():
            prefix = None
        else:
            prefix = [0]
            for c in line:
                prefix.append(prefix[-1] + len(c.encode("utf-8", "surrogatepass")))
        out, nword = [], 0
        for m in self.chunk_re.finditer(line):
            base = m.start()
            toks, nw = self.chunk(m.group())
            for tid, cs, ce, w in toks:
                cs += base
                ce += base
                if prefix is None:
                    out.append((tid, cs, ce, cs, ce, w + nword))
                else:
                    out.append((tid, cs, ce, prefix[cs], prefix[ce], w + nword))
            nword += nw
        return out


def file_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return lines


def span_text(tok, text):
    """What BERT's normalization makes of an original span (no splitting)."""
    s = "".join(c for c in text if not is_dropped(c) and not is_whitespace(c))
    if tok.lower:
        s = "".join(c for c in unicodedata.normalize("NFD", s.lower())
                    if unicodedata.category(c) != "Mn")
    return s


def main(argv):
    selfcheck = False
    if argv and argv[0] == "--selfcheck":
        selfcheck = True
        argv = argv[1:]
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    vocab, pieces = load_vocab(argv[0])
    tok = OffsetTokenizer(vocab)
    lit = BertLiteral(vocab)
    out = sys.stdout
    bad = 0
    nlines = ntok = 0
    for path in argv[1:]:
        name = path.rsplit("/", 1)[-1]
        for no, raw in enumerate(file_lines(path), 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                if not selfcheck:
                    out.write("%s:%d\tINVALID\n" % (name, no))
                continue
            toks = tok.line(line)
            nlines += 1
            ntok += len(toks)
            if not selfcheck:
                out.write("%s:%d\t%s\n" % (name, no, " ".join(
                    "%d:%d:%d:%d:%d:%d" % t for t in toks)))
                continue
            ids = [t[0] for t in toks]
            want = lit.tokenize_ids(line)
            if ids != want:
                bad += 1
                if bad <= 5:
                    sys.stderr.write("%s:%d: ids differ\n  offset: %s\n  literal: %s\n" % (
                        name, no, [pieces[i] for i in ids][:40], [pieces[i] for i in want][:40]))
                continue
            prev = 0
            for tid, cs, ce, bs, be, _ in toks:
                if cs < prev or ce <= cs:
                    bad += 1
                    sys.stderr.write("%s:%d: span [%d,%d) out of order\n" % (name, no, cs, ce))
                    break
                prev = cs
                if tid == vocab["[UNK]"]:
                    continue
                p = pieces[tid]
                p = p[2:] if p.startswith("##") else p
                # A sub-word may cover part of one original character (a Hangul
                # syllable decomposes into several jamo) and final sigma depends
                # on context: the piece must lie within its span's text.
                fold = {ord("\u03c2"): "\u03c3"}
                if (p.translate(fold) not in span_text(tok, line[cs:ce]).translate(fold)
                        or raw[bs:be].decode("utf-8") != line[cs:ce]):
                    bad += 1
                    if bad <= 5:
                        sys.stderr.write("%s:%d: span [%d,%d) %r does not spell %r\n" % (
                            name, no, cs, ce, line[cs:ce], pieces[tid]))
                    break
    if selfcheck:
        sys.stderr.write("selfcheck: %d lines, %d tokens, %d differences\n" % (nlines, ntok, bad))
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
