"""Evaluation metrics: accuracy and conlleval-style span-level F1 over BIO tags.

Spans follow conlleval's rules: a chunk starts at B-x, or at I-x after O or
after a tag of another type (an I- with no B- still opens a chunk); it ends
before O, before any B-, and before a tag of another type. A predicted span
counts only when its start, end and type all match a gold span.
"""


def _split(tag):
    if tag == "O" or not tag:
        return "O", ""
    if len(tag) > 2 and tag[1] == "-":
        return tag[0], tag[2:]
    return "I", tag  # conlleval reads a bare type as inside


def spans(tags):
    """Set of (start, end_exclusive, type) chunks of one tag sequence."""
    out, start, cur = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        p, t = _split(tag)
        ends = cur is not None and (p in ("B", "O") or t != cur)
        if ends:
            out.add((start, i, cur))
            start, cur = None, None
        if p in ("B", "I") and cur is None:
            start, cur = i, t
    return out


class SpanF1:
    """Accumulates span counts over sentences; precision/recall/F1 in percent."""

    def __init__(self):
        self.correct = self.pred = self.gold = 0
        self.per_type = {}

    def add(self, gold_tags, pred_tags):
        if len(gold_tags) != len(pred_tags):
            raise ValueError("gold has %d tags, prediction %d" % (len(gold_tags), len(pred_tags)))
        g, p = spans(gold_tags), spans(pred_tags)
        self.correct += len(g & p)
        self.pred += len(p)
        self.gold += len(g)
        for s in g | p:
            c = self.per_type.setdefault(s[2], [0, 0, 0])
            c[0] += s in g and s in p
            c[1] += s in p
            c[2] += s in g

    @staticmethod
    def _prf(correct, pred, gold):
        prec = 100.0 * correct / pred if pred else 0.0
        rec = 100.0 * correct / gold if gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return prec, rec, f1

    def result(self):
        """(precision, recall, f1) in percent over all types."""
        return self._prf(self.correct, self.pred, self.gold)

    def per_type_result(self):
        return {t: self._prf(*c) for t, c in sorted(self.per_type.items())}
