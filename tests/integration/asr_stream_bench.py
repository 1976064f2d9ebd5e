"""StreamingRecognize benchmark (docs/asr-streaming.md): nats-server + parley-asr + gateway on
free 127.0.0.1 ports, N parallel streams of a real recording sent in real time (chunks of
--chunk-ms paced by the clock, interim results on), for each N in --streams.

Per-chunk latency: for each interim/final result, the time from sending the chunk that
completed the audio the result covers (audio_processed) to receiving the result. Final
latency: from the half-close (end of audio) to the final result. A run "stays real time" when
every stream finishes within 1 s of its audio's duration and p99 chunk latency is under
--rt-p99-ms.

  /usr/bin/python3 tests/integration/asr_stream_bench.py --build BUILD [--model-dir DIR]
      [--streams 1,8,16,32] [--clip LJ001-0010] [--chunk-ms 100] [--threads 4]
      [--endpointing vad+blank|vad|agree] [--batch-wait-us N] [--max-batch N]

Each row also gives the mean number of streams per batched model step of the worker's
scheduler (parley_asr_stream_batch_size from /metrics) and parley-asr's CPU time (user +
system) per second of audio streamed (asr_cpu_s_per_audio_s), which the neighbours' load on
a shared machine moves much less than the latencies.
"""
import argparse
import json
import os
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))] if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model-dir", default=os.path.join(SRC, "models"))
    ap.add_argument("--streams", default="1,8,16,32")
    ap.add_argument("--clip", default="LJ001-0010")
    ap.add_argument("--chunk-ms", type=int, default=100)
    ap.add_argument("--threads", type=int, default=4, help="parley-asr handler threads")
    ap.add_argument("--rt-p99-ms", type=float, default=500)
    ap.add_argument("--gap-s", type=float, default=0.0,
                    help="stream clip + this much silence + clip: the first final comes from the "
                         "endpointer; its latency is measured from the chunk that closes the stop window")
    ap.add_argument("--endpointing", default="", help="asr.stream_endpointing (default: the worker's)")
    ap.add_argument("--batch-wait-us", type=int, default=-1, help="asr.stream_batch_wait_us")
    ap.add_argument("--max-batch", type=int, default=0, help="asr.stream_max_batch")
    a = ap.parse_args()
    os.environ.setdefault("PL_ASR", os.path.join(a.build, "services", "asr", "parley-asr"))
    os.environ.setdefault("PL_GATEWAY", os.path.join(a.build, "services", "gateway", "parley-gateway"))
    os.environ.setdefault("PL_PYTHON_STUBS", os.path.join(a.build, "python"))
    os.environ.setdefault("PL_SOURCE_DIR", SRC)
    os.environ.setdefault("PARLEY_DATA_DIR", os.path.join(SRC, "..", "shared", "data"))
    import gwtest as g
    import asr_test_service as svc
    from riva.proto import riva_asr_pb2 as asr
    from riva.proto import riva_asr_pb2_grpc as asr_grpc

    data = os.environ["PARLEY_DATA_DIR"]
    wav = svc.sox([os.path.join(data, "speech", "ljspeech-subset", "wavs", a.clip + ".flac"),
                   "-t", "wav", "-r", "16000", "-b", "16", "-c", "1", "-"])
    hdr, pcm = wav[:44], wav[44:]
    if a.gap_s > 0:
        pcm = pcm + b"\0\0" * int(16000 * a.gap_s) + pcm
    dur = len(pcm) / 32000.0
    chunk = 32 * a.chunk_ms
    _, nats_url = g.start_nats()
    env = {"PARLEY_ASR_HANDLER_THREADS": str(a.threads)}
    if a.endpointing:
        env["PARLEY_ASR_STREAM_ENDPOINTING"] = a.endpointing
    if a.batch_wait_us >= 0:
        env["PARLEY_ASR_STREAM_BATCH_WAIT_US"] = str(a.batch_wait_us)
    if a.max_batch > 0:
        env["PARLEY_ASR_STREAM_MAX_BATCH"] = str(a.max_batch)
    asr_proc, asr_http, n_models, _ = svc.start_asr(nats_url, a.model_dir, env)

    def asr_cpu_s():
        # user + system CPU seconds of parley-asr so far: what a level cost it, whatever the
        # neighbours' load did to the latencies
        f = open("/proc/%d/stat" % asr_proc.pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def sched():
        _, m = g.http_get(asr_http, "/metrics")
        v = {"sum": 0.0, "count": 0.0}
        for l in m.splitlines():
            for k in v:
                if l.startswith("parley_asr_stream_batch_size_%s" % k):
                    v[k] += float(l.rsplit(" ", 1)[1])
        return v
    assert n_models >= 1, "no model in %s" % a.model_dir
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = asr_grpc.RivaSpeechRecognitionStub(g.channel(grpc_port))
    config = asr.RecognitionConfig(language_code="en-US", max_alternatives=1)

    def one(res):
        sent = []  # (end_s, t)
        state = {"close": None}

        def gen():
            yield asr.StreamingRecognizeRequest(
                streaming_config=asr.StreamingRecognitionConfig(config=config, interim_results=True))
            t0 = time.monotonic()
            for i, off in enumerate(range(0, len(pcm), chunk)):
                due = t0 + i * a.chunk_ms / 1000.0
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
                body = pcm[off:off + chunk]
                sent.append(((off + len(body)) / 32000.0, time.monotonic()))
                yield asr.StreamingRecognizeRequest(audio_content=(hdr + body) if i == 0 else body)
            state["close"] = time.monotonic()
        lat, fin, text, ep = [], None, "", []
        t_start = time.monotonic()
        for resp in stub.StreamingRecognize(gen(), timeout=300):
            now = time.monotonic()
            for r in resp.results:
                if r.is_final and state["close"] is not None and r.audio_processed >= dur - 0.05:
                    fin = now - state["close"]
                    text = r.alternatives[0].transcript if r.alternatives else ""
                    continue
                k = next((t for e, t in sent if e >= r.audio_processed - 1e-3), None)
                if k is not None:
                    (ep if r.is_final else lat).append(now - k)
        res.append((lat, fin, time.monotonic() - t_start, text, ep))

    report = []
    for n in [int(x) for x in a.streams.split(",")]:
        res = []
        s0 = sched()
        c0 = asr_cpu_s()
        ts = [threading.Thread(target=one, args=(res,)) for _ in range(n)]
        for t in ts:
            t.start()
            time.sleep(a.chunk_ms / 1000.0 / max(n, 1))  # spread the chunk phases
        for t in ts:
            t.join()
        lat = [x * 1000 for r in res for x in r[0]]
        fins = [r[1] * 1000 for r in res if r[1] is not None]
        walls = [r[2] for r in res]
        eps = [x * 1000 for r in res for x in r[4]]
        s1 = sched()
        cpu = asr_cpu_s() - c0
        steps = s1["count"] - s0["count"]
        rt = (len(fins) == n and max(walls) <= dur + 1.0 + a.chunk_ms / 1000.0 and pct(lat, 99) < a.rt_p99_ms)
        row = {"streams": n, "audio_s": round(dur, 2), "chunk_ms": a.chunk_ms, "results": len(lat),
               "p50_ms": round(pct(lat, 50), 1), "p90_ms": round(pct(lat, 90), 1),
               "p99_ms": round(pct(lat, 99), 1), "final_p50_ms": round(pct(fins, 50), 1),
               "final_max_ms": round(max(fins), 1) if fins else None,
               "finals": len(fins), "endpoint_finals": len(eps),
               "endpoint_final_p50_ms": round(pct(eps, 50), 1) if eps else None,
               "endpoint_final_max_ms": round(max(eps), 1) if eps else None, "slowest_stream_s": round(max(walls), 2), "realtime": rt,
               "mean_batch": round((s1["sum"] - s0["sum"]) / steps, 2) if steps else None,
               "asr_cpu_s_per_audio_s": round(cpu / (n * dur), 4),
               "load": open("/proc/loadavg").read().split()[0]}
        report.append(row)
        print(json.dumps(row), flush=True)
    print("largest real-time N: %s" % max([r["streams"] for r in report if r["realtime"]] or [0]))
    try:
        print("load average: %s" % open("/proc/loadavg").read().split()[:3])
    except OSError:
        pass


if __name__ == "__main__":
    main()
