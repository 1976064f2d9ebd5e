"""Training variants of the ASR acoustic model that were measured and did not ship.

    /usr/bin/python3 -m train.experiments.asr_variants [train.asr.train options] \
        [--no-specaug] [--dropout P] [--lj-weight N] [--warp-mel X] [--warp-time X]

The same loop as train.asr.train (same options, checkpoints and schedule), with these
options added. What each gave, from the shipped weights with frozen BatchNorm (dev greedy
FSDD accuracy / LJ WER / synthetic WER against the shipped 96.7 / 85.2 / 91.0;
docs/asr-training.md has the runs):

  --lj-weight 8              the real LJ clips 8 times per epoch (run-lj8): 96.0 / 87.6 / 91.8
  --no-specaug --dropout 0   no regularization (run-noreg): 95.7 / 89.3 / 93.7; the training
                             loss falls while every dev figure gets worse
  --warp-mel 0.15 --warp-time 0.1
                             a random mel-axis warp (a new vocal-tract length) and time
                             stretch of every utterance at every use (run-warp): best
                             96.3 / 85.9 / 89.0; through the service LJ 73.49%, synthetic
                             73.45%, FSDD 96.67% (below the 97% goal); with the prosody data
                             (run-prosody, --warp-mel 0.1 --warp-time 0.05) no candidate beat
                             the shipped weights on all three sets
"""
import numpy as np
import torch

from train.asr import train as asr_train
from train.asr.asrdata import read_manifests, spec_augment


def warp_features(f, rng, mel=0.0, stretch=0.0):
    """A warped copy of f [T, n_mels]: along the mel axis by a factor drawn from 1 +- mel
    (bin k takes the value at k / factor, anchored at bin 0: like a shorter or longer vocal
    tract, a new speaker at every use) and in time by 1 +- stretch (linear interpolation)."""
    T, nm = f.shape
    if mel > 0:
        f = _resample_rows(f.T, np.arange(nm) / rng.uniform(1 - mel, 1 + mel)).T
    if stretch > 0 and T > 1:
        s = rng.uniform(1 - stretch, 1 + stretch)
        f = _resample_rows(f, np.arange(max(1, int(round(T / s)))) * s)
    return f


def _resample_rows(a, src):
    """Rows of a at fractional positions src (clamped to the last row), linearly interpolated."""
    src = np.minimum(src, a.shape[0] - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, a.shape[0] - 1)
    w = (src - i0).astype(np.float32)[:, None]
    return a[i0] * (1 - w) + a[i1] * w


class Variants(asr_train.Recipe):
    def add_args(self, ap):
        ap.add_argument("--lj-weight", type=int, default=0,
                        help="repeat the real LJ Speech records N times instead of --real-weight")
        ap.add_argument("--no-specaug", action="store_true", help="train without SpecAugment")
        ap.add_argument("--dropout", type=float, default=None, help="override the model's dropout")
        ap.add_argument("--warp-mel", type=float, default=0.0,
                        help="random mel-axis warp 1 +- X per utterance and use (speaker variety)")
        ap.add_argument("--warp-time", type=float, default=0.0,
                        help="random time stretch 1 +- X per utterance and use")

    def prepare_model(self, model, args):
        if args.dropout is not None:
            for mod in model.modules():
                if isinstance(mod, torch.nn.Dropout):
                    mod.p = args.dropout

    def real_records(self, args):
        """The real records, each --real-weight times (the LJ reader --lj-weight times if set)."""
        out = []
        for r in read_manifests(args.work, "real"):
            n = args.lj_weight if args.lj_weight and r.get("source") == "ljspeech" else args.real_weight
            out.extend([r] * n)
        return out

    def augment(self, args):
        transform = None
        if args.warp_mel > 0 or args.warp_time > 0:
            def transform(f, rng):
                return warp_features(f, rng, args.warp_mel, args.warp_time)
        return None if args.no_specaug else spec_augment, transform


if __name__ == "__main__":
    np.seterr(all="ignore")
    asr_train.main(recipe=Variants())
