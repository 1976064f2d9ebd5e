"""Tests of the experiments package (no generated data; about a second):
    /usr/bin/python3 -m unittest train.experiments.test_experiments
"""
import json
import os
import random
import tempfile
import unittest

import numpy as np

from train.asr import train as asr_train
from train.experiments.asr_variants import Variants, warp_features


class Warp(unittest.TestCase):
    def test_identity_mel_shift_and_stretch(self):
        f = np.zeros((50, 80), dtype=np.float32)
        f[:, 20] = 1.0  # one "formant" at bin 20
        np.testing.assert_array_equal(warp_features(f, random.Random(0)), f)
        rng = random.Random(3)
        g = warp_features(f, rng, mel=0.15)
        rng = random.Random(3)
        a = rng.uniform(0.85, 1.15)
        self.assertEqual(g.shape, f.shape)
        # the peak moves to bin 20 * a (linear interpolation keeps the mass near it)
        self.assertAlmostEqual(float((g[0] * np.arange(80)).sum() / g[0].sum()), 20 * a, delta=0.5)
        h = warp_features(f, random.Random(5), stretch=0.1)
        self.assertEqual(h.shape[0], int(round(50 / random.Random(5).uniform(0.9, 1.1))))
        self.assertNotEqual(h.shape[0], 50)
        np.testing.assert_allclose(h[:, 20], 1.0)


class Options(unittest.TestCase):
    FLAGS = ["--no-specaug", "--dropout", "0", "--lj-weight", "8", "--warp-mel", "0.15", "--warp-time", "0.1"]

    def test_variants_only_in_experiments(self):
        args = asr_train.parser(Variants()).parse_args(self.FLAGS)
        self.assertEqual((args.no_specaug, args.dropout, args.lj_weight, args.warp_mel, args.warp_time),
                         (True, 0.0, 8, 0.15, 0.1))
        specaug, transform = Variants().augment(args)
        self.assertIsNone(specaug)
        self.assertIsNotNone(transform)
        with self.assertRaises(SystemExit):
            asr_train.parser(asr_train.Recipe()).parse_args(["--warp-mel", "0.15"])

    def test_lj_weight(self):
        with tempfile.TemporaryDirectory() as work:
            os.makedirs(os.path.join(work, "manifests"))
            with open(os.path.join(work, "manifests", "real.0.jsonl"), "w") as f:
                for i, src in enumerate(["ljspeech", "fsdd", "ljspeech"]):
                    f.write(json.dumps({"id": "r%d" % i, "source": src}) + "\n")
            args = asr_train.parser(Variants()).parse_args(["--work", work, "--real-weight", "2",
                                                            "--lj-weight", "3"])
            ids = [r["id"] for r in Variants().real_records(args)]
            self.assertEqual(ids, ["r0"] * 3 + ["r1"] * 2 + ["r2"] * 3)
            self.assertEqual([r["id"] for r in asr_train.Recipe().real_records(args)],
                             ["r0"] * 2 + ["r1"] * 2 + ["r2"] * 2)


if __name__ == "__main__":
    unittest.main()


class EotAudio(unittest.TestCase):
    """The end-of-turn audio probe's labels and input (train.experiments.eot_audio)."""

    @staticmethod
    def bursts(spans, total_s, fs=8000):
        """Noise (broadband, as speech) during each (start s, end s) of spans, silence else."""
        y = np.zeros(int(total_s * fs))
        t = np.arange(len(y)) / fs
        noise = np.random.default_rng(1).normal(0, 0.2, len(y))
        for a, b in spans:
            sel = (t >= a) & (t < b)
            y[sel] = noise[sel]
        return y

    def test_pauses_and_end(self):
        from train.experiments import eot_audio as ea
        # speech 0.1-0.8 s, a 0.3 s pause, speech 1.1-1.6 s, a 0.1 s gap, speech 1.7-2.0 s
        y = self.bursts([(0.1, 0.8), (1.1, 1.6), (1.7, 2.0)], 2.5)
        inside, last = ea.pauses(y, 0.2)
        self.assertEqual(inside, [79])  # the 10 ms frame ending at 0.8 s; the 0.1 s gap is no pause
        self.assertEqual(last, 199)
        self.assertEqual(ea.pauses(np.zeros(8000), 0.2), ([], -1))

    def test_features_align_on_the_end_of_speech(self):
        from train.experiments import eot_audio as ea
        y = self.bursts([(0.2, 1.5)], 1.7)
        buf = ea.buffer_at(y, ea.speech_end(y))
        # up to CHECK_S after the end (silence past the recording), at most KEEP_S
        self.assertEqual(len(buf), 150 * ea.HOP + int(ea.CHECK_S * ea.FS))
        self.assertEqual(len(ea.buffer_at(self.bursts([(0.2, 3.0)], 3.0), 299)),
                         int(ea.KEEP_S * ea.FS))
        f = ea.features(buf)
        self.assertEqual(f.shape, (ea.FRAMES, ea.NMEL))
        loud = f.mean(axis=1)
        end = ea.FRAMES - 1 - ea.AFTER
        self.assertAlmostEqual(float(loud.max()), 0.0, places=5)
        self.assertGreater(loud[end - 5], -1.0)  # speech up to the end frame
        self.assertLess(loud[end + 5], loud[end - 5] - 5.0)  # quiet after it
        self.assertIsNone(ea.features(np.zeros(16000)))
        # 16 kHz is averaged in pairs, as the service decimates
        np.testing.assert_allclose(ea.to_8k(np.array([1.0, 3.0, 5.0, 7.0]), 16000), [2.0, 6.0])
