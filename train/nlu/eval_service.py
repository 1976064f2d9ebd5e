#!/usr/bin/python3
"""Evaluate Parley's NLU models THROUGH the running stack (gateway, gRPC).

    /usr/bin/python3 -m train.nlu.eval_service --server 127.0.0.1:50051 [--data ../shared/data] [--limit N]

Every number comes from the answers of the gRPC service, not from the
training code's forward pass:
  - SNIPS test (nlu/snips/test): AnalyzeIntent per utterance (words joined by
    single spaces): intent accuracy, and span-level slot F1 counted like
    conlleval: each returned slot's character span is mapped back to the
    words it covers (B- on the first, I- on the rest) and compared with the
    gold BIO tags (exact start, end and type).
  - CoNLL-2003 test (ner/conll2003/test.txt): AnalyzeEntities per sentence,
    entity F1 the same way (skipped when the server has no entity model);
    with --ner-docs one call per document (its sentences' words joined by
    single spaces, "-DOCSTART-" to the next), each sentence then scored on
    its own words, so that the model sees the sentences around each one.
  - Punctuation on the held-out text of train/nlu/punct_data.py (the last 5%
    of each file in text/, grouped into 30-60-word texts): PunctuateText on
    the lower-case words without punctuation; each output word is split into
    the input word (its case read back) and the mark after it; word-level
    P/R/F1 per mark (comma, period, question mark), their macro F1, and
    capitalization accuracy (skipped when no punctuation model is loaded).

Variants (docs/nlu.md, e.g. "<model>-int8" declared by config.json "variants"):
--variants base,int8 runs every set once per variant on the model of that name
("base" = the model itself; "int8" = "<model>-int8", where <model> is the server's
default model of the task, or --domain / --punct-model / --ner-model when given),
then prints one table of all figures with the difference to the first variant.
With --variants, entities are scored with ClassifyTokens (model_name selects the
variant; AnalyzeEntities has no model field): the same tags, read per word.

--limit N evaluates the first N examples of each set (0 = all). --split valid reads SNIPS's and
CoNLL-2003's valid splits instead of test: the split to choose between models on. --stubs names
the directory of the generated Python stubs (<build>/python, made by the
build from proto/). Results go to stdout; --json FILE also writes them.
"""
import argparse
import json
import os
import time

from train.common.data import read_conll, read_snips
from train.common.metrics import SpanF1
from train.common.paths import ROOT, data_dir
from train.common.stubs import load_stubs
from train.nlu import punct_data as pd


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="127.0.0.1:50051", help="gateway gRPC address")
    ap.add_argument("--data", default=data_dir(), help="the shared data dir")
    ap.add_argument("--limit", type=int, default=0, help="first N examples of each set (0 = all)")
    ap.add_argument("--split", choices=("test", "valid"), default="test",
                    help="SNIPS and CoNLL-2003 split (valid: for choosing between models; the JSON keys "
                         "stay snips_test / conll2003_test)")
    ap.add_argument("--stubs", default=os.path.join(ROOT, "build", "python"),
                    help="directory with riva/proto/riva_nlp_pb2*.py")
    ap.add_argument("--only", default="intent,ner,punct", help="comma-separated subset of intent,ner,punct")
    ap.add_argument("--domain", default="", help="AnalyzeIntent options.domain (default: the server's)")
    ap.add_argument("--punct-model", default="", help="PunctuateText model_name (default: the server's)")
    ap.add_argument("--ner-model", default="", help="entity model name (ClassifyTokens; default: AnalyzeEntities)")
    ap.add_argument("--ner-docs", action="store_true",
                    help="CoNLL-2003: one request per document instead of per sentence (the same F1 per sentence)")
    ap.add_argument("--variants", default="",
                    help="comma-separated variants to compare, e.g. base,int8 (base = no suffix)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    ap.add_argument("--json", default="", help="also write the results here")
    return ap.parse_args(argv)


def word_offsets(words):
    """[start, end) code-point offsets of words joined by single spaces."""
    out, pos = [], 0
    for w in words:
        out.append((pos, pos + len(w)))
        pos += len(w) + 1
    return out


def spans_to_tags(words, values):
    """BIO tags per word from returned TokenClassValue spans (type = best label)."""
    offs = word_offsets(words)
    tags = ["O"] * len(words)
    for v in values:
        if not v.label or not v.span:
            continue
        typ = v.label[0].class_name
        if typ.startswith(("B-", "I-")):
            typ = typ[2:]
        if typ == "O":
            continue
        s, e = v.span[0].start, v.span[-1].end
        inside = [i for i, (ws, we) in enumerate(offs) if ws >= s and we <= e]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + typ
    return tags


def unavailable(grpc, err):
    return isinstance(err, grpc.RpcError) and err.code() in (grpc.StatusCode.UNAVAILABLE,
                                                            grpc.StatusCode.NOT_FOUND)


def eval_intent(stub, nlp, grpc, args):
    ex = read_snips(os.path.join(args.data, "nlu", "snips", args.split))
    if args.limit:
        ex = ex[:args.limit]
    f1, right, t0 = SpanF1(), 0, time.time()
    for e in ex:
        req = nlp.AnalyzeIntentRequest(query=" ".join(e.words))
        if args.domain:
            req.options.domain = args.domain
        try:
            r = stub.AnalyzeIntent(req, timeout=args.timeout)
        except grpc.RpcError as err:
            if unavailable(grpc, err) and right == 0 and f1.gold == 0:
                return {"skipped": "%s: %s" % (err.code().name, err.details())}
            raise
        right += r.intent.class_name == e.intent
        f1.add(e.tags, spans_to_tags(e.words, r.slots))
    p, rc, f = f1.result()
    return {"n": len(ex), "intent_acc": 100.0 * right / len(ex), "slot_p": p, "slot_r": rc, "slot_f1": f,
            "seconds": round(time.time() - t0, 1)}


def ner_units(ex, docs):
    """The requests of eval_ner: (words, [(first word, sentence)]) per sentence, or per document
    (its sentences in order) with docs."""
    if not docs:
        return [(e.words, [(0, e)]) for e in ex]
    units, cur = [], None
    for e in ex:
        if cur is None or e.meta.get("doc") != cur[2]:
            cur = ([], [], e.meta.get("doc"))
            units.append(cur)
        cur[1].append((len(cur[0]), e))
        cur[0].extend(e.words)
    return [(w, parts) for w, parts, _ in units]


def eval_ner(stub, nlp, grpc, args):
    ex = read_conll(os.path.join(args.data, "ner", "conll2003", args.split + ".txt"))
    if args.limit:
        ex = ex[:args.limit]
    f1, t0, done = SpanF1(), time.time(), 0
    units = ner_units(ex, getattr(args, "ner_docs", False))
    for words, parts in units:
        try:
            if args.ner_model:
                r = stub.ClassifyTokens(nlp.TokenClassRequest(text=[" ".join(words)], top_n=1,
                                                              model=nlp.NLPModelParams(model_name=args.ner_model)),
                                        timeout=args.timeout)
            else:
                r = stub.AnalyzeEntities(nlp.AnalyzeEntitiesRequest(query=" ".join(words)), timeout=args.timeout)
        except grpc.RpcError as err:
            if unavailable(grpc, err) and done == 0:
                return {"skipped": "%s: %s" % (err.code().name, err.details())}
            raise
        done += 1
        vals = r.results[0].results if r.results else []
        if args.ner_model:
            # one value per whitespace word with its raw tag: the tags as the model gives them
            pred = [v.label[0].class_name if v.label else "O" for v in vals]
            if len(pred) != len(words):
                raise ValueError("ClassifyTokens returned %d words for %d" % (len(pred), len(words)))
        else:
            pred = spans_to_tags(words, vals)
        for first, e in parts:
            f1.add(e.tags, pred[first:first + len(e.words)])
    p, rc, f = f1.result()
    per = {t: round(v[2], 2) for t, v in f1.per_type_result().items()}
    return {"n": len(ex), "requests": len(units), "p": p, "r": rc, "f1": f, "per_type_f1": per,
            "seconds": round(time.time() - t0, 1)}


def read_back(in_words, out_text):
    """(marks, cases) per input word from a PunctuateText answer."""
    out_words = out_text.split()
    if len(out_words) != len(in_words):
        raise ValueError("PunctuateText returned %d words for %d: %r" % (len(out_words), len(in_words), out_text))
    marks, cases = [], []
    for w, o in zip(in_words, out_words):
        if o[:len(w)].lower() != w:
            raise ValueError("PunctuateText changed word %r into %r" % (w, o))
        rest = o[len(w):]
        marks.append(pd._mark_of(rest) if rest else "O")
        cases.append(pd._case_of(o[:len(w)]))
    return marks, cases


def eval_punct(stub, nlp, grpc, args, batch=16):
    segs = pd.heldout_segments(args.data)
    if args.limit:
        segs = segs[:args.limit]
    sc, t0 = pd.MarkScores(), time.time()
    for i in range(0, len(segs), batch):
        part = [w for _, w in segs[i:i + batch]]
        req = nlp.TextTransformRequest(text=[" ".join(x[0] for x in ws) for ws in part])
        if args.punct_model:
            req.model.model_name = args.punct_model
        try:
            r = stub.PunctuateText(req, timeout=args.timeout)
        except grpc.RpcError as err:
            if unavailable(grpc, err) and i == 0:
                return {"skipped": "%s: %s" % (err.code().name, err.details())}
            raise
        for ws, out in zip(part, r.text):
            marks, cases = read_back([x[0] for x in ws], out)
            sc.add([x[1] for x in ws], marks, [x[2] for x in ws], cases)
    res = sc.result()
    res["texts"] = len(segs)
    res["seconds"] = round(time.time() - t0, 1)
    return res


def run_sets(stub, nlp, grpc, args):
    """Every set of --only on the models args names (or the server's defaults); prints each."""
    out = {}
    only = set(args.only.split(","))
    if "intent" in only:
        r = out["snips_test"] = eval_intent(stub, nlp, grpc, args)
        if "skipped" in r:
            print("SNIPS %s: skipped (%s)" % (args.split, r["skipped"]))
        else:
            print("SNIPS %s (%d utterances, AnalyzeIntent, %.0f s): intent accuracy %.2f%%, slot F1 %.2f "
                  "(P %.2f R %.2f)" % (args.split, r["n"], r["seconds"], r["intent_acc"], r["slot_f1"], r["slot_p"],
                                       r["slot_r"]))
    if "ner" in only:
        r = out["conll2003_test"] = eval_ner(stub, nlp, grpc, args)
        if "skipped" in r:
            print("CoNLL-2003 %s: skipped (%s)" % (args.split, r["skipped"]))
        else:
            print("CoNLL-2003 %s (%d sentences in %d requests, %s, %.0f s): entity F1 %.2f (P %.2f R %.2f) %s" % (
                args.split, r["n"], r["requests"], "ClassifyTokens" if args.ner_model else "AnalyzeEntities",
                r["seconds"], r["f1"], r["p"], r["r"], r["per_type_f1"]))
    if "punct" in only:
        r = out["punct_heldout"] = eval_punct(stub, nlp, grpc, args)
        if "skipped" in r:
            print("punctuation: skipped (%s)" % r["skipped"])
        else:
            print("punctuation, held-out text (%d texts, PunctuateText, %.0f s):" % (r["texts"], r["seconds"]))
            print(pd.format_scores(r))
    return out


def default_model(models, task):
    """The model the server picks for task: the first listed that is not a variant."""
    for name, p in models.items():
        if p.get("task") == task and "variant" not in p:
            return name
    return ""


# (label, set, key, scale) of the comparison table
FIGURES = [("SNIPS intent accuracy %", "snips_test", "intent_acc", 1.0),
           ("SNIPS slot F1", "snips_test", "slot_f1", 1.0),
           ("CoNLL-2003 entity F1", "conll2003_test", "f1", 1.0),
           ("punct comma F1", "punct_heldout", (",", "f1"), 1.0),
           ("punct period F1", "punct_heldout", (".", "f1"), 1.0),
           ("punct question F1", "punct_heldout", ("?", "f1"), 1.0),
           ("punct macro F1 (, . ?)", "punct_heldout", "macro_f1", 1.0),
           ("capitalization accuracy", "punct_heldout", "case_acc", 1.0)]


def run_variants(stub, nlp, grpc, args, models):
    """run_sets once per variant (model names with the variant's suffix), then one table."""
    base = {"intent": args.domain or default_model(models, "joint_intent_slot"),
            "ner": args.ner_model or default_model(models, "token_classification"),
            "punct": args.punct_model or default_model(models, "punctuation_capitalization")}
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    res = {}
    def named(b, v):
        # "f32" is the model itself unless it declares an f32 variant (a model served in int8)
        if not b or v == "base" or (v == "f32" and b + "-f32" not in models):
            return b or ""
        return b + "-" + v

    for v in names:
        a = argparse.Namespace(**vars(args))
        a.domain = named(base["intent"], v)
        a.ner_model = named(base["ner"], v)
        a.punct_model = named(base["punct"], v)
        print("== variant %s: %s" % (v, ", ".join(x for x in (a.domain, a.ner_model, a.punct_model) if x)))
        for n in (a.domain, a.ner_model, a.punct_model):
            if n and n not in models:
                print("   (%s is not served: its sets are skipped)" % n)
        res[v] = run_sets(stub, nlp, grpc, a)
        res[v]["models"] = {"intent": a.domain, "ner": a.ner_model, "punct": a.punct_model}
    print()
    print("%-26s" % "figure" + "".join("%12s" % v for v in names) +
          "".join("%14s" % ("%s-%s" % (v, names[0])) for v in names[1:]))
    for label, st, key, _ in FIGURES:
        vals = []
        for v in names:
            r = res[v].get(st, {})
            x = r
            for k in (key if isinstance(key, tuple) else (key,)):
                x = x.get(k) if isinstance(x, dict) else None
            vals.append(x)
        if all(x is None for x in vals):
            continue
        fmt = lambda x: "%12s" % "-" if x is None else "%12.4f" % x  # noqa: E731
        diff = lambda x: "%14s" % "-" if x is None or vals[0] is None else "%+14.4f" % (x - vals[0])  # noqa: E731
        print("%-26s" % label + "".join(fmt(x) for x in vals) + "".join(diff(x) for x in vals[1:]))
    return res


def main(argv=None):
    args = parse_args(argv)
    load_stubs(args.stubs)
    import grpc
    from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc as nlp_grpc
    ch = grpc.insecure_channel(args.server)
    try:
        grpc.channel_ready_future(ch).result(timeout=10)
    except grpc.FutureTimeoutError:
        raise SystemExit("no gRPC server at %s" % args.server)
    stub = nlp_grpc.RivaLanguageUnderstandingStub(ch)
    cfg = stub.GetRivaNLPConfig(nlp.RivaNLPConfigRequest(), timeout=args.timeout)
    models = {c.model_name: dict(c.parameters) for c in cfg.model_config}
    print("server %s: models %s" % (args.server, ", ".join(
        "%s (%s)" % (n, p.get("task", "?")) for n, p in sorted(models.items())) or "none"))
    out = {"server": args.server, "models": models, "limit": args.limit}
    if not args.variants:
        out.update(run_sets(stub, nlp, grpc, args))
    else:
        out["variants"] = run_variants(stub, nlp, grpc, args, models)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
