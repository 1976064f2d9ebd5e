"""sgns.c and the piece-vector loader: vectors learnt from a stream whose pieces fall in two
groups that never share a context must put each group together; the loader matches pieces by
string, fits the width and the scale, and leaves the rest alone."""
import os
import random
import subprocess
import tempfile
import unittest

import numpy as np
import torch

from train.common.piece_vectors import fit_width, init_piece_embeddings
from train.embed import sgns

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def two_topic_stream(n_docs, rng):
    """Documents of pieces 5-14 or of pieces 15-24 (never both), [SEP] (id 3) between them."""
    out = []
    for _ in range(n_docs):
        lo = 5 if rng.random() < 0.5 else 15
        out.extend(rng.randrange(lo, lo + 10) for _ in range(rng.randrange(20, 60)))
        out.append(3)
    return np.array(out, dtype="<u2")


class SgnsTool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.exe = sgns.build_tool(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_tool(self, stream, vocab, *extra):
        corpus = os.path.join(self.tmp.name, "c.u16")
        out = os.path.join(self.tmp.name, "v.bin")
        stream.tofile(corpus)
        r = subprocess.run([self.exe, "--corpus", corpus, "--vocab", str(vocab), "--out", out,
                            "--dim", "16", "--epochs", "2", "--sample", "0", "--seed", "3"] + list(extra),
                           capture_output=True, text=True)
        return r, out

    def test_groups_come_together(self):
        r, out = self.run_tool(two_topic_stream(3000, random.Random(1)), 25)
        self.assertEqual(r.returncode, 0, r.stderr)
        v = torch.nn.functional.normalize(sgns.read_vectors(out)[5:], dim=1)
        cos = v @ v.t()
        same = torch.zeros(20, 20, dtype=torch.bool)
        same[:10, :10] = same[10:, 10:] = True
        off_diag = ~torch.eye(20, dtype=torch.bool)
        within = cos[same & off_diag].mean().item()
        across = cos[~same].mean().item()
        self.assertGreater(within - across, 0.5, "within %.3f across %.3f" % (within, across))

    def test_one_thread_is_deterministic(self):
        stream = two_topic_stream(300, random.Random(2))
        r1, out = self.run_tool(stream, 25)
        a = sgns.read_vectors(out)
        r2, out = self.run_tool(stream, 25)
        self.assertEqual((r1.returncode, r2.returncode), (0, 0))
        self.assertTrue(torch.equal(a, sgns.read_vectors(out)))

    def test_bad_input_is_named(self):
        r, _ = self.run_tool(np.array([5, 6, 40, 7], dtype="<u2"), 25)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--vocab", r.stderr)
        r, _ = self.run_tool(np.array([3, 3, 0], dtype="<u2"), 25)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no training ids", r.stderr)
        corpus = os.path.join(self.tmp.name, "odd.u16")
        with open(corpus, "wb") as f:
            f.write(b"\x05\x00\x06")
        r = subprocess.run([self.exe, "--corpus", corpus, "--vocab", "25", "--out", corpus + ".v"],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("uint16", r.stderr)


class PieceVectors(unittest.TestCase):
    def save(self, vocab, vectors):
        f = tempfile.NamedTemporaryFile(suffix=".pt", delete=False)
        f.close()
        self.addCleanup(os.unlink, f.name)
        torch.save({"vocab": vocab, "vectors": vectors}, f.name)
        return f.name

    def test_matched_by_piece_scaled_and_projected(self):
        torch.manual_seed(0)
        src_vocab = SPECIALS + ["a", "b", "##c", "d", "e", "f"]
        vectors = torch.randn(len(src_vocab), 8) * 3 + 1
        path = self.save(src_vocab, vectors)
        vocab = SPECIALS + ["d", "zz", "a", "##c"]
        weight = torch.full((len(vocab), 4), 7.0)
        found, total = init_piece_embeddings(weight, vocab, path, 0.05)
        self.assertEqual((found, total), (3, 9))
        # specials and the unknown piece keep their start
        self.assertTrue(torch.all(weight[:5] == 7.0) and torch.all(weight[6] == 7.0))
        got = weight[[5, 7, 8]]
        self.assertAlmostEqual(got.std().item(), 0.05, places=5)
        # the rows are the projection of the centred source rows, up to the one scale
        ref = fit_width(vectors, 4)[[8, 5, 7]]
        scale = got.norm() / ref.norm()
        self.assertTrue(torch.allclose(got, ref * scale, atol=1e-5))

    def test_width_padding_and_projection(self):
        x = torch.randn(50, 6)
        self.assertEqual(tuple(fit_width(x, 9).shape), (50, 9))
        self.assertTrue(torch.all(fit_width(x, 9)[:, 6:] == 0))
        p = fit_width(x, 2)
        # the leading principal directions keep the most variance
        c = x - x.mean(0)
        self.assertGreaterEqual(p.var(0).sum().item() + 1e-5, (c[:, :2]).var(0).sum().item())

    def test_no_shared_piece_is_an_error(self):
        path = self.save(SPECIALS + ["x"], torch.randn(6, 4))
        with self.assertRaises(ValueError):
            init_piece_embeddings(torch.zeros(6, 4), SPECIALS + ["y"], path, 0.05)


if __name__ == "__main__":
    unittest.main()
