"""Gateway error paths: API keys, worker status headers mapped one to one (with request
validation off so the worker judges the bytes), a stream error frame, and a worker killed
mid-stream -> UNAVAILABLE within the stream timeout."""
import os
import time

from gwtest import *  # noqa: F403

keys = os.path.join(TMP, "keys.txt")
with open(keys, "w") as f:
    f.write("# test keys\nsk-test-0123456789 tester\n")
nats, url = start_nats()
start_worker(url, service="nlu", wid="nlu")
crashy, _ = start_worker(url, "--stream-rpc", "streaming_recognize", "--crash-after", "5",
                         "--heartbeat-ms", "200", service="asr", wid="crashy")
TIMEOUT_MS = 1500
gw, port, hport = start_gateway(url, env_extra={
    "PARLEY_GATEWAY_VALIDATE_REQUESTS": "false",
    "PARLEY_GATEWAY_API_KEYS_FILE": keys,
    "PARLEY_GATEWAY_STREAM_TIMEOUT_MS": str(TIMEOUT_MS),
    "PARLEY_GATEWAY_HEARTBEAT_MS": "200"})
ch = channel(port)
good = [("authorization", "Bearer sk-test-0123456789")]

c, d = code_of(lambda: punctuate(ch, ["hi"]))
check(c == grpc.StatusCode.UNAUTHENTICATED, "no API key: UNAUTHENTICATED (%s)" % d)
c, d = code_of(lambda: punctuate(ch, ["hi"], metadata=[("authorization", "Bearer sk-wrong-000000")]))
check(c == grpc.StatusCode.UNAUTHENTICATED, "bad API key: UNAUTHENTICATED (%s)" % d)
check(list(punctuate(ch, ["hi"], metadata=good).text) == ["hi"], "good API key (Bearer): answered")
check(list(punctuate(ch, ["hi"], metadata=[("authorization", "sk-test-0123456789")]).text) == ["hi"],
      "good API key (bare): answered")

c, d = code_of(lambda: ch.unary_unary(PUNCT)(b"\x0a\x09hi", timeout=5, metadata=good))
check(c == grpc.StatusCode.INVALID_ARGUMENT and "request is not a valid" not in d,
      "worker's INVALID_ARGUMENT passed through with its message (%s)" % d)

# a worker error frame on a stream: "error:10:no model" -> NOT_FOUND "no model"
bidi = ch.stream_stream(STREAM)
c, d = code_of(lambda: list(bidi(iter([b"first", b"error:10:no model"]), timeout=10, metadata=good)))
check(c == grpc.StatusCode.NOT_FOUND and d == "no model", "worker stream error -> NOT_FOUND 'no model' (%s %s)" % (c, d))

# the crashy worker has seen 2 stream messages so far; it dies on its 5th ("two" or "three")


def gen():
    yield b"one"
    time.sleep(0.2)
    yield b"two"
    time.sleep(0.2)
    gen.t_crash = time.time()
    yield b"three"  # the worker _exits on this one
    time.sleep(5)


it = bidi(gen(), timeout=20, metadata=good)
got = []
c, d = code_of(lambda: [got.append(m) for m in it])
el = time.time() - gen.t_crash
crashy.wait(timeout=5)
check(crashy.returncode == 3, "worker died mid-stream (exit %s)" % crashy.returncode)
check(got == [b"one"] or got == [b"one", b"two"], "messages before the crash arrived (%d)" % len(got))
check(c == grpc.StatusCode.UNAVAILABLE and el < TIMEOUT_MS / 1000 + 3.0,
      "worker killed mid-stream: UNAVAILABLE after %.2f s (timeout %.1f s): %s" % (el, TIMEOUT_MS / 1000, d))
s, text = http_get(hport, "/metrics")
check(metric(text, "parley_gateway_requests_total", rpc="punctuate_text", code="UNAUTHENTICATED") == 2,
      "metrics: 2 UNAUTHENTICATED")
check(metric(text, "parley_gateway_requests_total", rpc="streaming_recognize", code="UNAVAILABLE") == 1,
      "metrics: 1 stream UNAVAILABLE")
ch.close()
check(stop(gw) == 0, "gateway exits 0 on SIGTERM")
print("PASS")
