#!/usr/bin/python3
"""Test of the LM recipe train/asr/lm/build_lm.py (registered as reference_asr_lm_recipe).

  PYTHONPATH=SOURCE_DIR asr_lm_recipe.py SOURCE_DIR BEAM_DUMP_BIN WORK_DIR

1. text normalization: numbers, years, ordinals, decimals, money, percent, punctuation;
2. builds models (the small 3-gram and the large --large 3-/4-gram recipe) from a small made-up
   data folder (same layout as ../shared/data) with
   and without pruning (and with LJ weighting) and checks that every context's distribution sums to 1 (the
   backoff weights are renormalized after pruning), that the evaluation sentences are
   held out, and that the C loader (through asr_beam_dump) reads the gzip ARPA.
"""
import gzip
import math
import os
import struct
import subprocess
import sys

from train.asr.lm import build_lm as b


def main(src, dump_bin, work):
    fails = 0

    def expect(got, want, what):
        nonlocal fails
        if got != want:
            print("FAIL %s: %r, expected %r" % (what, got, want))
            fails += 1

    n = lambda s: " ".join(b.normalize(s))
    expect(n("In 1865, the war ended."), "in eighteen sixty five the war ended", "year")
    expect(n("It cost $5 and 1,000 men"), "it cost five dollars and one thousand men", "money")
    expect(n("the 21st century"), "the twenty first century", "ordinal")
    expect(n("3.5 percent or 7%"), "three point five percent or seven percent", "decimal")
    expect(n("Mr. O'Neil's dog-house"), "mr o'neil's dog house", "punctuation")
    expect(n("the year 2005"), "the year two thousand five", "year 2000s")
    expect(n("in 1900"), "in nineteen hundred", "year hundred")
    expect(b.cardinal(1234567), "one million two hundred thirty four thousand five hundred "
           "sixty seven", "cardinal")

    data = os.path.join(work, "data")
    for d in ("text", "nlu/snips/train", "speech/ljspeech-subset"):
        os.makedirs(os.path.join(data, d), exist_ok=True)
    words = ("the a cat dog sat on mat ran to park big small red blue house tree "
             "saw under near old new").split()
    import random
    rng = random.Random(7)
    with open(os.path.join(data, "text", "ljspeech-sentences.csv"), "w") as f:
        for i in range(400):
            s = " ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))
            f.write("LJ%03d-%04d|%s|%s\n" % (i // 100, i, s.capitalize() + ".", s))
        f.write("LJ999-0001|secret zebra words|secret zebra words\n")
    with open(os.path.join(data, "speech", "ljspeech-subset", "metadata.csv"), "w") as f:
        f.write("LJ999-0001|secret zebra words|secret zebra words\n")
    with open(os.path.join(data, "text", "sotu.txt"), "w") as f:
        for i in range(200):
            f.write(" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) + ". ")
        f.write("In 1865 we had 3 big trees.\n")
    with open(os.path.join(data, "nlu", "snips", "train", "seq.in"), "w") as f:
        for i in range(100):
            f.write(" ".join(rng.choice(words) for _ in range(5)) + "\n")

    # the large model's sources: a small pretraining text and speechocean762 transcripts whose
    # test split and dev speakers (every 10th train speaker) must stay out of the model
    import lzma
    os.makedirs(os.path.join(data, "text", "pretrain"), exist_ok=True)
    with lzma.open(os.path.join(data, "text", "pretrain", "tiny.txt.xz"), "wt") as f:
        for i in range(300):
            f.write(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))).capitalize()
                    + ". " + " ".join(rng.choice(words) for _ in range(4)) + "!\n")
    os.makedirs(os.path.join(data, "speech", "speechocean762"), exist_ok=True)
    with open(os.path.join(data, "speech", "speechocean762", "transcripts.tsv"), "w") as f:
        f.write("split\tid\tspeaker\tgender\tage\ttext\n")
        for spk in range(20):
            text = "NARWHAL SONG" if spk == 10 else "THE OKAPI %d" % spk  # 10: a dev speaker
            f.write("train\t%04d0001\t%04d\tm\t30\t%s\n" % (spk, spk, text))
        f.write("test\t99990001\t9999\tf\t30\tQUAGGA TALK\n")

    runs = [(cut, ljw, ["--min-word", "1", "--min-bigram", str(cut), "--min-trigram", str(cut),
                        "--lj-weight", str(ljw)]) for cut, ljw in ((1, 1), (2, 1), (3, 1), (2, 3))]
    runs += [(cut, "large-o%d" % order,
              ["--large", "--order", str(order), "--cutoffs", "%d,%d,%d" % (cut, cut, cut),
               "--work", os.path.join(work, "large")]) for cut, order in ((1, 4), (2, 4), (2, 3))]
    runs.append((1, "large-o4-pruned", ["--large", "--order", "4", "--cutoffs", "1,1,1", "--prune",
                                        "3e-4", "--work", os.path.join(work, "large")]))
    for cut, ljw, opts in runs:
        out = os.path.join(work, "lm%d_%s.arpa.gz" % (cut, ljw))
        res = subprocess.run([sys.executable, "-m", "train.asr.lm.build_lm",
                              "--data", data, "--out", out] + opts,
                             capture_output=True, text=True, cwd=src)
        if res.returncode != 0:
            print("FAIL build (cut-off %d): %s" % (cut, res.stderr))
            fails += 1
            continue
        print(res.stdout.strip())
        ng = b.load_arpa(out)
        vocab = [k[0] for k in ng if len(k) == 1 and k[0] != "<s>"]
        if "zebra" in vocab:
            print("FAIL: a held-out evaluation sentence reached the model")
            fails += 1
        if "eighteen" not in vocab:
            print("FAIL: numbers were not spelled out")
            fails += 1
        for w in ("quagga", "narwhal"):
            if w in vocab:
                print("FAIL: %r (speechocean762 test split or dev speaker) reached the model" % w)
                fails += 1
        if str(ljw).startswith("large") and ("okapi",) not in ng:
            print("FAIL: the large model lacks its in-domain text")
            fails += 1
        order = max(len(k) for k in ng)

        def lp(h, w):
            acc = 0.0
            for k in range(min(len(h), order - 1), -1, -1):
                hh = tuple(h[len(h) - k:])
                e = ng.get(hh + (w,))
                if e is not None:
                    return acc + e[0]
                if k > 0 and hh in ng:
                    acc += ng[hh][1]
            raise AssertionError("no unigram for %r" % w)

        contexts = [()] + [k for k in ng if len(k) < order and k != ("</s>",)]
        worst = 0.0
        for h in contexts:
            tot = sum(10 ** lp(list(h), w) for w in vocab)
            worst = max(worst, abs(tot - 1))
        ok = worst < 1e-4  # ARPA stores 6 decimals of log10
        print("cut-off %d, LJ weight %s: %d contexts, worst |sum P(w|h) - 1| = %.2g %s" %
              (cut, ljw, len(contexts), worst, "ok" if ok else "FAIL"))
        fails += 0 if ok else 1
        # the C loader reads it: a one-frame decode through the beam-search driver
        vocab_f = os.path.join(work, "v.txt")
        with open(vocab_f, "w") as f:
            f.write(" \na\nt\n<b>\n")
        lpf = os.path.join(work, "lp.f32")
        with open(lpf, "wb") as f:
            f.write(struct.pack("<4f", *[math.log(0.25)] * 4))
        empty = os.path.join(work, "boosts.txt")
        open(empty, "w").close()
        r = subprocess.run([dump_bin, vocab_f, "3", "chars", out, lpf, "1", "4", "0.5", "1.0",
                            "1", "-10", "40", empty, "1", "-5"], capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL: C loader on %s: %s" % (out, r.stderr))
            fails += 1
    with gzip.open(os.path.join(work, "lm1_1.arpa.gz"), "rb") as g:
        head = g.read(8)
    expect(head, b"\\data\\\nn", "ARPA header")
    print("lm recipe: %d failures" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
