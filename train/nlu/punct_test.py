#!/usr/bin/python3
"""Tests of the punctuation recipe's data and of eval_service's read-back.

    /usr/bin/python3 -m unittest train.nlu.punct_test

Fast (no training data needed): labels from punctuated text, the scorer,
word positions of the encoder (first/last sub-token), the export contract the
service reads (config keys, tensor names, labels) with a tiny random model,
and how eval_service turns service answers back into marks, cases and BIO tags.
"""
import json
import os
import tempfile
import unittest
from types import SimpleNamespace

import torch

from train.common import safetensors_io
from train.common.bert import BertConfig
from train.common.wordpiece import WordPiece
from train.nlu import eval_service, finetune, punct_capit as pc, punct_data as pd


class Labels(unittest.TestCase):
    def test_words_of(self):
        got = pd.words_of('"Queequeg!—in the name of goodness, NASA, wake!" I said: is it U.S. law?')
        self.assertEqual(got, [
            ("queequeg", ".", "Capitalized"), ("in", "O", "lower"), ("the", "O", "lower"), ("name", "O", "lower"),
            ("of", "O", "lower"), ("goodness", ",", "lower"), ("nasa", ",", "UPPER"), ("wake", ".", "lower"),
            ("i", "O", "Capitalized"), ("said", ",", "lower"), ("is", "O", "lower"), ("it", "O", "lower"),
            ("u.s", ".", "UPPER"), ("law", "?", "lower")])

    def test_punctuation_only_tokens_mark_previous_word(self):
        self.assertEqual(pd.words_of("well -- no ... yes ?"), [
            ("well", ",", "lower"), ("no", ".", "lower"), ("yes", "?", "lower")])
        self.assertEqual(pd.words_of("-- ."), [])

    def test_sentence_groups(self):
        words = [("a", "O", "lower")] * 5 + [("b", ".", "lower")] + [("c", "O", "lower")] * 3
        g = pd.sentence_groups(words, min_words=4, max_words=100)
        self.assertEqual([len(x) for x in g], [6, 3])
        g = pd.sentence_groups(words, min_words=4, max_words=4)
        self.assertEqual([len(x) for x in g], [4, 4, 1])


class ProseSources(unittest.TestCase):
    def test_parse_sources(self):
        self.assertEqual(pc.parse_sources("ljspeech:0.5, gutenberg:0.25,ami"),
                         {"ljspeech": 0.5, "gutenberg": 0.25, "ami": 1.0})
        with self.assertRaises(SystemExit):
            pc.parse_sources("ljspeech:0.5,nope:1")
        with self.assertRaises(SystemExit):
            pc.parse_sources("un:x")

    def test_load_prose_whole_paragraphs(self):
        import lzma
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "text", "pretrain"))
            with lzma.open(os.path.join(d, "text", "pretrain", "un.txt.xz"), "wt", encoding="utf-8") as f:
                f.write("We met, as agreed. Why not?\n\nPeace holds.\n")
            self.assertEqual(pd.load_prose(d, "un", 1000), [
                ("we", "O", "Capitalized"), ("met", ",", "lower"), ("as", "O", "lower"), ("agreed", ".", "lower"),
                ("why", "O", "Capitalized"), ("not", "?", "lower"), ("peace", "O", "Capitalized"),
                ("holds", ".", "lower")])
            few = pd.load_prose(d, "un", 3)
            self.assertLess(len(few), 8)


class Scores(unittest.TestCase):
    def test_mark_scores(self):
        s = pd.MarkScores()
        s.add(["O", ",", ".", "?", "."], ["O", ",", ",", "?", "."], ["lower"] * 5,
              ["lower", "lower", "UPPER", "lower", "lower"])
        r = s.result()
        self.assertAlmostEqual(r[","]["p"], 0.5)
        self.assertAlmostEqual(r[","]["r"], 1.0)
        self.assertAlmostEqual(r["."]["p"], 1.0)
        self.assertAlmostEqual(r["."]["r"], 0.5)
        self.assertAlmostEqual(r["?"]["f1"], 1.0)
        self.assertAlmostEqual(r["macro_f1"], (2 / 3 + 2 / 3 + 1.0) / 3)
        self.assertAlmostEqual(r["case_acc"], 0.8)
        with self.assertRaises(ValueError):
            s.add(["O"], ["O", "O"])


class Model(unittest.TestCase):
    def tiny(self):
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "'", "don", "##t", "go", "s", "t", "home"]
        tok = WordPiece(vocab)
        cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=16)
        torch.manual_seed(0)
        return tok, cfg, pc.PunctCapit(cfg)

    def test_encoder_first_last(self):
        tok, _, _ = self.tiny()
        enc = pc.Encoder(tok, 16)
        ids, first, last = enc.encode([("don't", ".", "lower"), ("go", "O", "lower"), ("home", "?", "lower")])
        # [CLS] don ' t go home [SEP]
        self.assertEqual(first, [1, 4, 5])
        self.assertEqual(last, [3, 4, 5])
        self.assertEqual(len(ids), 7)
        ids, first, last = pc.Encoder(tok, 5).encode([("don't", "O", "lower"), ("go", "O", "lower")])
        self.assertEqual((first, last, len(ids)), ([1], [3], 5))  # "go" does not fit

    def test_export_contract(self):
        tok, cfg, model = self.tiny()
        recipe = pc.PunctCapitRecipe()
        recipe.args = recipe.parse_args(["--max-length", "16", "--export-dtype", "F32"])
        with tempfile.TemporaryDirectory() as d:
            recipe.args.out = d
            recipe.enc = pc.Encoder(tok, 16)
            recipe.segments = [("x", [("don't", ".", "Capitalized"), ("go", "?", "lower")])]
            res = {"parameters": 1, "steps": 1, "train_seconds": 1, "threads": 1, "heldout": {}}
            recipe.export(model, cfg, tok.pieces, res)
            c = json.load(open(os.path.join(d, "config.json")))
            self.assertEqual(c["task"], "punctuation_capitalization")
            self.assertEqual(c["labels"]["punct"], ["O", ",", ".", "?"])
            self.assertEqual(c["labels"]["capit"], ["lower", "Capitalized", "UPPER"])
            self.assertIn("last", c["heads"]["punct"]["alignment"])
            self.assertNotIn("last", c["heads"]["capit"]["alignment"])
            tensors, _ = safetensors_io.load(os.path.join(d, "model.safetensors"))
            self.assertEqual(tuple(tensors["punct_classifier.weight"].shape), (4, 16))
            self.assertEqual(tuple(tensors["capit_classifier.weight"].shape), (3, 16))
            self.assertNotIn("bert.pooler.dense.weight", tensors)
            self.assertTrue(os.path.exists(os.path.join(d, "README.md")))


class ReadBack(unittest.TestCase):
    def test_read_back(self):
        marks, cases = eval_service.read_back(["hello", "u.s", "i", "go"], "Hello, U.S. I go?")
        self.assertEqual(marks, [",", ".", "O", "?"])
        self.assertEqual(cases, ["Capitalized", "UPPER", "Capitalized", "lower"])
        with self.assertRaises(ValueError):
            eval_service.read_back(["a", "b"], "A")
        with self.assertRaises(ValueError):
            eval_service.read_back(["a"], "B.")

    def test_spans_to_tags(self):
        def val(label, s, e):
            return SimpleNamespace(label=[SimpleNamespace(class_name=label)], span=[SimpleNamespace(start=s, end=e)])

        words = ["book", "for", "two", "in", "new", "york"]
        tags = eval_service.spans_to_tags(words, [val("party_size_number", 9, 12), val("city", 16, 24)])
        self.assertEqual(tags, ["O", "O", "B-party_size_number", "O", "B-city", "I-city"])


class FineTuneDeviceTest(unittest.TestCase):
    """--device of the fine-tuning skeleton: a recipe's batch moves to the training device
    whatever its shape (the meta device stands in for CUDA: no GPU needed, no data copied)."""

    def test_to_device_nested(self):
        ids, mask = torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3)
        batch = (ids, [mask, 7], {"y": ids}, None)
        self.assertIs(finetune.to_device(batch, torch.device("cpu")), batch)  # CPU: untouched
        moved = finetune.to_device(batch, torch.device("meta"))
        self.assertIsInstance(moved, tuple)
        self.assertEqual(moved[0].device.type, "meta")
        self.assertEqual(moved[1][0].device.type, "meta")
        self.assertEqual(moved[1][1], 7)
        self.assertEqual(moved[2]["y"].device.type, "meta")
        self.assertEqual(tuple(moved[2]["y"].shape), (2, 3))
        self.assertIsNone(moved[3])

    def test_hardware_of_older_results(self):
        self.assertEqual(finetune.hardware_of({"threads": 2}), "2 CPU thread(s)")
        self.assertEqual(finetune.hardware_of({"threads": 1, "hardware": "one GPU (X)"}), "one GPU (X)")


if __name__ == "__main__":
    unittest.main()
