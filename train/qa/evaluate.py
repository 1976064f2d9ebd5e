#!/usr/bin/python3
"""Score an extractive QA model on SQuAD-format sets: the PyTorch model of an exported model
directory, or a running Parley gateway through gRPC NaturalQuery.

    # the exported model (weights as shipped; decoding and threshold from its config.json)
    /usr/bin/python3 -m train.qa.evaluate --model models/qa-squad [--sets dev,shifts,covid] [--limit N]
    # the service: Riva nvidia.riva.nlp.RivaLanguageUnderstanding/NaturalQuery through the gateway
    /usr/bin/python3 -m train.qa.evaluate --server 127.0.0.1:50051 --build build [--sets ...]
    # the same on a stack of its own: nats-server, <build>/services/qa/parley-qa serving the
    # model directory given (alone, in a temporary repository) and the gateway, on free ports
    /usr/bin/python3 -m train.qa.evaluate --stack models/qa-squad --build build [--sets ...]

Sets (<data> = ../shared/data/qa):
  dev     the dev articles of the SQuAD 2.0 dev half (train/qa/squad.py: split_by_article),
          answerable and unanswerable questions
  shifts  SQuADShifts new-Wikipedia (7,938 answerable questions, 1-5 answers each)
  covid   COVID-QA (1,380 answerable questions over 98 long papers)
  train2  the training part of the SQuAD 2.0 dev half (a check, not a result)

Figures (official SQuAD 2.0 normalization and scores, train/qa/squad.py), in percent:
answerable EM/F1 (the answerable questions, "" counting as a wrong answer), no-answer
accuracy (unanswerable questions answered ""), overall EM/F1. For the PyTorch model they are
given at the model's no_answer_threshold (or its no_answer_verifier's threshold over the
verifier's scores, train/qa/verifier.py) and, as span_*, with every question answered by its
best span; for dev also at the threshold that would be best on this set (tuned_*) and, with
--refuse P, at the largest that refuses at least P of its unanswerable questions (refuse_*; the
recipe's rule for the shipped threshold: train.qa.export --threshold takes it).

Through the service a request is {query: question, top_n: 1, context}; the answer is
results[0].answer, and an empty answer (or no result) means "no answer". Client-side latency
per request is reported too (p50, p90; the gateway and the QA worker included).
--limit N scores the first N questions of each set (0: all).
"""
import argparse
import json
import os
import time

import numpy as np
import torch

from train.common import safetensors_io
from train.common.bert import BertConfig
from train.common.paths import ROOT, data_dir
from train.qa import squad, verifier
from train.qa.features import Features
from train.qa.model import QuestionAnswering, decode, run_windows
from train.qa.windows import OffsetTokenizer, match_tables

SETS = {"dev": ("squad-v2-dev-half.json", "dev"), "train2": ("squad-v2-dev-half.json", "train"),
        "shifts": ("squadshifts-new-wiki.json", None), "covid": ("covid-qa.json", None)}


def read_set(data, name, limit=0):
    fname, part = SETS[name]
    path = os.path.join(data, fname)
    if not os.path.exists(path) and os.path.exists(path + ".xz"):
        path += ".xz"  # a GPU bundle's qa/ folder (train/gpu/pack.py)
    qs = squad.read_squad(path)
    if part is not None:
        tr, dv = squad.split_by_article(qs)
        qs = dv if part == "dev" else tr
    return qs[:limit] if limit else qs


def predict(model, feats, max_answer_tokens, chunk=128):
    """({qid: best span text}, {qid: null score - best span score}) of Features' questions."""
    preds, diffs = {}, {}
    pad = feats.tok.wp.pad_id
    n = len(feats.questions)
    for c0 in range(0, n, chunk):
        wins, inputs, owner = [], [], []
        for i in range(c0, min(n, c0 + chunk)):
            win = feats.windows(i)
            wins.append(win)
            for x in feats.inputs(i, win):
                inputs.append(x)
                owner.append(i)
        logits = run_windows(model, inputs, pad)
        k = 0
        for j, i in enumerate(range(c0, min(n, c0 + chunk))):
            win = wins[j]
            lg = logits[k:k + len(win)]
            k += len(win)
            ctx, _, st, en = feats.contexts[feats.items[i].ctx]
            q = feats.questions[i]
            text, diff, _ = decode(win, lg, st, en, ctx, max_answer_tokens)
            preds[q.qid], diffs[q.qid] = text, diff
    return preds, diffs


def predict_set(model, c, tok, qs):
    """predict() over questions qs with the windows and decoding of config c (an exported model
    directory's config.json)."""
    feats = Features(qs, tok, c["max_length"], c.get("doc_stride", 128), c.get("max_query_length", 64),
                     with_targets=False)
    if c["tokenizer"].get("token_type_ids") == "question_match":
        feats.match = match_tables(tok)
    return predict(model, feats, c.get("max_answer_tokens", 30)), feats


def curve(qs, preds, diffs, fractions=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)):
    """The trade-off of the no-answer threshold: figures at the thresholds that give "no answer"
    to each fraction of the questions."""
    d = sorted(diffs[q.qid] for q in qs)
    rows = []
    for f in fractions:
        k = int(round(f * len(d)))  # "no answer" to the k largest diffs
        t = d[-1] + 1.0 if k == 0 else d[0] - 1.0 if k == len(d) else (d[len(d) - k - 1] + d[len(d) - k]) / 2
        m = squad.evaluate_predictions(qs, preds, diffs, threshold=t)
        rows.append({"threshold": t, "no_answer_pct": 100.0 * sum(diffs[q.qid] > t for q in qs) / max(1, len(qs)),
                     "answerable_f1": m["answerable_f1"], "noans_acc": m["noans_acc"], "all_f1": m["all_f1"]})
    return rows


def load_model_dir(path, device=None):
    """(model in eval mode, config.json dict, OffsetTokenizer) of an exported model directory."""
    with open(os.path.join(path, "config.json")) as f:
        c = json.load(f)
    cfg = BertConfig(**{k: c[k] for k in BertConfig.__dataclass_fields__ if k in c})
    model = QuestionAnswering(cfg)
    tensors, _ = safetensors_io.load(os.path.join(path, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    model.eval()
    if device is not None:
        model.to(device)
    return model, c, OffsetTokenizer(os.path.join(path, c["tokenizer"]["vocab"]))


def eval_model(args):
    torch.set_num_threads(args.threads)
    from train.common.loop import pick_device
    device = pick_device(args.device)
    model, c, tok = load_model_dir(args.model, device)
    thr = c.get("no_answer_threshold")  # absent: the model always answers
    ver = c.get("no_answer_verifier")  # present: it decides (train/qa/verifier.py)
    if ver is not None:
        thr = ver["threshold"]
    out = {"model": args.model, "threshold": thr, "device": str(device)}
    for name in args.sets:
        qs = read_set(args.data, name, args.limit)
        t0 = time.time()
        (preds, margins), feats = predict_set(model, c, tok, qs)
        diffs = margins  # the no-answer scores: the margins, or the verifier's scores of them
        if ver is not None:
            diffs = {q.qid: verifier.score(ver, q.question, q.context, margins[q.qid]) for q in qs}
        m = squad.evaluate_predictions(qs, preds, diffs, float("inf") if thr is None else thr)
        tuned = squad.evaluate_predictions(qs, preds, diffs)
        m.update({"tuned_" + k: v for k, v in tuned.items() if not k.startswith("span_")})
        m["noans_auc"] = squad.noans_auc(qs, diffs)
        if args.refuse:
            m.update(squad.refusal_figures(qs, preds, diffs, args.refuse))
        if args.curve:
            m["curve"] = curve(qs, preds, diffs)
            for row in m["curve"]:
                print("  %s  threshold %8.3f  no answer to %5.1f%%  answerable F1 %6.2f  no-answer acc %6.2f  "
                      "all F1 %6.2f" % (name, row["threshold"], row["no_answer_pct"], row["answerable_f1"],
                                        row["noans_acc"], row["all_f1"]))
        m["windows"] = sum(len(feats.windows(i)) for i in range(len(qs)))
        m["seconds"] = round(time.time() - t0, 1)
        out[name] = m
        print_set(name, m)
        if args.predictions:
            with open("%s.%s.json" % (args.predictions, name), "w") as f:
                out_p = {"predictions": preds, "null_minus_span": margins}
                if ver is not None:
                    out_p["verifier_score"] = diffs
                json.dump(out_p, f, indent=1)
    return out


def print_set(name, m):
    line = "%-7s %5d questions (%d unanswerable): answerable F1 %6.2f EM %6.2f" % (
        name, m["answerable"] + m["unanswerable"], m["unanswerable"], m["answerable_f1"], m["answerable_em"])
    if m["unanswerable"]:
        line += " | no-answer acc %6.2f | all F1 %6.2f EM %6.2f" % (m["noans_acc"], m["all_f1"], m["all_em"])
    if "span_answerable_f1" in m:
        line += " | span-only answerable F1 %6.2f" % m["span_answerable_f1"]
    if "tuned_threshold" in m:
        line += " | tuned thr %.3f: all F1 %.2f" % (m["tuned_threshold"], m["tuned_all_f1"])
    if m.get("noans_auc") is not None:
        line += " | no-answer AUC %.3f" % m["noans_auc"]
    if "refuse_threshold" in m:
        line += " | thr %.4f refuses %.2f%%: answerable F1 %.2f, all F1 %.2f" % (
            m["refuse_threshold"], m["refuse_noans_acc"], m["refuse_answerable_f1"], m["refuse_all_f1"])
    if "latency_p50_ms" in m:
        line += " | latency p50 %.1f ms p90 %.1f ms" % (m["latency_p50_ms"], m["latency_p90_ms"])
    print(line + " (%.0f s)" % m["seconds"], flush=True)


def eval_server(args):
    from train.common.stubs import load_stubs
    load_stubs(args.stubs or os.path.join(args.build, "python"))
    import grpc
    from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc as nlp_grpc
    ch = grpc.insecure_channel(args.server)
    try:
        grpc.channel_ready_future(ch).result(timeout=10)
    except grpc.FutureTimeoutError:
        raise SystemExit("no gRPC server at %s" % args.server)
    stub = nlp_grpc.RivaLanguageUnderstandingStub(ch)
    out = {"server": args.server}
    for name in args.sets:
        qs = read_set(args.data, name, args.limit)
        t0 = time.time()
        preds, lat, errors = {}, [], 0
        for q in qs:
            t1 = time.perf_counter()
            try:
                r = stub.NaturalQuery(nlp.NaturalQueryRequest(query=q.question, top_n=1, context=q.context),
                                      timeout=args.timeout)
                preds[q.qid] = r.results[0].answer if len(r.results) else ""
            except grpc.RpcError as err:
                if errors == 0:
                    print("  %s: %s: %s" % (q.qid, err.code(), err.details()))
                errors += 1
                preds[q.qid] = ""
            lat.append((time.perf_counter() - t1) * 1000.0)
        m = squad.evaluate_predictions(qs, preds)
        m = {k[len("span_"):]: v for k, v in m.items()}
        m.update({"errors": errors, "seconds": round(time.time() - t0, 1),
                  "latency_p50_ms": float(np.percentile(lat, 50)) if lat else 0.0,
                  "latency_p90_ms": float(np.percentile(lat, 90)) if lat else 0.0})
        out[name] = m
        print_set(name, m)
        if args.predictions:
            with open("%s.%s.json" % (args.predictions, name), "w") as f:
                json.dump({"predictions": preds}, f, indent=1)
    return out


class Stack:
    """nats-server + parley-qa (one model) + parley-gateway on free 127.0.0.1 ports; stopped by
    PID on close. Logs and the temporary model repository live in a temporary folder, which is
    also the processes' working directory: run from the checkout, a service would otherwise read
    its config/parley.json (whose `qa` section names the shipped reader), not the code's
    defaults that this stack means to measure (PARLEY_QA_* settings in the environment apply)."""

    def __init__(self, build, model, qa_threads=1, timeout=120):
        import re
        import shutil
        import signal
        import socket
        import subprocess
        import tempfile
        self._re, self._shutil, self._signal, self._sp = re, shutil, signal, subprocess
        build = os.path.abspath(build)
        self.tmp = tempfile.mkdtemp(prefix="pl_qa_eval_")
        self.procs = []
        try:
            repo = os.path.join(self.tmp, "models")
            os.makedirs(repo)
            os.symlink(os.path.abspath(model), os.path.join(repo, os.path.basename(os.path.abspath(model))))
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            nats = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"
            self._spawn([nats, "-a", "127.0.0.1", "-p", str(port)], "nats")
            url = "nats://127.0.0.1:%d" % port
            env = dict(os.environ, PARLEY_QA_KB_PATH="none", PARLEY_QA_THREADS=str(qa_threads),
                       PARLEY_QA_LOG_LEVEL="warn", PARLEY_GATEWAY_LOG_LEVEL="warn")
            env.pop("PARLEY_CONFIG", None)
            self._spawn([os.path.join(build, "services", "qa", "parley-qa"), "--nats", url, "--http-port", "0",
                         "--model-dir", repo], "qa", env)
            self._wait("qa", r"parley-qa http_port=\d+ models=(\d+)", timeout)
            self._spawn([os.path.join(build, "services", "gateway", "parley-gateway"), "--listen", "127.0.0.1:0",
                         "--http", "127.0.0.1:0", "--nats", url], "gateway", env)
            self.address = "127.0.0.1:%s" % self._wait("gateway", r"grpc_port=(\d+) http_port=\d+", timeout)
        except BaseException:
            self.close()
            raise

    def _spawn(self, argv, name, env=None):
        out = open(os.path.join(self.tmp, name + ".out"), "wb")
        err = open(os.path.join(self.tmp, name + ".log"), "wb")
        self.procs.append((name, self._sp.Popen(argv, stdout=out, stderr=err, env=env, cwd=self.tmp)))

    def _wait(self, name, pattern, timeout):
        p = dict(self.procs)[name]
        end = time.time() + timeout
        while time.time() < end:
            with open(os.path.join(self.tmp, name + ".out")) as f:
                m = self._re.search(pattern, f.read())
            if m:
                return m.group(1)
            if p.poll() is not None:
                with open(os.path.join(self.tmp, name + ".log")) as f:
                    raise SystemExit("%s exited (%s): %s" % (name, p.returncode, f.read()[-2000:]))
            time.sleep(0.05)
        raise SystemExit("%s did not start within %d s" % (name, timeout))

    def close(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(self._signal.SIGTERM)
        for _, p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except self._sp.TimeoutExpired:
                p.kill()
                p.wait()
        self._shutil.rmtree(self.tmp, ignore_errors=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(data_dir(), "qa"))
    ap.add_argument("--model", default="", help="an exported model directory (PyTorch scoring)")
    ap.add_argument("--server", default="", help="gateway gRPC address (service scoring)")
    ap.add_argument("--stack", default="", help="a model directory: start a stack serving it, score through it")
    ap.add_argument("--qa-threads", type=int, default=1, help="--stack: parley-qa's CPU threads per instance")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build tree (stubs in <build>/python)")
    ap.add_argument("--stubs", default="", help="stubs folder (default <build>/python)")
    ap.add_argument("--sets", default="dev,shifts,covid", help="comma-separated: %s" % ",".join(SETS))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="--model: where the model runs (auto: CUDA when available; bf16 autocast on CUDA)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    ap.add_argument("--json", default="", help="also write the figures here")
    ap.add_argument("--predictions", default="", help="write PREFIX.<set>.json with every answer")
    ap.add_argument("--refuse", type=float, default=0.0,
                    help="--model: also the largest threshold that refuses at least this share of a set's "
                         "unanswerable questions, and the figures there (train.qa.train --refuse)")
    ap.add_argument("--curve", action="store_true",
                    help="--model: also the figures at the thresholds that say 'no answer' to 0%%, 10%%, ... 100%%")
    args = ap.parse_args(argv)
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    for s in args.sets:
        if s not in SETS:
            ap.error("unknown set %r" % s)
    if (bool(args.model) + bool(args.server) + bool(args.stack)) != 1:
        ap.error("give one of --model, --server, --stack")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.model:
        out = eval_model(args)
    elif args.server:
        out = eval_server(args)
    else:
        stack = Stack(args.build, args.stack, args.qa_threads)
        try:
            print("stack: gateway %s, parley-qa serving %s (logs in %s)" % (stack.address, args.stack, stack.tmp))
            args.server = stack.address
            out = eval_server(args)
            out["stack_model"] = args.stack
        finally:
            stack.close()
    out["limit"] = args.limit
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
