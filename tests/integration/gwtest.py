"""Helpers for Parley's gateway integration tests (run with /usr/bin/python3).

Every server runs on a free 127.0.0.1 port and is stopped by PID when the test
ends, however it ends (atexit + SIGTERM/SIGINT handlers). Paths come from the
environment set by tests/integration/integration.cmake:
  PL_GATEWAY, PL_ECHO_WORKER, PL_C_CLIENT, PL_CLIENTS_DIR, PL_PYTHON_STUBS.
"""
import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.environ.get("PL_PYTHON_STUBS", ""))
import grpc  # noqa: E402
from riva.proto import health_pb2, health_pb2_grpc  # noqa: E402,F401
from riva.proto import riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402,F401

PUNCT = "/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText"
STREAM = "/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize"

_procs = []
TMP = tempfile.mkdtemp(prefix="pl_gwtest_")


def _cleanup():
    for p in reversed(_procs):
        if p.poll() is None:
            p.terminate()
    for p in reversed(_procs):
        t0 = time.time()
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if time.time() - t0 > 1:
            print("slow stop (%.1f s): %s" % (time.time() - t0, " ".join(p.args)), file=sys.stderr)
    if os.environ.get("PL_KEEP_TMP") == "1":  # keep the processes' logs for a post-mortem
        print("kept %s (PL_KEEP_TMP=1)" % TMP, file=sys.stderr)
    else:
        subprocess.call(["rm", "-rf", TMP])


atexit.register(_cleanup)


def _on_signal(sig, frame):
    sys.exit(128 + sig)  # runs atexit


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok   " + what, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def spawn(argv, log_name, env=None, stdout=None):
    log = open(os.path.join(TMP, log_name), "ab")
    p = subprocess.Popen(argv, stdout=stdout or log, stderr=log, env=env)
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is None:
        p.send_signal(sig)
    return p.wait(timeout=timeout)


def start_nats(port=0):
    port = port or free_port()
    exe = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"
    p = spawn([exe, "-a", "127.0.0.1", "-p", str(port)], "nats-%d.log" % port)
    assert wait_port(port), "nats-server did not start"
    return p, "nats://127.0.0.1:%d" % port


def start_worker(nats_url, *extra, service="nlu", wid="echo"):
    ready = os.path.join(TMP, "ready-%s-%d" % (wid, time.monotonic_ns()))
    argv = [os.environ["PL_ECHO_WORKER"], "--nats", nats_url, "--service", service, "--id", wid,
            "--http-port", "0", "--ready-file", ready, "--log-level", "warn"] + list(extra)
    p = spawn(argv, "worker-%s.log" % wid)
    end = time.time() + 10
    while time.time() < end and not (os.path.exists(ready) and open(ready).read().strip()):
        if p.poll() is not None:
            raise AssertionError("echo worker exited: %s" % p.returncode)
        time.sleep(0.02)
    port = int(open(ready).read().strip())
    return p, port


def start_gateway(nats_url, grpc_port=0, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    env.setdefault("PARLEY_GATEWAY_LOG_LEVEL", "warn")
    out = os.path.join(TMP, "gw-out-%d" % time.monotonic_ns())
    f = open(out, "wb")
    p = spawn([os.environ["PL_GATEWAY"], "--listen", "127.0.0.1:%d" % grpc_port,
               "--http", "127.0.0.1:0", "--nats", nats_url], "gateway.log", env=env, stdout=f)
    end = time.time() + 10
    while time.time() < end:
        m = re.search(r"grpc_port=(\d+) http_port=(\d+)", open(out).read())
        if m:
            return p, int(m.group(1)), int(m.group(2))
        if p.poll() is not None:
            raise AssertionError("gateway exited: %s (see %s)" % (p.returncode, TMP))
        time.sleep(0.02)
    raise AssertionError("gateway did not start")


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name, **labels):
    """Value of one series in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def channel(port):
    return grpc.insecure_channel("127.0.0.1:%d" % port)


def punctuate(ch, texts, timeout=5, metadata=None):
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
    return stub.PunctuateText(riva_nlp_pb2.TextTransformRequest(text=texts), timeout=timeout,
                              metadata=metadata)


def code_of(fn):
    """Run fn; return (grpc.StatusCode, details), OK when it did not raise."""
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()
