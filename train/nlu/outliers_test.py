"""Tests of the SNIPS recipe's added training data: the out-of-domain sentences and the
outlier-exposure loss (train/nlu/outliers.py, train.nlu.joint_snips --outliers), and the
slot-value fragments (--value-fragments).

    /usr/bin/python3 -m unittest train.nlu.outliers_test
"""
import math
import os
import re
import unittest

import torch

from train.common.bert import BertConfig, JointIntentSlot
from train.common.loop import IGNORE
from train.common.paths import data_dir
from train.common.wordpiece import SPECIALS, WordPiece
from train.nlu import outliers
from train.nlu.joint_snips import OUTLIER_ID, JointSnips, encode_split


class TestSentences(unittest.TestCase):
    def test_parts_and_form(self):
        data = data_dir()
        if not os.path.isdir(os.path.join(data, "text", "pretrain")):
            self.skipTest("no shared data at %s" % data)
        train = outliers.sentences(data, "train", 600, seed=1)
        held = outliers.sentences(data, "heldout", 200, seed=1)
        self.assertGreater(len(train), 500)
        self.assertGreater(len(held), 150)
        self.assertEqual(train, outliers.sentences(data, "train", 600, seed=1))
        for words in train + held:
            self.assertTrue(all(w == w.lower() and re.fullmatch(r"[\w']+", w) for w in words), words)
        # a third of the training ones are fragments of 1-4 words; the held-out ones are whole
        short = sum(len(w) <= 4 for w in train) / len(train)
        self.assertTrue(0.3 < short < 0.6, short)
        self.assertLess(sum(len(w) <= 1 for w in held), len(held) // 10)
        # held-out sentences come from other documents than the training ones
        whole = {" ".join(w) for w in train if len(w) > 6}
        self.assertFalse(whole & {" ".join(w) for w in held})
        ex = outliers.examples(data, 300)
        self.assertGreater(len(ex), 200)
        self.assertTrue(all(e.intent == outliers.OUTLIER and set(e.tags) == {"O"} for e in ex))


class TestLoss(unittest.TestCase):
    def test_uniform_loss(self):
        k = 7
        self.assertAlmostEqual(outliers.uniform_loss(torch.zeros(1, k)).item(), math.log(k), places=5)
        self.assertGreater(outliers.uniform_loss(torch.tensor([[9.0] + [0.0] * (k - 1)])).item(), math.log(k) + 1)

    def test_joint_loss_with_outliers(self):
        vocab = list(SPECIALS) + ["play", "music", "blah", "the"]
        tok = WordPiece(vocab)
        intents, slots = ["PlayMusic", "GetWeather"], ["O", "B-x"]
        from train.common.data import Example
        data = encode_split([Example(["play", "music"], ["O", "B-x"], "PlayMusic"),
                             Example(["blah", "blah", "the"], ["O", "O", "O"], outliers.OUTLIER)],
                            tok, intents, slots, 16)
        self.assertEqual(data[1][3], OUTLIER_ID)
        self.assertTrue(all(t == IGNORE for t in data[1][2]))
        torch.manual_seed(0)
        model = JointIntentSlot(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                           num_attention_heads=2, intermediate_size=32), 2, 2, 0.0)
        model.eval()
        js = JointSnips()
        js.args = js.parse_args(["--outlier-weight", "0.25"])
        from train.nlu.joint_snips import collate
        both = collate(data, [0, 1], tok.pad_id)
        il, sl = model(both[0], both[1])
        want = (torch.nn.functional.cross_entropy(il[:1], both[3][:1]) + 0.25 * outliers.uniform_loss(il[1:])) / 2
        want = want + torch.nn.functional.cross_entropy(sl.reshape(-1, 2), both[2].reshape(-1), ignore_index=IGNORE)
        self.assertAlmostEqual(js.loss(model, both).item(), want.item(), places=5)
        # a batch of outliers only: finite, and its gradient steps the scores towards uniform
        only = collate(data, [1], tok.pad_id)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        before = torch.softmax(model(only[0], only[1])[0], -1).max().item()
        for _ in range(20):
            loss = js.loss(model, only)
            self.assertTrue(torch.isfinite(loss))
            opt.zero_grad()
            loss.backward()
            opt.step()
        after = torch.softmax(model(only[0], only[1])[0], -1).max().item()
        self.assertLess(abs(after - 0.5), abs(before - 0.5) + 1e-6)
        self.assertAlmostEqual(after, 0.5, places=2)


class TestFragments(unittest.TestCase):
    def test_value_fragments(self):
        from train.common.data import Example
        from train.nlu.joint_snips import FRAGMENT, value_fragments
        ex = [Example("book a table for four tonight at eight in boston".split(),
                      ["O", "O", "O", "O", "B-party_size_number", "B-timeRange", "O", "B-timeRange", "O",
                       "B-city"], "BookRestaurant"),
              Example("hello there".split(), ["O", "O"], "BookRestaurant")]
        seen = set()
        for seed in range(40):
            for f in value_fragments(ex, 1.0, seed):
                self.assertEqual(f.intent, FRAGMENT)
                seen.add((" ".join(f.words), " ".join(f.tags)))
        # one span, or two with at most two untagged words between; tags as they were
        self.assertEqual(seen, {("four", "B-party_size_number"), ("tonight", "B-timeRange"),
                                ("eight", "B-timeRange"), ("boston", "B-city"),
                                ("four tonight", "B-party_size_number B-timeRange"),
                                ("tonight at eight", "B-timeRange O B-timeRange"),
                                ("eight in boston", "B-timeRange O B-city")})
        self.assertEqual(value_fragments(ex, 0.0), [])

    def test_fragment_rows_train_no_intent(self):
        from train.common.data import Example
        from train.nlu.joint_snips import FRAGMENT, collate
        vocab = list(SPECIALS) + ["play", "music", "tomorrow"]
        tok = WordPiece(vocab)
        data = encode_split([Example(["play", "music"], ["O", "B-x"], "PlayMusic"),
                             Example(["tomorrow"], ["B-x"], FRAGMENT)], tok, ["PlayMusic", "GetWeather"],
                            ["O", "B-x"], 16)
        self.assertEqual(data[1][3], IGNORE)
        self.assertIn(1, data[1][2])                      # its slot target is kept
        torch.manual_seed(0)
        model = JointIntentSlot(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                           num_attention_heads=2, intermediate_size=32), 2, 2, 0.0)
        model.eval()
        js = JointSnips()
        js.args = js.parse_args([])
        both = collate(data, [0, 1], tok.pad_id)
        il, sl = model(both[0], both[1])
        want = torch.nn.functional.cross_entropy(il[:1], both[3][:1]) + torch.nn.functional.cross_entropy(
            sl.reshape(-1, 2), both[2].reshape(-1), ignore_index=IGNORE)
        self.assertAlmostEqual(js.loss(model, both).item(), want.item(), places=5)


class TestMeasure(unittest.TestCase):
    def test_counts_follow_the_scores(self):
        data = data_dir()
        if not os.path.isdir(os.path.join(data, "nlu", "snips")):
            self.skipTest("no shared data at %s" % data)
        vocab = list(SPECIALS) + ["a", "the"]
        model = JointIntentSlot(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                           num_attention_heads=2, intermediate_size=32), 7, 3)
        with torch.no_grad():
            model.intent_classifier.weight.zero_()
            model.intent_classifier.bias.zero_()            # every score 1/7: all rejected, none kept
            m = outliers.measure(model, WordPiece(vocab), data, 32, n=50, n_questions=20)
            self.assertEqual((m["rejected"], m["kept"], m["questions"]), (100.0, 0.0, 100.0))
            self.assertGreater(m["n"], 40)
            model.intent_classifier.bias[3] = 10.0          # every score ~1: none rejected, all kept
            m = outliers.measure(model, WordPiece(vocab), data, 32, n=50, n_questions=20)
            self.assertEqual((m["rejected"], m["kept"], m["questions"]), (0.0, 100.0, 0.0))


if __name__ == "__main__":
    unittest.main()
