"""parley-qa end to end: nats-server + parley-qa + gateway on free 127.0.0.1 ports, a Python
gRPC client (NaturalQuery as the legacy Riva qa_client sends it: query, context, top_n), and
`parley kb` on the knowledge-base file.

The reader is a Hugging Face BertForQuestionAnswering checkpoint written by
tests/reference/bert_ref.py with random weights and BERT's standard uncased vocabulary,
loaded unchanged (no Parley keys in its config.json): what it answers is meaningless, so the
checks are about the service: answers are spans of the given text, n-best ordering and
probabilities, errors, a 100-page context, and the knowledge base (add, list, query with an
empty context, remove, persistence across a restart, queries while documents are added).
Environment: PL_QA, PL_GATEWAY, PL_PARLEY, PL_PYTHON_STUBS, PL_SOURCE_DIR, PARLEY_DATA_DIR.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import gwtest as g
from gwtest import check, code_of, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc

NLP = riva_nlp_pb2
SRC = os.environ["PL_SOURCE_DIR"]
DATA = os.environ.get("PARLEY_DATA_DIR", os.path.join(SRC, "..", "shared", "data"))
PARLEY = os.environ["PL_PARLEY"]
CONTEXT = ("The Amazon rainforest covers much of the Amazon basin of South America. The basin "
           "encompasses seven million square kilometres, of which five and a half million are "
           "covered by the rainforest. The region includes territory belonging to nine nations.")


def hf_qa_model(d):
    """A Hugging Face QA checkpoint: config.json, model.safetensors, vocab.txt,
    tokenizer_config.json, nothing of Parley's own."""
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "reference", "bert_ref.py"), d,
                    "--head", "qa", "--vocab", "30522", "--hidden", "32", "--layers", "2",
                    "--heads", "2", "--inter", "64", "--cases", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    for f in os.listdir(d):  # keep only what a checkpoint has
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(d, f))
    shutil.copy(os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt"), os.path.join(d, "vocab.txt"))
    json.dump({"do_lower_case": True}, open(os.path.join(d, "tokenizer_config.json"), "w"))


def hf_distilbert_cased(d):
    """A Hugging Face DistilBertForQuestionAnswering checkpoint with a cased vocabulary:
    BERT's pieces plus the capitalized form of each whole word among its first 8,000 entries,
    and tokenizer_config.json do_lower_case false."""
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "reference", "bert_ref.py"), d,
                    "--arch", "distilbert", "--head", "qa", "--vocab", "31000", "--hidden", "32",
                    "--layers", "2", "--heads", "2", "--inter", "64", "--cases", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    for f in os.listdir(d):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(d, f))
    vocab = open(os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt"), encoding="utf-8").read().split("\n")
    vocab = [v for v in vocab if v]
    have = set(vocab)
    extra = [v.capitalize() for v in vocab[:8000] if v.isalpha() and v.capitalize() not in have]
    vocab = (vocab + extra)[:31000]
    open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8").write("\n".join(vocab) + "\n")
    json.dump({"do_lower_case": False}, open(os.path.join(d, "tokenizer_config.json"), "w"))


LAST_HTTP_PORT = 0  # the side port of the parley-qa start_qa started last


def start_qa(nats_url, models, kb, extra_env=None):
    env = dict(os.environ)
    env.update({"PARLEY_QA_LOG_LEVEL": "info", "PARLEY_QA_MAX_CONTEXT_BYTES": "2000000",
                "PARLEY_QA_KB_PATH": kb})
    env.pop("PARLEY_CONFIG", None)
    env.update(extra_env or {})
    out = os.path.join(g.TMP, "qa-out-%d" % time.monotonic_ns())
    p = g.spawn([os.environ["PL_QA"], "--nats", nats_url, "--http-port", "0", "--model-dir", models],
                "qa.log", env=env, stdout=open(out, "wb"))
    end = time.time() + 60
    while time.time() < end:
        text = open(out).read()
        m = re.search(r"models=(\d+) kb=(\d)", text)
        if m:
            global LAST_HTTP_PORT
            LAST_HTTP_PORT = int(re.search(r"http_port=(-?\d+)", text).group(1))
            return p, int(m.group(1))
        if p.poll() is not None:
            raise AssertionError("parley-qa exited: %s (see %s/qa.log)" % (p.returncode, g.TMP))
        time.sleep(0.05)
    raise AssertionError("parley-qa did not start")


def ask(stub, q, context="", top_n=0, timeout=60):
    return stub.NaturalQuery(NLP.NaturalQueryRequest(query=q, context=context, top_n=top_n), timeout=timeout)


def kb(path, *args):
    p = subprocess.run([PARLEY, "kb", "--kb", path] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def main():
    models = os.path.join(g.TMP, "models")
    os.makedirs(models)
    hf_qa_model(os.path.join(models, "qa-hf"))
    kbfile = os.path.join(g.TMP, "kb.sqlite")
    _, nats_url = g.start_nats()
    qa_p, n_models = start_qa(nats_url, models, kbfile)
    check(n_models == 1, "a Hugging Face QA checkpoint with BERT's vocabulary loads unchanged")
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))

    # answers are spans of the context, best first, probabilities in [0, 1]
    r = ask(stub, "How many nations does the region include?", CONTEXT, top_n=3)
    check(1 <= len(r.results) <= 3 and all(x.answer and x.answer in CONTEXT for x in r.results),
          "top_n 3: answers are spans of the context (%s)" % [x.answer for x in r.results])
    scores = [x.score for x in r.results]
    check(all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True),
          "scores are probabilities, best first (%s)" % scores)
    r1 = ask(stub, "How many nations does the region include?", CONTEXT)
    check(len(r1.results) == 1 and r1.results[0].answer == r.results[0].answer,
          "top_n 0 gives the one best answer, the same as top_n 3's first")

    # errors, each naming the problem
    c, d = code_of(lambda: ask(stub, "  ", CONTEXT))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and "empty" in d, "empty question: INVALID_ARGUMENT (%s)" % d)
    c, d = code_of(lambda: ask(stub, "what?", "x" * 2000001))
    check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "2000000" in d,
          "context over qa.max_context_bytes: RESOURCE_EXHAUSTED naming the limit (%s)" % d)
    raw = g.channel(grpc_port).unary_unary("/nvidia.riva.nlp.RivaLanguageUnderstanding/NaturalQuery")
    c, d = code_of(lambda: raw(b"\x0a\xff\xff\xff", timeout=10))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, "undecodable request: INVALID_ARGUMENT (%s)" % d)

    # a 100-page document as the context (about 50,000 words of Moby Dick)
    book = open(os.path.join(DATA, "text", "moby-dick.txt"), encoding="utf-8").read()
    words = book.split()
    doc = " ".join(words[:50000])
    t0 = time.time()
    r = ask(stub, "What was the name of the ship?", doc, top_n=2, timeout=300)
    check(len(r.results) >= 1 and all(x.answer in doc for x in r.results),
          "a 100-page context (%d words, %d bytes): answered in %.1f s" % (50000, len(doc), time.time() - t0))

    # the knowledge base: an empty context reads the best passages
    r = ask(stub, "How large is the basin?")
    check(len(r.results) == 0, "an empty knowledge base gives no answer")
    d1 = os.path.join(g.TMP, "amazon.md")
    open(d1, "w").write("# The Amazon\n\n" + CONTEXT + "\n\n## Rivers\n\nThe Amazon river carries "
                        "more water than any other river on Earth.\n")
    d2 = os.path.join(g.TMP, "whales.txt")
    open(d2, "w").write("\n\n".join(" ".join(words[i:i + 120]) for i in range(0, 1200, 120)))
    rc, out, err = kb(kbfile, "add", d1, d2)
    ids = [int(line.split("\t")[0]) for line in out.splitlines()]
    check(rc == 0 and len(ids) == 2, "parley kb add: two documents (%s)" % out.strip().replace("\n", "; "))
    rc, out, _ = kb(kbfile, "list")
    check(rc == 0 and "amazon.md" in out and "whales.txt" in out, "parley kb list shows both")
    r = ask(stub, "How many square kilometres does the Amazon basin encompass?", top_n=3)
    kb_text = open(d1).read() + open(d2).read()
    check(len(r.results) >= 1 and all(x.answer in kb_text for x in r.results),
          "an empty context reads the knowledge base's passages at once after the add (%s)"
          % [x.answer for x in r.results])

    # `parley ask` through the gateway, over a file and over the knowledge base
    cf = os.path.join(g.TMP, "context.txt")
    open(cf, "w").write(CONTEXT)
    p = subprocess.run([PARLEY, "ask", "How many nations?", "--context", cf, "--top-n", "2",
                        "--server", "127.0.0.1:%d" % grpc_port], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    lines = p.stdout.decode().splitlines()
    check(p.returncode == 0 and 1 <= len(lines) <= 2 and all(l.split("\t", 1)[1] in CONTEXT for l in lines),
          "parley ask --context FILE: score and answer per line (%s)" % lines)
    p = subprocess.run([PARLEY, "ask", "Which river carries the most water?", "--server",
                        "127.0.0.1:%d" % grpc_port], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    check(p.returncode == 0 and p.stdout.decode().split("\t", 1)[1].strip() in kb_text,
          "parley ask over the knowledge base (%s)" % p.stdout.decode().strip())
    p = subprocess.run([PARLEY, "ask", "", "--context", cf, "--server", "127.0.0.1:%d" % grpc_port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(p.returncode == 1 and b"status 3" in p.stderr and b"empty" in p.stderr,
          "parley ask with an empty question: exit 1, INVALID_ARGUMENT on stderr")

    # queries while documents are added: all answered
    errors, stop = [], threading.Event()

    def asker():
        while not stop.is_set():
            try:
                ask(stub, "Which river carries the most water?", timeout=30)
            except grpc.RpcError as e:
                errors.append(e.code())
    threads = [threading.Thread(target=asker) for _ in range(4)]
    for t in threads:
        t.start()
    added = []
    for i in range(5):
        f = os.path.join(g.TMP, "extra%d.txt" % i)
        open(f, "w").write("Extra document %d about rivers and basins. " % i * 20)
        rc, out, err = kb(kbfile, "add", f)
        added.append(rc)
    stop.set()
    for t in threads:
        t.join()
    check(not errors and added == [0] * 5, "5 documents added while 4 clients ask: no error (%s)" % errors[:3])

    # remove, then persistence across a restart
    rc, out, _ = kb(kbfile, "rm", str(ids[1]))
    check(rc == 0, "parley kb rm %d" % ids[1])
    rc, _, err = kb(kbfile, "rm", "99999")
    check(rc == 1 and "99999" in err, "removing an unknown id fails naming it (%s)" % err.strip())
    rc, out, _ = kb(kbfile, "list")
    check("whales.txt" not in out and "amazon.md" in out, "the removed document is gone from the list")
    qa_p.terminate()
    qa_p.wait(timeout=30)
    qa_p, _ = start_qa(nats_url, models, kbfile)
    rc, out, _ = kb(kbfile, "list")
    check("amazon.md" in out and out.count("extra") == 5, "the knowledge base survives a restart")
    r = ask(stub, "How many square kilometres does the Amazon basin encompass?", top_n=3)
    check(len(r.results) >= 1, "after the restart the knowledge base answers")
    check(qa_p.poll() is None, "parley-qa still runs")

    # variants and the choice of model: a copy declaring an int8 variant, served as
    # "<dir>-int8" and chosen with qa.model; a qa.model that is not loaded is NOT_FOUND
    v = os.path.join(models, "qa-hf-v")
    shutil.copytree(os.path.join(models, "qa-hf"), v)
    cfg = json.load(open(os.path.join(v, "config.json")))
    cfg["variants"] = {"int8": {"precision": "int8"}}
    json.dump(cfg, open(os.path.join(v, "config.json"), "w"))
    qa_p.terminate()
    qa_p.wait(timeout=30)
    qa_p, n_models = start_qa(nats_url, models, kbfile, {"PARLEY_QA_MODEL": "qa-hf-v-int8"})
    check(n_models == 3, "qa-hf, qa-hf-v and its int8 variant qa-hf-v-int8 are loaded (%d)" % n_models)
    r = ask(stub, "How many nations does the region include?", CONTEXT, top_n=2)
    check(1 <= len(r.results) <= 2 and all(x.answer in CONTEXT for x in r.results),
          "qa.model qa-hf-v-int8 answers with spans of the context (%s)" % [x.answer for x in r.results])
    qa_p.terminate()
    qa_p.wait(timeout=30)
    # a cased DistilBERT checkpoint loads unchanged and answers with spans of the text as written
    hf_distilbert_cased(os.path.join(models, "qa-distil-cased"))
    qa_p, n_models = start_qa(nats_url, models, kbfile, {"PARLEY_QA_MODEL": "qa-distil-cased"})
    check(n_models == 4, "a cased DistilBertForQuestionAnswering checkpoint loads unchanged (%d models)" % n_models)
    r = ask(stub, "How many nations does the region include?", CONTEXT, top_n=3)
    check(1 <= len(r.results) <= 3 and all(x.answer and x.answer in CONTEXT for x in r.results),
          "the cased DistilBERT reader answers with spans of the context (%s)" % [x.answer for x in r.results])
    qa_p.terminate()
    qa_p.wait(timeout=30)
    qa_p, _ = start_qa(nats_url, models, kbfile, {"PARLEY_QA_MODEL": "no-such-model",
                                                  "PARLEY_QA_HTTP_HOST": "0.0.0.0"})
    listening = open("/proc/net/tcp").read().split("\n")[1:]
    want = "00000000:%04X" % LAST_HTTP_PORT
    check(any(l.split()[1] == want and l.split()[3] == "0A" for l in listening if l.strip()),
          "qa.http_host 0.0.0.0 binds the side port on every interface (port %d)" % LAST_HTTP_PORT)
    c, d = code_of(lambda: ask(stub, "How many nations?", CONTEXT))
    check(c == grpc.StatusCode.NOT_FOUND and "no-such-model" in d and "qa-hf-v-int8" in d,
          "qa.model not loaded: NOT_FOUND naming it and the loaded models (%s)" % d)
    check(qa_p.poll() is None, "parley-qa still runs")
    print("PASS")


if __name__ == "__main__":
    main()
