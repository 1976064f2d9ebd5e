#!/usr/bin/python3
"""Score the served domain classifier THROUGH the running stack: ClassifyText over gRPC.

    /usr/bin/python3 -m train.nlu.domain_eval --server 127.0.0.1:50051 [--model riva_text_classification_domain]
    /usr/bin/python3 -m train.nlu.domain_eval --stack models --build build   # a stack of its own

--stack REPO starts nats-server, parley-nlu serving the text-classification models of REPO (links
in a temporary repository) and parley-gateway on free 127.0.0.1 ports, scores through them and
stops them by PID.

The sets are the recipe's own (train/nlu/domain.py build_sets, same defaults, so the same
sentences): SNIPS test + held-out prose sentences (accuracy over the eight labels, domain
accuracy on SNIPS, nomatch precision/recall/F1) and the extra out-of-domain sets never trained
on (share labelled nomatch). The texts go in batches of --batch per ClassifyText request, as
the legacy text_classify_client.py sends them (TextClassRequest{text, model{model_name}}), and
the answer's top label counts. --json FILE also writes the figures.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from train.common.paths import ROOT, data_dir
from train.common.stubs import load_stubs
from train.nlu.domain import NOMATCH, build_sets, fmt, scores


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="127.0.0.1:50051", help="gateway gRPC address")
    ap.add_argument("--stack", default="", help="a model repository: start a stack serving it, score through it")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="--stack: the build tree")
    ap.add_argument("--data", default=data_dir(), help="the shared data dir")
    ap.add_argument("--model", default="riva_text_classification_domain", help="ClassifyText model_name")
    ap.add_argument("--stubs", default="", help="directory with riva/proto/riva_nlp_pb2*.py "
                                                "(default <build>/python)")
    ap.add_argument("--batch", type=int, default=16, help="texts per request")
    ap.add_argument("--ood-heldout", type=int, default=2000, help="as the recipe's option")
    ap.add_argument("--extra-n", type=int, default=300, help="as the recipe's option")
    ap.add_argument("--limit", type=int, default=0, help="first N texts of each set (0 = all)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--json", default="")
    return ap.parse_args(argv)


class Stack:
    """nats-server + parley-nlu (the text-classification models of a repository) +
    parley-gateway on free 127.0.0.1 ports; stopped by PID on close."""

    def __init__(self, build, repo, timeout=120):
        self.tmp = tempfile.mkdtemp(prefix="pl_domain_eval_")
        self.procs = {}
        try:
            models = os.path.join(self.tmp, "models")
            os.makedirs(models)
            for d in sorted(os.listdir(repo)):
                cfg = os.path.join(repo, d, "config.json")
                if os.path.isfile(cfg) and json.load(open(cfg)).get("task") == "text_classification":
                    os.symlink(os.path.abspath(os.path.join(repo, d)), os.path.join(models, d))
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            url = "nats://127.0.0.1:%d" % s.getsockname()[1]
            s.close()
            nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
            self._spawn("nats", [nats, "-a", "127.0.0.1", "-p", url.rsplit(":", 1)[1]])
            env = dict(os.environ, PARLEY_NLU_LOG_LEVEL="warn", PARLEY_GATEWAY_LOG_LEVEL="warn")
            env.pop("PARLEY_CONFIG", None)
            self._spawn("nlu", [os.path.join(build, "services", "nlu", "parley-nlu"), "--nats", url,
                                "--http-port", "-1", "--model-dir", models], env)
            self._wait("nlu", r"parley-nlu http_port=-?\d+ models=(\d+)", timeout)
            self._spawn("gateway", [os.path.join(build, "services", "gateway", "parley-gateway"), "--listen",
                                    "127.0.0.1:0", "--http", "127.0.0.1:0", "--nats", url], env)
            self.address = "127.0.0.1:%s" % self._wait("gateway", r"grpc_port=(\d+) http_port=\d+", timeout)
        except BaseException:
            self.close()
            raise

    def _spawn(self, name, argv, env=None):
        with open(os.path.join(self.tmp, name + ".out"), "wb") as out, \
                open(os.path.join(self.tmp, name + ".log"), "wb") as err:
            self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=err, env=env)

    def _wait(self, name, pattern, timeout):
        end = time.time() + timeout
        while time.time() < end:
            with open(os.path.join(self.tmp, name + ".out")) as f:
                m = re.search(pattern, f.read())
            if m:
                return m.group(1)
            if self.procs[name].poll() is not None:
                break
            time.sleep(0.1)
        with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
            raise SystemExit("%s did not start: %s" % (name, f.read()[-2000:]))

    def close(self):
        for p in reversed(list(self.procs.values())):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def classify(stub, nlp, texts, args):
    """The top label of every text, --batch texts per request."""
    out = []
    for i in range(0, len(texts), args.batch):
        r = stub.ClassifyText(nlp.TextClassRequest(text=texts[i:i + args.batch], top_n=1,
                                                   model=nlp.NLPModelParams(model_name=args.model)),
                              timeout=args.timeout)
        out += [res.labels[0].class_name for res in r.results]
    return out


def main(argv=None):
    args = parse_args(argv)
    load_stubs(args.stubs or os.path.join(args.build, "python"))
    if not args.stack:
        return evaluate(args)
    stack = Stack(args.build, args.stack)
    try:
        args.server = stack.address
        return evaluate(args)
    finally:
        stack.close()


def evaluate(args):
    import grpc
    from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc as nlp_grpc
    ch = grpc.insecure_channel(args.server)
    try:
        grpc.channel_ready_future(ch).result(timeout=10)
    except grpc.FutureTimeoutError:
        raise SystemExit("no gRPC server at %s" % args.server)
    stub = nlp_grpc.RivaLanguageUnderstandingStub(ch)
    sets, extra = build_sets(args.data, n_held=args.ood_heldout, n_extra=args.extra_n)
    test = sets["test"][:args.limit] if args.limit else sets["test"]
    t0 = time.time()
    m = scores([lab for _, lab in test], classify(stub, nlp, [t for t, _ in test], args))
    m["seconds"] = round(time.time() - t0, 1)
    print("%s through %s: test %s (%.1f s)" % (args.model, args.server, fmt(m), m["seconds"]))
    m["extra"] = {}
    for name, texts in extra.items():
        texts = texts[:args.limit] if args.limit else texts
        p = classify(stub, nlp, texts, args)
        m["extra"][name] = {"n": len(p), "nomatch": 100.0 * p.count(NOMATCH) / max(1, len(p))}
        print("  %s: %.2f%% nomatch (n=%d)" % (name, m["extra"][name]["nomatch"], len(p)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(m, f, indent=2)
    return m


if __name__ == "__main__":
    main()
