"""Tests of eval_service.py's pieces that need no running stack (a second or two):
    /usr/bin/python3 -m unittest train.asr.eval.test_eval_service
The data-set checks are skipped without the data folder.
"""
import os
import tempfile
import unittest
import wave

import numpy as np

from train.asr import synth
from train.asr.eval import eval_service as es
from train.asr.eval import lm_sweep
from train.common import paths

DATA = paths.data_dir()


class Scoring(unittest.TestCase):
    def test_wer_counts_edits_over_reference_words(self):
        s = es.score("wer", ["set a timer for ten minutes", "turn off the lights"],
                     ["set the timer for 10 minutes", "turn off lights please"])
        # substitution a->the; 10 -> "ten" after normalization; deletion "the", insertion "please"
        self.assertEqual((s["errors"], s["ref_words"], s["n"]), (3, 10, 2))
        self.assertAlmostEqual(s["wer"], 0.3)

    def test_accuracy_needs_the_exact_word(self):
        s = es.score("accuracy", ["seven", "two", "nine"], ["Seven.", "two two", "9"])
        self.assertEqual((s["correct"], s["n"]), (2, 3))

    def test_both_engines_share_one_normalization(self):
        self.assertEqual(es.clean("What's the weather in Boston, 2 days from now?"),
                         "what's the weather in boston two days from now")
        self.assertEqual(es.ordinal(5), "5th")
        self.assertEqual(es.ordinal(2), "2nd")
        self.assertEqual(es.ordinal(12), "12th")


class Audio(unittest.TestCase):
    def test_wav_round_trip_through_libsndfile(self):
        x = (np.sin(np.arange(8000) / 7.0) * 12000).astype("<i2")
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.wav")
            with open(p, "wb") as f:
                f.write(es.wav_bytes(x, 8000))
            with wave.open(p) as w:
                self.assertEqual((w.getframerate(), w.getnframes()), (8000, 8000))
            y, rate = es.read_pcm16(p)
        self.assertEqual(rate, 8000)
        self.assertLessEqual(int(np.abs(y.astype(int) - x.astype(int)).max()), 1)

    def test_unreadable_file_is_an_error(self):
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            f.write(b"not audio")
            f.flush()
            with self.assertRaises(RuntimeError):
                es.read_pcm16(f.name)


class Sets(unittest.TestCase):
    def test_commands(self):
        texts = es.command_texts()
        self.assertEqual(len(texts), 20)
        self.assertEqual(len(set(texts)), 20)
        self.assertTrue(all(es.normalize(t) for t in texts))
        voice = es.CMD_VOICE.split("+")[0]
        self.assertNotEqual(voice, synth.HELDOUT_VOICE)
        self.assertNotIn(es.CMD_VOICE.split("+")[1], [v.lstrip("+") for v in synth.ESPEAK_VARIANTS])

    @unittest.skipUnless(os.path.isdir(os.path.join(DATA, "speech", "ljspeech-subset")), "no data")
    def test_lj_rows_hold_out_every_fourth_clip(self):
        clips, rows = es.lj_rows(DATA)
        held = dict((r[0], r[2]) for r in rows)["lj"]
        self.assertEqual(held, list(range(0, len(clips), 4)))
        self.assertEqual([clips[i][0] for i in held], [c for c, _ in synth.lj_heldout(DATA)[0]])
        self.assertEqual([c[0] for c in es.lj_set(DATA)], [clips[i][0] for i in held])
        self.assertEqual(dict((r[0], r[2]) for r in rows)["lj_all"], list(range(len(clips))))

    @unittest.skipUnless(os.path.isdir(os.path.join(DATA, "speech", "speechocean762")), "no data")
    def test_speechocean_test_subset(self):
        every5, every1 = es.so_set(DATA, 5), es.so_set(DATA, 1)
        self.assertEqual(len(every1), 2500)
        self.assertEqual(every5, every1[::5])
        self.assertEqual([c[0] for c in every1], sorted(c[0] for c in every1))
        train = {r[1] for r in synth.speechocean_rows(DATA) if r[0] == "train"} \
            if hasattr(synth, "speechocean_rows") else set()
        self.assertFalse(train & {c[0] for c in every1})
        x, rate = es.read_pcm16(every5[0][1])
        self.assertIn(rate, (16000, 48000))
        self.assertGreater(len(x), rate // 2)


class Sweep(unittest.TestCase):
    """lm_sweep.py's grid, resume cache and dev sets (the sweep itself needs a stack)."""

    def args(self, *argv):
        import argparse
        a = argparse.Namespace(alpha="", beta="", set=[], point=[])
        for k, v in zip(argv[::2], argv[1::2]):
            if k in ("set", "point"):
                getattr(a, k).append(v)
            else:
                setattr(a, k, v)
        return a

    def test_grid_keys_are_canonical_and_unique(self):
        pts = lm_sweep.grid(self.args("alpha", "0.5,0.50,1", "beta", "2.0", "set", "beam_width=32",
                                      "point", "lm_beta=2,lm_alpha=1.0"))
        keys = [lm_sweep.point_key(p) for p in pts]
        self.assertEqual(keys, ["beam_width=32,lm_alpha=0.5,lm_beta=2",
                                "beam_width=32,lm_alpha=1,lm_beta=2"])

    def test_resume_skips_a_line_cut_by_a_kill(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "s.jsonl")
            with open(p, "w") as f:
                f.write('{"point": "lm_alpha=0.5,lm_beta=1", "set": "dev_so", "wer": 0.5}\n')
                f.write('{"point": "lm_alpha=0.7,lm_be')
            done = lm_sweep.read_done(p)
        self.assertEqual(list(done), [("lm_alpha=0.5,lm_beta=1", "dev_so")])

    def test_table_marks_the_best_cell(self):
        rows = {("lm_alpha=%s,lm_beta=1" % a, s): {"point": "lm_alpha=%s,lm_beta=1" % a, "set": s,
                                                   "wer": w}
                for a, s, w in (("0.5", "dev_so", 0.8), ("0.7", "dev_so", 0.6),
                                ("0.5", "dev_synth", 0.5), ("0.7", "dev_synth", 0.9))}
        md = lm_sweep.table(rows, ["dev_so", "dev_synth"], "")
        self.assertIn("| 1 | 80.00 | **60.00** |", md)
        self.assertIn("| 1 | **50.00** | 90.00 |", md)
        self.assertIn("| 1 | **65.00** | 75.00 |", md)  # dev mean

    def test_test_sets_are_refused(self):
        import contextlib
        import io
        err = io.StringIO()
        with self.assertRaises(SystemExit) as cm, contextlib.redirect_stderr(err):
            lm_sweep.main(["--sets", "so", "--out", os.devnull])
        self.assertEqual(cm.exception.code, 2)
        self.assertIn("unknown dev set 'so'", err.getvalue())

    @unittest.skipUnless(os.path.isdir(os.path.join(DATA, "speech", "speechocean762")), "no data")
    def test_dev_so_is_train_speakers_held_out_of_training(self):
        rows = synth.speechocean_rows(DATA)
        dev = lm_sweep.dev_so_set(DATA)
        spk = {r[1]: (r[0], r[2]) for r in rows}
        self.assertEqual(len(dev), 260)
        self.assertTrue(all(spk[c[0]][0] == "train" for c in dev))
        self.assertEqual({spk[c[0]][1] for c in dev}, synth.speechocean_dev_speakers(rows))
        self.assertFalse({c[0] for c in dev} & {c[0] for c in es.so_set(DATA, 1)})
        trained = {it["path"] for it in synth.plan_more_real(DATA) if it["set"] == "real"}
        self.assertFalse({c[1] for c in dev} & trained)


if __name__ == "__main__":
    unittest.main()
