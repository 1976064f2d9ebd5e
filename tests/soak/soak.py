#!/usr/bin/env python3
"""Soak test (issue 23 item 3; a benchmark, not part of `make test`).

    /usr/bin/python3 tests/soak/soak.py [--build build] [--minutes 10] [--asr-streams 64]
        [--tts-streams 32] [--dialog-users 200] [--nlu-rate 20] [--out DIR]

Starts the whole stack with the shipped models on free 127.0.0.1 ports (nats-server,
parley-asr, parley-nlu, parley-qa with a one-document knowledge base, parley-tts with the
shipped voice, parley-dialog with a fresh SQLite store, parley-gateway) and keeps it under a
steady load for --minutes:

  asr     --asr-streams clients, each streaming LJ Speech clips (16 kHz LINEAR_PCM, 100 ms
          chunks paced by the clock, interim results) one StreamingRecognize call per clip,
          one after the other; latency "asr_final": last chunk sent -> end of the call (the
          final result); "asr_lag": for every result while the audio is being sent, the time
          since the chunk that completed the audio the server says it has processed was due
          (how far recognition runs behind real time); "asr_send_late": per call, how late the load
          client sent its latest chunk (its own pacing on a busy machine);
  tts     --tts-streams clients, each calling SynthesizeOnline for a sentence, then pausing
          --tts-pause s; latency "tts_first": call start -> first audio chunk;
  dialog  --dialog-users users, each with its own session on one Converse stream for the
          whole run, saying a booking conversation in a loop, one text turn every
          --dialog-think s (+-50 %, random); latency "dialog": text sent -> TURN_COMPLETE;
  nlu     AnalyzeIntent at --nlu-rate calls/s in total (open loop, 4 threads); latency "nlu".

Every --sample-s s it reads VmRSS of every process from /proc/PID/status (and the CPU time
each has used). At the end it prints, per minute and kind, the calls ended, the errors and the
p50/p99 latency; the errors by status; the RSS of every process at minute 2 and in the last
minute; and the verdict: PASS when there were 0 errors and every process's RSS grew less than
5 % from minute 2 to the last minute (the means of their samples). It writes DIR/soak.json
(everything above, every RSS sample) and DIR/soak-rss.png (RSS over time, one panel per
process; matplotlib, Debian's python3-matplotlib). Exit code 0 on PASS, 1 otherwise.
"""
import argparse
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data")
LJ = os.path.join(DATA, "speech", "ljspeech-real", "wavs")
RATE = 16000
CHUNK_MS = 100
DIALOG_LINES = ["hello", "book a table for four in boston", "at 8 pm", "no, make it six people",
                "yes", "add wonderwall to my road trip playlist", "thanks", "bye"]
TTS_LINES = ["Your table for four is booked at eight pm.",
             "I added the song to your road trip playlist.",
             "The Parley manual was written by Ada Lovelace in London.",
             "Sorry, I did not catch that. Could you say it again?"]
NLU_LINES = ["book a table for two at an italian restaurant in boston tomorrow",
             "play some jazz music by miles davis", "what is the weather in paris next week",
             "add this song to my workout playlist", "rate this book five stars"]


ASR_ENV = {}  # --asr-env KEY=VALUE: extra environment of parley-asr (malloc tunables, options)


def setup_env(build):
    b = os.path.abspath(build)
    os.environ.update({
        "PL_ASR": os.path.join(b, "services/asr/parley-asr"),
        "PL_NLU": os.path.join(b, "services/nlu/parley-nlu"),
        "PL_QA": os.path.join(b, "services/qa/parley-qa"),
        "PL_TTS": os.path.join(b, "services/tts/parley-tts"),
        "PL_DIALOG": os.path.join(b, "services/dialog/parley-dialog"),
        "PL_GATEWAY": os.path.join(b, "services/gateway/parley-gateway"),
        "PL_PARLEY": os.path.join(b, "clients/parley"),
        "PL_PYTHON_STUBS": os.path.join(b, "python"),
        "PL_SOURCE_DIR": ROOT,
    })
    sys.path.insert(0, os.path.join(ROOT, "tests/integration"))


# ---- the stack -------------------------------------------------------------------------------

def start_stack(g, ds):
    """Every process started, by name; the gateway's port."""
    models = os.path.join(ROOT, "models")
    procs = {}
    procs["nats-server"], nats = g.start_nats()
    procs["parley-nlu"] = ds.start([os.environ["PL_NLU"], "--nats", nats, "--http-port", "-1",
                                    "--model-dir", models], "nlu",
                                   {"PARLEY_NLU_LOG_LEVEL": "warn"}, r"models=\d+")
    procs["parley-asr"] = ds.start([os.environ["PL_ASR"], "--nats", nats, "--http-port", "-1",
                                    "--model-dir", models], "asr",
                                   dict({"PARLEY_ASR_LOG_LEVEL": "warn"}, **ASR_ENV), r"models=[1-9]")
    kb = os.path.join(g.TMP, "kb.sqlite")
    doc = os.path.join(g.TMP, "manual.md")
    open(doc, "w").write("# The Parley manual\n\nThe Parley manual was written by Ada Lovelace "
                         "in London. It explains how to book a table.\n")
    subprocess.run([os.environ["PL_PARLEY"], "kb", "--kb", kb, "add", doc], check=True,
                   stdout=subprocess.DEVNULL)
    procs["parley-qa"] = ds.start([os.environ["PL_QA"], "--nats", nats, "--http-port", "-1",
                                   "--model-dir", models], "qa",
                                  {"PARLEY_QA_KB_PATH": kb, "PARLEY_QA_LOG_LEVEL": "warn"},
                                  r"models=\d+")
    procs["parley-tts"] = ds.start_tts(nats, 0)
    procs["parley-dialog"] = ds.start(
        [os.environ["PL_DIALOG"], "--nats", nats, "--http-port", "-1", "--model-dir",
         os.path.join(ROOT, "dialog", "specs")], "dialog",
        {"PARLEY_DIALOG_STORE_PATH": os.path.join(g.TMP, "dialog.sqlite"),
         "PARLEY_DIALOG_DEFAULT_DIALOG": "assistant", "PARLEY_DIALOG_LOG_LEVEL": "warn"},
        r"specs=[1-9]")
    procs["parley-gateway"], port, _ = g.start_gateway(nats)
    return procs, port


def load_clips(tmp, n):
    """n LJ Speech clips as 16 kHz 16-bit mono PCM (sox), with 0.5 s of silence after each."""
    names = sorted(f for f in os.listdir(LJ) if f.endswith((".flac", ".wav")))[:n]
    clips = []
    for name in names:
        raw = os.path.join(tmp, name + ".raw")
        subprocess.run(["sox", os.path.join(LJ, name), "-r", str(RATE), "-b", "16", "-c", "1",
                        "-e", "signed-integer", "-t", "raw", raw, "pad", "0", "0.5"], check=True)
        clips.append((name, open(raw, "rb").read()))
    return clips


# ---- recording -------------------------------------------------------------------------------

class Record:
    """Every call's end: (kind, t_end since the start, latency ms or None, status name)."""

    def __init__(self, t0):
        self.t0, self.lock, self.rows = t0, threading.Lock(), []

    def add(self, kind, latency_ms, code="OK", detail=""):
        with self.lock:
            self.rows.append((kind, time.monotonic() - self.t0, latency_ms, code, detail[:200]))


def code_name(e):
    import grpc
    return e.code().name if isinstance(e, grpc.RpcError) else type(e).__name__


# ---- load ------------------------------------------------------------------------------------

def asr_client(ch, k, clips, rec, stop):
    from riva.proto import riva_asr_pb2 as A, riva_asr_pb2_grpc, riva_audio_pb2 as RA
    stub = riva_asr_pb2_grpc.RivaSpeechRecognitionStub(ch)
    cfg = A.StreamingRecognitionConfig(
        config=A.RecognitionConfig(encoding=RA.LINEAR_PCM, sample_rate_hertz=RATE,
                                   language_code="en-US", max_alternatives=1),
        interim_results=True)
    step = RATE * 2 * CHUNK_MS // 1000
    i = k
    time.sleep(random.random() * 2.0)  # spread the streams' chunks over the 100 ms
    while not stop.is_set():
        name, pcm = clips[i % len(clips)]
        i += 1
        last, late = [0.0], [0.0]
        t_start = time.monotonic()

        def reqs():
            yield A.StreamingRecognizeRequest(streaming_config=cfg)
            for n, off in enumerate(range(0, len(pcm), step)):
                due = t_start + n * CHUNK_MS / 1000.0
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
                late[0] = max(late[0], -d)
                yield A.StreamingRecognizeRequest(audio_content=pcm[off:off + step])
            last[0] = time.monotonic()

        finals = 0
        try:
            for r in stub.StreamingRecognize(reqs(), timeout=120):
                now = time.monotonic()
                for res in r.results:
                    if res.audio_processed > 0 and not last[0]:  # the chunk that completed
                        sent = t_start + res.audio_processed - CHUNK_MS / 1000.0  # it was due
                        rec.add("asr_lag", (now - sent) * 1000.0)
                    finals += res.is_final
            rec.add("asr_final", (time.monotonic() - last[0]) * 1000.0 if last[0] else None,
                    "OK" if finals else "NO_FINAL", "" if finals else name)
            rec.add("asr_send_late", late[0] * 1000.0)  # the client's own pacing, worst chunk
        except Exception as e:  # noqa: BLE001 - every failure is counted by its status
            rec.add("asr_final", None, code_name(e), str(getattr(e, "details", lambda: e)()))


def tts_client(ch, k, rec, stop, pause):
    from riva.proto import riva_audio_pb2 as RA, riva_tts_pb2 as T, riva_tts_pb2_grpc
    stub = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(ch)
    i = k
    time.sleep(random.random() * 2.0)
    while not stop.is_set():
        text = TTS_LINES[i % len(TTS_LINES)]
        i += 1
        t0 = time.monotonic()
        first, n = None, 0
        try:
            req = T.SynthesizeSpeechRequest(text=text, language_code="en-US",
                                            encoding=RA.LINEAR_PCM, sample_rate_hz=22050)
            for r in stub.SynthesizeOnline(iter([req]), timeout=120):
                if r.audio and first is None:
                    first = time.monotonic()
                n += len(r.audio)
            rec.add("tts_first", (first - t0) * 1000.0 if first else None,
                    "OK" if n else "NO_AUDIO")
        except Exception as e:  # noqa: BLE001
            rec.add("tts_first", None, code_name(e), str(getattr(e, "details", lambda: e)()))
        stop.wait(pause)


def dialog_user(ch, k, rec, stop, think, run_s):
    """One user: one Converse stream for the run (reopened after a failure), a turn every
    think s (+-50 %)."""
    from parley.dialog.v1 import dialog_pb2 as D, dialog_pb2_grpc
    stub = dialog_pb2_grpc.DialogStub(ch)
    user = "soak-%03d" % k
    sid = ""
    j = k
    stop.wait(random.random() * think)
    while not stop.is_set():
        q = queue.Queue()
        q.put(D.ConverseRequest(config=D.ConverseConfig(user_id=user, session_id=sid)))

        def reqs():
            while True:
                r = q.get()
                if r is None:
                    return
                yield r

        call = stub.Converse(reqs(), timeout=run_s + 300)
        try:
            it = iter(call)
            while not stop.is_set():
                t0 = time.monotonic()
                q.put(D.ConverseRequest(text=D.TextInput(text=DIALOG_LINES[j % len(DIALOG_LINES)])))
                j += 1
                while True:
                    r = next(it)
                    if r.session_id:
                        sid = r.session_id
                    if r.WhichOneof("response") == "event" and r.event.type in (
                            D.EVENT_TURN_COMPLETE, D.EVENT_ERROR):
                        break
                if r.event.type == D.EVENT_ERROR:
                    rec.add("dialog", None, "EVENT_ERROR", r.event.detail)
                else:
                    rec.add("dialog", (time.monotonic() - t0) * 1000.0)
                stop.wait(think * (0.5 + random.random()))
            q.put(None)
            for _ in it:
                pass
        except Exception as e:  # noqa: BLE001
            rec.add("dialog", None, code_name(e), str(getattr(e, "details", lambda: e)()))
            q.put(None)
            stop.wait(1.0)


def nlu_client(ch, k, rec, stop, rate):
    from riva.proto import riva_nlp_pb2 as N, riva_nlp_pb2_grpc
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
    gap, due, i = 1.0 / rate, time.monotonic() + random.random(), k
    while not stop.is_set():
        d = due - time.monotonic()
        if d > 0:
            stop.wait(d)
        due = max(due + gap, time.monotonic() - 1.0)  # open loop, no burst after a stall
        t0 = time.monotonic()
        try:
            r = stub.AnalyzeIntent(N.AnalyzeIntentRequest(query=NLU_LINES[i % len(NLU_LINES)]),
                                   timeout=30)
            i += 1
            rec.add("nlu", (time.monotonic() - t0) * 1000.0, "OK" if r.intent.class_name else
                    "NO_INTENT")
        except Exception as e:  # noqa: BLE001
            rec.add("nlu", None, code_name(e), str(getattr(e, "details", lambda: e)()))


# ---- sampling --------------------------------------------------------------------------------

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def sampler(procs, t0, every, stop, samples):
    pids = dict({n: p.pid for n, p in procs.items()}, **{"load-client": os.getpid()})
    while True:
        row = {"t": round(time.monotonic() - t0, 2), "rss_kb": {}, "cpu_s": {}}
        for name, pid in pids.items():
            try:
                row["rss_kb"][name] = rss_kb(pid)
                row["cpu_s"][name] = round(cpu_s(pid), 2)
            except OSError:
                row["rss_kb"][name] = None
        row["load1"] = os.getloadavg()[0]
        samples.append(row)
        if stop.wait(every):
            return


# ---- the report ------------------------------------------------------------------------------

def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))], 1)


def per_minute(rows, minutes):
    out = []
    for m in range(minutes):
        for kind in ("asr_final", "asr_lag", "asr_send_late", "tts_first", "dialog", "nlu"):
            sel = [r for r in rows if r[0] == kind and m * 60 <= r[1] < (m + 1) * 60]
            lat = [r[2] for r in sel if r[3] == "OK" and r[2] is not None]
            out.append({"minute": m + 1, "kind": kind, "n": len(sel),
                        "errors": sum(r[3] != "OK" for r in sel),
                        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)})
    return out


def rss_growth(samples, names, minutes):
    """Mean RSS (kB) in minute 2 and in the last minute, and the growth in %."""
    out = {}
    for n in names:
        def mean(a, b):
            v = [s["rss_kb"][n] for s in samples if a <= s["t"] < b and s["rss_kb"].get(n)]
            return sum(v) / len(v) if v else None
        m2, last = mean(60, 120), mean((minutes - 1) * 60, minutes * 60 + 30)
        g = (last - m2) / m2 * 100.0 if m2 and last else None
        out[n] = {"minute2_kb": round(m2) if m2 else None, "last_kb": round(last) if last else None,
                  "growth_pct": round(g, 2) if g is not None else None}
    return out


def plot(samples, names, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = 2
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.3 * rows), sharex=True)
    for ax, n in zip(axes.flat, names):
        t = [s["t"] / 60.0 for s in samples if s["rss_kb"].get(n)]
        v = [s["rss_kb"][n] / 1024.0 for s in samples if s["rss_kb"].get(n)]
        ax.plot(t, v, lw=1.2)
        lo, hi = min(v), max(v)
        ax.set_ylim(lo - max(1.0, 0.1 * hi), hi + max(1.0, 0.1 * hi))
        ax.set_title(n, fontsize=9)
        ax.set_ylabel("RSS MiB", fontsize=8)
        ax.axvline(1.0, color="grey", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("minutes", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def report(args, rec, samples, names, t_load):
    minutes = max(1, int(round(t_load / 60.0)))
    with rec.lock:  # calls that end after the load stopped are not counted
        rec.rows = [r for r in rec.rows if r[1] <= t_load]
    table = per_minute(rec.rows, minutes)
    errors = {}
    examples = {}
    for r in rec.rows:
        if r[3] != "OK":
            key = "%s %s" % (r[0], r[3])
            errors[key] = errors.get(key, 0) + 1
            examples.setdefault(key, r[4])
    growth = rss_growth(samples, names, minutes)
    print("\nminute kind        calls  errors   p50 ms   p99 ms")
    for row in table:
        print("%6d %-10s %6d %7d %8s %8s" % (row["minute"], row["kind"], row["n"], row["errors"],
                                             row["p50_ms"], row["p99_ms"]))
    print("\nerrors by kind and status: %s" % (errors or "none"))
    for k, v in examples.items():
        print("  %s e.g. %s" % (k, v))
    print("\nprocess           RSS minute 2   RSS last minute   growth   CPU s")
    last = samples[-1]
    for n in names:
        gr = growth[n]
        print("%-16s %10s kB %14s kB %7s %% %7s" % (n, gr["minute2_kb"], gr["last_kb"],
                                                     gr["growth_pct"], last["cpu_s"].get(n)))
    flat = all(growth[n]["growth_pct"] is not None and growth[n]["growth_pct"] < 5.0
               for n in names if n != "load-client")
    ok = not errors and flat and minutes >= 3
    print("\n0 errors: %s; RSS growth < 5 %% from minute 2 to the last minute for every process: "
          "%s%s" % ("yes" if not errors else "NO (%d)" % sum(errors.values()),
                    "yes" if flat else "NO", "" if minutes >= 3 else " (run too short to judge)"))
    print("SOAK %s" % ("PASS" if ok else "FAIL"))
    res = {"config": vars(args), "load_seconds": round(t_load, 1), "per_minute": table,
           "errors": errors, "error_examples": examples, "rss_growth": growth,
           "pass": ok, "samples": samples}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "soak.json"), "w") as f:
        json.dump(res, f, indent=1)
    title = ("Parley soak: %d ASR streams, %d TTS streams, %d dialog users, NLU %g/s, %.1f min"
             % (args.asr_streams, args.tts_streams, args.dialog_users, args.nlu_rate,
                t_load / 60.0))
    plot(samples, names, os.path.join(args.out, "soak-rss.png"), title)
    print("wrote %s/soak.json and %s/soak-rss.png" % (args.out, args.out))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--asr-streams", type=int, default=64)
    ap.add_argument("--tts-streams", type=int, default=32)
    ap.add_argument("--tts-pause", type=float, default=1.0, help="s between a client's calls")
    ap.add_argument("--dialog-users", type=int, default=200)
    ap.add_argument("--dialog-think", type=float, default=5.0, help="mean s between turns")
    ap.add_argument("--nlu-rate", type=float, default=20.0, help="AnalyzeIntent calls/s")
    ap.add_argument("--clips", type=int, default=8, help="LJ Speech clips the ASR loops over")
    ap.add_argument("--sample-s", type=float, default=5.0)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "soak"))
    ap.add_argument("--asr-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for parley-asr (repeatable), e.g. a PARLEY_ASR_* option")
    args = ap.parse_args()
    for kv in args.asr_env:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            ap.error("--asr-env wants KEY=VALUE, got %r" % kv)
        ASR_ENV[k] = v
    setup_env(args.build)
    import dialog_stories as ds
    import gwtest as g
    random.seed(1)
    procs, port = start_stack(g, ds)
    clips = load_clips(g.TMP, args.clips)
    print("stack up on 127.0.0.1:%d; %d clips (%.1f s of audio); load for %.1f min"
          % (port, len(clips), sum(len(c[1]) for c in clips) / (2.0 * RATE), args.minutes),
          flush=True)
    names = list(procs) + ["load-client"]
    channels = [g.channel(port) for _ in range(8)]  # a few HTTP/2 connections, as apps would
    stop, samples = threading.Event(), []
    t0 = time.monotonic()
    rec = Record(t0)
    run_s = args.minutes * 60.0
    threads = [threading.Thread(target=sampler, args=(procs, t0, args.sample_s, stop, samples))]
    for k in range(args.asr_streams):
        threads.append(threading.Thread(target=asr_client,
                                        args=(channels[k % 8], k, clips, rec, stop)))
    for k in range(args.tts_streams):
        threads.append(threading.Thread(target=tts_client,
                                        args=(channels[k % 8], k, rec, stop, args.tts_pause)))
    for k in range(args.dialog_users):
        threads.append(threading.Thread(target=dialog_user, args=(channels[k % 8], k, rec, stop,
                                                                  args.dialog_think, run_s)))
    for k in range(4 if args.nlu_rate > 0 else 0):
        threads.append(threading.Thread(target=nlu_client,
                                        args=(channels[k % 8], k, rec, stop, args.nlu_rate / 4)))
    for t in threads:
        t.daemon = True
        t.start()
    last_print = 0
    while time.monotonic() - t0 < run_s:
        time.sleep(1.0)
        el = time.monotonic() - t0
        if el - last_print >= 60:
            last_print = el
            with rec.lock:
                n, bad = len(rec.rows), sum(r[3] != "OK" for r in rec.rows)
            print("%5.0f s: %d calls ended, %d errors, load %.1f, RSS MB %s" % (
                el, n, bad, os.getloadavg()[0],
                {k: round(v / 1024) for k, v in samples[-1]["rss_kb"].items() if v}), flush=True)
        dead = [n for n, p in procs.items() if p.poll() is not None]
        if dead:
            print("process(es) exited: %s" % dead)
            break
    t_load = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(5)
    ok = report(args, rec, samples, names, t_load)
    dead = [n for n, p in procs.items() if p.poll() is not None]
    if dead:
        print("FAIL: exited during the run: %s" % dead)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
