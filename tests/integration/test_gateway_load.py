"""200 concurrent calls all answered correctly; two workers in the queue group share the
load; restarting the gateway does not disturb the workers; /metrics counts it all."""
import time

from gwtest import *  # noqa: F403

N = 200
nats, url = start_nats()
wa, pa = start_worker(url, "--delay-ms", "2", "--threads", "4", "--queue", "256", service="nlu", wid="a")
wb, pb = start_worker(url, "--delay-ms", "2", "--threads", "4", "--queue", "256", service="nlu", wid="b")
gw, port, hport = start_gateway(url)
ch = channel(port)
stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
futs = [stub.PunctuateText.future(riva_nlp_pb2.TextTransformRequest(text=["text %d" % i]), timeout=30)
        for i in range(N)]
ok = 0
for i, f in enumerate(futs):
    try:
        if list(f.result().text) == ["text %d" % i]:
            ok += 1
    except grpc.RpcError as e:
        print("call %d: %s %s" % (i, e.code(), e.details()))
check(ok == N, "%d concurrent calls, %d answered correctly" % (N, ok))


def served(p):
    return metric(http_get(p, "/metrics")[1], "parley_request_success_total", rpc="punctuate_text")


na, nb = served(pa), served(pb)
check(na + nb == N and na > 0 and nb > 0, "two workers shared the load: %d + %d" % (na, nb))
text = http_get(hport, "/metrics")[1]
check(metric(text, "parley_gateway_requests_total", rpc="punctuate_text", code="OK") == N,
      "gateway metrics: %d punctuate_text OK" % N)
# messages larger than NATS max_payload (1 MiB) travel in frames, both ways
big = "x" * (3 << 20)
check(list(punctuate(ch, [big], timeout=30).text) == [big], "3 MiB unary request and reply through NATS")
ch.close()

t0 = time.time()
check(stop(gw) == 0, "gateway stopped by SIGTERM in %.2f s" % (time.time() - t0))
time.sleep(0.3)
check(wa.poll() is None and wb.poll() is None, "workers still running after the gateway stopped")
gw2, port2, hport2 = start_gateway(url, grpc_port=port)
check(port2 == port, "new gateway on the same port")
ch = channel(port)
end = time.time() + 5
ans = None
while time.time() < end:
    try:
        ans = list(punctuate(ch, ["after restart"]).text)
        break
    except grpc.RpcError:
        time.sleep(0.1)
check(ans == ["after restart"], "calls work through the restarted gateway")
check(served(pa) + served(pb) == N + 2, "the same workers served it (no restart of workers)")

# NATS restarts: the gateway reports NOT_SERVING and answers UNAVAILABLE meanwhile, then
# reconnects (as do the workers) and serves again
health = health_pb2_grpc.HealthStub(ch)


def overall():
    return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


nats_port = int(url.rsplit(":", 1)[1])
stop(nats)
end = time.time() + 10
while time.time() < end and overall() != health_pb2.HealthCheckResponse.NOT_SERVING:
    time.sleep(0.1)
check(overall() == health_pb2.HealthCheckResponse.NOT_SERVING, "NATS down: health NOT_SERVING")
check(http_get(hport2, "/readyz")[0] == 503, "NATS down: /readyz 503")
c, d = code_of(lambda: punctuate(ch, ["while down"], timeout=5))
check(c == grpc.StatusCode.UNAVAILABLE, "NATS down: calls answer UNAVAILABLE (%s)" % d)
nats, _ = start_nats(nats_port)
end = time.time() + 20
ans = None
while time.time() < end:
    try:
        ans = list(punctuate(ch, ["after nats restart"], timeout=2).text)
        break
    except grpc.RpcError:
        time.sleep(0.2)
check(ans == ["after nats restart"], "NATS back: gateway and workers reconnected, calls work")
check(overall() == health_pb2.HealthCheckResponse.SERVING, "NATS back: health SERVING")
ch.close()
check(stop(gw2) == 0, "second gateway exits 0")
print("PASS")
