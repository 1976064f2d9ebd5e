"""Tests of the pretraining recipe and of starting fine-tuning from its encoder.

    /usr/bin/python3 -m unittest train.nlu.pretrain_test

Needs ../shared/data (or PARLEY_DATA_DIR) for the tiny end-to-end run.
"""
import os
import subprocess
import sys
import tempfile
import unittest

import torch

from train.common import lineage
from train.common.bert import BertConfig, JointIntentSlot, TokenClassifier, init_encoder, load_pretrained
from train.common.paths import ROOT, data_dir
from train.common.wordpiece import SPECIALS, WordPiece, prune_by_counts
from train.nlu import pretrain
from train.nlu.finetune import pretrain_summary, pretrained_vocab

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "dog", "##s", "on", "mat",
         "a", "b", "c", "d", "e", "g", "h", "i", "m", "n", "o", "s", "t", "##a", "##t", "##g"]


class TestVocabulary(unittest.TestCase):
    def test_prune_by_counts_max_size(self):
        full = WordPiece(VOCAB)
        counts = {"the": 50, "cat": 20, "cats": 10, "dog": 3, "dogs": 2, "on": 1}
        # the single characters of the vocabulary (up to U+052F) are always kept
        vocab, n = prune_by_counts(full, counts, max_size=len(SPECIALS) + 19)
        self.assertLessEqual(len(vocab), len(SPECIALS) + 19)
        self.assertIn("the", vocab)
        self.assertIn("cat", vocab)
        self.assertNotIn("on", vocab)   # seen once: below the chosen count
        self.assertEqual(vocab[:5], list(SPECIALS))
        self.assertGreater(n, 1)
        # the chosen count reproduces itself
        again, _ = prune_by_counts(full, counts, min_count=n)
        self.assertEqual(vocab, again)
        with self.assertRaises(ValueError):
            prune_by_counts(full, counts, max_size=3)


class TestMasking(unittest.TestCase):
    def test_mask_batch(self):
        tok = WordPiece(VOCAB)
        segs = [[5, 6, 7, 10, 5, 11] * 5, [8, 9], [6]]
        gen = torch.Generator().manual_seed(3)
        ids, att, pos, tgt = pretrain.mask_batch(segs, tok, len(VOCAB), 0.3, gen)
        self.assertEqual(ids.shape, (3, 32))
        self.assertEqual(att.sum().item(), 32 + 4 + 3)
        flat_orig = torch.full((3, 32), tok.pad_id)
        for r, s in enumerate(segs):
            flat_orig[r, :len(s) + 2] = torch.tensor([tok.cls_id] + s + [tok.sep_id])
        flat_orig = flat_orig.reshape(-1)
        # targets are the original pieces at the chosen positions, never a special
        self.assertTrue(torch.equal(flat_orig[pos], tgt))
        self.assertFalse(any(t in (tok.cls_id, tok.sep_id, tok.pad_id) for t in tgt.tolist()))
        # every segment has at least one chosen piece
        rows = set((pos // 32).tolist())
        self.assertEqual(rows, {0, 1, 2})
        # [CLS]/[SEP]/padding are never changed
        self.assertTrue(torch.equal(ids[:, 0], torch.full((3,), tok.cls_id)))
        self.assertEqual(ids[1, 3].item(), tok.sep_id)
        self.assertEqual(ids[2, 5:].tolist(), [tok.pad_id] * 27)


class TestInitEncoder(unittest.TestCase):
    def test_init_and_mismatch(self):
        c = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32, max_position_embeddings=16)
        src = pretrain.MaskedLM(c)
        state = {k[5:]: v for k, v in src.state_dict().items() if k.startswith("bert.")}
        m = JointIntentSlot(c, 3, 5)
        init_encoder(m.bert, state)
        for k, v in state.items():
            self.assertTrue(torch.equal(m.bert.state_dict()[k], v), k)
        t = TokenClassifier(c, 5)              # no pooler: the pooler's tensors are ignored
        init_encoder(t.bert, state)
        self.assertTrue(torch.equal(t.bert.embeddings.word_embeddings.weight, state["embeddings.word_embeddings.weight"]))
        bad = dict(state)
        bad["embeddings.word_embeddings.weight"] = torch.zeros(41, 16)
        with self.assertRaises(ValueError):
            init_encoder(m.bert, bad)
        missing = {k: v for k, v in state.items() if "layer.0.output.dense" not in k}
        with self.assertRaises(ValueError):
            init_encoder(m.bert, missing)


class TestHelp(unittest.TestCase):
    def test_recipes_help(self):
        """Every NLU recipe's --help prints (a stray % in a help string broke punct_capit's)."""
        for mod in ("pretrain", "joint_snips", "ner_conll2003", "punct_capit", "custom_intents", "domain",
                    "eot", "encoder_from_model", "pretrain_speed", "gazetteer", "outliers"):
            out = subprocess.run([sys.executable, "-m", "train.nlu." + mod, "--help"], capture_output=True,
                                 text=True, timeout=120, cwd=ROOT)
            self.assertEqual(out.returncode, 0, "%s: %s" % (mod, out.stderr[-600:]))
            self.assertIn("usage:", out.stdout, mod)


class TestEncoderFromModel(unittest.TestCase):
    def test_ner_model_encoder(self):
        """A shipped model's encoder as an encoder.pt: the case classes' 4 token types cut to 2 (all row 0
        with --type-from-row0), the rest as in the model, loadable by the recipes, described in the cards."""
        from train.common import safetensors_io
        from train.nlu.encoder_from_model import main as extract
        model = os.path.join(ROOT, "models", "ner-conll2003")
        tensors, _ = safetensors_io.load(os.path.join(model, "model.safetensors"))
        with tempfile.TemporaryDirectory() as work:
            out = os.path.join(work, "enc.pt")
            extract([model, "--out", out, "--type-from-row0"])
            vocab, cfg, enc, res = load_pretrained(out)
            self.assertEqual((len(vocab), cfg.type_vocab_size), (cfg.vocab_size, 2))
            tt = torch.from_numpy(tensors["bert.embeddings.token_type_embeddings.weight"].astype("float32"))
            self.assertEqual(tuple(tt.shape), (4, 256))
            self.assertTrue(torch.equal(enc["embeddings.token_type_embeddings.weight"], tt[:1].repeat(2, 1)))
            w = "encoder.layer.3.output.dense.weight"
            self.assertTrue(torch.equal(enc[w], torch.from_numpy(tensors["bert." + w].astype("float32"))))
            self.assertFalse(any(k.startswith("pooler.") or k.startswith("classifier") for k in enc))
            init_encoder(TokenClassifier(cfg, 3).bert, enc)
            self.assertIn("the encoder of %s" % model, pretrain_summary(res))
            self.assertEqual(pretrained_vocab(res), "the vocabulary of %s" % model)
            # the cards' Reproduce lines start with the command that wrote this file
            self.assertEqual(lineage.encoder_commands(res), [
                "/usr/bin/python3 -m train.nlu.encoder_from_model %s --token-types 2 --type-from-row0 --out %s"
                % (model, out)])
            self.assertEqual(lineage.init_path(res, "elsewhere.pt"), out)
            self.assertRegex(lineage.start_note(out), r"^the encoder of %s \(model.safetensors sha256 [0-9a-f]{16}"
                             % model)
            with self.assertRaises(SystemExit):
                extract([model, "--out", out, "--token-types", "5"])


class TestTinyRun(unittest.TestCase):
    def test_pretrain_then_finetune(self):
        data = data_dir()
        if not os.path.isdir(os.path.join(data, "text")):
            self.skipTest("no shared data at %s" % data)
        with tempfile.TemporaryDirectory() as work:
            pt = os.path.join(work, "pt")
            r = pretrain.main(["--data", data, "--work", pt, "--limit", "150", "--steps", "4", "--threads", "1",
                               "--layers", "1", "--hidden", "32", "--heads", "2", "--ffn", "64",
                               "--vocab-size", "2500", "--heldout-segments", "20", "--batch-size", "8"])
            self.assertEqual(r["step"], 4)
            self.assertGreater(r["heldout"]["masked"], 0)
            self.assertLessEqual(r["vocab_size"], 2500)
            vocab, cfg, enc, res = load_pretrained(os.path.join(pt, "encoder.pt"))
            self.assertEqual(len(vocab), cfg.vocab_size)
            self.assertEqual(res["step"], 4)
            # --text-heldout's set (bundle mode) is this mode's held-out set when the vocabulary is the same
            corpus = torch.load(os.path.join(pt, "corpus.pt"), weights_only=False)
            args = pretrain.parse_args(["--data", data, "--limit", "150", "--heldout-segments", "20"])
            self.assertEqual(pretrain.text_heldout(args, corpus["vocab"]), corpus["heldout"])
            self.assertEqual(len(corpus["heldout"]), 20)
            # resuming with more steps continues from step 4
            r2 = pretrain.main(["--data", data, "--work", pt, "--limit", "150", "--steps", "6", "--threads", "1",
                                "--heldout-segments", "20", "--batch-size", "8", "--vocab-size", "2500"])
            self.assertEqual(r2["step"], 6)
            # --resume-from: another folder goes on from that run's state, which stays as it was
            pt4 = os.path.join(work, "pt4")
            r4 = pretrain.main(["--data", data, "--work", pt4, "--limit", "150", "--steps", "7", "--threads", "1",
                                "--heldout-segments", "20", "--batch-size", "8", "--vocab-size", "2500",
                                "--resume-from", pt])
            self.assertEqual(r4["step"], 7)
            self.assertEqual(torch.load(os.path.join(pt, "checkpoint.pt"), weights_only=False)["step"], 6)
            with self.assertRaises(SystemExit):
                pretrain.main(["--data", data, "--work", os.path.join(work, "pt5"), "--steps", "1",
                               "--limit", "150", "--resume-from", os.path.join(work, "nowhere")])
            # --init-encoder: a new run starts from that encoder (at lr 0 it stays exactly that), the
            # architecture options give way to the encoder's; another vocabulary is refused
            pt2 = os.path.join(work, "pt2")
            pretrain.main(["--data", data, "--work", pt2, "--limit", "150", "--steps", "2", "--threads", "1",
                           "--heldout-segments", "20", "--batch-size", "8", "--vocab-size", "2500", "--lr", "0",
                           "--init-encoder", os.path.join(pt, "encoder.pt")])
            _, cfg2, enc2, _ = load_pretrained(os.path.join(pt2, "encoder.pt"))
            _, cfg1, enc1, _ = load_pretrained(os.path.join(pt, "encoder.pt"))
            self.assertEqual((cfg2.hidden_size, cfg2.num_hidden_layers), (32, 1))
            self.assertIn("masked LM, started from %s, 2 steps" % os.path.join(pt, "encoder.pt"),
                          pretrain_summary(load_pretrained(os.path.join(pt2, "encoder.pt"))[3]))
            self.assertEqual(sorted(enc1), sorted(enc2))
            for k in enc1:
                self.assertTrue(torch.equal(enc1[k], enc2[k]), k)
            with self.assertRaises(SystemExit):
                pretrain.main(["--data", data, "--work", os.path.join(work, "pt3"), "--limit", "150",
                               "--steps", "1", "--threads", "1", "--heldout-segments", "20", "--vocab-size", "1200",
                               "--init-encoder", os.path.join(pt, "encoder.pt")])
            # the model cards' lines: a finished text run, and an encoder written at a checkpoint of a
            # bundle run that goes on (its held-out figures are an earlier step's)
            res = load_pretrained(os.path.join(pt, "encoder.pt"))[3]
            self.assertFalse(res["partial"])
            self.assertIn("masked LM, 6 steps", pretrain_summary(res))
            self.assertIn("at least %d times" % res["min_piece_count"], pretrained_vocab(res))
            part = dict(res, partial=True, steps=100, min_piece_count="models/x/vocab.txt",
                        heldout=dict(res["history"][-1] if res["history"] else res["heldout"], step=4,
                                     text={"masked_acc": 1.5}),
                        args=dict(res["args"], bundle="b", masking="word"))
            line = pretrain_summary(part)
            self.assertIn("whole-word masking", line)
            self.assertIn("step 6 of a 100-step schedule", line)
            self.assertIn("at step 4 (1.50% on the text corpus's held-out set)", line)
            self.assertIn("models/x/vocab.txt", pretrained_vocab(part))
            # the commands a card gives for pt2's encoder: pt's run, then pt2's; each rebuilt command
            # parses back to the options its run recorded
            res2 = load_pretrained(os.path.join(pt2, "encoder.pt"))[3]
            lines = lineage.encoder_commands(res2, os.path.join(pt2, "encoder.pt"))
            self.assertEqual(len(lines), 2, lines)
            for line, r_ in zip(lines, (res, res2)):
                argv = line.split(" -m train.nlu.pretrain ")[1].split()
                self.assertEqual(dict(vars(pretrain.parse_args(argv)), data=None),
                                 dict(r_["args"], data=None), line)
            self.assertIn("--init-encoder %s" % os.path.join(pt, "encoder.pt"), lines[1])
            from train.nlu.joint_snips import JointSnips
            js = JointSnips()
            js.args = js.parse_args(["--init", os.path.join(pt2, "encoder.pt"), "--epochs", "3"])
            js.pre = load_pretrained(os.path.join(pt2, "encoder.pt"))
            card = js.card_command().split("\n    ")
            self.assertEqual(card[:2], lines)
            self.assertEqual(card[2], "/usr/bin/python3 -m train.nlu.joint_snips --epochs 3 --init %s"
                             % os.path.join(pt2, "encoder.pt"))
            out = subprocess.run([sys.executable, "-m", "train.nlu.joint_snips", "--init",
                                  os.path.join(pt, "encoder.pt"), "--limit", "40", "--epochs", "1",
                                  "--work", os.path.join(work, "js"), "--no-export"],
                                 capture_output=True, text=True, timeout=240, cwd=ROOT)
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            self.assertIn("encoder initialised from", out.stdout)
            self.assertIn("vocab %d pieces" % len(vocab), out.stdout)


if __name__ == "__main__":
    unittest.main()
