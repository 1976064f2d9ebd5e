"""parley-nlu reloads its model repository on SIGHUP without dropping requests.
nats-server + parley-nlu + gateway on free 127.0.0.1 ports, a Python gRPC client, tiny
random-weight models (nlu_tiny.py).

1. At start: "intent" (its batching waits 1.5 s for a full batch, so one request takes about
   that long) and "ner" are served; ClassifyText has no model (UNAVAILABLE).
2. While an AnalyzeIntent request is waiting in the intent model's batcher: intent's
   config.json changes (no batching wait), a text-classification model "textcls" appears,
   ner's weights are replaced by a file cut short, and the process gets SIGHUP. The request in flight completes
   with the intent its model gives; afterwards intent answers at once (its new version
   serves), ClassifyText answers (textcls added), the broken ner is refused with a log line
   naming it while the old ner keeps answering AnalyzeEntities the same way.
3. textcls removed + SIGHUP: ClassifyText is UNAVAILABLE again; the process is still up.
Environment: PL_NLU, PL_GATEWAY, PL_PYTHON_STUBS (see tests/nlu.cmake).
"""
import json
import os
import re
import shutil
import signal
import threading
import time

import gwtest as g  # noqa: E402
import nlu_tiny  # noqa: E402
from gwtest import check, code_of, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402
from nlu_variants import start_nlu  # noqa: E402

NLP = riva_nlp_pb2
QUERY = "book a table for two at an italian restaurant in boston tomorrow"


def set_batching(model_dir, max_batch, delay_us):
    p = os.path.join(model_dir, "config.json")
    cfg = json.load(open(p))
    cfg["batching"] = {"max_batch_size": max_batch, "max_queue_delay_us": delay_us}
    with open(p, "w") as f:
        json.dump(cfg, f, indent=1)


def wait_log(pattern, after, timeout=30):
    """Wait until nlu.log holds a match of pattern past byte offset `after`; return it."""
    path = os.path.join(g.TMP, "nlu.log")
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, open(path).read()[after:])
        if m:
            return m.group(0)
        time.sleep(0.05)
    raise AssertionError("no log line /%s/ within %d s (see %s)" % (pattern, timeout, path))


def log_size():
    return os.path.getsize(os.path.join(g.TMP, "nlu.log"))


def entities(stub):
    r = stub.AnalyzeEntities(NLP.AnalyzeEntitiesRequest(query=QUERY), timeout=20)
    return [(v.token, v.label[0].class_name) for v in r.results[0].results]


def main():
    models = os.path.join(g.TMP, "models")
    nlu_tiny.write_models(models)
    for d in ("punct", "textcls", "broken"):
        shutil.rmtree(os.path.join(models, d))
    intent = os.path.join(models, "intent")
    set_batching(intent, 4, 1500000)

    _, nats_url = g.start_nats()
    nlu, n_models = start_nlu(nats_url, models)
    check(n_models == 2, "parley-nlu serves intent and ner (%d models)" % n_models)
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port))
    ner_before = entities(stub)
    cls = NLP.TextClassRequest(text=["hello there"], model=NLP.NLPModelParams(model_name="textcls"))
    check(code_of(lambda: stub.ClassifyText(cls, timeout=10))[0] == grpc.StatusCode.NOT_FOUND,
          "before the reload textcls is not served (NOT_FOUND)")
    t0 = time.time()
    first = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY), timeout=20)
    slow = time.time() - t0
    check(slow >= 1.2, "a lone AnalyzeIntent waits for the batch (%.2f s)" % slow)

    # a request in flight during the reload
    result = {}

    def in_flight():
        try:
            result["resp"] = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY), timeout=30)
        except grpc.RpcError as e:
            result["err"] = e
    th = threading.Thread(target=in_flight)
    th.start()
    time.sleep(0.4)  # the request is in the batcher now
    set_batching(intent, 4, 0)
    nlu_tiny.write_model(os.path.join(models, "textcls"), 4, "text_classification",
                         {"label": nlu_tiny.CLASSES},
                         {"label": {"tensor_prefix": "classifier", "input": "pooler", "labels": "label"}},
                         "BertForSequenceClassification")
    # a new, truncated weights file renamed over the old one: the way model files are replaced
    # (docs/operations.md); the loaded model keeps the old file's data mapped
    st = os.path.join(models, "ner", "model.safetensors")
    data = open(st, "rb").read()
    with open(st + ".new", "wb") as f:
        f.write(data[:len(data) // 2])
    os.rename(st + ".new", st)
    mark = log_size()
    os.kill(nlu.pid, signal.SIGHUP)
    th.join(30)
    check(not th.is_alive() and "resp" in result,
          "the request in flight during the reload completed (%s)" % result.get("err", "ok"))
    check(result["resp"].intent.class_name == first.intent.class_name,
          "it answered with its model's intent (%s)" % result["resp"].intent.class_name)
    line = wait_log(r"NLU model repository \S+ reloaded: [^\"]*", mark)
    check("1 added" in line and "1 changed" in line and "1 failed" in line,
          "the reload reports what it did: %s" % line)
    log = open(os.path.join(g.TMP, "nlu.log")).read()[mark:]
    check(re.search(r"ner \(\S+\) not reloaded: [^\"]*model\.safetensors[^\"]*the loaded version keeps serving",
                    log) is not None, "the broken ner is refused with a log line naming its file")

    t0 = time.time()
    after = stub.AnalyzeIntent(NLP.AnalyzeIntentRequest(query=QUERY), timeout=20)
    fast = time.time() - t0
    check(fast < 1.0 and after.intent.class_name == first.intent.class_name,
          "the changed intent model serves without the batch wait (%.2f s)" % fast)
    r = stub.ClassifyText(cls, timeout=10)
    check(len(r.results) == 1 and r.results[0].labels[0].class_name in nlu_tiny.CLASSES,
          "the added textcls model answers ClassifyText (%s)" % r.results[0].labels[0].class_name)
    check(entities(stub) == ner_before, "the old ner keeps answering AnalyzeEntities the same way")

    shutil.rmtree(os.path.join(models, "textcls"))
    mark = log_size()
    os.kill(nlu.pid, signal.SIGHUP)
    line = wait_log(r"NLU model repository \S+ reloaded: [^\"]*", mark)
    check("1 removed" in line, "the removal is reported: %s" % line)
    check(code_of(lambda: stub.ClassifyText(cls, timeout=10))[0] == grpc.StatusCode.NOT_FOUND,
          "textcls is gone after the second reload")
    check(nlu.poll() is None, "parley-nlu is still running")
    print("PASS")


if __name__ == "__main__":
    main()
