"""parley-nlu end to end: nats-server + parley-nlu + gateway on free 127.0.0.1 ports, tiny
random-weight models (nlu_tiny.py), a Python gRPC client calling every NLP rpc.

Scores are checked against the NumPy reference of nlu_tiny.forward (encoder + heads), spans
against the text, windows of long inputs against single-window references, and every error
(empty, whitespace-only, non-UTF-8, oversized, too many windows, unknown model, wrong model
task, no model for the task) for its gRPC code and message.
Environment: PL_NLU (parley-nlu), PL_GATEWAY, PL_PYTHON_STUBS (see tests/nlu.cmake).
"""
import os
import re
import threading
import time

import numpy as np

import gwtest as g  # noqa: E402
import nlu_tiny  # noqa: E402
from gwtest import check, code_of, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402

NLP = riva_nlp_pb2
QUERY = "book a table for two at an italian restaurant in boston tomorrow"


def start_nlu(nats_url, model_dir, extra_env=None):
    env = dict(os.environ)
    env.update({"PARLEY_NLU_LOG_LEVEL": "warn", "PARLEY_CONFIG": "/nonexistent-parley.json"})
    env.pop("PARLEY_CONFIG")
    env.update(extra_env or {})
    out = os.path.join(g.TMP, "nlu-out-%d" % time.monotonic_ns())
    p = g.spawn([os.environ["PL_NLU"], "--nats", nats_url, "--http-port", "0", "--model-dir", model_dir],
                "nlu.log", env=env, stdout=open(out, "wb"))
    end = time.time() + 30
    while time.time() < end:
        m = re.search(r"http_port=(\d+) models=(\d+)", open(out).read())
        if m:
            return p, int(m.group(1)), int(m.group(2))
        if p.poll() is not None:
            raise AssertionError("parley-nlu exited: %s (see %s/nlu.log)" % (p.returncode, g.TMP))
        time.sleep(0.02)
    raise AssertionError("parley-nlu did not start")


def bio_path(labels, probs):
    """The best valid BIO tag sequence (I-X only after B-X/I-X, never first), as parley-nlu
    decodes BIO heads; the per-word argmax when no label is an I- tag."""
    probs = [np.asarray(r, dtype=np.float64) for r in probs]
    if not probs:
        return []

    def may(i, j):
        b = labels[j]
        if not b.startswith("I-"):
            return True
        return i is not None and labels[i][:2] in ("B-", "I-") and labels[i][2:] == b[2:]

    n = len(labels)
    lp = [np.log(np.maximum(r, 1e-30)) for r in probs]
    score = [lp[0][j] if may(None, j) else -np.inf for j in range(n)]
    back = []
    for t in range(1, len(probs)):
        nxt, bk = [], []
        for j in range(n):
            cand = [(score[i], i) for i in range(n) if score[i] > -np.inf and may(i, j)]
            best, arg = max(cand, key=lambda c: c[0]) if cand else (-np.inf, 0)
            nxt.append(best + lp[t][j] if cand else -np.inf)
            bk.append(arg)
        score = nxt
        back.append(bk)
    k = int(np.argmax(score))
    path = [k]
    for bk in reversed(back):
        k = bk[k]
        path.append(k)
    return [labels[i] for i in reversed(path)]


def bio_spans(labels, probs):
    """conlleval-style spans [(first, last, type)] of the decoded tags of per-word rows."""
    spans, cur = [], None
    for i, tag in enumerate(bio_path(labels, probs)):
        if tag == "O":
            cur = None
            continue
        pre, typ = (tag[0], tag[2:]) if tag[1:2] == "-" else ("I", tag)
        if pre == "I" and cur is not None and cur[2] == typ:
            cur[1] = i
            continue
        cur = [i, i, typ]
        spans.append(cur)
    return [tuple(s) for s in spans]


def char_spans(text):
    out, pos = [], 0
    for w in text.split(" "):
        out.append((pos, pos + len(w)))
        pos += len(w) + 1
    return out


def main():
    models = os.path.join(g.TMP, "models")
    nlu_tiny.write_models(models)
    _, nats_url = g.start_nats()
    nlu, nlu_http, n_models = start_nlu(nats_url, models)
    check(n_models == 4, "4 NLU models loaded, broken and non-NLU directories skipped (%d)" % n_models)
    _, grpc_port, _ = g.start_gateway(nats_url)
    ch = g.channel(grpc_port)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
    st, _ = g.http_get(nlu_http, "/readyz")
    check(st == 200, "/readyz 200")

    # GetRivaNLPConfig
    cfg = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(), timeout=10)
    names = [c.model_name for c in cfg.model_config]
    check(names == ["intent", "ner", "punct", "textcls"], "GetRivaNLPConfig lists the models %s" % names)
    params = {c.model_name: dict(c.parameters) for c in cfg.model_config}
    check(params["intent"]["task"] == "joint_intent_slot" and params["intent"]["max_length"] == "16"
          and params["intent"]["max_batch_size"] == "4" and params["intent"]["domain"] == "snips"
          and params["intent"]["labels.intent"] == ",".join(nlu_tiny.INTENTS),
          "GetRivaNLPConfig parameters of intent")
    one = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(model_name="punct"), timeout=10)
    check([c.model_name for c in one.model_config] == ["punct"], "GetRivaNLPConfig by model_name")
    c, d = code_of(lambda: stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(model_name="nope"), timeout=10))
    check(c == grpc.StatusCode.NOT_FOUND and "nope" in d, "GetRivaNLPConfig unknown model: NOT_FOUND (%s)" % d)

    # AnalyzeIntent against the NumPy reference
    words = QUERY.split()
    ref = nlu_tiny.forward(os.path.join(models, "intent"), words)
    r = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY), timeout=10)
    want = nlu_tiny.INTENTS[int(np.argmax(ref["intent"]))]
    check(r.intent.class_name == want and abs(r.intent.score - ref["intent"].max()) < 2e-3,
          "AnalyzeIntent intent %s %.4f (reference %s %.4f)" % (r.intent.class_name, r.intent.score,
                                                               want, ref["intent"].max()))
    check(r.domain.class_name == "snips" and r.domain_str == "snips", "AnalyzeIntent domain snips")
    cs = char_spans(QUERY)
    want_slots = [(QUERY[cs[a][0]:cs[b][1]], t, cs[a][0], cs[b][1]) for a, b, t in
                  bio_spans(nlu_tiny.SLOTS, ref["slot"])]
    got_slots = [(s.token, s.label[0].class_name, s.span[0].start, s.span[0].end) for s in r.slots]
    check(got_slots == want_slots and len(got_slots) > 0,
          "AnalyzeIntent slots (token, label, char span) match the reference: %s" % got_slots)
    check(all(QUERY[s.span[0].start:s.span[0].end] == s.token and 0 < s.label[0].score <= 1 for s in r.slots),
          "slot tokens are the text at their spans")
    r2 = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY, options=NLP.AnalyzeIntentOptions(domain="snips")),
                            timeout=10)
    check(r2.intent.class_name == r.intent.class_name, "AnalyzeIntent options.domain selects by domain")

    # Non-ASCII text: character spans count code points, not bytes
    q = "play some music by john in zürich"
    r = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=q), timeout=10)
    check(all(q[s.span[0].start:s.span[0].end] == s.token for s in r.slots),
          "character spans on non-ASCII text (%d slots)" % len(r.slots))

    # Long input: windows of 16 tokens, step 7; edges compared with single-window references
    long_words = (WORDS_LONG := (nlu_tiny.WORDS * 3)[:40])
    text = " ".join(long_words)
    r = stub.ClassifyTokens(NLP.TokenClassRequest(text=[text], top_n=1, model=NLP.NLPModelParams(model_name="ner")),
                            timeout=10)
    seq = r.results[0].results
    check(len(seq) == 40 and all(v.token == w for v, w in zip(seq, WORDS_LONG)),
          "ClassifyTokens on a 40-token text (3x the window) returns all 40 words")
    first = nlu_tiny.forward(os.path.join(models, "ner"), long_words[:14])["token"]
    last = nlu_tiny.forward(os.path.join(models, "ner"), long_words[28:40])["token"]
    ok = all(seq[i].label[0].class_name == nlu_tiny.NER[int(np.argmax(first[i]))] and
             abs(seq[i].label[0].score - first[i].max()) < 2e-3 for i in range(8))
    ok = ok and all(seq[28 + i].label[0].class_name == nlu_tiny.NER[int(np.argmax(last[i]))] and
                    abs(seq[28 + i].label[0].score - last[i].max()) < 2e-3 for i in range(7, 12))
    check(ok, "windowed scores equal the reference of the window giving each token most context")
    lcs = char_spans(text)
    check(all((v.span[0].start, v.span[0].end) == lcs[i] for i, v in enumerate(seq)), "ClassifyTokens spans")
    r = stub.ClassifyTokens(NLP.TokenClassRequest(text=[QUERY], top_n=3), timeout=10)
    check(all(len(v.label) == 3 and v.label[0].score >= v.label[1].score >= v.label[2].score
              for v in r.results[0].results), "ClassifyTokens top_n=3, best first")

    # AnalyzeEntities (NER model)
    q = "john smith met paris in london"
    ref = nlu_tiny.forward(os.path.join(models, "ner"), q.split())["token"]
    cs = char_spans(q)
    want = [(q[cs[a][0]:cs[b][1]], t) for a, b, t in bio_spans(nlu_tiny.NER, ref)]
    r = stub.AnalyzeEntities(NLP.AnalyzeEntitiesRequest(query=q), timeout=10)
    got = [(v.token, v.label[0].class_name) for v in r.results[0].results]
    check(got == want, "AnalyzeEntities spans match the reference: %s" % got)

    # ClassifyText
    texts = ["what is the weather in paris", QUERY]
    r = stub.ClassifyText(NLP.TextClassRequest(text=texts, top_n=2), timeout=10)
    ok = len(r.results) == 2
    for t, res in zip(texts, r.results):
        p = nlu_tiny.forward(os.path.join(models, "textcls"), t.split())["label"]
        ok = ok and len(res.labels) == 2 and res.labels[0].class_name == nlu_tiny.CLASSES[int(np.argmax(p))] \
            and abs(res.labels[0].score - p.max()) < 2e-3 and abs(res.labels[0].score + res.labels[1].score - 1) < 1e-3
    check(ok, "ClassifyText two texts, top_n=2, scores match the reference")
    r = stub.ClassifyText(NLP.TextClassRequest(text=[QUERY], model=NLP.NLPModelParams(model_name="intent")), timeout=10)
    check(r.results[0].labels[0].class_name in nlu_tiny.INTENTS and len(r.results[0].labels) == 1,
          "ClassifyText with the intent model gives an intent")

    # PunctuateText / TransformText
    q = "how are you doing today"
    ref = nlu_tiny.forward(os.path.join(models, "punct"), q.split())
    exp = []
    for w, pp, cp in zip(q.split(), ref["punct"], ref["capit"]):
        case = nlu_tiny.CAPIT[int(np.argmax(cp))]
        w = w.upper() if case == "UPPER" else w.capitalize() if case == "Capitalized" else w
        mark = nlu_tiny.PUNCT[int(np.argmax(pp))]
        exp.append(w + ("" if mark == "O" else mark))
    exp = " ".join(exp)
    r = stub.PunctuateText(NLP.TextTransformRequest(text=[q, QUERY]), timeout=10)
    check(len(r.text) == 2 and r.text[0] == exp, "PunctuateText '%s' (reference '%s')" % (r.text[0], exp))
    check(re.sub(r"[,.?]", "", r.text[1]).lower() == QUERY, "PunctuateText keeps the words: %s" % r.text[1])
    r = stub.TransformText(NLP.TextTransformRequest(text=[q]), timeout=10)
    check(r.text[0] == exp, "TransformText with the punctuation model")
    # the punct head reads a word's mark at its last sub-token: "zurich" is z ##u ##r ##i ##c ##h
    pieces = ["how", "are", "z", "##u", "##r", "##i", "##c", "##h"]
    ref = nlu_tiny.forward(os.path.join(models, "punct"), pieces)
    marks = [nlu_tiny.PUNCT[int(np.argmax(ref["punct"][i]))] for i in (0, 1, 7)]
    cases = [nlu_tiny.CAPIT[int(np.argmax(ref["capit"][i]))] for i in (0, 1, 2)]
    exp = " ".join((w.upper() if c == "UPPER" else w.capitalize() if c == "Capitalized" else w) +
                   ("" if m == "O" else m) for w, m, c in zip(["how", "are", "zurich"], marks, cases))
    r = stub.PunctuateText(NLP.TextTransformRequest(text=["how are zurich"]), timeout=10)
    check(r.text[0] == exp, "marks at the last sub-token, case at the first: '%s' (reference '%s')"
          % (r.text[0], exp))

    # Dynamic batching: concurrent calls give the serial answers
    serial = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY), timeout=10)
    results, errors = [], []

    def worker():
        try:
            results.append(stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY), timeout=20))
        except grpc.RpcError as e:
            errors.append(e)
    ths = [threading.Thread(target=worker) for _ in range(24)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    same = all(abs(x.intent.score - serial.intent.score) < 1e-4 and len(x.slots) == len(serial.slots) for x in results)
    check(not errors and len(results) == 24 and same, "24 concurrent AnalyzeIntent calls equal the serial one")
    _, metrics = g.http_get(nlu_http, "/metrics")
    batches = g.metric(metrics, "parley_execution_count", model="intent")
    items = g.metric(metrics, "parley_inference_count", model="intent")
    check(items > batches > 0, "batches formed: %d windows in %d batches" % (items, batches))

    # Errors
    def err(fn, code, word, what):
        c, d = code_of(fn)
        check(c == code and word in d, "%s: %s (%s)" % (what, c, d))
    err(lambda: stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=""), timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT, "empty", "empty query")
    err(lambda: stub.PunctuateText(NLP.TextTransformRequest(text=[]), timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT, "no text", "no texts")
    err(lambda: stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=" \t\n "), timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT, "no tokens", "whitespace-only query")
    err(lambda: stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query="a" * 70000), timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT, "too long", "oversized query")
    err(lambda: stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=" ".join(["boston"] * 3000)), timeout=20),
        grpc.StatusCode.INVALID_ARGUMENT, "windows", "query needing too many windows")
    raw = ch.unary_unary("/nvidia.riva.nlp.RivaLanguageUnderstanding/AnalyzeIntent")
    bad = b"\x0a\x06ab\xff\xfecd"
    err(lambda: raw(bad, timeout=10), grpc.StatusCode.INVALID_ARGUMENT, "UTF-8", "non-UTF-8 query")
    err(lambda: stub.PunctuateText(NLP.TextTransformRequest(text=[q], model=NLP.NLPModelParams(model_name="nope")),
                                   timeout=10), grpc.StatusCode.NOT_FOUND, "nope", "unknown model")
    err(lambda: stub.PunctuateText(NLP.TextTransformRequest(text=[q], model=NLP.NLPModelParams(model_name="intent")),
                                   timeout=10), grpc.StatusCode.INVALID_ARGUMENT, "punctuation", "model of another task")
    err(lambda: stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=q, options=NLP.AnalyzeIntentOptions(domain="x")),
                                   timeout=10), grpc.StatusCode.NOT_FOUND, "'x'", "unknown domain")
    r = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY), timeout=10)
    check(r.intent.class_name == serial.intent.class_name, "the service still answers after the errors")

    # A service without models answers UNAVAILABLE, never a made-up result
    rc = g.stop(nlu)
    check(rc == 0, "parley-nlu drains and exits 0 on SIGTERM (%s)" % rc)
    empty = os.path.join(g.TMP, "empty")
    os.makedirs(empty)
    start_nlu(nats_url, empty)
    err(lambda: stub.PunctuateText(NLP.TextTransformRequest(text=[q]), timeout=10),
        grpc.StatusCode.UNAVAILABLE, "no punctuation model", "no punctuation model loaded")
    err(lambda: stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=q), timeout=10),
        grpc.StatusCode.UNAVAILABLE, "no intent/slot model", "no intent model loaded")
    cfg = stub.GetRivaNLPConfig(NLP.RivaNLPConfigRequest(), timeout=10)
    check(len(cfg.model_config) == 0, "GetRivaNLPConfig with no models: empty list")
    print("all nlu service checks passed")


if __name__ == "__main__":
    main()
