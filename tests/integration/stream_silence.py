"""How far apart a healthy worker's stream frames come, and whether the gateway's
stream_timeout_ms ends such streams (docs/benchmarks.md, the browser test's "worker stopped
responding"): nats-server, parley-dialog and the gateway on free 127.0.0.1 ports; N idle
Converse streams (a config, then nothing) for SECONDS; a raw NATS subscriber on _INBOX.>
timestamps every frame parley-dialog sends to the gateway's inbox (heartbeats while idle).

  /usr/bin/python3 tests/integration/stream_silence.py --build BUILD
      [--stream-timeout-ms 5000] [--heartbeat-ms 1000] [--streams 20] [--seconds 100]
      [--stall-ms 0]      (--seconds at most 100: the streams have a 120 s deadline)

--stall-ms N stops parley-dialog (SIGSTOP) for N ms every 0.5-2 s, as a starved process is.
Prints one JSON line: the streams that ended before the client closed them (code and
message), the largest gap between two frames of one stream, the gaps over 1.2 and 1.5 s, and
the load average. Not a test: it asserts nothing (the gaps depend on the machine's load).
"""
import argparse
import collections
import json
import os
import random
import signal
import socket
import sys
import threading
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def monitor(port, arrivals):
    """Every message on _INBOX.> as (monotonic time, Parley-Kind) per subject."""
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n'
              b'SUB _INBOX.> 1\r\nPING\r\n')
    while True:
        line = f.readline()
        if not line:
            return
        t = time.monotonic()
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
        elif line.startswith((b"HMSG", b"MSG")):
            parts = line.split()
            data = f.read(int(parts[-1]) + 2)
            kind = b""
            if line.startswith(b"HMSG"):
                for h in data[:int(parts[-2])].split(b"\r\n"):
                    if h.lower().startswith(b"parley-kind:"):
                        kind = h.split(b":", 1)[1].strip()
            arrivals[parts[1].decode()].append((t, kind.decode()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--stream-timeout-ms", type=int, default=5000)
    ap.add_argument("--heartbeat-ms", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=100)
    ap.add_argument("--stall-ms", type=int, default=0)
    a = ap.parse_args()
    os.environ.setdefault("PL_DIALOG", os.path.join(a.build, "services", "dialog", "parley-dialog"))
    os.environ.setdefault("PL_GATEWAY", os.path.join(a.build, "services", "gateway", "parley-gateway"))
    os.environ.setdefault("PL_PYTHON_STUBS", os.path.join(a.build, "python"))
    os.environ.setdefault("PL_SOURCE_DIR", SRC)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dialog_stories as ds
    import dialog_voice as dv
    import gwtest as g
    from parley.dialog.v1 import dialog_pb2_grpc

    _, nats = g.start_nats()
    dialog = ds.start([os.environ["PL_DIALOG"], "--nats", nats, "--http-port", "-1",
                       "--model-dir", os.path.join(SRC, "dialog", "specs")], "dialog",
                      {"PARLEY_DIALOG_STORE_PATH": os.path.join(g.TMP, "dialog.sqlite"),
                       "PARLEY_DIALOG_LOG_LEVEL": "warn"}, r"specs=[1-9]")
    _, gport, _ = g.start_gateway(nats, env_extra={
        "PARLEY_GATEWAY_STREAM_TIMEOUT_MS": str(a.stream_timeout_ms),
        "PARLEY_GATEWAY_HEARTBEAT_MS": str(a.heartbeat_ms)})
    arrivals = collections.defaultdict(list)
    threading.Thread(target=monitor, args=(int(nats.rsplit(":", 1)[1]), arrivals),
                     daemon=True).start()
    time.sleep(0.5)
    stub = dialog_pb2_grpc.DialogStub(g.channel(gport))
    convs = [dv.Conv(stub, dv.config(user="u%d" % i)) for i in range(a.streams)]
    t0 = time.monotonic()
    stalls = 0
    while time.monotonic() - t0 < a.seconds:
        if not a.stall_ms:
            time.sleep(1)
            continue
        time.sleep(random.uniform(0.5, 2.0))
        dialog.send_signal(signal.SIGSTOP)
        time.sleep(a.stall_ms / 1000)
        dialog.send_signal(signal.SIGCONT)
        stalls += 1
    ended = ["%s %s" % (c.code.name, c.details) for c in convs if c.done]
    for c in convs:
        if not c.done:
            c.close()
    gaps = []
    for frames in arrivals.values():
        ts = [t for t, _ in frames if t - t0 > 1]  # after the opens
        gaps += [b - x for x, b in zip(ts, ts[1:])]
    gaps.sort()
    print(json.dumps({"stream_timeout_ms": a.stream_timeout_ms, "heartbeat_ms": a.heartbeat_ms,
                      "streams": a.streams, "seconds": a.seconds, "stall_ms": a.stall_ms,
                      "stalls": stalls, "ended_early": collections.Counter(ended),
                      "gaps": len(gaps), "gap_max_ms": round(gaps[-1] * 1000) if gaps else None,
                      "gaps_over_1200ms": sum(1 for x in gaps if x > 1.2),
                      "gaps_over_1500ms": sum(1 for x in gaps if x > 1.5),
                      "load": [round(x, 1) for x in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    main()
