"""Fault test: a client that sends audio faster than real time, an hour's worth.

nats-server + parley-asr (the shipped model) + gateway on free 127.0.0.1 ports. One
StreamingRecognize call gets 3,600 s of speech (an LJ Speech clip, 16 kHz LINEAR_PCM, looped)
in 1 s messages as fast as the gateway takes them. parley-asr has no limit on a stream's
length or rate (utterances are cut at 30 s, each its own final); the stated outcome is
backpressure: the gateway forwards a message only while parley-asr has not yet taken less
than a window of what it was sent (its acks; GW_STREAM_WINDOW_BYTES, 4 MiB = 131 s of this
audio), so the client is held back by gRPC flow control at the pace of recognition, and
nothing piles up in between. Checked, while the client pushes for PUSH_S seconds:
- results keep coming (interim and final), recognition runs faster than real time;
- the audio the client got rid of stays within the window (plus HTTP/2's flow-control
  windows, H2_S) of the audio parley-asr reports processed: the client is slowed, not
  buffered for (without flow control it hands over the whole hour, 115 MB, in seconds);
- RSS of parley-asr, the gateway and nats-server stays bounded (grows less than RSS_MAX_MB
  while the audio pushed is far larger);
then the call is cancelled: it ends CANCELLED at once. Before it, a shorter burst (BURST_S
seconds of audio, as fast as accepted) completes: every second of it is processed, finals for
it, status OK.
Environment: PL_ASR, PL_GATEWAY, PL_SOURCE_DIR, PARLEY_DATA_DIR, PL_PYTHON_STUBS.
"""
import os
import subprocess
import threading
import time

import dialog_stories as ds
import gwtest as g
from gwtest import check, grpc

from riva.proto import riva_asr_pb2 as A, riva_asr_pb2_grpc, riva_audio_pb2 as RA  # noqa: E402

SRC = os.environ["PL_SOURCE_DIR"]
DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(SRC, "..", "shared", "data")
CLIP = os.path.join(DATA, "speech", "ljspeech-real", "wavs", "LJ001-0010.flac")
RATE = 16000
HOUR_S = 3600
MSG_S = 1.0       # audio per message
PUSH_S = 20.0     # how long the hour's client pushes before it is cancelled
BURST_S = 60      # the burst that must complete
RSS_MAX_MB = 48   # growth allowed to each process while the client pushes
WINDOW_S = (4 << 20) / (2.0 * RATE)  # the gateway's window in seconds of this audio
H2_S = 300        # allowance for HTTP/2 flow-control windows (client and gateway), seconds


def clip_pcm():
    raw = os.path.join(g.TMP, "clip.raw")
    subprocess.run(["sox", CLIP, "-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed-integer",
                    "-t", "raw", raw, "pad", "0", "0.3"], check=True)
    return open(raw, "rb").read()


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Push:
    """One StreamingRecognize call fed total_s seconds of the looped clip as fast as it is
    taken; tracks the audio handed to gRPC and the audio parley-asr says it processed."""

    def __init__(self, stub, pcm, total_s):
        self.pcm, self.total = pcm, int(total_s * 2 * RATE)
        self.given = 0          # bytes the request iterator has handed to gRPC
        self.processed_s = 0.0  # latest audio_processed
        self.interims = self.finals = 0
        self.code, self.details, self.done = None, "", threading.Event()
        cfg = A.StreamingRecognitionConfig(
            config=A.RecognitionConfig(encoding=RA.LINEAR_PCM, sample_rate_hertz=RATE,
                                       language_code="en-US", max_alternatives=1),
            interim_results=True)
        self.call = stub.StreamingRecognize(self._reqs(cfg), timeout=600)
        threading.Thread(target=self._recv, daemon=True).start()

    def _reqs(self, cfg):
        yield A.StreamingRecognizeRequest(streaming_config=cfg)
        step = int(MSG_S * 2 * RATE)
        loop = self.pcm * (step // len(self.pcm) + 2)  # any step-long slice from any offset
        while self.given < self.total:
            k = min(step, self.total - self.given)
            a = self.given % len(self.pcm)
            yield A.StreamingRecognizeRequest(audio_content=loop[a:a + k])
            self.given += k

    def _recv(self):
        try:
            for r in self.call:
                for res in r.results:
                    self.processed_s = max(self.processed_s, res.audio_processed)
                    if res.is_final:
                        self.finals += 1
                    elif res.alternatives:
                        self.interims += 1
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.code, self.details = e.code(), e.details()
        self.done.set()

    def given_s(self):
        return self.given / (2.0 * RATE)


def hour(stub, procs, pcm):
    base = {n: rss_mb(p.pid) for n, p in procs.items()}
    p = Push(stub, pcm, HOUR_S)
    t0 = time.monotonic()
    peak, worst_gap = dict(base), 0.0
    while time.monotonic() - t0 < PUSH_S and not p.done.is_set():
        time.sleep(0.5)
        for n, pr in procs.items():
            peak[n] = max(peak[n], rss_mb(pr.pid))
        if time.monotonic() - t0 > 3:
            worst_gap = max(worst_gap, p.given_s() - p.processed_s)
    dt = time.monotonic() - t0
    print("     after %.1f s: %.0f s of audio taken from the client, %.0f s processed "
          "(%.1fx real time), %d interim and %d final results; largest gap %.0f s"
          % (dt, p.given_s(), p.processed_s, p.processed_s / dt, p.interims, p.finals,
             worst_gap))
    print("     RSS MB at start %s, peak %s" % ({n: round(v) for n, v in base.items()},
                                                {n: round(v) for n, v in peak.items()}))
    check(not p.done.is_set(), "the hour's stream is still going after %.0f s (status %s %s)"
          % (dt, p.code, p.details))
    check(p.finals > 0 and p.interims > 0, "results keep coming: %d interim, %d final"
          % (p.interims, p.finals))
    check(p.processed_s > dt, "recognition runs faster than real time (%.0f s of audio in "
          "%.0f s)" % (p.processed_s, dt))
    check(p.given_s() < HOUR_S and worst_gap < WINDOW_S + H2_S,
          "the client is held back: %.0f of %d s taken, at most %.0f s ahead of recognition "
          "(the gateway's window %.0f s + HTTP/2's, < %.0f s)"
          % (p.given_s(), HOUR_S, worst_gap, WINDOW_S, WINDOW_S + H2_S))
    pushed_mb = p.given / 1048576.0
    for n in procs:
        check(peak[n] - base[n] < RSS_MAX_MB, "%s RSS grew %.1f MB (< %d) while %.0f MB of audio "
              "went through" % (n, peak[n] - base[n], RSS_MAX_MB, pushed_mb))
    t1 = time.monotonic()
    p.call.cancel()
    check(p.done.wait(5) and p.code == grpc.StatusCode.CANCELLED,
          "cancelled: ends %s in %.2f s" % (p.code, time.monotonic() - t1))


def burst(stub, pcm):
    t0 = time.monotonic()
    p = Push(stub, pcm, BURST_S)
    check(p.done.wait(120), "the %d s burst ended" % BURST_S)
    dt = time.monotonic() - t0
    check(p.code == grpc.StatusCode.OK and p.finals >= 2 and p.processed_s >= BURST_S - 0.5,
          "a %d s burst sent as fast as taken completes in %.1f s: %s, %d finals, %.1f s "
          "processed" % (BURST_S, dt, p.code, p.finals, p.processed_s))


def main():
    if not os.path.exists(CLIP):
        print("skip: no %s" % CLIP)
        return
    procs = {}
    procs["nats-server"], nats = g.start_nats()
    procs["parley-asr"] = ds.start_asr(nats)
    procs["gateway"], port, _ = g.start_gateway(nats)
    stub = riva_asr_pb2_grpc.RivaSpeechRecognitionStub(g.channel(port))
    pcm = clip_pcm()
    burst(stub, pcm)  # also warms the model up before the RSS baseline
    hour(stub, procs, pcm)
    check(all(p.poll() is None for p in procs.values()), "no process exited")
    print("PASS")


if __name__ == "__main__":
    main()
