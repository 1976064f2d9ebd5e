"""`parley nlu` (clients/nlu/nlu_main.c, through libparley-client) against a real stack:
nats-server, parley-nlu with the shipped models and the gateway on free 127.0.0.1 ports,
stopped by PID; a second gateway with TLS and API keys.

1. intent, entities, tokens and punctuate with --json, queries as arguments, each line
   compared with what raw grpcio gets for the same request (intent, score, domain, slots with
   their spans; entities and tokens with label, score, span; the punctuated text); --model
   with a loaded model name;
2. the same queries on stdin (one per line, CRLF and blank lines) give the same lines; the
   plain output names the intent, the slots and the entities;
3. an unknown --model: exit 1 and a message with NOT_FOUND naming the model (intent, tokens,
   punctuate), and what to do; --model with entities: exit 2 naming tokens --model;
4. TLS with --tls-ca and --api-key: answered; no key: exit 1, UNAUTHENTICATED and the hint
   to pass --api-key; no gateway: exit 1, UNAVAILABLE and the hint.
Environment: PL_NLU, PL_GATEWAY, PL_CLIENTS_DIR, PL_SOURCE_DIR, PL_PYTHON_STUBS.
"""
import json
import os
import subprocess

import dialog_stories as ds
import gwtest as g
from gwtest import check, grpc

from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc  # noqa: E402

PARLEY = os.path.join(os.environ["PL_CLIENTS_DIR"], "parley")
INTENT_MODEL = "nlu-intent-slot-snips"
NER_MODEL = "ner-conll2003"
QUERIES = ["what is the weather in boston tomorrow", "play some jazz by miles davis",
           "book a table for four people in paris"]
ENTITY_TEXTS = ["Ada Lovelace was born in London", "Barack Obama visited Microsoft in Seattle"]
PUNCT_TEXTS = ["hello world how are you", "my name is ada i live in london"]


def parley(*args, stdin=None):
    p = subprocess.run([PARLEY] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=60, input=stdin)
    print("---- parley %s (exit %d)\n%s%s" % (" ".join(map(str, args))[:120], p.returncode,
                                             p.stdout[-900:], p.stderr[-600:]), flush=True)
    return p


def lines(p):
    return [json.loads(x) for x in p.stdout.splitlines()]


def close(a, b):
    return abs(a - b) < 1e-4


def span(t):
    return (t.span[0].start, t.span[0].end) if t.span else (0, 0)


def label(t):
    return (t.label[0].class_name, t.label[0].score) if t.label else ("", 0.0)


def same_tokens(got, want, what):
    ok = len(got) == len(want)
    for a, t in zip(got, want):
        name, score = label(t)
        ok = ok and (a["text"], a["label"], (a["start"], a["end"])) == (t.token, name, span(t)) \
            and close(a["score"], score)
    check(ok, "%s: %d items as raw grpcio (%s)" % (what, len(want),
                                                   [(a["label"], a["text"]) for a in got]))


def intent(stub, server, model=None):
    extra = ["--model", model] if model else []
    p = parley("nlu", "intent", *QUERIES, "--json", "--server", server, *extra)
    got = lines(p)
    check(p.returncode == 0 and [x["query"] for x in got] == QUERIES,
          "nlu intent --json%s: one line per query" % (" --model" if model else ""))
    for x, q in zip(got, QUERIES):
        r = stub.AnalyzeIntent(nlp.AnalyzeIntentRequest(
            query=q, options=nlp.AnalyzeIntentOptions(domain=model or "")), timeout=30)
        dom = r.domain.class_name or r.domain_str
        check(x["intent"] == r.intent.class_name and close(x["score"], r.intent.score) and
              x["domain"] == dom, "%r: intent %s %.3f, domain %s as raw grpcio"
              % (q, x["intent"], x["score"], x["domain"]))
        want = [{"slot": label(s)[0], "value": s.token, "start": span(s)[0], "end": span(s)[1]}
                for s in r.slots]
        have = [{k: v for k, v in s.items() if k != "score"} for s in x["slots"]]
        check(have == want and all(close(s["score"], label(t)[1])
                                   for s, t in zip(x["slots"], r.slots)),
              "%r: slots with spans as raw grpcio: %s" % (q, have))
        for s in x["slots"]:
            check(q[s["start"]:s["end"]] == s["value"], "slot %s: the span is the value" % s)
    check(any(x["slots"] for x in got), "some query has slots")
    return got


def entities(stub, server):
    p = parley("nlu", "entities", *ENTITY_TEXTS, "--json", "--server", server)
    got = lines(p)
    check(p.returncode == 0 and len(got) == len(ENTITY_TEXTS), "nlu entities --json")
    for x, t in zip(got, ENTITY_TEXTS):
        r = stub.AnalyzeEntities(nlp.AnalyzeEntitiesRequest(query=t), timeout=30)
        want = r.results[0].results if r.results else []
        same_tokens(x["entities"], want, "entities of %r" % t)
    check(any(e["label"] == "LOC" and e["text"] == "London" for e in got[0]["entities"]),
          "London is a LOC")
    p = parley("nlu", "tokens", *ENTITY_TEXTS, "--json", "--model", NER_MODEL, "--server", server)
    got = lines(p)
    check(p.returncode == 0 and len(got) == len(ENTITY_TEXTS), "nlu tokens --model --json")
    for x, t in zip(got, ENTITY_TEXTS):
        r = stub.ClassifyTokens(nlp.TokenClassRequest(
            text=[t], model=nlp.NLPModelParams(model_name=NER_MODEL)), timeout=30)
        same_tokens(x["tokens"], r.results[0].results, "tokens of %r" % t)
        check(len(x["tokens"]) == len(t.split()), "tokens: one per word of %r" % t)


def punctuate(stub, server):
    p = parley("nlu", "punctuate", *PUNCT_TEXTS, "--json", "--server", server)
    got = lines(p)
    r = stub.PunctuateText(nlp.TextTransformRequest(text=PUNCT_TEXTS), timeout=30)
    check(p.returncode == 0 and [x["text"] for x in got] == list(r.text) and
          [x["query"] for x in got] == PUNCT_TEXTS, "nlu punctuate --json as raw grpcio: %s"
          % [x["text"] for x in got])
    p = parley("nlu", "punctuate", "--server", server, stdin="\r\n".join(PUNCT_TEXTS) + "\r\n")
    check(p.returncode == 0 and p.stdout.splitlines() == list(r.text),
          "nlu punctuate from stdin: one punctuated line per input line")


def from_stdin(server, want):
    p = parley("nlu", "intent", "--json", "--server", server,
               stdin="\n".join(QUERIES[:2]) + "\n\n" + QUERIES[2] + "\r\n")
    check(p.returncode == 0 and lines(p) == want,
          "nlu intent from stdin (blank line skipped, CRLF): the same lines as from arguments")
    p = parley("nlu", "intent", QUERIES[0], "--server", server)
    out = p.stdout.splitlines()
    check(p.returncode == 0 and out[0] == QUERIES[0] and
          out[1].startswith("  intent\t%s\t" % want[0]["intent"]) and
          all(("  slot\t%s=%s\t[%d,%d)" % (s["slot"], s["value"], s["start"], s["end"])) in
              p.stdout for s in want[0]["slots"]),
          "plain output: the query, its intent and each slot with its span")
    p = parley("nlu", "entities", ENTITY_TEXTS[0], "--server", server)
    check(p.returncode == 0 and "  LOC\tLondon\t[25,31)\t" in p.stdout,
          "plain entities: LOC London [25,31)")


def bad_model(server):
    for mode in ("intent", "tokens", "punctuate"):
        p = parley("nlu", mode, "hello there", "--model", "no-such-model", "--server", server)
        check(p.returncode == 1 and "NOT_FOUND" in p.stderr and "no-such-model" in p.stderr and
              "--model" in p.stderr and not p.stdout,
              "nlu %s --model no-such-model: exit 1, NOT_FOUND naming it, what to do" % mode)
    p = parley("nlu", "entities", "hello", "--model", NER_MODEL, "--server", server)
    check(p.returncode == 2 and "tokens --model" in p.stderr,
          "nlu entities --model: exit 2 pointing at tokens --model")
    p = parley("nlu", "intnet", "hello", "--server", server)
    check(p.returncode == 2 and "intent, entities, tokens, punctuate or train" in p.stderr,
          "a misspelt mode: exit 2 listing the modes")


def tls(nats, want):
    cert, key = os.path.join(g.TMP, "cert.pem"), os.path.join(g.TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    keys = os.path.join(g.TMP, "keys.txt")
    open(keys, "w").write("cli-nlu-key-0123456789 carol\n")
    _, port, _ = g.start_gateway(nats, env_extra={"PARLEY_GATEWAY_TLS_CERT": cert,
                                                  "PARLEY_GATEWAY_TLS_KEY": key,
                                                  "PARLEY_GATEWAY_API_KEYS_FILE": keys})
    server = "127.0.0.1:%d" % port
    p = parley("nlu", "intent", QUERIES[0], "--json", "--server", server, "--tls-ca", cert,
               "--api-key", "cli-nlu-key-0123456789")
    check(p.returncode == 0 and lines(p) == want[:1], "nlu intent over TLS with --api-key")
    p = parley("nlu", "intent", QUERIES[0], "--server", server, "--tls-ca", cert)
    check(p.returncode == 1 and "UNAUTHENTICATED" in p.stderr and "--api-key" in p.stderr,
          "no key: exit 1, UNAUTHENTICATED and the hint to pass --api-key")
    p = parley("nlu", "intent", QUERIES[0], "--server", "127.0.0.1:%d" % g.free_port())
    check(p.returncode == 1 and "UNAVAILABLE" in p.stderr and "parley status" in p.stderr,
          "no gateway: exit 1, UNAVAILABLE and where to look")


def main():
    _, nats = g.start_nats()
    ds.start([os.environ["PL_NLU"], "--nats", nats, "--http-port", "-1", "--model-dir",
              os.path.join(ds.SRC, "models")], "nlu", {"PARLEY_NLU_LOG_LEVEL": "warn"},
             r"models=\d+")
    _, port, _ = g.start_gateway(nats)
    server = "127.0.0.1:%d" % port
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(grpc.insecure_channel(server))
    want = intent(stub, server)
    check(intent(stub, server, INTENT_MODEL) == want, "--model %s: the same answers" % INTENT_MODEL)
    from_stdin(server, want)
    entities(stub, server)
    punctuate(stub, server)
    bad_model(server)
    tls(nats, want)
    print("all parley nlu checks passed")


if __name__ == "__main__":
    main()
