"""Shared pieces of the fault-injection tests (fault_*.py, issue 23 item 2): a stack of
nats-server + parley-nlu (tiny random-weight models, nlu_tiny.py) + parley-tts-fake (the tone
generator voice) + gateway on free 127.0.0.1 ports, and a steady load of AnalyzeIntent and
Synthesize calls whose every outcome (code, start, duration) is recorded.
Environment: PL_NLU, PL_TTS (parley-tts-fake), PL_GATEWAY, PL_PYTHON_STUBS, PL_SOURCE_DIR.
"""
import os
import threading
import time

import gwtest as g
import nlu_test_service as nts
import nlu_tiny
import tts_test_service as tts
from gwtest import grpc, riva_nlp_pb2, riva_nlp_pb2_grpc
from riva.proto import riva_tts_pb2_grpc

QUERY = "book a table for two at an italian restaurant in boston tomorrow"


class Stack:
    def __init__(self, gateway_env=None):
        self.nats_p, self.nats = g.start_nats()
        self.nats_port = int(self.nats.rsplit(":", 1)[1])
        models = os.path.join(g.TMP, "models")
        nlu_tiny.write_models(models)
        self.nlu, self.nlu_http, _ = nts.start_nlu(self.nats, models)
        vdir = os.path.join(g.TMP, "voices", "fake-a")
        os.makedirs(vdir)
        self.tts, self.tts_http, _ = tts.start_tts(self.nats, vdir)
        self.gw, self.port, self.gw_http = g.start_gateway(self.nats, env_extra=gateway_env)
        self.ch = g.channel(self.port)
        self.nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(self.ch)
        self.synth = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(self.ch)

    def procs(self):
        return {"parley-nlu": self.nlu, "parley-tts": self.tts, "gateway": self.gw}

    def intent(self, timeout):
        r = self.nlp.AnalyzeIntent(riva_nlp_pb2.AnalyzeIntentRequest(query=QUERY), timeout=timeout)
        assert r.intent.class_name, "AnalyzeIntent answered without an intent"

    def synthesize(self, timeout):
        r = self.synth.Synthesize(tts.req("Hello there."), timeout=timeout)
        assert len(r.audio) > 0, "Synthesize answered without audio"


class Load:
    """THREADS threads per kind calling in a loop, each call with DEADLINE seconds; records
    (kind, t_start, t_end, code, details) with times from time.monotonic()."""

    def __init__(self, stack, deadline=3.0, threads=2, pause=0.02):
        self.stack, self.deadline, self.pause = stack, deadline, pause
        self.rec, self.lock, self.stop_ev = [], threading.Lock(), threading.Event()
        self.threads = []
        for kind, fn in (("intent", stack.intent), ("synth", stack.synthesize)):
            for _ in range(threads):
                t = threading.Thread(target=self._run, args=(kind, fn), daemon=True)
                self.threads.append(t)
                t.start()

    def _run(self, kind, fn):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                code, det = g.code_of(lambda: fn(self.deadline))
            except AssertionError as e:  # answered OK but wrong: counted as a failure
                code, det = grpc.StatusCode.DATA_LOSS, str(e)
            t1 = time.monotonic()
            with self.lock:
                self.rec.append((kind, t0, t1, code, det))
            time.sleep(self.pause)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(self.deadline + 5)
        return not any(t.is_alive() for t in self.threads)

    def snapshot(self):
        with self.lock:
            return list(self.rec)


def first_ok_after(rec, kind, t):
    """Start time of the first call of kind started at or after t that succeeded, after which
    every call of that kind succeeded; None when there is none."""
    calls = sorted((r for r in rec if r[0] == kind and r[1] >= t), key=lambda r: r[1])
    last_bad = max((i for i, r in enumerate(calls) if r[3] != grpc.StatusCode.OK), default=-1)
    return calls[last_bad + 1][1] if last_bad + 1 < len(calls) else None


def codes(rec):
    out = {}
    for r in rec:
        out[r[3].name] = out.get(r[3].name, 0) + 1
    return out
