#!/usr/bin/python3
"""The QA reader's no-answer verifier: a logistic regression over the reader's margin and four
lexical signals of the question against its passage, fitted on the training part of the
SQuAD 2.0 dev half, its threshold chosen on the dev part; parley-qa computes the same features
(services/qa/qa_verify.c) and says "no answer" when the score is above the threshold.

    /usr/bin/python3 -m train.qa.verifier --model models/qa-squad [--refuse 0.7] [--dry-run]
    # then a variant's own threshold (the int8 reader's scores differ a little), through the service
    /usr/bin/python3 -m train.qa.verifier --model models/qa-squad --variant int8 --build build

Features (names as in config.json's "no_answer_verifier"):
  null_minus_span   the reader's no-answer score minus its best span's (the plain rule's score)
  negation          1 when the question holds a negation word or "n't" ("n’t"), else 0
  missing_names     names of the question (its words after the first that start with a digit,
                    or with an upper-case ASCII letter and have more letters) absent from the
                    passage, counted once each
  missing_words     the question's content words (not function words) absent from the passage
  words_in_context  the share of the question's content words present in the passage

Words are runs of ASCII letters, digits and "_" and of code points U+00C0..U+1FFF and from
U+2070 on (so general punctuation such as ’ and — separates words), compared after lower-casing
ASCII letters only; the question's first QUESTION_WORDS (64) words count. The function and
negation words travel in the config, so the service and this recipe read one list. In a
knowledge-base query the passage is the one that holds the best span.

The reader's own scores on the training part are optimistic (it trained on those questions),
so the fit leans on the margin more than dev would; the threshold is set on dev, as the plain
rule's is (train.qa.evaluate --refuse).
"""
import argparse
import json
import os
import re
import time

import numpy as np

from train.common.paths import data_dir
from train.qa import squad

FEATURES = ("null_minus_span", "negation", "missing_names", "missing_words", "words_in_context")
QUESTION_WORDS = 64  # only the question's first words count (PL_QA_VERIFY_WORDS in services/qa/qa.h)
NEGATION_WORDS = ("not", "no", "never", "non", "none", "nothing", "neither", "nor", "cannot", "without")

RULE = ("when present it decides instead of no_answer_threshold: no answer when bias + the weights . the "
        "features (null_minus_span, negation, missing_names, missing_words, words_in_context of the question "
        "against the passage of the best span; train/qa/verifier.py) > threshold")

_WORD = re.compile("[0-9A-Za-z_\u00c0-\u1fff\u2070-\U0010ffff]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def words(text):
    """The verifier's words of text, ASCII letters lower-cased."""
    return [w.translate(_ASCII_LOWER) for w in _WORD.findall(text)]


def features(question, passage, null_minus_span, function_words, negation_words):
    """The FEATURES of one question (lists as in the config's "function_words" and
    "negation_words")."""
    fw, neg = set(function_words), set(negation_words)
    ctx = set(words(passage))
    raw = _WORD.findall(question)[:QUESTION_WORDS]
    qw = [w.translate(_ASCII_LOWER) for w in raw]
    content = {w for w in qw if w not in fw}
    found = sum(w in ctx for w in content)
    names = {w.translate(_ASCII_LOWER) for w in raw[1:]
             if "0" <= w[0] <= "9" or ("A" <= w[0] <= "Z" and len(w) > 1)}
    low = question.translate(_ASCII_LOWER)
    negation = "n't" in low or "n\u2019t" in low or any(w in neg for w in qw)
    return [float(null_minus_span), 1.0 if negation else 0.0, float(sum(w not in ctx for w in names)),
            float(len(content) - found), found / len(content) if content else 0.0]


def score(v, question, passage, null_minus_span):
    """The verifier's score of one question: above v["threshold"] means "no answer"."""
    if null_minus_span == float("inf"):  # no span at all
        return float("inf")
    x = features(question, passage, null_minus_span, v["function_words"], v["negation_words"])
    return v["bias"] + sum(v["weights"].get(f, 0.0) * xi for f, xi in zip(FEATURES, x))


def fit(x, y, l2=1e-2, steps=3000, lr=0.1):
    """Logistic regression by gradient descent on standardized features, L2 on the weights;
    returns (weights, bias) on the raw features."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = p - y
        w -= lr * (z.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return w / sd, b - float((w / sd) @ mu)


def reader_scores(model_dir, data, names, threads):
    """{set: (questions, {qid: best span}, {qid: null - best span score})} of the model."""
    import torch
    from train.qa import evaluate
    torch.set_num_threads(threads)
    model, c, tok = evaluate.load_model_dir(model_dir)
    out = {}
    for name in names:
        qs = evaluate.read_set(data, name)
        (preds, diffs), _ = evaluate.predict_set(model, c, tok, qs)
        out[name] = (qs, preds, diffs)
    return out


def variant_noans(model_dir, variant, threshold, build, data, limit=0):
    """(no-answer accuracy, answerable F1) of the dev set through a stack serving variant
    `variant` of model_dir with its verifier threshold set to `threshold` (a temporary copy of
    the directory's config; the weights linked)."""
    import argparse as ap_
    import shutil
    import tempfile
    from train.qa import evaluate
    tmp = tempfile.mkdtemp(prefix="pl_qa_variant_")
    try:
        d = os.path.join(tmp, os.path.basename(os.path.abspath(model_dir)))
        os.makedirs(d)
        for f in os.listdir(model_dir):
            if f != "config.json":
                os.symlink(os.path.abspath(os.path.join(model_dir, f)), os.path.join(d, f))
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        c["variants"][variant]["no_answer_verifier"] = {"threshold": threshold}
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        os.environ["PARLEY_QA_MODEL"] = "%s-%s" % (os.path.basename(d), variant)
        stack = evaluate.Stack(build, d)
        try:
            args = ap_.Namespace(stubs="", build=build, server=stack.address, sets=["dev"], data=data,
                                 limit=limit, timeout=30.0, predictions="")
            m = evaluate.eval_server(args)["dev"]
        finally:
            stack.close()
        return m["noans_acc"], m["answerable_f1"]
    finally:
        os.environ.pop("PARLEY_QA_MODEL", None)
        shutil.rmtree(tmp, ignore_errors=True)


def largest_ok(ok, t0):
    """The largest threshold t (a multiple of 0.001) with ok(t), for ok true below some point
    and false above it: steps of 0.01, 0.02, 0.04, ... from t0 to bracket that point, then
    halving."""
    hi = lo = round(t0, 3)
    step = 0.01
    if ok(hi):  # raise until it refuses too few
        while ok(round(hi + step, 3)):
            hi, step = round(hi + step, 3), step * 2
            if step > 1e4:
                return hi  # ok everywhere it looked
        lo, hi = hi, round(hi + step, 3)
    else:  # lower until it refuses enough
        while not ok(round(lo - step, 3)):
            lo, step = round(lo - step, 3), step * 2
            if step > 1e4:
                raise SystemExit("no threshold within %g of %g gives the share asked" % (step, t0))
        lo, hi = round(lo - step, 3), lo
    while hi - lo > 0.0015:  # ok(lo), not ok(hi)
        mid = round((lo + hi) / 2, 3)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def tune_variant(args):
    """The largest verifier threshold (to 0.001) at which the variant, through the service,
    refuses at least --refuse of dev's unanswerable questions; written into
    variants.<variant>.no_answer_verifier."""
    path = os.path.join(args.model, "config.json")
    with open(path) as f:
        c = json.load(f)
    if "no_answer_verifier" not in c or args.variant not in c.get("variants", {}):
        raise SystemExit("%s needs a no_answer_verifier and a variant %s" % (path, args.variant))
    goal = 100.0 * args.refuse
    tried = {}

    def ok(t):
        t = round(t, 3)
        if t not in tried:
            tried[t] = variant_noans(args.model, args.variant, t, args.build, args.data)
            print("  threshold %.3f: no-answer accuracy %.2f%%, answerable F1 %.2f" % ((t,) + tried[t]), flush=True)
        return tried[t][0] >= goal

    lo = largest_ok(ok, c["no_answer_verifier"]["threshold"])
    c["variants"][args.variant]["no_answer_verifier"] = {"threshold": lo}
    if not args.dry_run:
        with open(path, "w") as f:
            json.dump(c, f, indent=2)
            f.write("\n")
    print("variant %s: threshold %.3f (no-answer accuracy %.2f%%, answerable F1 %.2f)%s"
          % ((args.variant, lo) + tried[lo] + ("" if args.dry_run else "; written into " + path,)))
    return lo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(data_dir(), "qa"))
    ap.add_argument("--model", required=True, help="an exported QA model directory (its config.json is updated)")
    ap.add_argument("--refuse", type=float, default=0.7,
                    help="the threshold refuses at least this share of dev's unanswerable questions")
    ap.add_argument("--l2", type=float, default=1e-2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="report, do not write config.json")
    ap.add_argument("--variant", default="",
                    help="instead: set this variant's own threshold (e.g. int8, whose scores differ a little) by "
                         "scoring dev through the service (--build) at thresholds near the base one")
    ap.add_argument("--build", default="build", help="--variant: the build whose parley-qa and gateway run")
    args = ap.parse_args(argv)
    if args.variant:
        return tune_variant(args)
    t0 = time.time()
    v = {"function_words": sorted(squad._FUNCTION_WORDS),
         "negation_words": list(NEGATION_WORDS)}
    sets = {}
    read = reader_scores(args.model, args.data, ("train2", "dev"), args.threads)
    for name, (qs, preds, diffs) in read.items():
        x = np.array([features(q.question, q.context, min(diffs[q.qid], 1e4), v["function_words"],
                               v["negation_words"]) for q in qs])
        sets[name] = (qs, preds, diffs, x, np.array([q.impossible for q in qs], dtype=np.float64))
        print("%s: %d questions read (%.0f s)" % (name, len(qs), time.time() - t0), flush=True)
        if not 0 < int(sets[name][4].sum()) < len(qs):
            raise SystemExit("%s needs answerable and unanswerable questions" % name)
    qs, _, _, x, y = sets["train2"]
    w, b = fit(x, y, args.l2)
    v["weights"] = {f: round(float(wi), 6) for f, wi in zip(FEATURES, w)}
    v["bias"] = round(float(b), 6)
    qs, preds, diffs, _, y = sets["dev"]
    scores = {q.qid: score(v, q.question, q.context, diffs[q.qid]) for q in qs}
    v["threshold"] = round(float(squad.refusal_threshold([scores[q.qid] for q in qs if q.impossible],
                                                          args.refuse)), 6)
    plain = squad.refusal_figures(qs, preds, diffs, args.refuse)
    new = squad.evaluate_predictions(qs, preds, scores, v["threshold"])
    print("dev, refusing %.0f%% of the unanswerable questions:" % (100 * args.refuse))
    print("  margin alone: no-answer AUC %.3f, answerable F1 %.2f, no-answer acc %.2f, all F1 %.2f" % (
        squad.noans_auc(qs, diffs), plain["refuse_answerable_f1"], plain["refuse_noans_acc"], plain["refuse_all_f1"]))
    print("  verifier:     no-answer AUC %.3f, answerable F1 %.2f, no-answer acc %.2f, all F1 %.2f" % (
        squad.noans_auc(qs, scores), new["answerable_f1"], new["noans_acc"], new["all_f1"]))
    print("  weights %s, bias %.4f, threshold %.4f" % (v["weights"], v["bias"], v["threshold"]))
    if args.dry_run:
        return None
    path = os.path.join(args.model, "config.json")
    with open(path) as f:
        c = json.load(f)
    c["no_answer_verifier"] = v
    for name, var in c.get("variants", {}).items():  # thresholds of the old weights
        if var.pop("no_answer_verifier", None) is not None:
            print("variant %s: its threshold was for the verifier before; set it again with --variant %s"
                  % (name, name))
    c.setdefault("question_answering", {})["no_answer_verifier"] = RULE
    with open(path, "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
    print("wrote no_answer_verifier into %s" % path)
    return {"auc": squad.noans_auc(qs, scores), "answerable_f1": new["answerable_f1"], "noans_acc": new["noans_acc"],
            "margin_auc": squad.noans_auc(qs, diffs), "margin_answerable_f1": plain["refuse_answerable_f1"]}


if __name__ == "__main__":
    main()
