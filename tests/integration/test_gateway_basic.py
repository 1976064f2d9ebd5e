"""Gateway happy paths and edge cases with a real nats-server and echo workers:
health, unary from Python and C, a bidirectional stream (Python and C), no worker,
deadline, oversized and malformed requests, unknown method, /metrics counts."""
import os
import subprocess
import time

from gwtest import *  # noqa: F403

nats, url = start_nats()
start_worker(url, service="nlu", wid="nlu")
start_worker(url, "--stream-rpc", "streaming_recognize", service="asr", wid="asr")
start_worker(url, "--unary-rpc", "synthesize", "--stream-rpc", "synthesize_online", "--delay-ms", "600",
             service="tts", wid="tts")
gw, port, hport = start_gateway(url, env_extra={"PARLEY_GATEWAY_MAX_RECEIVE_BYTES": "1048576",
                                                "PARLEY_GATEWAY_HEALTH_PROBE_MS": "200"})
ch = channel(port)
health = health_pb2_grpc.HealthStub(ch)


def hstatus(svc):
    return health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=5).status


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
end = time.time() + 5
while time.time() < end and hstatus("") != SERVING:
    time.sleep(0.1)
check(hstatus("") == SERVING, "health '' SERVING once NATS is connected")
check(hstatus("nvidia.riva.nlp.RivaLanguageUnderstanding") == SERVING, "health nlu SERVING (worker answers)")
check(hstatus("nvidia.riva.asr.RivaSpeechRecognition") == SERVING, "health asr SERVING")
check(hstatus("nvidia.riva.nmt.RivaTranslation") == NOT_SERVING, "health nmt NOT_SERVING (no worker)")
c, _ = code_of(lambda: hstatus("no.such.Service"))
check(c == grpc.StatusCode.NOT_FOUND, "health of an unknown service: NOT_FOUND")

# Watch: NOT_SERVING with no nmt worker, SERVING once one starts, NOT_SERVING when it stops
watch = health.Watch(health_pb2.HealthCheckRequest(service="nvidia.riva.nmt.RivaTranslation"), timeout=20)
check(next(watch).status == NOT_SERVING, "Watch nmt: NOT_SERVING first")
nmt, _ = start_worker(url, service="nmt", wid="nmt")
check(next(watch).status == SERVING, "Watch nmt: SERVING after a worker started")
stop(nmt)
check(next(watch).status == NOT_SERVING, "Watch nmt: NOT_SERVING after it stopped")
watch.cancel()

stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
r, call = stub.PunctuateText.with_call(riva_nlp_pb2.TextTransformRequest(text=["hello world", "second text"]),
                                       timeout=5, metadata=[("x-request-id", "py-req-1")])
check(list(r.text) == ["hello world", "second text"], "Python unary PunctuateText round trip")
check(("x-request-id", "py-req-1") in list(call.initial_metadata()), "the client's x-request-id is kept and returned")
r, call = stub.PunctuateText.with_call(riva_nlp_pb2.TextTransformRequest(text=["a"]), timeout=5,
                                       metadata=[("x-request-id", "bad id with spaces")])
rid = dict(call.initial_metadata()).get("x-request-id", "")
check(len(rid) == 32 and all(ch_ in "0123456789abcdef" for ch_ in rid), "an invalid x-request-id is replaced by a fresh one (%s)" % rid)

cc = subprocess.run([os.environ["PL_C_CLIENT"], "unary", "127.0.0.1:%d" % port, "from C"],
                    capture_output=True, text=True, timeout=30)
check(cc.returncode == 0 and "text: from C" in cc.stdout, "C client unary: " + cc.stdout.strip())
cc = subprocess.run([os.environ["PL_C_CLIENT"], "stream", "127.0.0.1:%d" % port, "20"],
                    capture_output=True, text=True, timeout=60)
check(cc.returncode == 0, "C client bidirectional stream, 21 messages echoed: " + cc.stdout.strip())

msgs = [b"\x0a\x02\x18\x01"] + [b"\x12\x04" + bytes([i, i + 1, i + 2, i + 3]) for i in range(8)]
bidi = ch.stream_stream(STREAM)
got = list(bidi(iter(msgs), timeout=10))
check(got == msgs, "Python bidirectional stream: %d messages echoed in order" % len(got))

tts_req = b"\x0a\x05hello"  # SynthesizeSpeechRequest{text: "hello"}
got = list(ch.unary_stream("/nvidia.riva.tts.RivaSpeechSynthesis/SynthesizeOnline")(tts_req, timeout=10))
check(got == [tts_req], "server-streaming SynthesizeOnline through the gateway")

t0 = time.time()
c, d = code_of(lambda: ch.unary_unary("/nvidia.riva.nlp.RivaLanguageUnderstanding/NaturalQuery")(b"", timeout=5))
el = time.time() - t0
check(c == grpc.StatusCode.UNAVAILABLE and el < 2.0, "no qa worker: UNAVAILABLE at once (%.3f s, %s)" % (el, d))
c, d = code_of(lambda: ch.stream_stream("/parley.dialog.v1.Dialog/Converse")(iter([b""]), timeout=5).__next__())
check(c == grpc.StatusCode.UNAVAILABLE, "stream with no worker: UNAVAILABLE (%s)" % d)

t0 = time.time()
c, d = code_of(lambda: ch.unary_unary("/nvidia.riva.tts.RivaSpeechSynthesis/Synthesize")(b"", timeout=0.2))
check(c == grpc.StatusCode.DEADLINE_EXCEEDED and time.time() - t0 < 2.0,
      "slow worker past the client deadline: DEADLINE_EXCEEDED")

c, d = code_of(lambda: punctuate(ch, ["x" * (2 << 20)]))
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED, "2 MiB request over a 1 MiB limit: RESOURCE_EXHAUSTED")
c, d = code_of(lambda: ch.unary_unary(PUNCT)(b"\x0a\x09hi", timeout=5))
check(c == grpc.StatusCode.INVALID_ARGUMENT and "TextTransformRequest" in d,
      "malformed protobuf: INVALID_ARGUMENT naming the type (%s)" % d)
c, d = code_of(lambda: ch.unary_unary("/nvidia.riva.Nope/Nothing")(b"", timeout=5))
check(c == grpc.StatusCode.UNIMPLEMENTED, "unknown method: UNIMPLEMENTED")

# /metrics counts what happened
s, text = http_get(hport, "/metrics")
check(s == 200, "/metrics answers")
check(metric(text, "parley_gateway_requests_total", rpc="punctuate_text", code="OK") == 3,
      "metrics: 3 punctuate_text OK")
check(metric(text, "parley_gateway_requests_total", rpc="punctuate_text", code="INVALID_ARGUMENT") == 1,
      "metrics: 1 punctuate_text INVALID_ARGUMENT")
check(metric(text, "parley_gateway_requests_total", rpc="natural_query", code="UNAVAILABLE") == 1,
      "metrics: 1 natural_query UNAVAILABLE")
check(metric(text, "parley_gateway_requests_total", rpc="streaming_recognize", code="OK") == 2,
      "metrics: 2 streaming_recognize OK")
check(metric(text, "parley_gateway_requests_total", rpc="unknown", code="UNIMPLEMENTED") == 1,
      "metrics: 1 unknown UNIMPLEMENTED")
check(metric(text, "parley_gateway_request_duration_us_count", rpc="punctuate_text") >= 3,
      "metrics: latency histogram has the punctuate_text calls")
check(http_get(hport, "/readyz")[0] == 200 and http_get(hport, "/healthz")[0] == 200, "/readyz and /healthz 200")
# SIGTERM with a stream still open: the gateway cancels it and exits 0 promptly
import queue  # noqa: E402
q = queue.Queue()


def slow_gen():
    yield b"\x12\x01a"
    q.get()  # hold the stream open until the test ends


live = ch.stream_stream(STREAM)(slow_gen(), timeout=20)
check(next(live) == b"\x12\x01a", "a stream is open")
t0 = time.time()
check(stop(gw) == 0, "gateway exits 0 on SIGTERM with a stream open (%.2f s)" % (time.time() - t0))
c, d = code_of(lambda: next(live))
check(c != grpc.StatusCode.OK, "the open stream ended with %s" % c)
q.put(None)
ch.close()
print("PASS")
