"""parley-qa latency (a benchmark, not a test): nats-server + parley-qa + gateway on free
127.0.0.1 ports, then `parley perf --rpc natural_query` (gRPC C core client) for
  1. a question over a 150-word context given in the request, and
  2. a question over a 20-page document in the knowledge base (empty context: retrieval of
     qa.kb_passages passages, then reading them),
at the given concurrency levels. Prints parley perf's tables (p50/p90/p99 per level).

  /usr/bin/python3 tests/integration/qa_perf.py --build build [--model models/qa-squad]
      [--concurrency 1,4] [--duration 5]

Without --model (or when it does not exist) the reader is a random-weight model of the
shipped size (4 layers x 256, BERT's vocabulary), which gives the speed but no answers.
The services get the code's defaults and PARLEY_QA_* from the environment; the shipped
config/parley.json's `qa` section is `PARLEY_QA_MODEL=qa-squad-int8 PARLEY_QA_THREADS=2
PARLEY_QA_INSTANCES=1`.
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", default=os.path.join(SRC, "models", "qa-squad"))
    ap.add_argument("--concurrency", default="1,4")
    ap.add_argument("--duration", default="5")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ.setdefault("PL_QA", os.path.join(build, "services", "qa", "parley-qa"))
    os.environ.setdefault("PL_GATEWAY", os.path.join(build, "services", "gateway", "parley-gateway"))
    os.environ.setdefault("PL_PARLEY", os.path.join(build, "clients", "parley"))
    os.environ.setdefault("PL_PYTHON_STUBS", os.path.join(build, "python"))
    os.environ.setdefault("PL_SOURCE_DIR", SRC)
    os.environ.setdefault("PARLEY_DATA_DIR", os.path.join(SRC, "..", "shared", "data"))
    import gwtest as g
    import qa_test_service as qt
    from riva.proto import riva_nlp_pb2 as nlp

    models = os.path.join(g.TMP, "models")
    os.makedirs(models)
    if os.path.isfile(os.path.join(a.model, "config.json")):
        os.symlink(os.path.abspath(a.model), os.path.join(models, os.path.basename(a.model)))
        what = a.model
    else:
        d = os.path.join(models, "qa-random")
        subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "reference", "bert_ref.py"), d,
                        "--head", "qa", "--vocab", "30522", "--hidden", "256", "--layers", "4",
                        "--heads", "4", "--inter", "1024", "--cases", "1"], check=True,
                       stdout=subprocess.DEVNULL)
        shutil.copy(os.path.join(os.environ["PARLEY_DATA_DIR"], "vocab", "bert-base-uncased-vocab.txt"),
                    os.path.join(d, "vocab.txt"))
        what = "random weights, 4 x 256"
    # the services run in the temporary folder: from the checkout they would read its
    # config/parley.json (the shipped stack's qa settings) instead of the code's defaults;
    # PARLEY_QA_* in the environment choose a configuration (docs/benchmarks.md)
    os.chdir(g.TMP)
    kbfile = os.path.join(g.TMP, "kb.sqlite")
    words = open(os.path.join(os.environ["PARLEY_DATA_DIR"], "text", "moby-dick.txt"),
                 encoding="utf-8").read().split()
    # 20 pages of about 500 words, in paragraphs of about 100 words
    doc = "\n\n".join(" ".join(words[i:i + 100]) for i in range(20000, 30000, 100))
    df = os.path.join(g.TMP, "book.txt")
    open(df, "w").write(doc)
    qt.kb(kbfile, "add", df)
    _, nats_url = g.start_nats()
    qt.start_qa(nats_url, models, kbfile)
    _, port, _ = g.start_gateway(nats_url)
    context = " ".join(words[5000:5150])
    cases = [("150-word context", nlp.NaturalQueryRequest(query="What did the whale do?", context=context)),
             ("20-page knowledge base", nlp.NaturalQueryRequest(query="What did the whale do?"))]
    print("# reader: %s; %s" % (what, open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": ")))
    for label, rq in cases:
        f = os.path.join(g.TMP, "req.bin")
        open(f, "wb").write(rq.SerializeToString())
        print("## %s" % label, flush=True)
        subprocess.run([os.environ["PL_PARLEY"], "perf", "--target", "127.0.0.1:%d" % port,
                        "--rpc", "natural_query", "--request-file", f, "--concurrency",
                        a.concurrency, "--duration", a.duration, "--label", label.split()[0]],
                       check=True)


if __name__ == "__main__":
    main()
