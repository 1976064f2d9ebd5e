#!/usr/bin/python3
"""Tests of the NER recipe's case token types (train/nlu/ner_conll2003.py).

    /usr/bin/python3 -m unittest train.nlu.ner_test

Fast (no data): the "word_case" classes on the words of the C unit test
(tests/unit/test_nlu.c test_word_case_class, the same expectations), and that
encode() gives every piece of a word its word's type. The rule's agreement with
parley-nlu on whole sentences is checked through the service by
tests/integration/nlu_case.py. And that WikiANN's words lose their "en:" prefix; that
read_conll numbers documents, doc_chunks joins a document's sentences within the piece budget
(never across documents), and eval_service's --ner-docs requests score every sentence on its
own words.
"""
import os
import tempfile
import unittest

from train.common.data import Example
from train.common.wordpiece import WordPiece
from train.nlu import ner_conll2003 as ner


class CaseTypes(unittest.TestCase):
    def test_word_case_class(self):
        want = {"John": 1, "lives": 0, "\u00c9vora": 1, ",": 0, "(Reuters)": 1, "EU": 2, "U.S.": 2,
                "SOCCER": 2, "I": 1, "a": 0, "iPhone": 3, "1996": 3, "0-1": 3, "McDonald": 1,
                "\u00c9TAT": 2, '"Paris"': 1, "-": 0, "\u4e2d\u6587": 0, "x2": 3, "A.": 1, "": 0}
        self.assertEqual({w: ner.word_case_class(w) for w in want}, want)

    def test_word_starts_upper(self):
        self.assertEqual(ner.case_types_of(["John", '"Paris"', "iPhone", "U.S.", "\u00c9vora", ""],
                                           "word_starts_upper"), [1, 0, 0, 1, 1, 0])

    def test_encode_types_per_piece(self):
        tok = WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "john", "lives", "in", "u", ".", "s",
                         "i", "##ph", "##one"])
        ex = Example(words=["John", "lives", "in", "U.S.", "iPhone"], tags=["B-PER", "O", "O", "B-LOC", "O"])
        labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
        ids, first, _, types = ner.encode([ex], tok, labels, 32, "word_case")[0]
        self.assertEqual([tok.pieces[i] for i in ids],
                         ["[CLS]", "john", "lives", "in", "u", ".", "s", ".", "i", "##ph", "##one", "[SEP]"])
        self.assertEqual(types, [0, 1, 0, 0, 2, 2, 2, 2, 3, 3, 3, 0])
        self.assertEqual(ner.encode([ex], tok, labels, 32, None)[0][3], [0] * len(ids))


CONLL = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
         "Blackburn NNP I-NP I-PER\n\nBRUSSELS NNP B-NP B-LOC\n\n-DOCSTART- -X- -X- O\n\n"
         "Japan NNP B-NP B-LOC\nwins VBZ B-VP O\n\n")


class Documents(unittest.TestCase):
    def read(self):
        from train.common.data import read_conll
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(CONLL)
            return read_conll(path)

    def test_read_conll_numbers_documents(self):
        ex = self.read()
        self.assertEqual([e.words for e in ex], [["EU", "rejects"], ["Peter", "Blackburn"], ["BRUSSELS"],
                                                 ["Japan", "wins"]])
        self.assertEqual([e.meta["doc"] for e in ex], [1, 1, 1, 2])

    def test_doc_chunks(self):
        tok = WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "eu", "rejects", "peter", "black",
                         "##burn", "brussels", "japan", "wins"])
        ex = self.read()
        # pieces: 2, 3 (black ##burn), 1 | 2
        got = ner.doc_chunks(ex, tok, 5)
        self.assertEqual([(c.words, c.tags, c.meta["doc"]) for c in got],
                         [(["EU", "rejects", "Peter", "Blackburn"], ["B-ORG", "O", "B-PER", "I-PER"], 1),
                          (["BRUSSELS"], ["B-LOC"], 1), (["Japan", "wins"], ["B-LOC", "O"], 2)])
        self.assertEqual([c.words for c in ner.doc_chunks(ex, tok, 100)],
                         [["EU", "rejects", "Peter", "Blackburn", "BRUSSELS"], ["Japan", "wins"]])
        self.assertEqual([c.words for c in ner.doc_chunks(ex, tok, 100, offset=1)],
                         [["EU", "rejects"], ["Peter", "Blackburn", "BRUSSELS"], ["Japan", "wins"]])
        self.assertEqual([c.words for c in ner.doc_chunks(ex, tok, 1)],  # each sentence alone
                         [e.words for e in ex])
        self.assertEqual([e.words for e in ex][0], ["EU", "rejects"])  # the sentences stay as they were

    def test_eval_service_units(self):
        from train.nlu import eval_service
        ex = self.read()
        self.assertEqual([(w, [(i, e.words) for i, e in parts]) for w, parts in eval_service.ner_units(ex, False)],
                         [(e.words, [(0, e.words)]) for e in ex])
        units = eval_service.ner_units(ex, True)
        self.assertEqual([w for w, _ in units], [["EU", "rejects", "Peter", "Blackburn", "BRUSSELS"],
                                                ["Japan", "wins"]])
        self.assertEqual([[i for i, _ in parts] for _, parts in units], [[0, 2, 4], [0]])


class WikiAnn(unittest.TestCase):
    def test_read_wikiann_strips_the_language(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "train")
            with open(path, "w", encoding="utf-8") as f:
                f.write("en:Karl\tB-PER\nen:Ove\tI-PER\nen:(\tO\nen:born\tO\n\n"
                        "en:Atlantic\tB-LOC\nen:City\tI-LOC\nen:en:dash\tO\n")
            ex = ner.read_wikiann(path)
        self.assertEqual([e.words for e in ex], [["Karl", "Ove", "(", "born"], ["Atlantic", "City", "en:dash"]])
        self.assertEqual(ex[1].tags, ["B-LOC", "I-LOC", "O"])


if __name__ == "__main__":
    unittest.main()
