"""parley-nlu model variants: a config.json key "variants" serves the same files under a second
name "<model>-<variant>" with other settings (precision, batching). nats-server + parley-nlu +
gateway on free 127.0.0.1 ports, a Python gRPC client.

1. Tiny random-weight models (nlu_tiny.py) with variants int8 and b1 (max_batch_size 1), a
   variant whose precision the engine refuses (skipped, the rest served) and a model whose
   "variants" is malformed (the model served, no variant): GetRivaNLPConfig lists every
   served name with its parameters (precision, variant, variant_of, domain); each name
   answers; the int8 scores stay near the NumPy f32 reference; unknown names get NOT_FOUND
   naming the loaded models.
2. When models/nlu-intent-slot-snips is in the tree (PL_MODELS), a copy of it with
   "variants": {"int8": {"precision": "int8"}}: both names answer a handful of utterances with
   the same intents and (almost) the same word labels.
Environment: PL_NLU, PL_GATEWAY, PL_PYTHON_STUBS, PL_MODELS (see tests/nlu.cmake).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

import gwtest as g  # noqa: E402
import nlu_tiny  # noqa: E402
from gwtest import check, code_of, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402

NLP = riva_nlp_pb2
QUERY = "book a table for two at an italian restaurant in boston tomorrow"
SNIPS = "nlu-intent-slot-snips"
UTTERANCES = [
    "book a table for two at an italian restaurant in boston tomorrow",
    "what is the weather going to be like in paris next week",
    "play the latest album by the beatles on spotify",
    "add this song to my workout playlist",
    "rate this book five out of six stars",
    "find the movie schedule at the nearest cinema tonight",
    "i want to watch the television show friends",
    "will it snow in denver on saturday",
]


def set_variants(model_dir, variants, precision=None):
    p = os.path.join(model_dir, "config.json")
    cfg = json.load(open(p))
    cfg["variants"] = variants
    if precision:
        cfg["precision"] = precision
    with open(p, "w") as f:
        json.dump(cfg, f, indent=1)


def start_nlu(nats_url, model_dir, extra_env=None):
    env = dict(os.environ)
    env["PARLEY_NLU_LOG_LEVEL"] = "info"
    env.pop("PARLEY_CONFIG", None)
    env.update(extra_env or {})
    out = os.path.join(g.TMP, "nlu-out")
    p = g.spawn([os.environ["PL_NLU"], "--nats", nats_url, "--http-port", "-1", "--model-dir", model_dir],
                "nlu.log", env=env, stdout=open(out, "wb"))
    end = time.time() + 60
    while time.time() < end:
        m = re.search(r"models=(\d+)", open(out).read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            raise AssertionError("parley-nlu exited: %s (see %s/nlu.log)" % (p.returncode, g.TMP))
        time.sleep(0.02)
    raise AssertionError("parley-nlu did not start")


def word_labels(stub, name, text):
    r = stub.ClassifyTokens(NLP.TokenClassRequest(text=[text], top_n=1,
                                                  model=NLP.NLPModelParams(model_name=name)), timeout=20)
    return [v.label[0].class_name for v in r.results[0].results]


def main():
    models = os.path.join(g.TMP, "models")
    nlu_tiny.write_models(models)
    for d in ("punct", "textcls", "broken"):
        shutil.rmtree(os.path.join(models, d))
    set_variants(os.path.join(models, "intent"), {
        "int8": {"precision": "int8"},
        "b1": {"batching": {"max_batch_size": 1, "max_queue_delay_us": 0}},
        "q4": {"precision": "int4"},  # the engine refuses it: logged, skipped
    })
    set_variants(os.path.join(models, "ner"), {"fast": {"threads": 2}})  # not a variant key
    shipped = os.path.join(os.environ.get("PL_MODELS", ""), SNIPS)
    have_snips = os.path.isfile(os.path.join(shipped, "config.json"))
    if have_snips:
        shutil.copytree(shipped, os.path.join(models, SNIPS))
        # the base in f32 (the shipped config serves it in int8), the variant in int8
        set_variants(os.path.join(models, SNIPS), {"int8": {"precision": "int8"}}, "f32")
    else:
        print("note: %s not in the tree; the shipped-model comparison is skipped" % shipped)

    _, nats_url = g.start_nats()
    # no preferred models (nlu.default_models): the default of a task is then its first model
    # by directory name, and must be a base model, never a variant listed right after it
    _, n_models = start_nlu(nats_url, models, {"PARLEY_NLU_DEFAULT_MODELS": ""})
    want_names = ["intent", "intent-b1", "intent-int8", "ner"] + ([SNIPS, SNIPS + "-int8"] if have_snips else [])
    check(n_models == len(want_names), "%d models served (bad variants skipped, their models kept)" % n_models)
    log = open(os.path.join(g.TMP, "nlu.log")).read()
    check("intent-q4" in log and "int4" in log, "the refused variant intent-q4 is logged with its reason")
    check("variants.fast.threads" in log, "the malformed variants of ner are logged, naming the key")
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))

    cfg = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(), timeout=10)
    # the loaded models; the aliases of nlu.model_aliases (parameter alias_of) come after them
    names = [c.model_name for c in cfg.model_config if "alias_of" not in c.parameters]
    check(sorted(names) == sorted(want_names), "GetRivaNLPConfig lists %s" % names)
    p = {c.model_name: dict(c.parameters) for c in cfg.model_config}
    check(p["intent"]["precision"] == "f32" and "variant" not in p["intent"], "intent: f32, no variant")
    check(p["intent-int8"]["precision"] == "int8" and p["intent-int8"]["variant"] == "int8"
          and p["intent-int8"]["variant_of"] == "intent" and p["intent-int8"]["domain"] == "snips"
          and p["intent-int8"]["max_batch_size"] == "4" and p["intent-int8"]["task"] == "joint_intent_slot",
          "intent-int8: precision int8, variant_of intent, the base's domain and batching")
    check(p["intent"]["instances"] == "2" and p["intent-int8"]["instances"] == "2",
          "two forward instances per model on the CPU by default")
    check(p["intent-b1"]["precision"] == "f32" and p["intent-b1"]["max_batch_size"] == "1"
          and p["intent-b1"]["max_queue_delay_us"] == "0", "intent-b1: its own batching")
    one = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(model_name="intent-int8"), timeout=10)
    check([c.model_name for c in one.model_config] == ["intent-int8"], "GetRivaNLPConfig by variant name")

    # each name answers; the default and the domain stay the base model
    ref = nlu_tiny.forward(os.path.join(models, "intent"), QUERY.split())
    want = nlu_tiny.INTENTS[int(np.argmax(ref["intent"]))]
    got = {}
    for name in ("", "snips", "intent", "intent-int8", "intent-b1"):
        opts = NLP.AnalyzeIntentOptions(domain=name) if name else None
        r = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY, options=opts), timeout=10)
        got[name] = r
        check(r.domain_str == "snips", "AnalyzeIntent %r answers, domain snips" % name)
    f32 = got["intent"].intent.score
    check(abs(got[""].intent.score - f32) < 1e-6 and abs(got["snips"].intent.score - f32) < 1e-6,
          "the default and domain 'snips' pick the base model, not a variant")
    check(got["intent"].intent.class_name == want and abs(f32 - ref["intent"].max()) < 2e-3,
          "intent (f32) matches the NumPy reference")
    check(abs(got["intent-b1"].intent.score - f32) < 1e-5, "intent-b1 (f32, batch 1) gives the f32 scores")
    i8 = got["intent-int8"].intent
    check(abs(i8.score - ref["intent"][nlu_tiny.INTENTS.index(i8.class_name)]) < 0.05,
          "intent-int8 score %.4f (%s) within 0.05 of the f32 reference" % (i8.score, i8.class_name))
    r = stub.ClassifyTokens(NLP.TokenClassRequest(text=[QUERY], top_n=len(nlu_tiny.SLOTS),
                                                  model=NLP.NLPModelParams(model_name="intent-int8")), timeout=10)
    worst = 0.0
    for i, v in enumerate(r.results[0].results):
        for lab in v.label:
            worst = max(worst, abs(lab.score - ref["slot"][i][nlu_tiny.SLOTS.index(lab.class_name)]))
    check(worst < 0.05, "intent-int8 slot probabilities within 0.05 of the f32 reference (max %.4f)" % worst)

    c, d = code_of(lambda: stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(
        query=QUERY, options=NLP.AnalyzeIntentOptions(domain="intent-q4")), timeout=10))
    check(c == grpc.StatusCode.NOT_FOUND and "intent-q4" in d and "intent-int8" in d,
          "a variant that did not load: NOT_FOUND listing the loaded models (%s)" % d)
    c, d = code_of(lambda: stub.ClassifyTokens(NLP.TokenClassRequest(
        text=[QUERY], model=NLP.NLPModelParams(model_name="ner-fast")), timeout=10))
    check(c == grpc.StatusCode.NOT_FOUND and "ner-fast" in d, "unknown variant name: NOT_FOUND (%s)" % d)

    if have_snips:
        agree = total = 0
        for q in UTTERANCES:
            a = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=q, options=NLP.AnalyzeIntentOptions(domain=SNIPS)),
                                   timeout=20)
            b = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(
                query=q, options=NLP.AnalyzeIntentOptions(domain=SNIPS + "-int8")), timeout=20)
            check(a.intent.class_name == b.intent.class_name and abs(a.intent.score - b.intent.score) < 0.05,
                  "%r: f32 %s %.3f, int8 %s %.3f" % (q, a.intent.class_name, a.intent.score,
                                                    b.intent.class_name, b.intent.score))
            la, lb = word_labels(stub, SNIPS, q), word_labels(stub, SNIPS + "-int8", q)
            agree += sum(x == y for x, y in zip(la, lb))
            total += len(la)
        check(agree >= 0.95 * total, "shipped SNIPS model: int8 word labels agree with f32 on %d of %d words"
              % (agree, total))
    # eval_service.py --variants: one command, f32 and int8 columns, a missing variant skipped
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.environ.get("PARLEY_DATA_DIR") or os.path.join(os.path.dirname(root), "shared", "data")
    if os.path.isdir(os.path.join(data, "nlu", "snips", "test")) and os.path.isfile(
            os.path.join(data, "ner", "conll2003", "test.txt")):
        out = subprocess.run(
            [sys.executable, "-m", "train.nlu.eval_service", "--server",
             "127.0.0.1:%d" % grpc_port, "--stubs", os.environ.get("PL_PYTHON_STUBS", ""), "--data", data,
             "--variants", "base,int8", "--limit", "10", "--only", "intent,ner", "--ner-model", "ner",
             "--domain", SNIPS if have_snips else "intent"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, cwd=root).stdout.decode()
        print(out)
        rows = {l.split("  ")[0]: l.split() for l in out.splitlines() if l.startswith(("SNIPS", "CoNLL"))}
        check("figure" in out and "int8-base" in out and "SNIPS slot F1" in rows,
              "eval_service.py --variants base,int8 prints the comparison table")
        check("ner-int8 is not served" in out and rows.get("CoNLL-2003 entity F1", [""])[-1] == "-",
              "a variant the server lacks is reported and left out of the table")
        if have_snips:
            acc = rows["SNIPS intent accuracy %"]
            check(float(acc[-3]) >= 80 and abs(float(acc[-1])) <= 10,
                  "shipped SNIPS model: f32 %s%%, int8 %s%% on 10 test utterances" % (acc[-3], acc[-2]))
    else:
        print("note: no SNIPS/CoNLL data under %s; eval_service.py --variants not run" % data)
    print("all nlu variant checks passed")


if __name__ == "__main__":
    main()
