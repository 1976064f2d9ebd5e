"""Word and phone error rates of the shipped G2P (through the C decoder) and of espeak-ng.

    /usr/bin/python3 -m train.tts.g2p_eval --build build            # test words, both systems
    /usr/bin/python3 -m train.tts.g2p_eval --build build --limit 500 --no-espeak \\
        --max-wer 0.45 --max-per 0.13                                # ctest tts_g2p_floor

The words are the held-out split of train/tts/g2p.py (every 20th distinct word of the CMU
dictionary in sorted order; --split dev for the tuning words). Our phones come from
`tests/tools/tts_g2p` (engine/tts/tts_g2p.c on the model file); espeak-ng's from
`espeak-ng -v en-us -q --ipa`, one word per line, mapped to ARPAbet by the front end's IPA table
(`tts_g2p --ipa`, engine/tts/README.md). A word is right when its phones equal one of the
dictionary's pronunciations; phone errors are the edit distance to the closest one, over the
length of that reference. Figures with stress compare the digits too; without stress they
compare base phones.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

from train.common import paths
from train.tts import g2p


def run_tool(tool, args, lines):
    p = subprocess.run([tool] + args, input="".join(l + "\n" for l in lines), capture_output=True,
                       text=True, check=True)
    out = p.stdout.splitlines()
    if len(out) != len(lines):
        raise SystemExit("%s printed %d lines for %d inputs" % (tool, len(out), len(lines)))
    return [l.split("\t", 1)[1] for l in out], p.stderr


def parse_phones(s):
    if s.strip() in ("", "?"):
        return ()
    return tuple(g2p.phone_id(x) for x in s.split())


def espeak_phones(tool, words):
    """espeak-ng's IPA for each word (one call, one line per word), mapped to ARPAbet."""
    exe = shutil.which("espeak-ng")
    if not exe:
        raise SystemExit("espeak-ng is not installed (scripts/deps.sh installs it)")
    t0 = time.time()
    p = subprocess.run([exe, "-v", "en-us", "-q", "--ipa"], input="".join(w + ".\n" for w in words),
                       capture_output=True, text=True, check=True)
    secs = time.time() - t0
    ipa = [l.strip() for l in p.stdout.splitlines() if l.strip()]
    if len(ipa) != len(words):  # a line that espeak split or joined: one call per word
        ipa = []
        for w in words:
            r = subprocess.run([exe, "-v", "en-us", "-q", "--ipa", w], capture_output=True, text=True)
            ipa.append(" ".join(r.stdout.split()))
    mapped, _ = run_tool(tool, ["--ipa"], ipa)
    return [parse_phones(m) for m in mapped], ipa, secs


def figures(preds, words, lex):
    agg = {"words": len(words)}
    for stress in (True, False):
        err = n = right = 0
        for pr, w in zip(preds, words):
            e, rl, ok = g2p.score(pr, lex[w], stress)
            err, n, right = err + e, n + rl, right + ok
        k = "" if stress else "_no_stress"
        agg["wer" + k] = 1 - right / len(words)
        agg["per" + k] = err / n
    return agg


def fmt(a):
    return "WER %.2f%% PER %.2f%% | without stress: WER %.2f%% PER %.2f%%" % (
        100 * a["wer"], 100 * a["per"], 100 * a["wer_no_stress"], 100 * a["per_no_stress"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (tests/tts_g2p)")
    ap.add_argument("--model", default=paths.models_dir("tts-g2p", "g2p.bin"))
    ap.add_argument("--data", help="the shared data folder (default ../shared/data)")
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--limit", type=int, default=0, help="an evenly spaced subset of N words")
    ap.add_argument("--beam", type=int, default=0, help="decoder beam (0: the decoder's default)")
    ap.add_argument("--threshold", type=float, default=0, help="decoder threshold (0: the decoder's default)")
    ap.add_argument("--no-espeak", action="store_true")
    ap.add_argument("--max-wer", type=float, help="fail when our WER (with stress) is above")
    ap.add_argument("--max-per", type=float, help="fail when our PER (with stress) is above")
    ap.add_argument("--errors", type=int, default=0, help="print N of our wrong words")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    tool = os.path.join(args.build, "tests", "tts_g2p")
    if not os.path.exists(tool):
        raise SystemExit("%s not found: build the target tts_g2p" % tool)
    lex, (_, dev, test), src = g2p.load_split(args.data)
    words = test if args.split == "test" else dev
    if args.limit and args.limit < len(words):
        step = len(words) / args.limit
        words = [words[int(i * step)] for i in range(args.limit)]
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    res = {"split": args.split, "dictionary": src, "model": args.model, "cpu": cpu}

    targs = ["-m", args.model] + (["-b", str(args.beam)] if args.beam else [])
    targs += ["-t", str(args.threshold)] if args.threshold else []
    out, err = run_tool(tool, targs, words)
    preds = [parse_phones(o) for o in out]
    m = re.search(r"([0-9.]+) us per word", err)
    res["parley"] = figures(preds, words, lex)
    res["parley"]["us_per_word"] = float(m.group(1)) if m else None
    res["parley"]["model_bytes"] = os.path.getsize(args.model)
    print("%s words of the %s split (%s)" % (len(words), args.split, src))
    print("parley g2p (C decoder): %s; %.1f us per word, model %.2f MB"
          % (fmt(res["parley"]), res["parley"]["us_per_word"] or 0, res["parley"]["model_bytes"] / 1e6))
    if args.errors:
        shown = 0
        for w, pr in zip(words, preds):
            if not g2p.score(pr, lex[w])[2] and shown < args.errors:
                shown += 1
                print("  %-20s %-32s ref %s" % (w, " ".join(map(g2p.phone_name, pr)),
                                                 " | ".join(" ".join(map(g2p.phone_name, r)) for r in lex[w])))
    if not args.no_espeak:
        ep, ipa, secs = espeak_phones(tool, words)
        res["espeak_ng"] = figures(ep, words, lex)
        res["espeak_ng"]["unmapped"] = sum(1 for p in ep if not p)
        res["espeak_ng"]["us_per_word"] = secs / len(words) * 1e6
        print("espeak-ng -v en-us (IPA -> ARPAbet): %s; %d words unmapped; %.1f us per word (one process)"
              % (fmt(res["espeak_ng"]), res["espeak_ng"]["unmapped"], res["espeak_ng"]["us_per_word"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    bad = []
    if args.max_wer is not None and res["parley"]["wer"] > args.max_wer:
        bad.append("WER %.4f above %.4f" % (res["parley"]["wer"], args.max_wer))
    if args.max_per is not None and res["parley"]["per"] > args.max_per:
        bad.append("PER %.4f above %.4f" % (res["parley"]["per"], args.max_per))
    if bad:
        print("FAIL: " + "; ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
