"""Tests of the weight average of fine-tuned models (train/nlu/soup.py).

    /usr/bin/python3 -m unittest train.nlu.soup_test
"""
import json
import os
import tempfile
import unittest

import numpy as np

from train.common import safetensors_io
from train.nlu.soup import main, soup

CONFIG = {"task": "token_classification", "hidden_size": 4, "labels": {"token": ["O", "B-PER", "I-PER"]},
          "torch_dtype": "float16"}


def write_model(d, tensors, config=CONFIG, vocab="[PAD]\n[UNK]\nhello\n"):
    os.makedirs(d)
    safetensors_io.save(os.path.join(d, "model.safetensors"), tensors, {"recipe": "train/nlu/x.py"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write(vocab)
    return d


class TestSoup(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.a = write_model(os.path.join(self.d, "a"), {"w": np.array([[1, 2], [3, 4]], np.float16),
                                                         "b": np.array([0.5], np.float32)})
        self.b = write_model(os.path.join(self.d, "b"), {"w": np.array([[3, 2], [1, 8]], np.float16),
                                                         "b": np.array([1.5], np.float32)})

    def tearDown(self):
        self.tmp.cleanup()

    def test_mean_keeps_dtypes(self):
        _, _, t, shas, meta = soup([self.a, self.b])
        self.assertEqual(t["w"].dtype, np.float16)
        self.assertEqual(t["b"].dtype, np.float32)
        np.testing.assert_array_equal(t["w"], np.array([[2, 2], [2, 6]], np.float16))
        np.testing.assert_array_equal(t["b"], np.array([1.0], np.float32))
        self.assertEqual(len(shas), 2)
        self.assertEqual(meta["recipe"], "train/nlu/x.py")

    def test_weights(self):
        _, _, t, _, _ = soup([self.a, self.b], [3, 1])
        np.testing.assert_allclose(t["b"], [0.75])
        with self.assertRaises(ValueError):
            soup([self.a, self.b], [1])
        with self.assertRaises(ValueError):
            soup([self.a, self.b], [0, 0])

    def test_refuses_mismatches(self):
        other_labels = dict(CONFIG, labels={"token": ["O", "B-LOC", "I-LOC"]})
        c = write_model(os.path.join(self.d, "c"), {"w": np.zeros((2, 2), np.float16),
                                                    "b": np.zeros(1, np.float32)}, config=other_labels)
        with self.assertRaisesRegex(ValueError, "labels"):
            soup([self.a, c])
        v = write_model(os.path.join(self.d, "v"), {"w": np.zeros((2, 2), np.float16),
                                                    "b": np.zeros(1, np.float32)}, vocab="[PAD]\nbye\n")
        with self.assertRaisesRegex(ValueError, "vocab"):
            soup([self.a, v])
        s = write_model(os.path.join(self.d, "s"), {"w": np.zeros((2, 3), np.float16),
                                                    "b": np.zeros(1, np.float32)})
        with self.assertRaisesRegex(ValueError, "shape"):
            soup([self.a, s])
        n = write_model(os.path.join(self.d, "n"), {"w": np.zeros((2, 2), np.float16)})
        with self.assertRaisesRegex(ValueError, "names"):
            soup([self.a, n])
        with self.assertRaises(ValueError):
            soup([self.a])

    def test_main_writes_a_model_dir(self):
        out = os.path.join(self.d, "out")
        self.assertEqual(main(["--out", out, self.a, self.b]), 0)
        t, meta = safetensors_io.load(os.path.join(out, "model.safetensors"))
        np.testing.assert_array_equal(t["w"], np.array([[2, 2], [2, 6]], np.float16))
        self.assertEqual(len(meta["soup_of"].split(",")), 2)
        with open(os.path.join(out, "config.json")) as f:
            self.assertEqual(json.load(f), CONFIG)
        self.assertEqual(main(["--out", out, self.a, os.path.join(self.d, "missing")]), 1)


if __name__ == "__main__":
    unittest.main()
