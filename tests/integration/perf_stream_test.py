"""`parley perf --stream` end to end (clients/perf/perf_stream.c): nats-server + parley-asr with
the shipped model (models/) + parley-gateway on free 127.0.0.1 ports, then the C client:

- 2 streams of LJ001-0010 (7.3 s) sent as fast as possible: the CSV has its header and one row
  whose numbers are sane (2 streams, no error, 2 finals, chunk latencies ordered p50 <= p90 <=
  p99, positive and under the deadline);
- 2 streams of a 2 s cut paced in real time: each stream lasts at least its audio, the row has
  a real-time verdict and the run reports "largest real-time N";
- --ramp 3 starts the second of 2 slots 1.5 s (3 * 1 / 2) after the first; --warmup past the
  run's end measures nothing but still counts the finals;
- errors give a clear message and a nonzero exit, never a hang: an unknown rpc, a unary rpc,
  an unreachable gateway (UNAVAILABLE), a server error (a language the service does not serve:
  INVALID_ARGUMENT), a stream past its deadline (DEADLINE_EXCEEDED);
- a gateway with TLS and API keys: --ssl-cert with --api-key works, no key is UNAUTHENTICATED.

Environment (tests/perf_stream.cmake): PL_PARLEY, PL_ASR, PL_GATEWAY, PL_PYTHON_STUBS,
PL_SOURCE_DIR, PARLEY_DATA_DIR.
"""
import csv
import os
import subprocess
import time

import gwtest as g  # noqa: E402
from gwtest import check  # noqa: E402
import asr_test_service as svc  # noqa: E402

SRC = os.environ["PL_SOURCE_DIR"]
DATA = os.environ.get("PARLEY_DATA_DIR", os.path.join(SRC, "..", "shared", "data"))
CLIP = os.path.join(DATA, "speech", "ljspeech-subset", "wavs", "LJ001-0010.flac")
COLUMNS = ["label", "rpc", "concurrency", "streams", "errors", "audio_s", "chunk_ms", "paced",
           "results", "p50_ms", "p90_ms", "p99_ms", "final_p50_ms", "final_max_ms", "finals",
           "endpoint_finals", "endpoint_final_p50_ms", "endpoint_final_max_ms",
           "slowest_stream_s", "realtime"]


def perf(target, *args, timeout=120):
    cmd = [os.environ["PL_PARLEY"], "perf", "--stream", "--target", target] + list(args)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    print("$ %s\n  -> rc %d in %.1f s\n%s%s" % (" ".join(cmd[1:]), r.returncode,
                                              time.monotonic() - t0, r.stdout, r.stderr), flush=True)
    return r, time.monotonic() - t0


def rows(path):
    with open(path) as f:
        rd = csv.DictReader(f)
        check(rd.fieldnames == COLUMNS, "CSV header has the documented columns")
        return list(rd)


def main():
    _, nats_url = g.start_nats()
    _, _, n_models, _ = svc.start_asr(nats_url, os.path.join(SRC, "models"),
                                      {"PARLEY_ASR_HANDLER_THREADS": "2"})
    check(n_models >= 1, "parley-asr loaded the shipped model")
    _, port, _ = g.start_gateway(nats_url)
    target = "127.0.0.1:%d" % port

    # 2 streams, as fast as possible
    out = os.path.join(g.TMP, "fast.csv")
    r, _ = perf(target, "--audio", CLIP, "--concurrency", "2", "--no-realtime", "--csv", out,
                "--label", "fast")
    check(r.returncode == 0, "2 unpaced streams: exit 0")
    rs = rows(out)
    check(len(rs) == 1, "one CSV row per level")
    x = rs[0]
    check(x["label"] == "fast" and x["rpc"] == "streaming_recognize" and x["concurrency"] == "2",
          "label, rpc and concurrency columns")
    check(int(x["streams"]) == 2 and int(x["errors"]) == 0 and int(x["finals"]) == 2,
          "2 streams, no error, 2 finals")
    check(abs(float(x["audio_s"]) - 7.34) < 0.05 and x["chunk_ms"] == "100" and x["paced"] == "0",
          "audio 7.34 s in 100 ms chunks, not paced")
    p50, p90, p99 = float(x["p50_ms"]), float(x["p90_ms"]), float(x["p99_ms"])
    check(int(x["results"]) >= 10 and 0 < p50 <= p90 <= p99 < 60000,
          "chunk latencies measured and ordered (%s results, p50 %.1f p90 %.1f p99 %.1f ms)"
          % (x["results"], p50, p90, p99))
    check(0 <= float(x["final_p50_ms"]) <= float(x["final_max_ms"]) < 60000,
          "final latency measured (%s / %s ms)" % (x["final_p50_ms"], x["final_max_ms"]))
    check(0 < float(x["slowest_stream_s"]) < 60 and x["realtime"] == "",
          "slowest stream %s s; no real-time verdict without pacing" % x["slowest_stream_s"])
    check('# a final: "' in r.stdout and '# a final: ""' not in r.stdout,
          "a final transcript is shown")

    # 2 streams of a 2 s cut, paced in real time
    cut = os.path.join(g.TMP, "cut2s.wav")
    subprocess.run(["sox", CLIP, "-r", "22050", cut, "trim", "0", "2"], check=True)
    out = os.path.join(g.TMP, "paced.csv")
    r, wall = perf(target, "--audio", cut, "--concurrency", "2", "--chunk-ms", "50", "--csv", out)
    check(r.returncode == 0, "2 paced streams: exit 0")
    x = rows(out)[0]
    check(abs(float(x["audio_s"]) - 2.0) < 0.01 and x["paced"] == "1" and x["chunk_ms"] == "50",
          "a 22.05 kHz file resampled to 2.00 s at 16 kHz, 50 ms chunks, paced")
    check(float(x["slowest_stream_s"]) >= 1.9 and wall >= 1.9,
          "pacing: streams last as long as their audio (%s s)" % x["slowest_stream_s"])
    check(x["realtime"] in ("0", "1") and "largest real-time N: " in r.stdout,
          "real-time verdict (%s) and the largest real-time N" % x["realtime"])
    check(int(x["finals"]) == 2 and int(x["errors"]) == 0, "2 finals, no error")

    # --ramp spreads the slots' starts; --warmup leaves out what comes before its end
    out = os.path.join(g.TMP, "ramp.csv")
    r, wall = perf(target, "--audio", cut, "--concurrency", "2", "--ramp", "3", "--warmup",
                   "600", "--csv", out)
    check(r.returncode == 0 and "spread over 3.00 s; measured from 600.0 s on" in r.stdout,
          "--ramp 3 --warmup 600: exit 0, said in the header")
    x = rows(out)[0]
    check(wall >= 3.4 and float(x["slowest_stream_s"]) < wall - 1.0,
          "the second slot started 1.5 s after the first (run %.1f s, slowest stream %s s)"
          % (wall, x["slowest_stream_s"]))
    check(int(x["finals"]) == 2 and int(x["results"]) == 0 and x["p50_ms"] == ""
          and x["final_p50_ms"] == "",
          "finals received during the warm-up count as received, none is measured")
    r, _ = perf(target, "--audio", cut, "--ramp", "-1")
    check(r.returncode == 2 and "--ramp -1" in r.stderr, "a negative ramp is refused (exit 2)")

    # errors: clear messages, nonzero exits, no hang
    r, _ = perf(target, "--audio", CLIP, "--rpc", "riva.asr.RivaSpeechRecognition/NoSuchRpc")
    check(r.returncode == 2 and "unknown rpc" in r.stderr, "an unknown rpc is refused (exit 2)")
    r, _ = perf(target, "--audio", CLIP, "--rpc", "riva.nlp.RivaLanguageUnderstanding/PunctuateText")
    check(r.returncode == 2 and "StreamingRecognize" in r.stderr, "a unary rpc is refused (exit 2)")
    r, _ = perf(target, "--audio", "/nonexistent.wav")
    check(r.returncode == 2 and "nonexistent.wav" in r.stderr, "a missing audio file (exit 2)")
    r, t = perf("127.0.0.1:%d" % g.free_port(), "--audio", cut, "--concurrency", "2")
    check(r.returncode == 1 and "status 14 (UNAVAILABLE)" in r.stdout and t < 30,
          "unreachable gateway: UNAVAILABLE, exit 1, in %.1f s" % t)
    r, _ = perf(target, "--audio", cut, "--language-code", "xx-XX", "--no-realtime")
    check(r.returncode == 1 and "status 3 (INVALID_ARGUMENT)" in r.stdout and "xx-XX" in r.stdout,
          "server error: the status and the server's message (exit 1)")
    r, t = perf(target, "--audio", CLIP, "--concurrency", "2", "--timeout", "1")
    check(r.returncode == 1 and "status 4 (DEADLINE_EXCEEDED)" in r.stdout and t < 10,
          "a stream past its deadline: DEADLINE_EXCEEDED, exit 1, in %.1f s" % t)

    # TLS and API keys
    cert, key = os.path.join(g.TMP, "cert.pem"), os.path.join(g.TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    keys = os.path.join(g.TMP, "keys.txt")
    with open(keys, "w") as f:
        f.write("sk-perf-0123456789 perf\n")
    _, tport, _ = g.start_gateway(nats_url, env_extra={
        "PARLEY_GATEWAY_TLS_CERT": cert, "PARLEY_GATEWAY_TLS_KEY": key,
        "PARLEY_GATEWAY_API_KEYS_FILE": keys})
    tls = "127.0.0.1:%d" % tport
    r, _ = perf(tls, "--audio", cut, "--no-realtime", "--ssl-cert", cert,
                "--api-key", "sk-perf-0123456789")
    check(r.returncode == 0 and "(TLS)" in r.stdout, "TLS gateway with an API key: exit 0")
    r, _ = perf(tls, "--audio", cut, "--no-realtime", "--ssl-cert", cert)
    check(r.returncode == 1 and "status 16 (UNAUTHENTICATED)" in r.stdout,
          "no API key: UNAUTHENTICATED, exit 1")
    print("PASS")


if __name__ == "__main__":
    main()
