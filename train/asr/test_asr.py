"""Tests of the ASR recipe pieces that need no generated data (a few seconds):
    /usr/bin/python3 -m unittest train.asr.test_asr
"""
import json
import os
import tempfile
import unittest

import numpy as np
import torch

from train.asr import feats
from train.asr.asrdata import cer, edit_distance, wer
from train.asr.model import (QuartzNetCTC, VOCAB, export_tensors, greedy_decode, reference_forward,
                             text_to_ids)
from train.asr.textnorm import normalize
from train.common import paths, safetensors_io


class TextNorm(unittest.TestCase):
    def test_numbers_and_punctuation(self):
        self.assertEqual(normalize("In 1990, I paid $25 for 3 items & the 1st prize."),
                         "in nineteen ninety i paid twenty five dollars for three items and "
                         "the first prize")
        self.assertEqual(normalize("It's 2005; 1,234 people -- 3.14 \"quoted\""),
                         "it's two thousand five one thousand two hundred thirty four people "
                         "three point one four quoted")
        self.assertEqual(normalize("clásicos 100%"), "clasicos one hundred percent")

    def test_output_alphabet(self):
        t = normalize("Wow!! #42 -- (x) 'quote' don't 12th")
        self.assertTrue(set(t) <= set("abcdefghijklmnopqrstuvwxyz' "), t)
        self.assertEqual(len(text_to_ids(t)), len(t))


class Model(unittest.TestCase):
    def test_folded_graph_matches_training_graph(self):
        torch.manual_seed(0)
        m = QuartzNetCTC()
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.data.uniform_(0.5, 1.5)
        m.eval()
        f = torch.randn(2, 80, 91)
        lens = torch.tensor([91, 40])
        lp, ol = m(f, lens)
        # ceil((T + tail_frames) / 2): the 80 zero tail frames count as input
        self.assertEqual(m.cfg["tail_frames"], 80)
        self.assertEqual(ol.tolist(), [86, 60])
        t = export_tensors(m)
        for b in range(2):
            ref = reference_forward(t, m.cfg, f[b, :, :int(lens[b])])
            self.assertEqual(ref.shape[0], int(ol[b]))
            self.assertLess((ref - lp[b, :int(ol[b])]).abs().max().item(), 1e-4)
        # a change of the last frames affects at most the frames within the look-ahead
        g = f[:1, :, :60].clone()
        h = g.clone()
        h[:, :, 59] += 5.0
        a = reference_forward(t, m.cfg, g[0])
        c = reference_forward(t, m.cfg, h[0])
        first = int(((a - c).abs().max(dim=1).values > 0).nonzero()[0])
        self.assertGreaterEqual(first, (59 - m.right_context_frames()) // 2 - 1)

    def test_safetensors_round_trip(self):
        m = QuartzNetCTC()
        m.eval()
        t = export_tensors(m)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.safetensors")
            safetensors_io.save(p, t)
            back, _ = safetensors_io.load(p)
        self.assertEqual(set(back), set(t))
        self.assertIn("encoder.blocks.0.sub.0.dw.weight", back)
        self.assertEqual(list(back["decoder.weight"].shape), [len(VOCAB), 384, 1])
        for k in t:
            self.assertTrue(np.array_equal(back[k], t[k].numpy()), k)

    def test_greedy(self):
        lp = torch.full((1, 7, len(VOCAB)), -10.0)
        for i, k in enumerate([0, 9, 9, 0, 9, 1, 2]):  # h h _ h ' ' a
            lp[0, i, k] = 0.0
        self.assertEqual(greedy_decode(lp, torch.tensor([7])), ["hh a"])


class BatchNormRecalibration(unittest.TestCase):
    def test_statistics_are_the_average_over_mixed_batches(self):
        import random
        from train.asr.train import recalibrate_bn
        torch.manual_seed(0)
        m = QuartzNetCTC()
        rng = np.random.default_rng(1)
        feats_ = {"u%d" % i: (rng.standard_normal((n, 80)) * (1 + i % 3)).astype(np.float16)
                  for i, n in enumerate([30, 200, 45, 300, 60, 90])}
        recs = [{"feat": k, "frames": int(v.shape[0]), "text": "a"} for k, v in feats_.items()]

        class Cache:
            def get(self, rec):
                return feats_[rec["feat"]]

        # one batch holding everything: the running mean of the prologue BN is the mean of
        # that BN's input over every valid frame and padded position of the batch
        seen = []
        h = m.encoder.prologue.bn.register_forward_hook(lambda mod, i, o: seen.append(i[0]))
        recalibrate_bn(m, recs, Cache(), random.Random(0), 1, 10 ** 6, "cpu")
        h.remove()
        self.assertEqual(len(seen), 1)
        want = seen[0].mean(dim=(0, 2))
        bn = m.encoder.prologue.bn
        self.assertLess((bn.running_mean - want).abs().max().item(), 1e-4)
        self.assertEqual(bn.momentum, 0.1)
        self.assertFalse(bn.training)
        self.assertEqual(int(bn.num_batches_tracked), 1)


class FromExport(unittest.TestCase):
    def test_unfolded_model_computes_the_export(self):
        """An export (BatchNorm folded) unfolded into a training model gives the same
        log-probabilities, and folding it again gives the exported tensors back."""
        import json
        from train.asr.from_export import unfold
        torch.manual_seed(3)
        m = QuartzNetCTC()
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm1d):
                    mod.running_mean.uniform_(-0.5, 0.5)
                    mod.running_var.uniform_(0.5, 2.0)
                    mod.weight.uniform_(0.5, 1.5)
                    mod.bias.uniform_(-0.2, 0.2)
        m.eval()
        tensors = export_tensors(m)
        with tempfile.TemporaryDirectory() as d:
            safetensors_io.save(os.path.join(d, "model.safetensors"), tensors,
                                metadata={"format": "pt"})
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(m.cfg, f)
            u = unfold(d).eval()
        x, lens = torch.randn(2, 80, 120), torch.tensor([120, 90])
        with torch.no_grad():
            want, wl = m(x, lens)
            got, gl = u(x, lens)
        self.assertTrue(torch.equal(wl, gl))
        self.assertLess((want - got).abs().max().item(), 1e-4)
        back = export_tensors(u)
        for k, v in tensors.items():
            self.assertLess((back[k] - v).abs().max().item(), 1e-6, k)


class Average(unittest.TestCase):
    def test_mean_of_two_checkpoints(self):
        """Float tensors are the mean, integer counters and cfg come from the first, "state" has
        the BatchNorm flag and the ingredients; different shapes are refused."""
        from train.asr.average import average
        torch.manual_seed(4)
        a, b = QuartzNetCTC(), QuartzNetCTC()
        with tempfile.TemporaryDirectory() as d:
            pa, pb = os.path.join(d, "a.pt"), os.path.join(d, "b.pt")
            torch.save({"model": a.state_dict(), "cfg": a.cfg,
                        "state": {"bn_frozen": True, "step": 7, "best": 1.0}}, pa)
            torch.save({"model": b.state_dict(), "cfg": b.cfg, "state": {"bn_frozen": True}}, pb)
            avg = average([pa, pb])
            self.assertEqual(avg["state"], {"bn_frozen": True, "averaged": [
                {"checkpoint": pa, "step": 7, "train_minutes": None},
                {"checkpoint": pb, "step": None, "train_minutes": None}]})
            self.assertEqual(avg["cfg"], a.cfg)
            sa, sb = a.state_dict(), b.state_dict()
            for k, v in avg["model"].items():
                if v.is_floating_point():
                    self.assertLess((v - (sa[k] + sb[k]) / 2).abs().max().item(), 1e-6, k)
                else:
                    self.assertTrue(torch.equal(v, sa[k]), k)
            m = QuartzNetCTC()
            m.load_state_dict(avg["model"])
            cfg = json.loads(json.dumps(a.cfg))
            cfg["epilogue"]["channels"] = 128
            c = QuartzNetCTC(cfg)
            torch.save({"model": c.state_dict(), "cfg": cfg}, pb)
            with self.assertRaises(SystemExit):
                average([pa, pb])


class Recipe(unittest.TestCase):
    def commands(self, argv):
        from train.asr import recipe
        return {name: [" ".join(c[1:]) for c in cmds] for name, cmds, _, _ in recipe.plan(recipe.parse_args(argv))}

    def test_steps_of_the_model_card(self):
        from train.asr import recipe
        with tempfile.TemporaryDirectory() as w:
            steps = recipe.plan(recipe.parse_args(["--work", w, "--pack-device", "cpu"]))
            self.assertEqual([st[0] for st in steps], recipe.STEPS)
            c = self.commands(["--work", w, "--pack-device", "cpu"])
        self.assertEqual(len(c["synth"]), 2)
        self.assertIn("--scale 2.5 --only train --no-prosody --max-items 3742", c["synth25"][0])
        self.assertIn("--max-mib 38 --max-lj-copies 2", c["pack"][0])
        self.assertIn("--minutes 4.2 --max-frames 24000 --max-batch 128", c["phase0"][0])
        self.assertIn("run-pack/best.pt --minutes 80 --stop-minutes 30 --lr 0.002", c["phase1"][0])
        self.assertIn("run-tail/phase1-final.pt --freeze-bn --bn-batches 120 --minutes 45 --lr 0.001", c["phase2"][0])
        self.assertIn("run-frozen/best.pt --out " + os.path.join(w, "export2"), c["export2"][0])
        self.assertEqual(len(c["more"]), 2)
        self.assertIn("--more-real --only dev_so,real", c["more"][0])
        self.assertIn("--model " + os.path.join(w, "export2"), c["init3"][0])
        self.assertIn("--init " + os.path.join(w, "init3.pt") + " --minutes 70 --lr 0.0003", c["phase3"][0])
        self.assertIn("run-so/best.pt --out " + os.path.join(w, "export3"), c["export3"][0])
        # phases 5 and 6: the last export unfolded, 80 minutes, the kept tail averaged
        for k, src, lr in ((5, "export3", "0.0005"), (6, "export5", "0.0008")):
            self.assertIn("--model " + os.path.join(w, src), c["init%d" % k][0])
            self.assertIn("--init %s --minutes 80 --lr %s" % (os.path.join(w, "init%d.pt" % k), lr),
                          c["phase%d" % k][0])
            self.assertIn("--keep-from 68", c["phase%d" % k][0])
            self.assertIn("--out %s --run %s" % (os.path.join(w, "avg%d.pt" % k), os.path.join(w, "run-%d" % k)),
                          c["avg%d" % k][0])
        self.assertIn("avg5.pt --out " + os.path.join(w, "export5"), c["export5"][0])
        self.assertIn("avg6.pt --out " + os.path.join(paths.ROOT, "models", "asr-en-quartznet"),
                      c["export"][0])
        for step in ("export3", "export5", "export"):
            self.assertIn("--lm-alpha 0.6 --lm-beta 2.0", c[step][0])
        # best.pt: phases 0-3 as they were chosen (test clips in the score); later ones on dev
        for step in ("phase0", "phase1", "phase2", "phase3"):
            self.assertIn("--select dev+test", c[step][0])
        for step in ("phase5", "phase6"):
            self.assertNotIn("--select", c[step][0])
        self.assertIn("--out " + os.path.join(paths.ROOT, "models", "asr-lm", "lm.arpa.gz"), c["lm"][0])

    def test_smoke_writes_under_work_only(self):
        with tempfile.TemporaryDirectory() as w:
            c = self.commands(["--smoke", "--work", w])
            for cmds in c.values():
                for cmd in cmds:
                    self.assertNotIn(os.path.join(paths.ROOT, "models"), cmd)
            self.assertIn("--out " + os.path.join(w, "model"), c["export"][0])

    def test_foreign_run_folder_is_refused(self):
        from train.asr import recipe
        with tempfile.TemporaryDirectory() as w:
            a = recipe.parse_args(["--smoke", "--work", w])
            os.makedirs(os.path.join(w, "recipe"))
            os.makedirs(os.path.join(w, "run-tail"))
            open(os.path.join(w, "run-tail", "checkpoint.pt"), "w").close()
            with self.assertRaises(SystemExit):
                recipe.run_step(a, "phase1", [["false"]], os.path.join(w, "run-tail"), None)
            open(os.path.join(w, "recipe", "phase2.done"), "w").close()
            recipe.run_step(a, "phase2", [["false"]], None, None)  # done before: not run


class Selection(unittest.TestCase):
    def test_best_checkpoint_score(self):
        from train.asr.train import score
        res = {"dev_synth_cer": (0.2, 100), "dev_so_cer": (0.3, 200), "dev_lj_cer": (0.4, 18),
               "dev_fsdd_acc": (0.9, 300)}
        self.assertAlmostEqual(score(res), 0.5)  # the default: the dev sets alone
        self.assertAlmostEqual(score(res, "dev+test"), 0.5 + 0.4 + 0.1)
        worse_test = dict(res, dev_lj_cer=(0.9, 18), dev_fsdd_acc=(0.1, 300))
        self.assertEqual(score(worse_test), score(res))  # test clips do not move it
        self.assertAlmostEqual(score({"dev_synth_cer": (0.2, 100)}), 0.2)  # data without dev_so


class Bf16Step(unittest.TestCase):
    """`train.asr.train --bf16`: the step's CTC loss and gradients under bf16 autocast stay
    those of f32 (0.1% and cosine 0.988 here); a precision problem in the autocast graph (the
    BatchNorm statistics, the log-softmax) would move them far."""

    def test_loss_and_gradients_close_to_f32(self):
        import copy
        import torch.nn.functional as F
        from train.asr.train import Recipe, parser
        self.assertTrue(parser(Recipe()).parse_args(["--work", "w", "--bf16"]).bf16)
        torch.manual_seed(0)
        m = QuartzNetCTC().train()
        x, lens = torch.randn(4, 80, 300), torch.full((4,), 300)
        tg, tl = torch.randint(1, len(VOCAB), (4, 30)), torch.full((4,), 30)
        out = {}
        for bf in (False, True):
            mm = copy.deepcopy(m)
            torch.manual_seed(1)  # the same dropout masks
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf):
                lp, ol = mm(x, lens)
            loss = F.ctc_loss(lp.float().transpose(0, 1), tg, ol, tl, blank=0, zero_infinity=True)
            loss.backward()
            out[bf] = (loss.item(), torch.cat([p.grad.flatten() for p in mm.parameters()]))
        self.assertAlmostEqual(out[True][0], out[False][0], delta=0.01 * out[False][0])
        g32, g16 = out[False][1], out[True][1]
        self.assertGreater(float(F.cosine_similarity(g32, g16, dim=0)), 0.95)  # 0.988 here


class Metrics(unittest.TestCase):
    def test_wer(self):
        self.assertEqual(edit_distance("a b c".split(), "a x c d".split()), 2)
        self.assertAlmostEqual(wer(["a b c", "d"], ["a c", "d e"]), 2 / 4)

    def test_cer(self):
        # "cat" -> "cut" is one substitution, "a b" -> "ab" one deletion (the space)
        self.assertAlmostEqual(cer(["cat", "a b"], ["cut", "ab"]), 2 / 6)
        self.assertEqual(cer(["same"], ["same"]), 0.0)


class Features(unittest.TestCase):
    def test_vtlp_identity_and_warp(self):
        x = np.random.default_rng(0).standard_normal(8000) * 0.1
        a = feats.logmel(x)
        self.assertEqual(a.shape, (51, 80))
        self.assertLess(np.abs(a - feats.reference_logmel(x)).max(), 1e-5)
        b = feats.logmel(x, vtlp=1.08)
        self.assertEqual(b.shape, a.shape)
        self.assertGreater(np.abs(a - b).max(), 1e-3)


if __name__ == "__main__":
    unittest.main()
