#!/usr/bin/env python3
"""The floor under the gateway -> NATS -> worker hop, without any NATS client library.

    /usr/bin/python3 tests/integration/nats_raw_rtt.py [--build build] [--n 20000]

Starts nats-server on a free 127.0.0.1 port (gwtest.start_nats: stopped by its PID at the end)
and measures, one request at a time, two round trips between two processes, each side a plain
blocking socket:
  1. TCP ping-pong without nats-server (the loopback and scheduler floor);
  2. NATS request/reply through nats-server written as raw protocol (PUB with a reply subject,
     a responder that answers every MSG at once): what nats-server itself costs;
and prints p10/p50/p90 in microseconds. parley-nats-rtt (clients/perf/nats_rtt.c, the same
exchange through the cnats library, its read and delivery threads included) is the third figure;
clients/perf/bench.sh prints it next to the hop. --build only locates gwtest's Python stubs.
"""
import argparse
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))


def nats_conn(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
    while f.readline().strip() != b"PONG":
        pass
    return s, f


def subscribe(s, f, subject):
    s.sendall(b"SUB " + subject + b" 1\r\nPING\r\n")
    while f.readline().strip() != b"PONG":
        pass


def responder(port):
    s, f = nats_conn(port)
    subscribe(s, f, b"rtt.req")
    os.write(1, b"ready\n")
    while True:
        line = f.readline()
        if not line:
            return
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
        elif line.startswith(b"MSG"):
            parts = line.split()  # MSG subject sid reply size
            n = int(parts[4])
            s.sendall(b"PUB " + parts[3] + b" %d\r\n" % n + f.read(n + 2))


def stats(name, ts):
    ts.sort()
    n = len(ts)
    print("%-52s p10 %4.0f us  p50 %4.0f us  p90 %4.0f us  (%d round trips)"
          % (name, ts[n // 10] / 1e3, ts[n // 2] / 1e3, ts[9 * n // 10] / 1e3, n))


def tcp_pingpong(n):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    pid = os.fork()
    if pid == 0:
        c = socket.create_connection(("127.0.0.1", ls.getsockname()[1]))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            d = c.recv(64)
            if not d:
                os._exit(0)
            c.sendall(d)
    s, _ = ls.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        s.sendall(b"x" * 28)
        s.recv(64)
        ts.append(time.perf_counter_ns() - t0)
    s.close()
    os.waitpid(pid, 0)
    stats("TCP ping-pong, no nats-server", ts)


def nats_rtt(port, n):
    resp = subprocess.Popen([sys.executable, __file__, "--respond", str(port)], stdout=subprocess.PIPE)
    try:
        resp.stdout.readline()
        s, f = nats_conn(port)
        subscribe(s, f, b"rtt.rep")
        msg = b"PUB rtt.req rtt.rep 28\r\n" + b"x" * 28 + b"\r\n"
        ts = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            s.sendall(msg)
            while True:
                line = f.readline()
                if line.startswith(b"MSG"):
                    f.read(int(line.split()[-1]) + 2)
                    break
                if line.startswith(b"PING"):
                    s.sendall(b"PONG\r\n")
            ts.append(time.perf_counter_ns() - t0)
        s.close()
        stats("NATS request/reply in raw protocol, via nats-server", ts)
    finally:
        resp.kill()
        resp.wait()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--respond":
        responder(int(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--n", type=int, default=20000, help="round trips per measurement")
    args = ap.parse_args()
    os.environ.setdefault("PL_PYTHON_STUBS", os.path.join(args.build, "python"))
    import gwtest as g

    _, url = g.start_nats()
    tcp_pingpong(args.n)
    nats_rtt(int(url.rsplit(":", 1)[1]), args.n)


if __name__ == "__main__":
    main()
