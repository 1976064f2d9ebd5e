"""Gateway admission limits and request checks (docs/security.md): per-API-key token buckets
(rate, burst) and concurrency caps from the keys file, RESOURCE_EXHAUSTED with the limit and a
`retry-after-ms` trailer; per-rpc request size limits checked before anything reaches NATS;
model/voice/dialog names refused (path traversal, NUL, NATS wildcards, spaces, overlong) with
INVALID_ARGUMENT naming the field; per-client-address limits on a gateway without keys."""
import os
import threading
import time

from gwtest import *  # noqa: F403
from riva.proto import riva_asr_pb2
from parley.dialog.v1 import dialog_pb2

RECOGNIZE = "/nvidia.riva.asr.RivaSpeechRecognition/Recognize"
CREATE_SESSION = "/parley.dialog.v1.Dialog/CreateSession"

keys = os.path.join(TMP, "keys.txt")
with open(keys, "w") as f:
    f.write("sk-rate-0123456789 rater rate=5 burst=3\n"
            "sk-conc-0123456789 conc max_calls=2\n"
            "sk-free-0123456789 free\n")
RATER = [("authorization", "Bearer sk-rate-0123456789")]
CONC = [("authorization", "Bearer sk-conc-0123456789")]
FREE = [("authorization", "Bearer sk-free-0123456789")]

nats, url = start_nats()
start_worker(url, service="nlu", wid="nlu")
_, asr_http = start_worker(url, "--stream-rpc", "streaming_recognize", "--unary-rpc", "recognize",
                           service="asr", wid="asr")
gw, port, hport = start_gateway(url, env_extra={
    "PARLEY_GATEWAY_API_KEYS_FILE": keys,
    "PARLEY_GATEWAY_MAX_TEXT_REQUEST_BYTES": "2048",
    "PARLEY_GATEWAY_RPC_MAX_BYTES": "recognize=100000,streaming_recognize=5000"})
ch = channel(port)


def call_with_trailer(fn):
    """(code, details, trailing metadata dict) of a unary call made with with_call."""
    try:
        fn()
        return grpc.StatusCode.OK, "", {}
    except grpc.RpcError as e:
        return e.code(), e.details(), dict(e.trailing_metadata() or ())


stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)


def punct(md, texts=("hi",), model=""):
    req = riva_nlp_pb2.TextTransformRequest(text=list(texts),
                                            model=riva_nlp_pb2.NLPModelParams(model_name=model))
    return stub.PunctuateText(req, timeout=5, metadata=md)


# ---- rate limit: rate=5/s, burst 3 -------------------------------------------------------------
# The bounds below come from the client's clock, so that a slow or loaded machine (calls of
# 100 ms, stalls of a second) cannot fail them: the bucket gains 5 tokens a second whatever
# the calls cost, and holds at most 3.
def until_refused(fn, most=30):
    """Calls one after the other until one is refused: (answered, (code, details, trailer) of the
    refusal, start of the first call, start and end of the refused one)."""
    t0 = time.monotonic()
    for answered in range(most):
        ts = time.monotonic()
        c, d, md = call_with_trailer(fn)
        if c != grpc.StatusCode.OK:
            return answered, (c, d, md), t0, ts, time.monotonic()
    raise AssertionError("%d calls one after the other, none refused" % most)


n, (c, d, md), t0, t_ref, t_end = until_refused(lambda: punct(RATER))
check(3 <= n <= 3 + int(5 * (t_end - t0)),
      "rate=5 burst=3: %d calls one after the other answered, then one refused, in %.3f s "
      "(the burst of 3 plus 5/s refilled meanwhile)" % (n, t_end - t0))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "rate limit" in d and "'rater'" in d
      and "5 requests/s" in d and "retry after" in d, "the refused call: RESOURCE_EXHAUSTED (%s)" % d)
retry = int(md.get("retry-after-ms", "0"))
check(0 < retry <= 200, "retry-after-ms trailer: %d ms (one token at 5/s: <= 200 ms)" % retry)
time.sleep(retry / 1000 + 0.02)
check(code_of(lambda: punct(RATER))[0] == grpc.StatusCode.OK, "after retry-after-ms: answered")
# 2 s of calls as fast as they go: about 5/s x 2 s answered. At most: what the bucket held at
# the refusal (< 1 token) plus 5/s since, less the call just answered. At least: 5/s over the
# span less the refill lost while the bucket was full (it can only fill up in a gap of more
# than 0.2 s between two calls: it holds at most 2 after a call) and less 2 left at the end.
ok = refused = 0
spans = []
t0 = time.monotonic()
while time.monotonic() - t0 < 2.0:
    ts = time.monotonic()
    c = code_of(lambda: punct(RATER))[0]
    spans.append((ts, time.monotonic()))
    ok += c == grpc.StatusCode.OK
    refused += c == grpc.StatusCode.RESOURCE_EXHAUSTED
most = int(5 * (spans[-1][1] - t_ref))
lost = sum(max(0.0, b[1] - a[0] - 0.2) for a, b in zip(spans, spans[1:]))
least = int(5 * (spans[-1][0] - spans[0][1] - lost)) - 2
check(least <= ok <= most and refused > 0,
      "2 s of calls as fast as they go: %d answered (5/s: between %d and %d by the client's clock%s), "
      "%d refused" % (ok, least, most, ", %.2f s of gaps" % lost if lost else "", refused))
# other keys are not affected: 'free' has no limit of its own and the defaults are unlimited
got = [code_of(lambda: punct(FREE))[0] for _ in range(20)]
check(got.count(grpc.StatusCode.OK) == 20, "key 'free' (defaults: unlimited): 20 calls at once answered")

# ---- concurrency cap: max_calls=2 (open streams count until they end) ---------------------------
bidi = ch.stream_stream(STREAM)
stop_evs = []


def held_stream():
    ev = threading.Event()
    stop_evs.append(ev)

    def gen():
        yield b""  # an empty StreamingRecognizeRequest: valid protobuf
        ev.wait(20)

    it = bidi(gen(), timeout=30, metadata=CONC)
    next(it)  # the echo came back: the stream is open end to end
    return it, ev


s1, e1 = held_stream()
s2, e2 = held_stream()
c, d = code_of(lambda: list(bidi(iter([b""]), timeout=5, metadata=CONC)))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "concurrency limit" in d and "'conc'" in d
      and "2 calls or streams" in d, "3rd stream while 2 are open: RESOURCE_EXHAUSTED (%s)" % d)
c, d = code_of(lambda: punct(CONC))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED, "a unary call of the same key too (%s)" % c.name)
check(code_of(lambda: punct(FREE))[0] == grpc.StatusCode.OK, "another key meanwhile: answered")
e1.set()
check(code_of(lambda: list(s1))[0] == grpc.StatusCode.OK, "first stream ends OK")
check(list(bidi(iter([b""]), timeout=5, metadata=CONC)) == [b""],
      "after one ended: a new stream of that key is answered")
e2.set()
list(s2)

# ---- request size limits per rpc ---------------------------------------------------------------
c, d = code_of(lambda: punct(FREE, texts=["x" * 3000]))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "2048-byte limit of punctuate_text" in d,
      "PunctuateText of 3 kB over max_text_request_bytes 2048: RESOURCE_EXHAUSTED (%s)" % d)
check(list(punct(FREE, texts=["y" * 1500]).text) == ["y" * 1500], "1.5 kB text: answered")


def worker_requests(rpc):
    _, text = http_get(asr_http, "/metrics")
    return sum(metric(text, n, rpc=rpc) for n in ("parley_request_success_total",
                                                  "parley_request_failure_total"))


rec = ch.unary_unary(RECOGNIZE)
before = worker_requests("recognize")
big = riva_asr_pb2.RecognizeRequest(audio=b"\0" * 150000).SerializeToString()
c, d = code_of(lambda: rec(big, timeout=5, metadata=FREE))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "100000-byte limit of recognize" in d,
      "Recognize of 150 kB over rpc_max_bytes recognize=100000: RESOURCE_EXHAUSTED (%s)" % d)
small = riva_asr_pb2.RecognizeRequest(audio=b"\0" * 50000).SerializeToString()
check(rec(small, timeout=5, metadata=FREE) == small, "Recognize of 50 kB: forwarded and answered")
check(worker_requests("recognize") == before + 1,
      "the worker saw only the call under the limit (%d -> %d)" % (before, worker_requests("recognize")))
msg = riva_asr_pb2.StreamingRecognizeRequest(audio_content=b"\1" * 6000).SerializeToString()
c, d = code_of(lambda: list(bidi(iter([b"", msg]), timeout=5, metadata=FREE)))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "5000-byte limit of streaming_recognize" in d,
      "a 6 kB stream message over streaming_recognize=5000: RESOURCE_EXHAUSTED (%s)" % d)

# ---- names: no path traversal, NUL, NATS wildcards, spaces, overlong ---------------------------
bad = {"../x": "'..'", "/etc/passwd": "path separator", "a\0b": "NUL", "x" * 200: "longer than 128",
       "a b": "space", "nlu.*": "'*'", "x.>": "'>'", ".hidden": "starts with '.'", "a\\b": "separator"}
for name, why in bad.items():
    c, d = code_of(lambda: punct(FREE, model=name))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and d.startswith("model.model_name:") and why in d,
          "model_name %r: INVALID_ARGUMENT (%s)" % (name[:20], d[:70]))
check(list(punct(FREE, model="English-US.Female-1").text) == ["hi"],
      "model_name 'English-US.Female-1': forwarded to the nlu worker")
check(list(punct(FREE, model="asr.recognize").text) == ["hi"],
      "model_name 'asr.recognize': still routed to the nlu worker (names never build subjects)")
cs = ch.unary_unary(CREATE_SESSION)
req = dialog_pb2.CreateSessionRequest(dialog="../../etc/passwd").SerializeToString()
c, d = code_of(lambda: cs(req, timeout=5, metadata=FREE))
check(c == grpc.StatusCode.INVALID_ARGUMENT and d.startswith("dialog: contains"),
      "CreateSession dialog '../../etc/passwd': INVALID_ARGUMENT (%s)" % d[:60])
cfgmsg = riva_asr_pb2.StreamingRecognizeRequest(streaming_config=riva_asr_pb2.StreamingRecognitionConfig(
    config=riva_asr_pb2.RecognitionConfig(model="../models/x"))).SerializeToString()
c, d = code_of(lambda: list(bidi(iter([cfgmsg]), timeout=5, metadata=FREE)))
check(c == grpc.StatusCode.INVALID_ARGUMENT and d.startswith("streaming_config.config.model:"),
      "StreamingRecognize config.model '../models/x': INVALID_ARGUMENT (%s)" % d[:60])

_, text = http_get(hport, "/metrics")
check(metric(text, "parley_gateway_requests_total", rpc="punctuate_text",
             code="RESOURCE_EXHAUSTED") >= 3, "metrics count the refusals")
ch.close()
check(stop(gw) == 0, "gateway exits 0 on SIGTERM")

# ---- without API keys: per-client-address limits (off by default) -------------------------------
gw2, port2, _ = start_gateway(url)
ch2 = channel(port2)
got = [code_of(lambda: punctuate(ch2, ["x"]))[0] for _ in range(30)]
check(got.count(grpc.StatusCode.OK) == 30, "no keys, default config: 30 calls at once answered")
ch2.close()
stop(gw2)
# a call's slot is free once the client has its answer: back-to-back calls under a cap of 1
gw4, port4, _ = start_gateway(url, env_extra={"PARLEY_GATEWAY_PEER_MAX_CALLS": "1"})
ch4 = channel(port4)
got = [code_of(lambda: punctuate(ch4, ["x"])) for _ in range(300)]
not_ok = [g for g in got if g[0] != grpc.StatusCode.OK]
check(not not_ok, "peer_max_calls=1: %d of 300 calls one after the other answered%s"
      % (300 - len(not_ok), ", refused: %s" % not_ok[0][1][:60] if not_ok else ""))
got = [code_of(lambda: list(ch4.stream_stream(STREAM)(iter([b""]), timeout=5))) for _ in range(30)]
not_ok = [g for g in got if g[0] != grpc.StatusCode.OK]
check(not not_ok, "peer_max_calls=1: %d of 30 streams one after the other answered%s"
      % (30 - len(not_ok), ", refused: %s" % not_ok[0][1][:60] if not_ok else ""))
ch4.close()
stop(gw4)
gw3, port3, _ = start_gateway(url, env_extra={"PARLEY_GATEWAY_PEER_RATE": "2",
                                              "PARLEY_GATEWAY_PEER_BURST": "2",
                                              "PARLEY_GATEWAY_PEER_MAX_CALLS": "1"})
ch3 = channel(port3)
n, (c, d, _), t0, _, t_end = until_refused(lambda: punctuate(ch3, ["x"]))
check(2 <= n <= 2 + int(2 * (t_end - t0)),
      "peer_rate=2 burst 2: %d calls one after the other answered, then one refused, in %.3f s "
      "(the burst of 2 plus 2/s refilled meanwhile)" % (n, t_end - t0))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "client 127.0.0.1" in d,
      "the refused call: RESOURCE_EXHAUSTED naming the client address (%s)" % d)
time.sleep(0.6)
held = bidi3 = ch3.stream_stream(STREAM)
ev = threading.Event()


def gen3():
    yield b""
    ev.wait(10)


it = bidi3(gen3(), timeout=20)
next(it)
c, d = code_of(lambda: punctuate(ch3, ["x"]))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "concurrency limit of client 127.0.0.1" in d,
      "peer_max_calls=1: a call while a stream is open refused (%s)" % d)
ev.set()
list(it)
ch3.close()
check(stop(gw3) == 0, "gateway exits 0 on SIGTERM")

# a bad keys-file option is a start-up error naming the line
with open(keys, "w") as f:
    f.write("sk-rate-0123456789 rater rate=fast\n")
p = spawn([os.environ["PL_GATEWAY"], "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
           "--nats", url], "gw-badkeys.log", env=dict(os.environ, PARLEY_GATEWAY_API_KEYS_FILE=keys))
check(p.wait(timeout=10) != 0 and "keys.txt:1: rate=fast" in open(os.path.join(TMP, "gw-badkeys.log")).read(),
      "keys file 'rate=fast': the gateway refuses to start, naming the line")
print("PASS")
