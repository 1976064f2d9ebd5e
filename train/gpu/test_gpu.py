"""Tests of train/gpu: the bundle's files (features round trip, token stream, held-out part,
the size limit's cut), whole-word masking, and pack + run.sh end to end on a tiny synthetic
data folder with a tiny model on the CPU (well under a minute; no shared data needed).

    /usr/bin/python3 -m unittest train.gpu.test_gpu      (from the repository root)
"""
import json
import lzma
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

from train.common.bert import load_pretrained
from train.common.paths import ROOT
from train.common.wordpiece import WordPiece
from train.gpu import bundle, pack
from train.qa import squad
from train.qa.features import Features
from train.qa.test_qa import SAMPLE, TWO_PARAGRAPHS, VOCAB, write_sample_data
from train.qa.windows import OffsetTokenizer

QA_SETTINGS = ["--max-length", "24", "--doc-stride", "4", "--max-question", "8"]


def write_data(d):
    """<d>/qa (train/qa's sample), <d>/text/pretrain/{wiki2015,gutenberg}.txt.xz, <d>/vocab.txt."""
    os.makedirs(os.path.join(d, "qa"))
    os.makedirs(os.path.join(d, "text", "pretrain"))
    write_sample_data(os.path.join(d, "qa"), {"version": "1.1", "data": SAMPLE["data"][:3] + [TWO_PARAGRAPHS]})
    shutil.move(os.path.join(d, "qa", "vocab.txt"), os.path.join(d, "vocab.txt"))
    words = [w for w in VOCAB[5:] if not w.startswith("##")] + ["unaffable", "cats"]
    rng = random.Random(3)
    for name, n_docs in (("wiki2015", 12), ("gutenberg", 6)):
        docs = []
        for _ in range(n_docs):
            paras = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) + "." for _ in range(3)]
            docs.append("\n".join(paras))
        with lzma.open(os.path.join(d, "text", "pretrain", name + ".txt.xz"), "wt", encoding="utf-8") as f:
            f.write("\n\n".join(docs) + "\n")


class TestBundle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tempfile.mkdtemp()
        write_data(cls.d)
        cls.b = os.path.join(cls.d, "bundle")
        # word-piece vectors of another vocabulary: its pieces that the bundle's share, and one more
        cls.vec_vocab = VOCAB[:5] + ["zzz-not-in-the-bundle"] + VOCAB[5:]
        torch.save({"vocab": cls.vec_vocab, "vectors": torch.randn(len(cls.vec_vocab), 8)},
                   os.path.join(cls.d, "vectors.pt"))
        cls.m = pack.main(["--data", cls.d, "--out", cls.b, "--vocab", os.path.join(cls.d, "vocab.txt"),
                           "--max-mib", "1", "--heldout-segments", "6", "--heldout-length", "10",
                           "--weights", "wiki2015=2,gutenberg=1",
                           "--vectors", os.path.join(cls.d, "vectors.pt")] + QA_SETTINGS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.d)

    def test_files_and_manifest(self):
        for f in ("manifest.json", "vocab.txt", "corpus.u16.xz", "heldout.u16.xz", "qa/squad11.npz.xz",
                  "qa/v2train.npz.xz", "qa/other.npz.xz", "qa/swapped.npz.xz", "qa/squad-v2-dev-half.json.xz"):
            self.assertTrue(os.path.exists(os.path.join(self.b, f)), f)
        self.assertEqual(self.m["vocab_key"], bundle.vocab_key(VOCAB))
        self.assertLessEqual(pack.du(self.b), 1 << 20)
        # the command that made it (the model cards' Reproduce lines), parsed back: the same options
        argv = self.m["command"].split(" -m train.gpu.pack ")[1].split()
        self.assertEqual(dict(vars(pack.parse_args(argv)), data=None),
                         dict(vars(pack.parse_args(["--data", self.d, "--out", self.b, "--vocab",
                                                    os.path.join(self.d, "vocab.txt"), "--max-mib", "1",
                                                    "--heldout-segments", "6", "--heldout-length", "10",
                                                    "--weights", "wiki2015=2,gutenberg=1", "--vectors",
                                                    os.path.join(self.d, "vectors.pt")] + QA_SETTINGS)), data=None))
        c = bundle.load_corpus(self.b, heldout_segments=4)
        self.assertEqual(c["vocab"], VOCAB)
        self.assertEqual(len(c["train"]), self.m["corpus"]["tokens"])
        self.assertEqual(len(c["heldout"]), 4)
        self.assertTrue(all(len(s) == 10 for s in c["heldout"]))
        # documents end with [SEP]; no [UNK] for the vocabulary's own words
        self.assertEqual(int(c["train"][-1]), 3)
        self.assertEqual(int((c["train"] == 1).sum()), 0)
        extra = bundle.load_corpus(self.b, extra_qa=True)
        self.assertGreater(len(extra["train"]), len(c["train"]))
        self.assertIn("squad-train-contexts", extra["sources"])
        # the vectors: the bundle vocabulary's rows only, in f16, named in the manifest
        v = torch.load(os.path.join(self.b, "vectors.pt"))
        self.assertEqual(v["vocab"], VOCAB)
        self.assertEqual((v["vectors"].dtype, tuple(v["vectors"].shape)), (torch.float16, (len(VOCAB), 8)))
        src = torch.load(os.path.join(self.d, "vectors.pt"))["vectors"]
        self.assertTrue(torch.equal(v["vectors"][7], src[8].half()))
        self.assertEqual((self.m["vectors"]["pieces"], self.m["vectors"]["dim"]), (len(VOCAB), 8))

    def test_features_round_trip(self):
        qs = squad.read_squad(os.path.join(self.d, "qa", "squad-v1.1-train.json.xz"))
        tok = OffsetTokenizer(VOCAB)
        ref = Features(qs, tok, 24, 4, 8, with_targets=True)
        f = bundle.load_features(os.path.join(self.b, "qa", "squad11.npz.xz"), tok, VOCAB, 24, 4, 8)
        self.assertEqual(len(f.items), len(ref.items))
        self.assertEqual(f.unlocated, ref.unlocated)
        for a, b in zip(f.items, ref.items):
            self.assertEqual(a is None, b is None)
            if a is not None:
                self.assertEqual((a.ctx, a.tok_start, a.tok_end), (b.ctx, b.tok_start, b.tok_end))
                self.assertEqual(a.q_ids.tolist(), b.q_ids.tolist())
        for i in range(len(f.items)):
            if f.items[i] is not None:
                self.assertEqual([x[0].tolist() for x in f.inputs(i)], [x[0].tolist() for x in ref.inputs(i)])
        with self.assertRaises(SystemExit):  # other window settings are refused
            bundle.load_features(os.path.join(self.b, "qa", "squad11.npz.xz"), tok, VOCAB, 32, 4, 8)

    def test_made_unanswerable_round_trip(self):
        """--negatives from a bundle gives the windows it gives from the texts."""
        qs = squad.read_squad(os.path.join(self.d, "qa", "squad-v1.1-train.json.xz"))
        tok = OffsetTokenizer(VOCAB)
        f11 = bundle.load_features(os.path.join(self.b, "qa", "squad11.npz.xz"), tok, VOCAB, 24, 4, 8)
        self.assertEqual(self.m["qa"]["other"]["questions_with_a_paragraph"], 2)
        self.assertEqual(self.m["qa"]["swapped"]["questions_with_a_swap"], 2)
        for make, name, load in ((squad.unanswerable_pairs, "other", bundle.load_other),
                                 (squad.swapped_names, "swapped", bundle.load_swapped)):
            for share, seed in ((1.0, 1), (0.5, 2), (0.0, 1)):
                ref = Features(make(qs, share, seed), tok, 24, 4, 8, with_targets=True)
                f = load(os.path.join(self.b, "qa", name + ".npz.xz"), f11, share, seed)
                self.assertEqual(len(f.items), len(ref.items))
                if share == 1.0:
                    self.assertEqual(len(f.items), 2)
                for i in range(len(f.items)):
                    self.assertEqual(f.items[i].tok_start, -1)
                    self.assertEqual([x[0].tolist() for x in f.inputs(i)], [x[0].tolist() for x in ref.inputs(i)])

    def test_max_tokens_cut(self):
        out = os.path.join(self.d, "cut")
        m = pack.main(["--data", self.d, "--out", out, "--vocab", os.path.join(self.d, "vocab.txt"),
                       "--max-mib", "1", "--max-tokens", "40", "--heldout-segments", "2",
                       "--heldout-length", "10", "--qa-limit", "2"] + QA_SETTINGS)
        self.assertEqual(m["corpus"]["tokens"], 40)
        self.assertEqual(len(bundle.read_u16(os.path.join(out, "corpus.u16.xz"))), 40)

    def test_whole_word_masking(self):
        from train.nlu.pretrain import Stream
        vocab = VOCAB
        tok = WordPiece(vocab)
        una, ffa, ble = vocab.index("una"), vocab.index("##ffa"), vocab.index("##ble")
        cat = vocab.index("cat")
        tokens = np.array([una, ffa, ble, cat] * 50, dtype=np.uint16)
        s = Stream(tokens, vocab, 20, whole_word=True)
        gen = torch.Generator().manual_seed(0)
        for _ in range(20):
            ids, att, pos, tgt = s.batch(8, tok, len(vocab), 0.3, gen)
            self.assertEqual(tuple(ids.shape), (8, 22))
            chosen = torch.zeros(ids.numel(), dtype=torch.bool)
            chosen[pos] = True
            chosen = chosen.view(ids.shape)
            self.assertTrue(chosen.any(1).all())
            self.assertFalse(chosen[:, 0].any() or chosen[:, -1].any())
            # a chosen "una" takes its "##ffa ##ble" along; a chosen "##ffa" has its "una" chosen
            orig = ids.clone()
            orig[chosen] = tgt
            for r in range(8):
                for t in range(1, 21):
                    if orig[r, t] in (ffa, ble) and orig[r, t - 1] in (una, ffa):
                        self.assertEqual(bool(chosen[r, t]), bool(chosen[r, t - 1]))
            self.assertTrue(((tgt >= 5) & (tgt < len(vocab))).all())

    def test_run_sh_end_to_end(self):
        out, work = os.path.join(self.d, "out"), os.path.join(self.d, "work")
        env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=ROOT)
        env.pop("OUT", None)
        argv = ["bash", os.path.join(ROOT, "train", "gpu", "run.sh"), "--bundle", self.b, "--out", out,
                "--work", work, "--device", "cpu", "--threads", "1", "--budget-minutes", "1.5",
                "--pretrain-minutes", "0.05", "--qa-minutes", "0.05", "--reserve-minutes", "0.1",
                "--layers", "1", "--hidden", "16", "--heads", "2", "--ffn", "32", "--pt-length", "12",
                "--pt-batch", "4", "--qa-batch", "4", "--qa-epochs", "2"]
        p = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        files = sorted(os.path.relpath(os.path.join(dp, f), out) for dp, _, fs in os.walk(out) for f in fs)
        self.assertEqual(files, ["encoder.pt", "qa-squad/config.json", "qa-squad/model.safetensors",
                                 "qa-squad/vocab.txt", "result.json", "run.log"])
        with open(os.path.join(out, "result.json")) as f:
            r = json.load(f)
        self.assertEqual(r["info"]["device"], "cpu")
        self.assertGreater(r["pretrain"]["step"], 0)
        self.assertIn("masked_acc", r["pretrain"]["heldout"])
        for k in ("answerable_f1", "noans_acc", "threshold"):
            self.assertIn(k, r["qa"]["dev"])
            self.assertIn(k, r["exported_dev"])
        self.assertLess(r["elapsed_seconds"], 90)
        vocab, cfg, state, _ = load_pretrained(os.path.join(out, "encoder.pt"))
        self.assertEqual(vocab, VOCAB)
        self.assertEqual((cfg.num_hidden_layers, cfg.hidden_size, cfg.max_position_embeddings), (1, 16, 24))
        self.assertEqual(state["embeddings.word_embeddings.weight"].dtype, torch.float16)
        from train.qa.evaluate import load_model_dir
        model, c, _ = load_model_dir(os.path.join(out, "qa-squad"))
        self.assertEqual(c["torch_dtype"], "float16")
        self.assertEqual(c["max_length"], 24)
        with open(os.path.join(out, "run.log")) as f:
            self.assertIn("torch", f.readline())
        # the masked LM started from the bundle's vectors
        self.assertIn("word-piece embeddings of %d of %d pieces" % (len(VOCAB) - 5, len(VOCAB)), p.stdout)

    def test_steps_under_bf16_autocast(self):
        """The CUDA path's mixed precision, stood in for by the CPU's bf16 autocast: pretraining
        and QA steps run and the exported model loads (catches dtype mismatches)."""
        from unittest import mock
        from train.nlu import pretrain
        from train.qa import train as qa_train

        def bf16(device):
            return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
        w = os.path.join(self.d, "bf16")
        with mock.patch.object(pretrain, "autocast", bf16), mock.patch.object(qa_train, "autocast", bf16):
            r = pretrain.main(["--bundle", self.b, "--extra-qa", "--masking", "word", "--device", "cpu",
                               "--work", os.path.join(w, "pt"), "--fresh", "--threads", "1", "--layers", "1",
                               "--hidden", "16", "--heads", "2", "--ffn", "32", "--max-length", "12",
                               "--max-positions", "24", "--batch-size", "4", "--steps", "6",
                               "--encoder-dtype", "f16"])
            self.assertEqual(r["step"], 6)
            q = qa_train.main(["--bundle", self.b, "--init", os.path.join(w, "pt", "encoder.pt"), "--device", "cpu",
                               "--work", os.path.join(w, "qa"), "--cache", os.path.join(w, "cache"),
                               "--out", os.path.join(w, "model"), "--fresh", "--threads", "1", "--minutes", "1",
                               "--epochs", "1", "--batch-size", "4"] + QA_SETTINGS)
        self.assertEqual(q["epochs"], 1)  # ended by --epochs long before --minutes
        self.assertLess(q["train_seconds"], 30)
        self.assertTrue(os.path.exists(os.path.join(w, "model", "model.safetensors")))

    def test_oversized_model_refused(self):
        from train.gpu import run
        with self.assertRaises(SystemExit):
            run.main(["--bundle", self.b, "--out", os.path.join(self.d, "o2"), "--work", os.path.join(self.d, "w2"),
                      "--device", "cpu", "--max-file-mib", "0.25"])


if __name__ == "__main__":
    unittest.main()
