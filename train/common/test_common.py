#!/usr/bin/python3
"""Tests of train/common: tokenizer, data readers, metrics, safetensors, export.

    /usr/bin/python3 -m unittest train.common.test_common

The export test runs the exported files through an independent numpy
implementation of the BERT forward pass written from the Hugging Face
formulas, so a wrong tensor name, a transposed weight or a missing piece of
the architecture fails here and not in the C engine.
"""
import json
import math
import os
import struct
import tempfile
import re
import unittest

import numpy as np
import torch

from train.common import loop, safetensors_io
from train.common.bert import BertConfig, JointIntentSlot
from train.common.data import bio_labels, read_conll, read_snips
from train.common.export import export_model
from train.common.metrics import SpanF1, spans
from train.common.wordpiece import WordPiece, basic_tokenize, prune_vocab

SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##want", "##ed", "wa", "un",
               "runn", "##ing", ",", "low", "lowest", "a", "##b", "##c", "b", "c"]


class TestTokenizer(unittest.TestCase):
    def test_basic(self):
        self.assertEqual(basic_tokenize(" \tHeLLo!how  \n Are yoU?  "),
                         ["hello", "!", "how", "are", "you", "?"])
        self.assertEqual(basic_tokenize("H\u00e9llo"), ["hello"])
        self.assertEqual(basic_tokenize("ah\u535a\u63a8zz"), ["ah", "\u535a", "\u63a8", "zz"])
        self.assertEqual(basic_tokenize("a\x00b\ufffdc\u200bd e\u3000f"), ["abcd", "e", "f"])
        self.assertEqual(basic_tokenize("don't 1.5$ \u00bfqu\u00e9?"),
                         ["don", "'", "t", "1", ".", "5", "$", "\u00bf", "que", "?"])
        self.assertEqual(basic_tokenize("HeLLo", do_lower_case=False), ["HeLLo"])

    def test_wordpiece(self):
        tok = WordPiece(SMALL_VOCAB)
        self.assertEqual(tok.tokenize("UNwant\u00e9d,running"), ["un", "##want", "##ed", ",", "runn", "##ing"])
        self.assertEqual(tok.tokenize("unwantedX running"), ["[UNK]", "runn", "##ing"])
        self.assertEqual(tok.tokenize(""), [])
        self.assertEqual(tok.tokenize("lowest abc"), ["lowest", "a", "##b", "##c"])
        self.assertEqual(tok.tokenize("a" * 101), ["[UNK]"])

    def test_encode_words_and_truncation(self):
        tok = WordPiece(SMALL_VOCAB)
        ids, first = tok.encode_words(["unwanted", "running", "\x01", "low"], 64)
        self.assertEqual([tok.pieces[i] for i in ids],
                         ["[CLS]", "un", "##want", "##ed", "runn", "##ing", "[UNK]", "low", "[SEP]"])
        self.assertEqual(first, [1, 4, 6, 7])
        ids, first = tok.encode_words(["unwanted", "running", "low"], 6)
        self.assertEqual([tok.pieces[i] for i in ids], ["[CLS]", "un", "##want", "##ed", "[SEP]"])
        self.assertEqual(first, [1, -1, -1])  # "running" does not fit: it and all after are cut

    def test_missing_special(self):
        with self.assertRaises(ValueError):
            WordPiece(["[UNK]", "[CLS]", "a"])

    def test_prune_keeps_tokenization(self):
        full = WordPiece(SMALL_VOCAB + ["##x", "x", "lower"])
        texts = ["unwanted running", "lowest lower ab"]
        small = prune_vocab(full, texts, min_count=1, char_max_cp=-1)
        self.assertNotIn("want", small)
        self.assertIn("[PAD]", small)
        self.assertEqual(small[:5], ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        for t in texts:
            self.assertEqual(WordPiece(small).tokenize(t), full.tokenize(t))
        with_chars = prune_vocab(full, texts, min_count=5)
        self.assertIn("##x", with_chars)
        self.assertEqual(WordPiece(with_chars).tokenize("lowest"), ["low", "##e", "##s", "##t"]
                         if "##e" in with_chars else ["[UNK]"])


class TestData(unittest.TestCase):
    def write(self, d, name, text):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)

    def test_snips(self):
        with tempfile.TemporaryDirectory() as d:
            self.write(d, "seq.in", "play jazz \nrate it 5\n")
            self.write(d, "seq.out", "O B-genre \nO O B-rating\n")
            self.write(d, "label", "PlayMusic\nRateBook\n")
            ex = read_snips(d)
            self.assertEqual(len(ex), 2)
            self.assertEqual(ex[0].words, ["play", "jazz"])
            self.assertEqual(ex[1].tags, ["O", "O", "B-rating"])
            self.assertEqual(ex[1].intent, "RateBook")
            self.assertEqual(bio_labels(ex), ["O", "B-genre", "I-genre", "B-rating", "I-rating"])
            self.write(d, "seq.out", "O B-genre\nO O\n")
            with self.assertRaisesRegex(ValueError, "line 2: 3 words but 2 tags"):
                read_snips(d)
            self.write(d, "seq.out", "O X-genre\nO O O\n")
            with self.assertRaisesRegex(ValueError, "not a BIO tag"):
                read_snips(d)

    def test_conll(self):
        with tempfile.TemporaryDirectory() as d:
            self.write(d, "t.txt", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
                                   "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
            ex = read_conll(os.path.join(d, "t.txt"))
            self.assertEqual([e.words for e in ex], [["EU", "rejects"], ["Peter", "Blackburn"]])
            self.assertEqual(ex[1].tags, ["B-PER", "I-PER"])


class TestMetrics(unittest.TestCase):
    def test_spans_conlleval_rules(self):
        self.assertEqual(spans(["B-a", "I-a", "O", "I-b", "I-b", "B-b", "I-a"]),
                         {(0, 2, "a"), (3, 5, "b"), (5, 6, "b"), (6, 7, "a")})
        self.assertEqual(spans(["O", "O"]), set())
        self.assertEqual(spans(["B-a", "B-a"]), {(0, 1, "a"), (1, 2, "a")})

    def test_f1(self):
        m = SpanF1()
        m.add(["B-a", "I-a", "O", "B-b"], ["B-a", "I-a", "O", "B-c"])
        m.add(["B-a", "O"], ["B-a", "B-b"])
        p, r, f = m.result()
        self.assertAlmostEqual(p, 50.0)  # 2 of 4 predicted right
        self.assertAlmostEqual(r, 2 / 3 * 100)
        self.assertAlmostEqual(f, 2 * 50 * (200 / 3) / (50 + 200 / 3))
        with self.assertRaises(ValueError):
            m.add(["O"], ["O", "O"])


class TestSafetensors(unittest.TestCase):
    def test_round_trip_and_layout(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.safetensors")
            a = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "i": np.array([1, -2], dtype=np.int64),
                 "h": np.ones((2, 2), dtype=np.float16), "t": torch.arange(3, dtype=torch.float32)}
            safetensors_io.save(p, a, {"k": "v"})
            got, meta = safetensors_io.load(p)
            self.assertEqual(meta, {"k": "v"})
            for k in a:
                np.testing.assert_array_equal(got[k], np.asarray(a[k]))
            with open(p, "rb") as f:
                blob = f.read()
            (n,) = struct.unpack("<Q", blob[:8])
            self.assertEqual(n % 8, 0)
            hdr = json.loads(blob[8:8 + n])
            self.assertEqual(hdr["w"], {"dtype": "F32", "shape": [3, 4], "data_offsets": [hdr["w"]["data_offsets"][0],
                                                                                    hdr["w"]["data_offsets"][0] + 48]})
            self.assertEqual(len(blob), 8 + n + 48 + 16 + 8 + 12)

    def test_hostile(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "bad.safetensors")

            def raw(header, data=b""):
                h = json.dumps(header).encode()
                with open(p, "wb") as f:
                    f.write(struct.pack("<Q", len(h)) + h + data)

            raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4)
            self.assertRaisesRegex(ValueError, "bad data_offsets", safetensors_io.load, p)
            raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8)
            self.assertRaisesRegex(ValueError, "gap", safetensors_io.load, p)
            raw({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
            self.assertRaisesRegex(ValueError, "unknown dtype", safetensors_io.load, p)
            with open(p, "wb") as f:
                f.write(struct.pack("<Q", 1000) + b"{}")
            self.assertRaisesRegex(ValueError, "past the end", safetensors_io.load, p)


def np_layernorm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def np_bert_joint(t, cfg, ids):
    """Independent forward pass of one unpadded sequence from the exported tensors."""
    def lin(x, name):
        return x @ t[name + ".weight"].T + t[name + ".bias"]

    eps, h, nh = cfg["layer_norm_eps"], cfg["hidden_size"], cfg["num_attention_heads"]
    n = len(ids)
    x = (t["bert.embeddings.word_embeddings.weight"][ids] + t["bert.embeddings.position_embeddings.weight"][:n]
         + t["bert.embeddings.token_type_embeddings.weight"][0])
    x = np_layernorm(x, t["bert.embeddings.LayerNorm.weight"], t["bert.embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        pre = "bert.encoder.layer.%d." % i
        q, k, v = (lin(x, pre + "attention.self." + s).reshape(n, nh, h // nh).transpose(1, 0, 2)
                   for s in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(h // nh)
        s = np.exp(s - s.max(-1, keepdims=True))
        ctx = ((s / s.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(n, h)
        x = np_layernorm(lin(ctx, pre + "attention.output.dense") + x, t[pre + "attention.output.LayerNorm.weight"],
                         t[pre + "attention.output.LayerNorm.bias"], eps)
        f = lin(np_gelu(lin(x, pre + "intermediate.dense")), pre + "output.dense")
        x = np_layernorm(f + x, t[pre + "output.LayerNorm.weight"], t[pre + "output.LayerNorm.bias"], eps)
    pooled = np.tanh(lin(x[0], "bert.pooler.dense"))
    return lin(pooled, "intent_classifier"), lin(x, "slot_classifier")


class TestExport(unittest.TestCase):
    def test_export_matches_numpy_reference(self):
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=len(SMALL_VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=24, max_position_embeddings=12)
        model = JointIntentSlot(cfg, 3, 5).eval()
        with torch.no_grad():  # make LayerNorms and biases non-trivial
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        with tempfile.TemporaryDirectory() as d:
            export_model(d, model, cfg, SMALL_VOCAB,
                         {"task": "joint_intent_slot", "labels": {"intent": ["a", "b", "c"]}, "max_length": 12,
                          "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt"}})
            with open(os.path.join(d, "config.json")) as f:
                c = json.load(f)
            for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                        "max_position_embeddings", "type_vocab_size", "vocab_size", "layer_norm_eps", "hidden_act",
                        "labels", "task", "max_length", "tokenizer"):
                self.assertIn(key, c)
            with open(os.path.join(d, "vocab.txt")) as f:
                self.assertEqual(f.read().split("\n")[:-1], SMALL_VOCAB)
            t, _ = safetensors_io.load(os.path.join(d, "model.safetensors"))
            self.assertIn("bert.encoder.layer.1.attention.self.query.weight", t)
            self.assertEqual(t["bert.encoder.layer.0.intermediate.dense.weight"].shape, (24, 16))
            t = {k: v.astype(np.float64) for k, v in t.items()}
            for ids in ([2, 5, 6, 3], [2, 9, 10, 11, 12, 13, 14, 3], [2, 3]):
                want_i, want_s = np_bert_joint(t, c, ids)
                with torch.no_grad():
                    got_i, got_s = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
                np.testing.assert_allclose(got_i[0].numpy(), want_i, atol=1e-5)
                np.testing.assert_allclose(got_s[0].numpy(), want_s, atol=1e-5)
            # padding must not change the real positions
            ids = [2, 5, 6, 3]
            with torch.no_grad():
                a_i, a_s = model(torch.tensor([ids]), torch.ones(1, 4, dtype=torch.long))
                b_i, b_s = model(torch.tensor([ids + [0, 0]]), torch.tensor([[1, 1, 1, 1, 0, 0]]))
            np.testing.assert_allclose(a_i.numpy(), b_i.numpy(), atol=1e-5)
            np.testing.assert_allclose(a_s.numpy(), b_s[:, :4].numpy(), atol=1e-5)


class TestCpuBf16(unittest.TestCase):
    """pick_device(cpu_bf16) switches bf16 autocast on the CPU on; by default the CPU stays f32."""

    def tearDown(self):
        loop.pick_device("cpu")  # the module's default again for the other tests

    def test_autocast(self):
        a, w = torch.randn(4, 8), torch.randn(8, 8)
        dev = loop.pick_device("cpu")
        with loop.autocast(dev):
            self.assertEqual((a @ w).dtype, torch.float32)
        self.assertTrue(loop.device_note(dev).endswith("f32"))
        dev = loop.pick_device("cpu", cpu_bf16=True)
        with loop.autocast(dev):
            y = a @ w
        if not {"avx512_bf16", "amx_bf16"} & loop.cpu_flags():  # dropped: no bf16 instructions
            self.assertEqual(y.dtype, torch.float32)
            self.assertTrue(loop.device_note(dev).endswith("f32"))
            return
        self.assertEqual(y.dtype, torch.bfloat16)
        self.assertTrue(loop.device_note(dev).endswith("bf16 autocast"))
        np.testing.assert_allclose(y.float().numpy(), (a @ w).numpy(), rtol=0.05, atol=0.1)

    def test_machine_note(self):
        """The model cards' CPU line: lscpu's model name, the vCPUs, the vector instructions read from
        /proc/cpuinfo (not assumed), torch, and the precision that pick_device set."""
        with open("/proc/cpuinfo") as f:
            info = f.read()
        flags = set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split())
        name = re.search(r"^model name\s*:\s*(.+)$", info, re.M).group(1).strip()
        loop.pick_device("cpu", cpu_bf16=True)
        note = loop.machine_note()
        self.assertTrue(note.startswith("%s, %d vCPUs, " % (name, len(re.findall(r"^processor", info, re.M)))), note)
        self.assertIn("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2", note)
        self.assertEqual("with BF16" in note, "avx512_bf16" in flags)
        bf16 = bool({"avx512_bf16", "amx_bf16"} & flags)  # pick_device drops the request without them
        self.assertTrue(note.endswith("python3-torch %s, %s" % (torch.__version__, "bf16 autocast" if bf16 else "f32")),
                        note)
        loop.pick_device("cpu")
        self.assertTrue(loop.machine_note().endswith(", f32"))


if __name__ == "__main__":
    unittest.main()
