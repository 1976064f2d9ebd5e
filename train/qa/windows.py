"""WordPiece tokens with character offsets, and the QA windows of the C tokenizer.

OffsetTokenizer gives the same ids as train.common.wordpiece (BERT's BasicTokenizer +
WordpieceTokenizer) and, for every token, the [start, end) span in code points of the
ORIGINAL text it came from, with the C tokenizer's rules (engine/tokenizer, docs/tokenizer.md):
a token covers the original characters its transformed characters came from; a combining
mark removed by accent stripping joins the character before it (or the next one at the start
of a word); dropped control characters inside a word lie inside its span. It is a port of the
character-by-character reference tokenizer that the C tokenizer is tested against
(tests/reference/wordpiece_ref.py), which test_qa.py compares it with.

windows() is `pl_wordpiece_windows` (engine/tokenizer/wordpiece.h) for QA, BERT run_squad's
doc-stride scheme: the question is cut to `max_question` tokens (nq); every window is
[CLS] question [SEP] chunk [SEP] with token_type_ids 0 up to the first [SEP] and 1 after;
with T context tokens and room R = max_len - nq - 3, chunks start at 0, s, 2s, ...
(s = min(R, doc_stride)) until one reaches the end; an empty context gives one window with
no context tokens. max_context marks, for each context token, the window that gives it the
most context (run_squad's _check_is_max_context: score min(left, right) + 0.01 * length,
the first best window wins); a span's start must lie in such a window.
"""
import re
import unicodedata

import numpy as np

from train.common.wordpiece import WordPiece, _is_control, _is_punctuation, _is_whitespace, _is_cjk

MAX_CHARS = 100
_SPLIT_RE = None


def _is_dropped(c):
    cp = ord(c)
    return cp == 0 or cp == 0xFFFD or _is_control(c)


def _chunk_re():
    """Runs of characters that are not separators: whitespace after cleaning, and what
    str.split() also splits on and cleaning keeps (U+2028, U+2029)."""
    global _SPLIT_RE
    if _SPLIT_RE is None:
        seps = [c for c in (chr(cp) for cp in range(0x3000 + 1)) if
                _is_whitespace(c) or (c.isspace() and not _is_dropped(c))]
        # no separator lies above U+3000 (checked in test_qa)
        _SPLIT_RE = re.compile("[^" + "".join(re.escape(c) for c in seps) + "]+")
    return _SPLIT_RE


class OffsetTokenizer:
    """WordPiece ids with code-point spans. vocab: a WordPiece, a piece list or a vocab.txt."""

    def __init__(self, vocab, do_lower_case=True):
        self.wp = vocab if isinstance(vocab, WordPiece) else WordPiece(vocab, do_lower_case)
        self.vocab, self.lower = self.wp.ids, do_lower_case
        self.unk = self.wp.unk_id
        self.cache = {}

    def _transform(self, word):
        """word: [(char, src)] -> lower + NFD + strip Mn, as [(char, lo, hi)] (source range)."""
        s = "".join(c for c, _ in word)
        low = s.lower()  # the whole token: final sigma needs its context
        parts, pos = [], 0
        for c, src in word:
            n = len(c.lower())
            parts.extend((x, src) for x in low[pos:pos + n])
            pos += n
        if pos != len(low):  # lower() of the whole token differs in length: spread evenly
            parts = [(x, word[min(len(word) - 1, k * len(word) // max(1, len(low)))][1])
                     for k, x in enumerate(low)]
        d = []
        for c, src in parts:
            d.extend((x, src) for x in unicodedata.normalize("NFD", c))
        i = 0  # canonical ordering across characters: stable sort of runs of marks
        while i < len(d):
            if unicodedata.combining(d[i][0]) == 0:
                i += 1
                continue
            j = i
            while j < len(d) and unicodedata.combining(d[j][0]) != 0:
                j += 1
            d[i:j] = sorted(d[i:j], key=lambda t: unicodedata.combining(t[0]))
            i = j
        out, pending = [], None
        for x, src in d:
            if unicodedata.category(x) == "Mn":
                if out:
                    c, lo, hi = out[-1]
                    out[-1] = (c, min(lo, src), max(hi, src))
                else:
                    pending = (src, src) if pending is None else (min(pending[0], src), max(pending[1], src))
                continue
            lo = hi = src
            if pending is not None:
                lo, hi = min(lo, pending[0]), max(hi, pending[1])
                pending = None
            out.append((x, lo, hi))
        return out

    def _wordpiece(self, chars):
        """[(id, a, b)] over positions of chars (greedy longest match), or one [UNK]."""
        if len(chars) > MAX_CHARS:
            return [(self.unk, 0, len(chars))]
        out, start = [], 0
        while start < len(chars):
            end, found = len(chars), None
            while start < end:
                sub = "".join(chars[start:end])
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    found = self.vocab[sub]
                    break
                end -= 1
            if found is None:
                return [(self.unk, 0, len(chars))]
            out.append((found, start, end))
            start = end
        return out

    def _chunk(self, chunk):
        hit = self.cache.get(chunk)
        if hit is not None:
            return hit
        words, cur = [], []
        for i, c in enumerate(chunk):
            if _is_dropped(c):
                continue
            if _is_cjk(ord(c)):
                if cur:
                    words.append(cur)
                    cur = []
                words.append([(c, i)])
            else:
                cur.append((c, i))
        if cur:
            words.append(cur)
        out = []
        for word in words:
            t = self._transform(word) if self.lower else [(c, i, i) for c, i in word]
            pieces, cur = [], []
            for x in t:
                if _is_punctuation(x[0]):
                    if cur:
                        pieces.append(cur)
                    pieces.append([x])
                    cur = []
                else:
                    cur.append(x)
            if cur:
                pieces.append(cur)
            for p in pieces:
                for tid, a, b in self._wordpiece([x[0] for x in p]):
                    out.append((tid, min(x[1] for x in p[a:b]), max(x[2] for x in p[a:b]) + 1))
        if len(self.cache) < 500000:
            self.cache[chunk] = out
        return out

    def tokenize(self, text):
        """(ids, starts, ends): int32 arrays, [starts[i], ends[i]) the code-point span of token i."""
        ids, st, en = [], [], []
        for m in _chunk_re().finditer(text):
            base = m.start()
            for tid, a, b in self._chunk(m.group()):
                ids.append(tid)
                st.append(a + base)
                en.append(b + base)
        return (np.array(ids, dtype=np.int32), np.array(st, dtype=np.int32), np.array(en, dtype=np.int32))


def window_spans(n_text, room, doc_stride):
    """[(start, length)] of the chunks of n_text tokens (run_squad's doc_spans loop)."""
    stride = min(doc_stride, room) if doc_stride > 0 else room
    spans, start = [], 0
    while True:
        length = min(n_text - start, room)
        spans.append((start, length))
        if start + length >= n_text:
            return spans
        start += min(length, stride)


def max_context(spans):
    """For each window, a bool array over its tokens: True where that window gives the token
    its most context (score 100 * min(left, right) + length, the first best window wins)."""
    n_text = spans[-1][0] + spans[-1][1]
    best_score = np.full(n_text, -1, dtype=np.int64)
    best_win = np.full(n_text, -1, dtype=np.int64)
    for w, (s, n) in enumerate(spans):
        pos = np.arange(s, s + n)
        sc = 100 * np.minimum(pos - s, s + n - 1 - pos) + n
        better = sc > best_score[pos]
        best_score[pos[better]] = sc[better]
        best_win[pos[better]] = w
    return [best_win[s:s + n] == w for w, (s, n) in enumerate(spans)]


class Windows:
    """The windows of one question over one context (token ids from OffsetTokenizer).

    nq: question tokens kept; spans: [(start, length)] over the context tokens; k0 = nq + 2,
    the index of a window's first context token."""

    def __init__(self, q_ids, n_text, max_len, doc_stride, max_question):
        self.nq = min(len(q_ids), max_question) if max_question > 0 else len(q_ids)
        room = max_len - self.nq - 3
        if room < 1:
            raise ValueError("max_len %d leaves no room for the context after %d question tokens"
                             % (max_len, self.nq))
        self.q_ids = q_ids[:self.nq]
        self.spans = window_spans(n_text, room, doc_stride)
        self.k0 = self.nq + 2

    def __len__(self):
        return len(self.spans)

    def input(self, w, c_ids, cls_id, sep_id, match=None):
        """(ids, type_ids) of window w: [CLS] question [SEP] chunk [SEP]. match: None, or a bool
        per context token (question_match) whose True tokens get type 2 instead of 1."""
        s, n = self.spans[w]
        ids = np.concatenate([[cls_id], self.q_ids, [sep_id], c_ids[s:s + n], [sep_id]]).astype(np.int64)
        types = np.zeros(len(ids), dtype=np.int64)
        types[self.nq + 2:] = 1
        if match is not None:
            types[self.k0:self.k0 + n][match[s:s + n]] = 2
        return ids, types

    def targets(self, w, tok_start, tok_end):
        """(start, end) positions in window w of the answer's tokens [tok_start, tok_end]
        (inclusive, context token indices), or (0, 0) ([CLS]) when the window does not hold
        the whole answer or there is none (tok_start < 0)."""
        s, n = self.spans[w]
        if tok_start < 0 or tok_start < s or tok_end >= s + n:
            return 0, 0
        return self.k0 + tok_start - s, self.k0 + tok_end - s


def match_tables(vocab):
    """(continuation, wordlike) bool arrays over the ids of a piece list or an OffsetTokenizer for
    question_match: the piece continues a word ("##..."); the piece (without "##") holds an ASCII
    letter or digit or any non-ASCII character (a test the C service makes on the piece's bytes)."""
    pieces = vocab.wp.pieces if isinstance(vocab, OffsetTokenizer) else vocab
    cont = np.array([p.startswith("##") for p in pieces], dtype=bool)
    wordlike = np.array([any((c.isascii() and c.isalnum()) or not c.isascii()
                             for c in (p[2:] if p.startswith("##") else p)) for p in pieces], dtype=bool)
    return cont, wordlike


def _words(ids, cont):
    """[start, end) token ranges of the words of a piece sequence: a piece and the "##" pieces
    after it."""
    out, start = [], 0
    for k in range(1, len(ids) + 1):
        if k == len(ids) or not cont[ids[k]]:
            out.append((start, k))
            start = k
    return out if len(ids) else []


def question_match(q_ids, c_ids, tables):
    """A bool per context token: its whole word (the same pieces) is also a word of the question
    and that word's first piece is wordlike (match_tables): the exact-match feature of
    feature-based readers, in pieces. The C service computes the same (services/qa/qa_read.c)."""
    cont, wordlike = tables
    q = {tuple(q_ids[a:b]) for a, b in _words(q_ids, cont) if wordlike[q_ids[a]]}
    m = np.zeros(len(c_ids), dtype=bool)
    for a, b in _words(c_ids, cont):
        if wordlike[c_ids[a]] and tuple(c_ids[a:b]) in q:
            m[a:b] = True
    return m


def answer_tokens(starts, ends, a_start, a_end):
    """Inclusive token range [first, last] of the context tokens that overlap the character
    span [a_start, a_end), or (-1, -1) when none does."""
    hit = np.nonzero((starts < a_end) & (ends > a_start))[0]
    if len(hit) == 0:
        return -1, -1
    return int(hit[0]), int(hit[-1])
