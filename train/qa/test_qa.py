"""Tests of train/qa: readers and the split, EM/F1, the no-answer threshold, tokens with
offsets, the C service's windows, targets, decoding, export and a tiny training run.
Small inline SQuAD-format samples; the shared data is not needed (one check compares the
offset tokenizer with tests/reference/wordpiece_ref.py when that file is there).

    /usr/bin/python3 -m unittest train.qa.test_qa      (from the repository root)
"""
import importlib.util
import json
import lzma
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch

from train.common.bert import BertConfig
from train.common.paths import ROOT
from train.common.wordpiece import WordPiece, _is_whitespace
from train.qa import squad
from train.qa.features import Features
from train.qa.model import QuestionAnswering, best_span, decode
from train.qa.windows import OffsetTokenizer, Windows, _chunk_re, _is_dropped, answer_tokens, max_context, \
    window_spans

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "who", "what",
         "where", "did", "una", "##ffa", "##ble", "hello", "world", "cafe", "in", "paris", "is", ".", ",",
         "?", "a", "dog", "ran", "to", "park", "when", "1990", "was", "born", "he", "she", "city", "big",
         "##s", "new", "york", "it", "rained", "today"]

SAMPLE = {"version": "v2.0", "data": [
    {"title": "Cats", "paragraphs": [
        {"context": "The cat sat on the mat. A dog ran to the park.",
         "qas": [{"id": "q1", "question": "Where did the cat sit?",
                  "answers": [{"text": "on the mat", "answer_start": 12}], "is_impossible": False},
                 {"id": "q2", "question": "Who ran?",
                  "answers": [{"text": "A dog", "answer_start": 24}, {"text": "dog", "answer_start": 26}]},
                 {"id": "q3", "question": "What did the mat say?", "answers": [],
                  "plausible_answers": [{"text": "cat", "answer_start": 4}], "is_impossible": True}]}]},
    {"title": "Paris", "paragraphs": [
        {"context": "Paris is a big city. It rained today.",
         "qas": [{"id": "q4", "question": "What is a big city?",
                  "answers": [{"text": "Paris", "answer_start": 0}]}]}]},
    {"title": "York", "paragraphs": [
        {"context": "He was born in New York in 1990.",
         "qas": [{"id": "q5", "question": "When was he born?",
                  "answers": [{"text": "1990", "answer_start": 5}]}]}]},  # wrong offset on purpose
    {"title": "Dogs", "paragraphs": [
        {"context": "The dog sat.",
         "qas": [{"id": "q6", "question": "Who sat?", "answers": [], "is_impossible": True}]}]},
]}

# an article of two paragraphs whose questions can be asked of the other one (squad.other_paragraphs)
# and, with a name swapped, of their own (squad.swapped_texts)
TWO_PARAGRAPHS = {"title": "Mats", "paragraphs": [
    {"context": "The cat sat on the mat in Paris in 1990.",
     "qas": [{"id": "m1", "question": "Where did the cat sit in 1990?",
              "answers": [{"text": "on the mat", "answer_start": 12}]}]},
    {"context": "The cat ran to the park in York in 1985.",
     "qas": [{"id": "m2", "question": "Where did the cat run in 1985?",
              "answers": [{"text": "to the park", "answer_start": 12}]}]}]}


def load_reference():
    path = os.path.join(ROOT, "tests", "reference", "wordpiece_ref.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("wordpiece_ref", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TestReaders(unittest.TestCase):
    def test_read_plain_and_xz(self):
        d = tempfile.mkdtemp()
        try:
            plain, xz = os.path.join(d, "a.json"), os.path.join(d, "a.json.xz")
            with open(plain, "w") as f:
                json.dump(SAMPLE, f)
            with lzma.open(xz, "wt", encoding="utf-8") as f:
                json.dump(SAMPLE, f)
            a, b = squad.read_squad(plain), squad.read_squad(xz)
        finally:
            shutil.rmtree(d)
        self.assertEqual([q.qid for q in a], ["q1", "q2", "q3", "q4", "q5", "q6"])
        self.assertEqual([(q.qid, q.answers, q.impossible) for q in a],
                         [(q.qid, q.answers, q.impossible) for q in b])
        q1, q2, q3 = a[:3]
        self.assertEqual(q1.answers, [("on the mat", 12)])
        self.assertEqual(q2.gold, ["A dog", "dog"])
        self.assertTrue(q3.impossible)
        self.assertEqual(q3.answers, [])  # plausible answers are not answers
        self.assertTrue(a[5].impossible)  # no answers without is_impossible
        self.assertEqual([q.pid for q in a], [0, 0, 0, 1, 2, 3])
        self.assertEqual(a[3].title, "Paris")

    def test_split_by_article(self):
        qs = squad.read_squad(SAMPLE)
        tr, dv = squad.split_by_article(qs)
        self.assertEqual(sorted({q.title for q in tr}), ["Cats", "York"])  # 1st, 3rd article
        self.assertEqual(sorted({q.title for q in dv}), ["Dogs", "Paris"])  # 2nd, 4th
        self.assertEqual(len(tr) + len(dv), len(qs))


class TestScores(unittest.TestCase):
    def test_normalize(self):
        n = squad.normalize_answer
        self.assertEqual(n("The Cat!"), "cat")
        self.assertEqual(n("  a   big\tcity. "), "big city")
        self.assertEqual(n("An apple, the pear"), "apple pear")
        self.assertEqual(n("theory"), "theory")  # articles only as words
        self.assertEqual(n("U.S.A."), "usa")
        self.assertEqual(n("rock-and-roll"), "rockandroll")  # punctuation removed, not split

    def test_exact_f1(self):
        self.assertEqual(squad.exact("The cat", "cat."), 1)
        self.assertEqual(squad.exact("cat", "cats"), 0)
        self.assertAlmostEqual(squad.f1("the cat sat", "cat sat on"), 0.8)
        self.assertAlmostEqual(squad.f1("new york city", "york"), 0.5)
        self.assertEqual(squad.f1("cat", "dog"), 0.0)
        self.assertEqual(squad.f1("", ""), 1.0)
        self.assertEqual(squad.f1("", "cat"), 0.0)
        self.assertEqual(squad.f1("cat", ""), 0.0)
        self.assertEqual(squad.f1("the", "a"), 1.0)  # both normalize to nothing

    def test_score_best_gold(self):
        qs = {q.qid: q for q in squad.read_squad(SAMPLE)}
        self.assertEqual(squad.score(qs["q2"], "dog"), (1, 1.0))
        self.assertEqual(squad.score(qs["q2"], "a dog ran"), (0, max(squad.f1("A dog", "a dog ran"),
                                                                      squad.f1("dog", "a dog ran"))))
        self.assertEqual(squad.score(qs["q3"], ""), (1, 1.0))
        self.assertEqual(squad.score(qs["q3"], "cat"), (0, 0.0))
        self.assertEqual(squad.score(qs["q1"], ""), (0, 0.0))

    def test_best_threshold(self):
        # diffs, score with the span, score with "no answer"
        diffs = [3.0, 1.0, -1.0, -2.0]
        span = [0.0, 0.0, 1.0, 0.5]   # the first two are unanswerable (span wrong)
        empty = [1.0, 1.0, 0.0, 0.0]
        t, best = squad.best_threshold(diffs, span, empty)
        self.assertEqual(best, 3.5)
        self.assertTrue(-1.0 < t < 1.0)
        self.assertEqual(t, 0.0)  # halfway between 1.0 and -1.0
        # never "no answer" is best: the threshold lies above every diff
        t, best = squad.best_threshold([0.5, -0.5], [1.0, 1.0], [0.0, 0.0])
        self.assertEqual(best, 2.0)
        self.assertGreater(t, 0.5)
        # always "no answer" is best: below every diff
        t, best = squad.best_threshold([0.5, -0.5], [0.0, 0.0], [1.0, 1.0])
        self.assertEqual(best, 2.0)
        self.assertLess(t, -0.5)
        # equal diffs flip together
        t, best = squad.best_threshold([1.0, 1.0], [1.0, 0.0], [0.0, 0.9])
        self.assertEqual(best, 1.0)
        self.assertEqual(squad.best_threshold([], [], []), (0.0, 0.0))

    def test_evaluate_predictions(self):
        qs = squad.read_squad(SAMPLE)
        preds = {"q1": "on the mat", "q2": "dog", "q3": "the mat", "q4": "Paris", "q5": "New York",
                 "q6": "dog"}
        diffs = {"q1": -3.0, "q2": -2.0, "q3": 1.0, "q4": -1.0, "q5": 0.5, "q6": 2.0}
        m = squad.evaluate_predictions(qs, preds, diffs)
        # best: "no answer" for diff > 0 (q3, q6 right, q5 wrong anyway)
        self.assertEqual(m["noans_acc"], 100.0)
        self.assertEqual(m["answerable_em"], 75.0)
        self.assertEqual(m["all_em"], 100.0 * 5 / 6)
        self.assertEqual(m["span_noans_acc"], 0.0)
        self.assertEqual(m["span_answerable_em"], 75.0)
        self.assertTrue(-1.0 < m["threshold"] < 1.0)
        fixed = squad.evaluate_predictions(qs, preds, diffs, threshold=5.0)
        self.assertEqual(fixed["noans_acc"], 0.0)

    def test_refusal_threshold(self):
        r = squad.refusal_threshold
        diffs = [float(x) for x in range(1, 11)]
        self.assertEqual(r(diffs, 0.7), 3.5)  # diffs 4..10 (7 of 10) are above it
        self.assertEqual(sum(d > r(diffs, 0.7) for d in diffs), 7)
        self.assertEqual(r(diffs, 0.65), 3.5)  # at least the share: 6.5 rounds up to 7
        self.assertEqual(r(diffs, 1.0), 0.0)   # below every diff
        self.assertEqual(r([5.0, 5.0, 5.0, 1.0], 0.5), 3.0)  # equal diffs are refused together
        self.assertIsNone(r([], 0.7))
        self.assertEqual(r([2.0], 0.7), 1.0)

    def test_noans_auc(self):
        Q = squad.Question
        qs = [Q("u1", "", "", "", [], True), Q("u2", "", "", "", [], True), Q("a1", "", "", "", [("x", 0)]),
              Q("a2", "", "", "", [("x", 0)])]
        auc = squad.noans_auc
        self.assertEqual(auc(qs, {"u1": 3.0, "u2": 2.0, "a1": 1.0, "a2": 0.0}), 1.0)
        self.assertEqual(auc(qs, {"u1": 0.0, "u2": 1.0, "a1": 2.0, "a2": 3.0}), 0.0)
        self.assertEqual(auc(qs, {"u1": 3.0, "u2": 0.0, "a1": 1.0, "a2": 2.0}), 0.5)
        self.assertEqual(auc(qs, {"u1": 1.0, "u2": 1.0, "a1": 1.0, "a2": 1.0}), 0.5)  # ties count half
        self.assertEqual(auc(qs, {"u1": 2.0, "u2": 1.0, "a1": 1.0, "a2": 0.0}), 0.875)  # 3.5 of 4 pairs
        self.assertIsNone(auc(qs[:2], {"u1": 1.0, "u2": 2.0}))

    def test_unanswerable_pairs(self):
        Q = squad.Question
        qs = [Q("a", "Cats", "The cat sat on the mat.", "Where did the cat sit?", [("on the mat", 8)], pid=0),
              Q("b", "Cats", "A cat sleeps in the sun.", "Where does a cat sleep?", [("in the sun", 13)], pid=1),
              Q("c", "Cats", "Dogs bark at the mat.", "What barks?", [("Dogs", 0)], pid=2),
              Q("d", "Cats", "Cats and dogs sleep.", "Who sleeps?", [], True, pid=3),
              Q("e", "Paris", "Paris is a city.", "What is a city?", [("Paris", 0)], pid=4)]
        out = {q.qid: q for q in squad.unanswerable_pairs(qs, 1.0)}
        # "a": "cat" and "sit" -> the paragraph sharing most words without "on the mat"
        self.assertEqual(out["a-other"].context, "A cat sleeps in the sun.")
        self.assertTrue(out["a-other"].impossible)
        self.assertEqual((out["a-other"].answers, out["a-other"].pid, out["a-other"].question),
                         ([], 1, "Where did the cat sit?"))
        # "b": "cat" and "sleep"; paragraph 3 shares "sleep" only as "sleep", not "sleeps"
        self.assertIn(out["b-other"].context, {"The cat sat on the mat.", "Cats and dogs sleep."})
        # "c": paragraph 3 holds the answer "dogs" (normalized), and no other shares a word
        self.assertNotIn("c-other", out)
        self.assertNotIn("d-other", out)  # unanswerable questions are not asked again
        self.assertNotIn("e-other", out)  # its article has no other paragraph
        self.assertEqual(squad.unanswerable_pairs(qs, 0.0), [])
        half = squad.unanswerable_pairs(qs, 0.5, seed=3)
        self.assertEqual([q.qid for q in half], [q.qid for q in squad.unanswerable_pairs(qs, 0.5, seed=3)])

    def test_swapped_names(self):
        Q = squad.Question
        qs = [Q("a", "Cities", "Paris is big. In 1990 it rained in Paris.", "What rained in Paris in 1990?",
                [("it", 19)], pid=0),
              Q("b", "Cities", "York is small. In 1985 York grew.", "When did York grow?", [("1985", 17)], pid=1),
              Q("c", "Cities", "Oslo is cold; the city is old.", "What is Oslo?", [("cold", 8)], pid=2),
              Q("d", "Cities", "Rome is old.", "Who ruled Rome?", [], True, pid=3)]
        texts = squad.swapped_texts(qs)
        # "a": Paris or 1990 (found in its paragraph) becomes a name of the same kind from another
        # paragraph that its paragraph lacks: York/Oslo/Rome for Paris, 1985 for 1990
        self.assertIn(texts[0], {"What rained in %s in 1990?" % c for c in ("York", "Oslo", "Rome")} |
                      {"What rained in Paris in 1985?"})
        # "b": York is found, 1985 is its answer; "When" is the first word
        self.assertIn(texts[1], {"When did %s grow?" % c for c in ("Paris", "Oslo", "Rome")})
        self.assertIsNotNone(texts[2])
        self.assertIsNone(texts[3])  # unanswerable already
        self.assertEqual(texts, squad.swapped_texts(qs))  # the same every time
        # "city" is written in lower case in the article: "City" would not be a name
        self.assertNotIn("City", squad._names(["City", "Oslo", "12"], {"city"}))
        made = {q.qid: q for q in squad.swapped_names(qs, 1.0)}
        self.assertEqual(sorted(made), ["a-swap", "b-swap", "c-swap"])
        self.assertEqual((made["a-swap"].context, made["a-swap"].answers, made["a-swap"].impossible),
                         (qs[0].context, [], True))
        self.assertEqual(squad.swapped_names(qs, 0.0), [])

    def test_threshold_curve(self):
        from train.qa.evaluate import curve
        qs = squad.read_squad(SAMPLE)
        preds = {q.qid: "dog" for q in qs}
        diffs = {q.qid: float(i) for i, q in enumerate(qs)}
        rows = curve(qs, preds, diffs, fractions=(0.0, 0.5, 1.0))
        self.assertEqual([r["no_answer_pct"] for r in rows], [0.0, 50.0, 100.0])
        self.assertEqual(rows[-1]["noans_acc"], 100.0)
        self.assertEqual(rows[0]["noans_acc"], 0.0)
        self.assertEqual(rows[1]["threshold"], 2.5)  # "no answer" to diffs 3, 4, 5


class TestTokens(unittest.TestCase):
    def setUp(self):
        self.tok = OffsetTokenizer(VOCAB)

    def test_ids_match_wordpiece(self):
        wp = WordPiece(VOCAB)
        for t in ["The cat sat on the mat.", "unaffable HELLO, world?", "Café in Paris", "caf\u00e9s",
                  "New\u00a0York\u2028cats", "he\x00llo  wor\u200bld", "\u4e00cat", ""]:
            self.assertEqual(list(self.tok.tokenize(t)[0]), wp.encode(t), t)

    def test_offsets(self):
        ids, st, en = self.tok.tokenize("unaffable Héllo, cafe\u0301!")
        pieces = [VOCAB[i] for i in ids]
        self.assertEqual(pieces, ["una", "##ffa", "##ble", "hello", ",", "cafe", "[UNK]"])
        self.assertEqual(list(zip(st, en)), [(0, 3), (3, 6), (6, 9), (10, 15), (15, 16), (17, 22), (22, 23)])
        # a dropped control character inside a word lies inside its span
        ids, st, en = self.tok.tokenize(" he\x00llo")
        self.assertEqual([VOCAB[i] for i in ids], ["hello"])
        self.assertEqual((st[0], en[0]), (1, 7))

    def test_separators_below_3000(self):
        # _chunk_re scans U+0000..U+3000 for separators: none lies above
        for cp in range(0x3001, 0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            c = chr(cp)
            self.assertFalse(_is_whitespace(c) or (c.isspace() and not _is_dropped(c)), hex(cp))
        self.assertEqual(_chunk_re().findall("a b\u3000c\u2029d"), ["a", "b", "c", "d"])

    def test_against_reference(self):
        ref = load_reference()
        if ref is None:
            self.skipTest("tests/reference/wordpiece_ref.py not present")
        vocab = {p: i for i, p in enumerate(VOCAB)}
        r = ref.OffsetTokenizer(vocab)
        for t in ["The cat sat on the mat.", "unaffable Héllo, cafe\u0301!", "ΣΑΣ İstanbul ﬁne", " he\x00llo",
                  "\u0301cat", "Paris\u3000is big", "\u4e00\u4e01cat\u2028dog", "a" * 120, "New-York's 1990"]:
            ids, st, en = self.tok.tokenize(t)
            want = [(x[0], x[1], x[2]) for x in r.line(t)]
            self.assertEqual(list(zip(ids.tolist(), st.tolist(), en.tolist())), want, t)


class TestWindows(unittest.TestCase):
    def test_spans(self):
        self.assertEqual(window_spans(10, 4, 2), [(0, 4), (2, 4), (4, 4), (6, 4)])
        self.assertEqual(window_spans(3, 4, 2), [(0, 3)])
        self.assertEqual(window_spans(0, 4, 2), [(0, 0)])
        self.assertEqual(window_spans(9, 4, 8), [(0, 4), (4, 4), (8, 1)])  # stride cut to room
        self.assertEqual(window_spans(9, 4, 0), [(0, 4), (4, 4), (8, 1)])
        self.assertEqual(window_spans(5, 4, 3), [(0, 4), (3, 2)])

    def test_max_context(self):
        spans = window_spans(10, 4, 2)
        flags = max_context(spans)
        # token 2: window 0 (left 2, right 1) beats window 1 (0, 3); token 3: window 1 (1, 2)
        # beats window 0 (3, 0)
        self.assertEqual(flags[0].tolist(), [True, True, True, False])
        self.assertEqual(flags[1].tolist(), [False, True, True, False])
        self.assertEqual(flags[2].tolist(), [False, True, True, False])
        self.assertEqual(flags[3].tolist(), [False, True, True, True])
        # equal scores: the first window wins (windows (0, 4) and (3, 4): token 3 has
        # min(3, 0) = 0 in window 0 and min(0, 3) = 0 in window 1)
        self.assertEqual([f.tolist() for f in max_context([(0, 4), (3, 4)])],
                         [[True, True, True, True], [False, True, True, True]])
        # every token has exactly one max-context window
        owner = np.zeros(10, dtype=int)
        for (s, n), f in zip(spans, flags):
            owner[s:s + n] += f
        self.assertTrue((owner == 1).all())

    def test_inputs_and_targets(self):
        q = np.array([10, 11, 12, 13, 14], dtype=np.int32)
        c = np.arange(100, 120, dtype=np.int32)
        win = Windows(q, len(c), max_len=12, doc_stride=3, max_question=3)
        self.assertEqual(win.nq, 3)  # question cut to 3 tokens
        self.assertEqual(win.k0, 5)
        self.assertEqual(win.spans[:2], [(0, 6), (3, 6)])  # room 12 - 3 - 3 = 6
        ids, types = win.input(1, c, 2, 3)
        self.assertEqual(ids.tolist(), [2, 10, 11, 12, 3, 103, 104, 105, 106, 107, 108, 3])
        self.assertEqual(types.tolist(), [0] * 5 + [1] * 7)
        self.assertEqual(win.targets(0, 4, 5), (9, 10))
        self.assertEqual(win.targets(1, 4, 5), (6, 7))
        self.assertEqual(win.targets(0, 5, 6), (0, 0))  # not all inside
        self.assertEqual(win.targets(1, -1, -1), (0, 0))  # unanswerable
        with self.assertRaises(ValueError):
            Windows(q, 5, max_len=7, doc_stride=3, max_question=0)

    def test_question_match(self):
        from train.qa.windows import match_tables, question_match
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "bern", "##oul", "##li", "##s", ",", "1900", "who",
                 "\u2014", "##,"]
        tables = match_tables(vocab)
        self.assertEqual(tables[0].tolist(), [False] * 5 + [False, True, True, True, False, False, False, False, True])
        self.assertEqual(tables[1][[9, 12, 13]].tolist(), [False, True, False])  # "," no; non-ASCII yes
        q = np.array([11, 4, 5, 6, 7, 9, 10])           # who the bernoulli , 1900
        c = np.array([5, 6, 4, 5, 6, 7, 8, 9, 10, 12])  # bernou the bernoullis , 1900 \u2014
        # "bern ##oul" alone is another word; "bernoullis" is not "bernoulli"; "," never counts
        self.assertEqual(question_match(q, c, tables).tolist(),
                         [False, False, True, False, False, False, False, False, True, False])
        win = Windows(q, len(c), max_len=12, doc_stride=3, max_question=3)  # the question cut to 3 tokens
        m = question_match(win.q_ids, c, tables)                           # who the bern
        self.assertEqual(m.tolist(), [False, False, True] + [False] * 7)
        ids, types = win.input(0, c, 2, 3, m)
        self.assertEqual(types.tolist(), [0] * 5 + [1, 1, 2, 1, 1, 1, 1])

    def test_answer_tokens(self):
        st, en = np.array([0, 4, 8, 11]), np.array([3, 7, 10, 15])
        self.assertEqual(answer_tokens(st, en, 4, 10), (1, 2))
        self.assertEqual(answer_tokens(st, en, 5, 6), (1, 1))  # inside a token
        self.assertEqual(answer_tokens(st, en, 3, 4), (-1, -1))  # only a space

    def test_features_locate(self):
        tok = OffsetTokenizer(VOCAB)
        qs = squad.read_squad(SAMPLE)
        f = Features(qs, tok, max_len=16, doc_stride=4, max_question=8)
        self.assertEqual(len(f.contexts), 4)
        pieces = lambda i: [VOCAB[x] for x in f.contexts[f.items[i].ctx][1][f.items[i].tok_start:f.items[i].tok_end + 1]]  # noqa: E731,E501
        self.assertEqual(pieces(0), ["on", "the", "mat"])
        self.assertEqual(pieces(1), ["a", "dog"])
        self.assertEqual(pieces(4), ["1990"])  # wrong answer_start: nearest occurrence of the text
        self.assertEqual((f.items[2].tok_start, f.items[5].tok_start), (-1, -1))
        self.assertEqual(f.unlocated, 0)
        # every window of q1 either holds the whole answer or targets [CLS]
        win = f.windows(0)
        self.assertGreater(len(win), 1)
        tg = [win.targets(w, f.items[0].tok_start, f.items[0].tok_end) for w in range(len(win))]
        self.assertIn((0, 0), tg)
        self.assertTrue(any(t != (0, 0) for t in tg))


class TestDecode(unittest.TestCase):
    def test_best_span(self):
        s = np.array([0, 0, 5, 1, 0, 9.0])
        e = np.array([0, 0, 0, 4.5, 6, 0.0])
        allowed = np.array([True] * 4)
        self.assertEqual(best_span(s, e, 2, 6, allowed, 30), (11.0, 2, 4))
        self.assertEqual(best_span(s, e, 2, 6, allowed, 2), (9.5, 2, 3))  # length limit
        self.assertEqual(best_span(s, e, 2, 6, np.array([False, True, True, True]), 30), (9.0, 5, 5))
        self.assertIsNone(best_span(s, e, 2, 2, allowed[:0], 30))
        # only the `top` best starts and ends are tried
        self.assertIsNone(best_span(s, e, 2, 6, allowed, 30, top=1))  # best start 9 is after best end 6
        # the n-best search equals the exhaustive one when n covers the window
        rng = np.random.RandomState(0)
        for _ in range(50):
            s, e = rng.randn(12), rng.randn(12)
            ok = rng.rand(10) > 0.3
            want = max(((s[i] + e[j], i, j) for i in range(2, 12) for j in range(i, min(12, i + 4)) if ok[i - 2]),
                       default=None)
            got = best_span(s, e, 2, 12, ok, 4)
            self.assertEqual(got is None, want is None)
            if want is not None:
                self.assertAlmostEqual(got[0], want[0])
                self.assertEqual(got[1:], want[1:])

    def test_decode_over_windows(self):
        tok = OffsetTokenizer(VOCAB)
        ctx = "The cat sat on the mat. A dog ran to the park."
        c_ids, st, en = tok.tokenize(ctx)
        win = Windows(np.array([10, 13], dtype=np.int32), len(c_ids), max_len=12, doc_stride=4, max_question=0)
        logits = []
        for w, (s0, n) in enumerate(win.spans):
            s, e = np.zeros(win.k0 + n + 1), np.zeros(win.k0 + n + 1)
            s[0] = e[0] = 1.0 + w  # null scores 2, 4, 6, ...: the smallest counts
            logits.append((s, e))
        # "dog ran" = context tokens 8..9 ("a" is 7); put it in the window that owns token 8
        flags = max_context(win.spans)
        w = next(i for i, (s0, n) in enumerate(win.spans) if s0 <= 8 < s0 + n and flags[i][8 - s0])
        s0 = win.spans[w][0]
        logits[w][0][win.k0 + 8 - s0] = 4.0
        logits[w][1][win.k0 + 9 - s0] = 3.0
        text, diff, best = decode(win, logits, st, en, ctx, 30)
        self.assertEqual(text, "dog ran")
        self.assertEqual(best, 7.0)
        self.assertEqual(diff, 2.0 - 7.0)
        # empty context: no span at all
        w0 = Windows(np.array([10], dtype=np.int32), 0, 12, 4, 0)
        text, diff, _ = decode(w0, [(np.zeros(4), np.zeros(4))], st[:0], en[:0], "", 30)
        self.assertEqual(text, "")
        self.assertEqual(diff, float("inf"))


def write_sample_data(d, big=None):
    """A tiny <data> folder with the recipe's two training files (SQuAD 1.1: `big`, or the
    sample's first three articles)."""
    os.makedirs(d, exist_ok=True)
    big = big or {"version": "1.1", "data": SAMPLE["data"][:3]}
    with lzma.open(os.path.join(d, "squad-v1.1-train.json.xz"), "wt", encoding="utf-8") as f:
        json.dump(big, f)
    with open(os.path.join(d, "squad-v2-dev-half.json"), "w") as f:
        json.dump(SAMPLE, f)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")


class TestVerifier(unittest.TestCase):
    """The verifier's features; tests/unit/test_qa.c checks parley-qa's on the same cases."""
    FW, NEG = ["when", "did", "the", "who", "what", "of"], ["not", "never"]

    def feature(self, name, q, passage, margin=0.0):
        from train.qa import verifier
        return verifier.features(q, passage, margin, self.FW, self.NEG)[verifier.FEATURES.index(name)]

    def test_features(self):
        q, p = "When did Paris host the 1924 Games?", "PARIS hosted them in 1900."
        self.assertEqual(self.feature("null_minus_span", q, p, 2.5), 2.5)
        self.assertEqual(self.feature("missing_names", q, p), 2.0)
        self.assertEqual(self.feature("missing_words", q, p), 3.0)
        self.assertEqual(self.feature("words_in_context", q, p), 0.25)
        self.assertEqual(self.feature("negation", q, p), 0.0)
        self.assertEqual(self.feature("negation", "Who didn't win?", p), 1.0)
        self.assertEqual(self.feature("negation", "Who DIDN\u2019T win?", p), 1.0)
        self.assertEqual(self.feature("negation", "Who was Never there?", p), 1.0)
        self.assertEqual(self.feature("negation", "Who knotted it?", p), 0.0)
        self.assertEqual(self.feature("missing_names", "Where is Z\u00dcRICH, Oslo or Oslo, Bern?",
                                      "Bern\u2014Z\u00fcrich"), 2.0)
        self.assertEqual(self.feature("missing_words", "Z\u00fcrich or caf\u00e9?",
                                      "a caf\u00e9\u2014bar in z\u00fcrich"), 1.0)
        self.assertEqual(self.feature("words_in_context", "Who did what?", p), 0.0)
        longq = " ".join("w%d" % i for i in range(100)) + " Oslo"  # past the first 64 words
        self.assertEqual(self.feature("missing_words", longq, p), 64.0)
        self.assertEqual(self.feature("missing_names", longq, p), 0.0)

    def test_score(self):
        from train.qa import verifier
        v = {"function_words": ["x"], "negation_words": ["x"], "bias": -1.0, "threshold": 0.0,
             "weights": {"null_minus_span": 0.5, "missing_words": 2.0}}
        self.assertAlmostEqual(verifier.score(v, "Is snow white", "snow is cold", 4.0), -1.0 + 2.0 + 2.0)
        self.assertEqual(verifier.score(v, "Is snow white", "snow is cold", float("inf")), float("inf"))

    def test_largest_ok(self):
        from train.qa import verifier
        for edge, t0 in ((-0.8575, -0.8532), (-0.8575, -0.9), (0.31, -0.85), (-1.0, 0.0)):
            calls = []

            def ok(t):
                calls.append(t)
                return t <= edge
            got = verifier.largest_ok(ok, t0)  # the largest multiple of 0.001 at or below edge
            self.assertTrue(ok(got) and not ok(round(got + 0.001, 3)), (edge, t0, got))
            self.assertAlmostEqual(got * 1000, round(got * 1000), places=6)
            self.assertLess(len(calls), 20)
        self.assertGreater(verifier.largest_ok(lambda t: True, 0.0), 100.0)  # ends
        with self.assertRaises(SystemExit):
            verifier.largest_ok(lambda t: False, 0.0)

    def test_fit(self):
        from train.qa import verifier
        rng = np.random.default_rng(0)
        x = rng.normal(size=(400, 2)) * [1.0, 10.0] + [0.0, 5.0]
        y = (x[:, 0] + 0.1 * x[:, 1] + rng.normal(scale=0.3, size=400) > 0.5).astype(np.float64)
        w, b = verifier.fit(x, y)
        s = x @ w + b  # raw features: the standardization is folded in
        self.assertGreater(((s > 0) == (y > 0)).mean(), 0.9)
        self.assertGreater(w[0], 0)
        self.assertGreater(w[1], 0)


class TestRecipe(unittest.TestCase):
    def test_train_resume_export_evaluate(self):
        from train.qa import evaluate, train
        d = tempfile.mkdtemp()
        try:
            write_sample_data(d)
            common = ["--data", d, "--vocab", os.path.join(d, "vocab.txt"), "--work", os.path.join(d, "work"),
                      "--cache", os.path.join(d, "cache"), "--out", os.path.join(d, "model"), "--layers", "1",
                      "--hidden", "16", "--heads", "2", "--ffn", "32", "--max-length", "24", "--doc-stride", "4",
                      "--max-question", "8", "--batch-size", "4", "--minutes", "0.02", "--eval-minutes", "0.01",
                      "--export-dtype", "F32"]
            self.assertIsNone(train.main(common + ["--session-minutes", "0.005"]))  # stops part way
            ck = torch.load(os.path.join(d, "work", "checkpoint.pt"))
            self.assertGreater(ck["step"], 0)
            r = train.main(common)  # resumes to the end, exports the best state
            self.assertGreaterEqual(r["steps"], ck["step"])
            self.assertIn("all_f1", r["dev"])
            with open(os.path.join(d, "model", "config.json")) as f:
                c = json.load(f)
            self.assertEqual(c["architectures"], ["BertForQuestionAnswering"])
            self.assertEqual(c["task"], "question_answering")
            self.assertEqual((c["max_length"], c["doc_stride"], c["max_query_length"]), (24, 4, 8))
            self.assertAlmostEqual(c["no_answer_threshold"], r["threshold"], places=4)
            model, c2, tok = evaluate.load_model_dir(os.path.join(d, "model"))
            self.assertEqual(list(model.state_dict())[-2:], ["qa_outputs.weight", "qa_outputs.bias"])
            self.assertEqual(tuple(model.qa_outputs.weight.shape), (2, 16))
            self.assertFalse(any(k.startswith("bert.pooler") for k in model.state_dict()))
            # the exported model scores the dev questions as the recipe's best state did
            out = evaluate.main(["--model", os.path.join(d, "model"), "--data", d, "--sets", "dev"])
            self.assertAlmostEqual(out["dev"]["all_f1"], r["dev"].get("refuse_all_f1", r["dev"]["all_f1"]),
                                   places=4)
            # the recipe's threshold rule, measured on the exported model, gives the exported threshold
            out = evaluate.main(["--model", os.path.join(d, "model"), "--data", d, "--sets", "dev", "--refuse", "0.7"])
            self.assertAlmostEqual(out["dev"]["refuse_threshold"], c["no_answer_threshold"], places=3)
            self.assertGreaterEqual(out["dev"]["refuse_noans_acc"], 70.0)
            # the no-answer verifier: fitted on the training part, its threshold set on dev; the
            # exported model's evaluation then decides with it
            from train.qa import verifier
            rv = verifier.main(["--model", os.path.join(d, "model"), "--data", d, "--threads", "1"])
            with open(os.path.join(d, "model", "config.json")) as f:
                v = json.load(f)["no_answer_verifier"]
            self.assertEqual(set(v["weights"]), set(verifier.FEATURES))
            out = evaluate.main(["--model", os.path.join(d, "model"), "--data", d, "--sets", "dev"])
            self.assertEqual(out["threshold"], v["threshold"])
            self.assertAlmostEqual(out["dev"]["noans_acc"], rv["noans_acc"], places=4)
            self.assertAlmostEqual(out["dev"]["answerable_f1"], rv["answerable_f1"], places=4)
            self.assertGreaterEqual(out["dev"]["noans_acc"], 70.0)
            # a new run from the reader's best state, with questions made unanswerable
            best = os.path.join(d, "work", "best.pt")
            vocab, cfg, state, what = train.load_init(best)
            self.assertTrue(train.reader_state(state) and what.startswith("the reader"))
            d2 = os.path.join(d, "two")
            write_sample_data(d2, {"version": "1.1", "data": [TWO_PARAGRAPHS]})
            two = common + ["--data", d2, "--init", best, "--work", os.path.join(d, "work2"), "--no-export"]
            r2 = train.main(two + ["--cache", os.path.join(d, "cache2"), "--negatives", "1.0"])
            r3 = train.main(two + ["--cache", os.path.join(d, "cache3"), "--fresh"])
            self.assertEqual(r2["train_windows_per_epoch"], r3["train_windows_per_epoch"] + 2)  # both asked again
            r4 = train.main(two + ["--cache", os.path.join(d, "cache4"), "--fresh", "--swapped", "1.0",
                                   "--negatives", "1.0"])
            self.assertEqual(r4["train_windows_per_epoch"], r3["train_windows_per_epoch"] + 4)  # and swapped
            self.assertTrue(r2["init"].startswith("the reader"))
        finally:
            shutil.rmtree(d)

    def test_init_from_model_dir_extends_positions(self):
        from train.common.export import export_model
        from train.qa import train
        d = tempfile.mkdtemp()
        try:
            cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=8)
            torch.manual_seed(0)
            m = QuestionAnswering(cfg)
            export_model(d, m, cfg, VOCAB, {"task": "test"})
            vocab, c, state, _ = train.load_init(d)
            self.assertEqual(vocab, VOCAB)
            self.assertFalse(any(k.startswith("pooler.") for k in state))
            big = train.extend_positions(state, 20)["embeddings.position_embeddings.weight"]
            pe = m.bert.embeddings.position_embeddings.weight.detach()
            self.assertEqual(tuple(big.shape), (20, 16))
            self.assertTrue(torch.equal(big[8:16], pe) and torch.equal(big[16:20], pe[:4]))
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
