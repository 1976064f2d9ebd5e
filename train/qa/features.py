"""Questions -> token ids, offsets, windows and span targets.

Each context is tokenized once (questions of one paragraph share it). A question's answer
for training is its first gold answer: the context tokens that overlap its characters
[answer_start, answer_start + len(text)). When the text is not found at answer_start, the
occurrence of the text in the context nearest to answer_start is used instead; a question
whose answer cannot be located at all is dropped from training (counted as `unlocated`).
"""
from dataclasses import dataclass

import numpy as np

from train.qa.windows import Windows, answer_tokens, question_match


@dataclass
class Encoded:
    q_ids: np.ndarray        # question token ids (all of them; Windows cuts)
    ctx: int                 # index into Features.contexts
    tok_start: int = -1      # the answer's context tokens [tok_start, tok_end], -1: none
    tok_end: int = -1


class Features:
    """Encoded questions and contexts of a list of Questions (same order)."""

    def __init__(self, questions, tok, max_len, doc_stride, max_question, with_targets=True):
        self.questions, self.tok = questions, tok
        self.max_len, self.doc_stride, self.max_question = max_len, doc_stride, max_question
        self.match = None   # match_tables() of the vocabulary: type 2 for context words of the question
        self.contexts = []  # (context text, ids, starts, ends)
        index = {}
        self.items, self.unlocated = [], 0
        for q in questions:
            c = index.get(q.context)
            if c is None:
                c = index[q.context] = len(self.contexts)
                self.contexts.append((q.context,) + tok.tokenize(q.context))
            e = Encoded(tok.tokenize(q.question)[0], c)
            if with_targets and not q.impossible:
                e.tok_start, e.tok_end = self.locate(q, c)
                if e.tok_start < 0:
                    self.unlocated += 1
                    e = None
            self.items.append(e)

    def locate(self, q, c):
        text, a = q.answers[0]
        ctx, _, starts, ends = self.contexts[c]
        if ctx[a:a + len(text)] != text:
            hits = [i for i in range(len(ctx)) if ctx.startswith(text, i)] if text else []
            if not hits:
                return -1, -1
            a = min(hits, key=lambda i: abs(i - a))
        return answer_tokens(starts, ends, a, a + len(text))

    def windows(self, i):
        e = self.items[i]
        return Windows(e.q_ids, len(self.contexts[e.ctx][1]), self.max_len, self.doc_stride, self.max_question)

    def inputs(self, i, win=None):
        """[(ids, type_ids)] of question i's windows."""
        e = self.items[i]
        win = win or self.windows(i)
        c_ids = self.contexts[e.ctx][1]
        m = self.question_match(i, win)
        return [win.input(w, c_ids, self.tok.wp.cls_id, self.tok.wp.sep_id, m) for w in range(len(win))]

    def question_match(self, i, win):
        """question_match of question i's (cut) question over its context, or None when off."""
        if self.match is None:
            return None
        return question_match(win.q_ids, self.contexts[self.items[i].ctx][1], self.match)
