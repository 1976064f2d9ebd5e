"""BERT WordPiece tokenization (uncased), the algorithm of BERT's tokenization.py.

BasicTokenizer: drop NUL, U+FFFD and control characters (Cc/Cf except tab,
newline, carriage return); whitespace (space, \\t, \\n, \\r, Zs) separates;
CJK ideographs become words of their own; split on whitespace; lower-case,
NFD and drop combining marks (Mn); split on punctuation (ASCII 33-47, 58-64,
91-96, 123-126 and every Unicode P* category).
WordpieceTokenizer: greedy longest-match-first with "##" continuations; a word
longer than 100 characters, or one the vocabulary cannot cover, is [UNK].

The vocabulary is a vocab.txt (one piece per line, id = line number), the same
file the C tokenizer (engine/tokenizer) loads, so training and serving agree.
"""
import unicodedata

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def load_vocab(path):
    """Pieces in id order. Surrounding whitespace is stripped like BERT's load_vocab."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f]


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text, do_lower_case=True):
    """Words after cleaning, CJK splitting, lower-casing/accent stripping and punctuation split."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    words = []
    for tok in "".join(out).split():
        if do_lower_case:
            tok = tok.lower()
            tok = "".join(c for c in unicodedata.normalize("NFD", tok)
                          if unicodedata.category(c) != "Mn")
        cur = []
        for ch in tok:
            if _is_punctuation(ch):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(ch)
            else:
                cur.append(ch)
        if cur:
            words.append("".join(cur))
    return words


class WordPiece:
    def __init__(self, vocab, do_lower_case=True, max_input_chars_per_word=100):
        """vocab: a list of pieces (id = index) or the path of a vocab.txt."""
        if isinstance(vocab, str):
            vocab = load_vocab(vocab)
        self.pieces = list(vocab)
        self.ids = {}
        for i, p in enumerate(self.pieces):
            self.ids[p] = i  # a later duplicate wins, as in BERT's load_vocab
        for s in ("[UNK]", "[CLS]", "[SEP]"):
            if s not in self.ids:
                raise ValueError("vocabulary lacks %s" % s)
        self.do_lower_case = do_lower_case
        self.max_chars = max_input_chars_per_word
        self.unk_id = self.ids["[UNK]"]
        self.cls_id = self.ids["[CLS]"]
        self.sep_id = self.ids["[SEP]"]
        self.pad_id = self.ids.get("[PAD]", 0)

    def __len__(self):
        return len(self.pieces)

    def wordpiece(self, word):
        """Pieces of one basic word (greedy longest match), or ["[UNK]"]."""
        if len(word) > self.max_chars:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = "##" + sub
                if sub in self.ids:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            pieces.append(cur)
            start = end
        return pieces

    def tokenize(self, text):
        out = []
        for w in basic_tokenize(text, self.do_lower_case):
            out.extend(self.wordpiece(w))
        return out

    def encode(self, text):
        """Ids of text without special tokens."""
        return [self.ids[p] for p in self.tokenize(text)]

    def encode_words(self, words, max_length):
        """Model input for pre-split words (SNIPS/CoNLL): [CLS] pieces [SEP].

        Returns (ids, first) where first[i] is the position of word i's first
        sub-token, or -1 when truncation (to max_length tokens) cut it off
        (from the first word that does not fit to the end). A
        word that yields no tokens at all (only control characters) gets [UNK]
        so every word keeps a position."""
        ids, first, cut = [self.cls_id], [], False
        for w in words:
            toks = self.encode(w) or [self.unk_id]
            cut = cut or len(ids) + len(toks) > max_length - 1
            if cut:
                first.append(-1)  # this word and every later one are cut off
                continue
            first.append(len(ids))
            ids.extend(toks)
        ids.append(self.sep_id)
        return ids, first


def prune_vocab(full, texts, min_count=1, char_max_cp=0x52F):
    """A smaller vocabulary made from the full one and training texts.

    Keeps the specials, every piece that the tokenizer `full` produces at
    least `min_count` times on `texts`, every single-character piece (and its
    "##" form) seen in `texts`, and every single-character piece up to code
    point `char_max_cp` (Latin, Greek, Cyrillic by default; -1 for none), so
    that unseen words still split into pieces instead of becoming [UNK].
    Pieces keep the full vocabulary's order (ids are renumbered densely).

    With min_count=1, tokenizing `texts` with the result gives exactly the
    pieces `full` gave: greedy longest match over a subset that still holds
    every piece chosen before picks the same ones. With min_count > 1, words
    made of rare pieces split into shorter pieces; always tokenize training
    data with the pruned vocabulary so training and serving agree."""
    counts = {}
    for t in texts:
        for piece in full.tokenize(t):
            counts[piece] = counts.get(piece, 0) + 1
    keep = set(SPECIALS)
    for piece, n in counts.items():
        core = piece[2:] if piece.startswith("##") else piece
        if n >= min_count or len(core) == 1:
            keep.add(piece)
    for piece in full.pieces:
        core = piece[2:] if piece.startswith("##") else piece
        if len(core) == 1 and ord(core) <= char_max_cp:
            keep.add(piece)
    return [p for p in full.pieces if p in keep]


def prune_by_counts(full, word_counts, min_count=None, max_size=None, char_max_cp=0x52F):
    """prune_vocab's rule over a {basic word: count} table (fast on large corpora).

    With min_count: keep the pieces used at least that often. With max_size
    instead: the smallest such count whose vocabulary has at most max_size
    pieces. Single-character pieces are always kept as in prune_vocab.
    Returns (pieces in the full vocabulary's order, the count used)."""
    pc = {}
    for w, n in word_counts.items():
        for piece in full.tokenize(w):
            pc[piece] = pc.get(piece, 0) + n
    always = set(SPECIALS)
    for piece in list(pc) + full.pieces:
        core = piece[2:] if piece.startswith("##") else piece
        if len(core) == 1 and (piece in pc or ord(core) <= char_max_cp):
            always.add(piece)
    if min_count is None:
        if max_size is None:
            raise ValueError("prune_by_counts needs min_count or max_size")
        counts = sorted((n for p, n in pc.items() if p not in always), reverse=True)
        room = max_size - len(always)
        if room <= 0:
            raise ValueError("max_size %d is below the %d pieces always kept" % (max_size, len(always)))
        min_count = counts[room] + 1 if room < len(counts) else 1
    keep = always | {p for p, n in pc.items() if n >= min_count}
    return [p for p in full.pieces if p in keep], min_count


class CachedEncoder:
    """Text -> piece ids with tok (a WordPiece), each basic word's pieces cached; counts the
    basic words encoded in .words."""

    def __init__(self, tok):
        self.tok, self.cache, self.words = tok, {}, 0

    def __call__(self, text):
        ids = []
        for w in basic_tokenize(text):
            p = self.cache.get(w)
            if p is None:
                p = self.cache[w] = [self.tok.ids[x] for x in self.tok.wordpiece(w)]
            ids.extend(p)
            self.words += 1
        return ids
