#!/usr/bin/python3
"""Tests of the custom intents file reader (intents_file.py) and the folds of
`parley nlu train` (custom_intents.py). Fast: no torch, no training.

    /usr/bin/python3 -m unittest train.nlu.intents_test
"""
import contextlib
import io
import os
import tempfile
import unittest

from train.nlu import custom_intents, intents_file as inf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COFFEE = os.path.join(ROOT, "tests", "data", "nlu", "coffee.yml")
COFFEE_DIALOG = os.path.join(ROOT, "tests", "data", "nlu", "coffee_dialog.yaml")


class Examples(unittest.TestCase):
    def tags(self, text):
        words, tags, _ = inf.parse_example(text, "f", 1, "k")
        return list(zip(words, tags))

    def test_annotations_become_bio_tags_of_whitespace_words(self):
        self.assertEqual(self.tags("a [large](size) [flat white](drink) to go"), [
            ("a", "O"), ("large", "B-size"), ("flat", "B-drink"), ("white", "I-drink"),
            ("to", "O"), ("go", "O")])

    def test_adjacent_spans_of_one_slot_stay_two(self):
        self.assertEqual(self.tags("[latte](drink) [mocha](drink)"), [
            ("latte", "B-drink"), ("mocha", "B-drink")])

    def test_a_word_touched_by_an_annotation_takes_its_slot(self):
        self.assertEqual(self.tags("at [4](time)pm, please"), [
            ("at", "O"), ("4pm,", "B-time"), ("please", "O")])

    def test_rasa_json_entities(self):
        self.assertEqual(self.tags('a [latte]{"entity": "drink", "value": "latte"} now'), [
            ("a", "O"), ("latte", "B-drink"), ("now", "O")])

    def test_errors_name_what_is_wrong(self):
        for text, want in (("a [large(size) latte", "has no closing ']'"),
                           ("a [large](size latte", "has no closing ')'"),
                           ("a [large] latte", "needs its slot"),
                           ("a large] latte", "']' without an opening '['"),
                           ("a [large](si ze!) latte", "slot name 'si ze!'"),
                           ("a [ ](size) latte", "marks no words"),
                           ('a [x]{"value": 1}', 'names no "entity"')):
            with self.assertRaises(inf.IntentsError, msg=text) as cm:
                inf.parse_example(text, "f.yml", 7, "nlu[0].examples")
            self.assertIn(want, str(cm.exception))
            self.assertTrue(str(cm.exception).startswith("f.yml:7: nlu[0].examples: "))


class Files(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def read(self, text):
        path = os.path.join(self.dir.name, "t.yml")
        with open(path, "w") as f:
            f.write(text)
        return inf.read(path)

    def error(self, text):
        with self.assertRaises(inf.IntentsError) as cm:
            self.read(text)
        return str(cm.exception).split("t.yml", 1)[1]

    def test_the_coffee_shop(self):
        f = inf.read(COFFEE)
        self.assertEqual(f.name, "coffee")
        self.assertEqual(f.intents, ["order_drink", "ask_hours", "cancel_order"])
        self.assertEqual(f.slots, ["size", "drink"])
        first = f.examples[0]
        self.assertEqual((first.words, first.tags, first.meta["line"]), (
            ["i'd", "like", "a", "large", "latte"], ["O", "O", "O", "B-size", "B-drink"], 7))
        self.assertEqual(f.warnings, [])

    def test_a_dialog_spec_with_an_nlu_section(self):
        f = inf.read(COFFEE_DIALOG)
        self.assertTrue(f.is_dialog)
        self.assertEqual(f.name, "coffee_shop")
        self.assertEqual(sorted(f.intents), ["ask_hours", "cancel_order", "order_drink"])
        self.assertEqual(f.warnings, [])

    def test_lines_of_block_and_list_examples(self):
        f = self.read("nlu:\n- intent: a\n  examples: |\n    - one\n\n    - two\n"
                      "- intent: b\n  examples:\n    - three\n    - four\n")
        self.assertEqual([(e.intent, e.meta["line"]) for e in f.examples],
                         [("a", 4), ("a", 6), ("b", 9), ("b", 10)])

    def test_rasa_extras_are_skipped_with_a_warning(self):
        f = self.read('version: "3.1"\nnlu:\n- synonym: latte\n  examples: |\n    - caffe latte\n'
                      "- intent: a\n  examples: |\n    - x\n    - y\n- intent: b\n  examples: |\n"
                      "    - z\n    - w\n    - w\n")
        self.assertEqual(len(f.examples), 4)
        self.assertIn("t.yml:3: nlu[0]: Rasa's 'synonym' entries are not used", f.warnings[0])
        self.assertIn("t.yml:14: nlu[2].examples (b): 'w' repeats line 13", f.warnings[1])

    def test_bad_files(self):
        two = "- intent: b\n  examples: |\n    - p\n    - q\n"
        for text, want in (
                ("", ":1: (top): the file is empty"),
                ("# only a comment\n", ":1: (top): the file is empty"),
                ("nlu:\n- intent: a\n  examples: |\n    - hi\n" + two,
                 ":4: intent 'a': has 1 example; give at least 2"),
                ("nlu:\n- intent: a\n  examples: |\n    - x\n    - a [big(size) one\n" + two,
                 ":5: nlu[0].examples (a): annotation '[big(size) one' has no closing ']'"),
                ("nlu:\n- intent: a\n  examples: |\n    - x\n    - a [big](si/ze) one\n" + two,
                 ":5: nlu[0].examples (a): slot name 'si/ze'"),
                ("nlu:\n- intent: a\n  examples: |\n    - x\n    - y\n",
                 ":1: nlu: only one intent ('a')"),
                ("nlu:\n- intent: a\n  exmples: |\n    - x\n", ":3: nlu[0].exmples: unknown key"),
                ("nlu:\n- intent: a b\n  examples: |\n    - x\n", ":2: nlu[0].intent: intent name"),
                ("nlu:\n- intent: a\n  examples: |\n    x\n", ":4: nlu[0].examples (a): 'x': each "
                 "example is a line starting with '- '"),
                ("nlu:\n- intent: a\n  examples: |\n    - x\n    - y\n- intent: b\n  examples: |\n"
                 "    - p\n    - X\n", ":9: nlu[1].examples (b): 'X' is also an example of intent "
                 "'a' (line 4)"),
                ("stories: []\nnlu: []\n", ":1: stories: unknown key"),
                ("version: 1\n", ":1: nlu: no 'nlu:' section"),
                ("nlu: {a: 1}\n", ":1: nlu: a list of"),
                ("nlu: [x\n", ":2: (yaml):")):
            self.assertTrue(self.error(text).startswith(want), "%r: want %r, got %r"
                            % (text, want, self.error(text)))

    def test_dialog_labels_without_examples_are_warned_about(self):
        f = self.read("dialog: d\nintents:\n  x:\n    nlu: [a, c]\nslots:\n  s:\n    nlu: [t]\n"
                      "nlu:\n- intent: a\n  examples: |\n    - x\n    - y\n"
                      "- intent: b\n  examples: |\n    - p\n    - q\n")
        self.assertEqual(f.name, "d")
        self.assertEqual(len(f.warnings), 2)
        self.assertIn("t.yml:4: intents.x.nlu: intent 'c' has no examples", f.warnings[0])
        self.assertIn("t.yml:7: slots.s.nlu: slot 't' has no examples", f.warnings[1])


class Folds(unittest.TestCase):
    def test_every_example_held_out_once_and_every_intent_in_each_training_split(self):
        f = inf.read(COFFEE)
        folds = custom_intents.stratified_folds(f.examples, 5, 1)
        flat = sorted(i for fold in folds for i in fold)
        self.assertEqual(flat, list(range(len(f.examples))))
        for fold in folds:
            self.assertTrue(6 <= len(fold) <= 9, len(fold))
            train = {f.examples[i].intent for i in range(len(f.examples)) if i not in fold}
            self.assertEqual(train, set(f.intents))
            self.assertEqual({f.examples[i].intent for i in fold}, set(f.intents))

    def test_command_line_checks(self):
        for argv in (["f", "--folds", "1"], ["f", "--minutes", "0"], ["f", "--epochs", "0"]):
            with self.assertRaises(SystemExit) as cm, contextlib.redirect_stderr(io.StringIO()):
                custom_intents.parse_args(argv)
            self.assertEqual(cm.exception.code, 2)


if __name__ == "__main__":
    unittest.main()
