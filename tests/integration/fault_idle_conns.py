"""Fault test: 1,000 idle gRPC connections and a client that does not read, against the gateway.

The stack of fault_common.py (nats-server, parley-nlu with tiny models, parley-tts-fake,
gateway). The test raises its own RLIMIT_NOFILE (the gateway, its child, inherits it), then:
1. opens IDLE raw TCP connections to the gateway's gRPC port, each doing the HTTP/2 preface
   and the SETTINGS exchange (as a gRPC channel does) and then nothing; the gateway holds
   them (its open sockets are counted in /proc);
2. with them open, a normal client calls AnalyzeIntent and Synthesize N_CALLS times each: all
   OK, the slowest within CALL_S;
3. a slow reader (raw HTTP/2 with a 4 KiB receive buffer and the largest flow-control windows,
   so only TCP holds the gateway back) asks SynthesizeOnline for a long text (megabytes of
   audio) and then reads nothing; while its bytes pile up unread, the normal client's unary
   calls and a SynthesizeOnline stream all succeed within CALL_S;
4. the slow reader then reads: its whole response arrives (DATA, then trailers ending the
   stream), and every idle connection still answers an HTTP/2 PING.
The measured numbers are printed (MEASURED line) for docs/operations.md.
Environment: see fault_common.py.
"""
import os
import resource
import select
import socket
import struct
import threading
import time

os.environ["PL_FAKE_TTS_BLOCK_MS"] = "1"  # parley-tts-fake: one block of audio per ms

import fault_common as fc  # noqa: E402
import gwtest as g  # noqa: E402
import tts_test_service as tts  # noqa: E402
from gwtest import check  # noqa: E402

IDLE = 1000
N_CALLS = 20
CALL_S = 1.0
SLOW_TEXT = "Hello there, this sentence is read aloud at length. " * 150  # ~7.8 KB of text
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW = 0, 1, 3, 4, 6, 7, 8


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def hpack_int(v):
    if v < 127:
        return bytes([v])
    out, v = bytearray([127]), v - 127
    while v >= 128:
        out.append((v & 127) | 128)
        v >>= 7
    out.append(v)
    return bytes(out)


def hpack(headers):
    """Literal header fields without indexing, no Huffman (RFC 7541 6.2.2)."""
    out = b""
    for k, v in headers:
        out += b"\x00" + hpack_int(len(k)) + k.encode() + hpack_int(len(v)) + v.encode()
    return out


class Conn:
    """One raw HTTP/2 connection to the gateway; reads frames from a byte buffer."""

    def __init__(self, port, rcvbuf=None, settings=b""):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(("127.0.0.1", port))
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))
        self.buf = b""

    def frames(self, timeout):
        """Frames that arrive within timeout (at least one, or none on timeout/EOF)."""
        end = time.monotonic() + timeout
        while True:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                     self.buf[9:9 + n])
                self.buf = self.buf[9 + n:]
                yield f
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                return
            b = self.s.recv(1 << 20)
            if not b:
                return
            self.buf += b

    def handshake(self, timeout=5):
        """Read until the server's SETTINGS, acknowledge it. True when done."""
        for t, fl, _, _ in self.frames(timeout):
            if t == SETTINGS and not fl & 1:
                self.s.sendall(frame(SETTINGS, 1, 0))
                return True
        return False

    def ping(self, timeout=5):
        self.s.sendall(frame(PING, 0, 0, b"parley!!"))
        for t, fl, _, p in self.frames(timeout):
            if t == PING and fl & 1 and p == b"parley!!":
                return True
            if t == PING and not fl & 1:
                self.s.sendall(frame(PING, 1, 0, p))
        return False


def gw_sockets(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def rss_mb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def timed_calls(st, n):
    """n AnalyzeIntent and n Synthesize calls; returns the longest, raises on any failure."""
    worst = 0.0
    for _ in range(n):
        for fn in (st.intent, st.synthesize):
            t0 = time.monotonic()
            fn(10)
            worst = max(worst, time.monotonic() - t0)
    return worst


def slow_request(port):
    """A SynthesizeOnline for SLOW_TEXT on a fresh connection that will not read."""
    big = struct.pack(">HI", 4, 0x7FFFFFFF)  # SETTINGS_INITIAL_WINDOW_SIZE: the largest
    c = Conn(port, rcvbuf=4096, settings=big)
    c.s.sendall(frame(WINDOW, 0, 0, struct.pack(">I", 0x7FFFFFFF - 65535)))
    hdrs = hpack([(":method", "POST"), (":scheme", "http"),
                  (":path", "/nvidia.riva.tts.RivaSpeechSynthesis/SynthesizeOnline"),
                  (":authority", "127.0.0.1:%d" % port), ("content-type", "application/grpc"),
                  ("te", "trailers")])
    msg = tts.req(SLOW_TEXT, rate=22050).SerializeToString()
    c.s.sendall(frame(HEADERS, 4, 1, hdrs) +  # END_HEADERS
                frame(DATA, 1, 1, b"\x00" + struct.pack(">I", len(msg)) + msg))  # END_STREAM
    return c


def inq(sock):
    import fcntl
    import termios
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096) if hard != resource.RLIM_INFINITY else 4096
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    check(resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= IDLE + 200,
          "RLIMIT_NOFILE %d for the test and the gateway" % resource.getrlimit(
              resource.RLIMIT_NOFILE)[0])
    st = fc.Stack()
    gw = st.gw.pid
    base_sockets, base_rss = gw_sockets(gw), rss_mb(gw)
    warm = timed_calls(st, N_CALLS)

    # 1. idle connections
    t0 = time.monotonic()
    idle = [Conn(st.port) for _ in range(IDLE)]
    shaken = sum(c.handshake() for c in idle)
    t_open = time.monotonic() - t0
    check(shaken == IDLE, "%d idle HTTP/2 connections opened and SETTINGS exchanged in %.1f s"
          % (shaken, t_open))
    held = gw_sockets(gw) - base_sockets
    check(held >= IDLE, "the gateway holds them: %d more sockets" % held)

    # 2. normal calls with them open
    with_idle = timed_calls(st, N_CALLS)
    check(with_idle < CALL_S, "with %d idle connections %d AnalyzeIntent + %d Synthesize all OK, "
          "slowest %.3f s (before: %.3f s)" % (IDLE, N_CALLS, N_CALLS, with_idle, warm))
    rss_idle = rss_mb(gw)

    # 3. a client that does not read
    slow = slow_request(st.port)
    end, queued = time.monotonic() + 10, 0
    while time.monotonic() < end:  # until its receive buffer fills and stays full
        time.sleep(0.3)
        q = inq(slow.s)
        if q > 0 and q == queued:
            break
        queued = q
    check(queued > 0, "the slow reader's unread bytes pile up (%d in its receive queue)" % queued)
    during = timed_calls(st, N_CALLS)
    t0 = time.monotonic()
    chunks = list(st.synth.SynthesizeOnline(iter([tts.req("Hello there. How are you?")]),
                                            timeout=10))
    t_stream = time.monotonic() - t0
    check(during < CALL_S and sum(len(c.audio) for c in chunks) > 0 and t_stream < CALL_S,
          "while it does not read: %d + %d unary calls OK (slowest %.3f s), a SynthesizeOnline "
          "stream OK in %.3f s" % (N_CALLS, N_CALLS, during, t_stream))
    rss_slow = rss_mb(gw)

    # 4. the slow reader reads; the idle connections still answer
    got, ended, reset = 0, False, None
    t0 = time.monotonic()
    for t, fl, sid, p in slow.frames(60):
        if t == DATA and sid == 1:
            got += len(p)
        if t == HEADERS and sid == 1 and fl & 1:
            ended = True
            break
        if t in (RST, GOAWAY):
            reset = (t, p.hex())
            break
    t_drain = time.monotonic() - t0
    check(ended and got > 1 << 20, "the slow reader then gets its whole response: %.1f MB and "
          "the trailers in %.1f s (reset: %s)" % (got / 1e6, t_drain, reset))
    alive = sum(c.ping() for c in idle)
    check(alive == IDLE, "all %d idle connections still answer a PING" % alive)
    for name, p in st.procs().items():
        check(p.poll() is None, "%s still running" % name)
    print("MEASURED idle=%d open=%.1fs gw_sockets=+%d call_max_s: before=%.3f idle=%.3f "
          "slow_reader=%.3f stream=%.3f slow_queued=%dB slow_response=%.1fMB drain=%.1fs "
          "gw_rss_mb: start=%.1f idle=%.1f slow=%.1f"
          % (IDLE, t_open, held, warm, with_idle, during, t_stream, queued, got / 1e6, t_drain,
             base_rss, rss_idle, rss_slow))
    for c in idle:
        c.s.close()
    print("PASS")


if __name__ == "__main__":
    main()
