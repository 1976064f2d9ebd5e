#!/usr/bin/env python3
"""Evaluate Parley's voice: intelligibility against Debian's synthesizers, and speed.

Intelligibility: held-out LJ Speech sentences (the normalized text of speech/ljspeech-real and
speech/ljspeech-subset; gen_festival.py never trains on them) are spoken by Parley and by
the peers festival (cmu_us_slt_arctic_hts), flite (slt) and espeak-ng (en-us), then
transcribed by pocketsphinx (en-us model); WER against the text.

Speed (through the gateway, service mode only): time to first audio of SynthesizeOnline for a
short (5 words) and a long (60 words) sentence, p50/p99 over --reps calls; 8 concurrent
SynthesizeOnline streams (each: audio seconds / wall seconds); and the real-time factor on
one core of the voice itself (tts_say -t 1: process CPU seconds / audio seconds).

  # everything, against a stack this script starts (nats-server + parley-tts + gateway):
  /usr/bin/python3 -m train.tts.eval_service --build build
  # the voice without the service (no gateway figures):
  /usr/bin/python3 -m train.tts.eval_service --build build --direct
  # the recipe's dev set (40 teacher sentences, used to choose checkpoints; never the LJ set):
  /usr/bin/python3 -m train.tts.eval_service --direct --no-peers --no-rtf \
      --dev-set /work/tts-data --voice /tmp/candidate
Options: --limit N (sentences)  --sentences TSV  --no-peers  --voice DIR  --json OUT  --server HOST:PORT
         --max-wer X (exit 1 when Parley's WER is above X: the ctest floor)  --no-rtf
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from train.asr.eval.eval_service import clean, free_port, ps_run, score  # noqa: E402
from train.common import paths  # noqa: E402

SHORT = "Turn on the kitchen lights."
LONG = ("The committee met on a cold morning in early spring to review the plans for the new "
        "library, and after a long discussion about the budget, the size of the reading rooms, "
        "the number of computers and the hours it would stay open, the members agreed to start "
        "building in the autumn and to open the doors to the public two years later.")


def sentences(ddir, limit):
    rows = {}
    for d in ("speech/ljspeech-real", "speech/ljspeech-subset"):
        for line in open(os.path.join(ddir, d, "metadata.csv"), encoding="utf-8"):
            p = line.rstrip("\n").split("|")
            rows[p[0]] = p[2] if len(p) > 2 else p[1]
    ids = sorted(rows)
    step = max(1, len(ids) // limit) if limit else 1
    return [(i, rows[i]) for i in ids[::step][:limit or None]]


def dev_rows(teacher_dir):
    """The voice recipe's dev set: the sentences train.py holds out (train.DEV_IDS)."""
    from train.tts.train import DEV_IDS
    rows = [tuple(l.rstrip("\n").split("\t", 1))
            for l in open(os.path.join(teacher_dir, "text.tsv"), encoding="utf-8")]
    return [r for r in rows if r[0] in DEV_IDS]


def sox16k(src, dst):
    subprocess.run(["sox", "-V1", "-D", src, "-r", "16000", "-c", "1", "-b", "16", dst], check=True)


def peer(name, text, out, tmp):
    raw = os.path.join(tmp, "peer.wav")
    if name == "festival":
        tf = os.path.join(tmp, "t.txt")
        open(tf, "w").write(text + "\n")
        subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", tf, "-o", raw],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif name == "flite":
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", raw], check=True)
    else:
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", raw, text], check=True)
    sox16k(raw, out)


# ---- the service ----------------------------------------------------------------------------

def start_stack(build, tmp, procs, voice):
    nport = free_port()
    nats = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"
    procs.append(subprocess.Popen([nats, "-a", "127.0.0.1", "-p", str(nport)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    url = "nats://127.0.0.1:%d" % nport
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", nport), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    env = dict(os.environ)
    env.pop("PARLEY_CONFIG", None)
    argv = [os.path.join(build, "services", "tts", "parley-tts"), "--nats", url,
            "--http-port", "-1"]
    if voice:
        argv += ["--voice", voice]
    tts = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=open(os.path.join(tmp, "tts.out"), "w"),
                           stderr=open(os.path.join(tmp, "tts.log"), "w"))
    procs.append(tts)
    gout = os.path.join(tmp, "gw.out")
    procs.append(subprocess.Popen([os.path.join(build, "services", "gateway", "parley-gateway"),
                                   "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--nats", url],
                                  env=env, stdout=open(gout, "w"), stderr=subprocess.DEVNULL))
    end = time.time() + 60
    while time.time() < end:
        m = re.search(r"grpc_port=(\d+)", open(gout).read())
        if m:
            return "127.0.0.1:%s" % m.group(1), tts.pid
        if tts.poll() is not None:
            raise SystemExit("parley-tts exited; see %s" % os.path.join(tmp, "tts.log"))
        time.sleep(0.1)
    raise SystemExit("the stack did not start")


def connect(server):
    import grpc
    from train.common.stubs import load_stubs
    load_stubs(os.path.join(ROOT, "build", "python"))
    from riva.proto import riva_tts_pb2 as tts, riva_tts_pb2_grpc as tts_grpc
    ch = grpc.insecure_channel(server)
    stub = tts_grpc.RivaSpeechSynthesisStub(ch)
    # wait until parley-tts answers through the gateway
    end = time.time() + 60
    while True:
        try:
            stub.GetRivaSynthesisConfig(tts.RivaSynthesisConfigRequest(), timeout=5)
            break
        except grpc.RpcError:
            if time.time() > end:
                raise
            time.sleep(0.3)
    return stub, tts


def request(tts, text, rate=16000):
    return tts.SynthesizeSpeechRequest(text=text, language_code="en-US", encoding=1,
                                       sample_rate_hz=rate)


def service_wavs(stub, tts, rows, out_dir):
    import wave
    for sid, text in rows:
        r = stub.Synthesize(request(tts, text), timeout=120)
        with wave.open(os.path.join(out_dir, sid + ".wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(r.audio)


def first_audio(stub, tts, text):
    t0 = time.perf_counter()
    first, n = None, 0
    for resp in stub.SynthesizeOnline(iter([request(tts, text)]), timeout=120):
        if first is None and resp.audio:
            first = time.perf_counter() - t0
        n += len(resp.audio)
    return first, n / 2 / 16000.0, time.perf_counter() - t0


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def speed(stub, tts, reps):
    out = {}
    for name, text in (("short", SHORT), ("long", LONG)):
        first_audio(stub, tts, text)  # warm
        t = [first_audio(stub, tts, text)[0] * 1000 for _ in range(reps)]
        out[name] = {"ttfa_p50_ms": round(statistics.median(t), 1),
                     "ttfa_p99_ms": round(pct(t, 0.99), 1), "n": reps}
    res = [None] * 8

    def one(i):
        res[i] = first_audio(stub, tts, LONG)

    th = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    out["concurrent8"] = {"speed_x_real_time": [round(a / w, 2) for _, a, w in res],
                          "ttfa_ms": [round(f * 1000, 1) for f, _, _ in res]}
    return out


def rtf_one_core(build, voice, tmp):
    out = {}
    for name, text in (("short", SHORT), ("long", LONG)):
        argv = [os.path.join(build, "tests", "tts_say"), "-t", "1", "-o", os.path.join(tmp, "r.wav")]
        if voice:
            argv += ["-v", voice]
        best = None
        for _ in range(3):
            r = subprocess.run(argv + [text], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
            m = re.search(r"([\d.]+) s of audio, first chunk ([\d.]+) ms.*RTF ([\d.]+)", r.stdout)
            cur = {"audio_s": float(m.group(1)), "first_chunk_ms": float(m.group(2)),
                   "rtf": float(m.group(3))}
            if best is None or cur["rtf"] < best["rtf"]:
                best = cur
        out[name] = best
    return out


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--voice", default=None, help="voice directory (default: the service's)")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--direct", action="store_true", help="tts_say instead of the service")
    ap.add_argument("--server", default=None, help="a running gateway (no stack started)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--keep", default=None, help="keep the WAVs in this folder")
    ap.add_argument("--json", default=None)
    ap.add_argument("--max-wer", type=float, default=None)
    ap.add_argument("--no-rtf", action="store_true")
    ap.add_argument("--sentences", default=None, metavar="TSV",
                    help="score these sentences (id TAB text per line) instead of the LJ set; "
                         "the voice's dev set is the recipe's: --dev-set writes it")
    ap.add_argument("--dev-set", default=None, metavar="TEACHER_DIR",
                    help="score the recipe's dev set (ids 01560-01599 of TEACHER_DIR/text.tsv)")
    a = ap.parse_args()
    if a.dev_set:
        rows = dev_rows(a.dev_set)
    elif a.sentences:
        rows = [tuple(l.rstrip("\n").split("\t", 1)) for l in open(a.sentences, encoding="utf-8")
                if "\t" in l]
    else:
        rows = sentences(paths.data_dir(a.data), a.limit)
    tmp = a.keep or tempfile.mkdtemp(prefix="pl_tts_eval_")
    os.makedirs(tmp, exist_ok=True)
    procs = []
    result = {"cpu": cpu_name(), "sentences": len(rows), "wer": {}}
    refs = [clean(t) for _, t in rows]
    try:
        d = os.path.join(tmp, "parley")
        os.makedirs(d, exist_ok=True)
        t0 = time.time()
        if a.direct:
            lst = os.path.join(tmp, "list.tsv")
            with open(lst, "w") as f:
                for sid, text in rows:
                    f.write("%s\t%s\n" % (sid, text))
            argv = [os.path.join(a.build, "tests", "tts_say"), "-l", lst, "-O", d]
            if a.voice:
                argv += ["-v", a.voice]
            subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        else:
            server = a.server
            if not server:
                server, _ = start_stack(a.build, tmp, procs, a.voice)
            stub, tts = connect(server)
            service_wavs(stub, tts, rows, d)
            result["speed"] = speed(stub, tts, a.reps)
            print("speed:", json.dumps(result["speed"]), flush=True)
        print("parley: %d sentences in %.1f s" % (len(rows), time.time() - t0), flush=True)
        systems = [("parley", d)]
        if not a.no_peers:
            for name in ("festival", "flite", "espeak-ng"):
                pd = os.path.join(tmp, name)
                os.makedirs(pd, exist_ok=True)
                for sid, text in rows:
                    peer(name, text, os.path.join(pd, sid + ".wav"), tmp)
                systems.append((name, pd))
        for name, sd in systems:
            clips = [(sid, os.path.join(sd, sid + ".wav"), t) for sid, t in rows]
            hyps, _, _ = ps_run(clips, tmp, name)
            result["wer"][name] = score("wer", refs, hyps)
            print("%-10s pocketsphinx WER %.2f%%" % (name, 100 * result["wer"][name]["wer"]),
                  flush=True)
        if not a.no_rtf:
            result["rtf_one_core"] = rtf_one_core(a.build, a.voice, tmp)
            print("one core:", json.dumps(result["rtf_one_core"]), flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    if a.max_wer is not None and result["wer"]["parley"]["wer"] > a.max_wer:
        print("FAIL: Parley's WER %.2f%% is above the floor %.2f%%" % (
            100 * result["wer"]["parley"]["wer"], 100 * a.max_wer))
        sys.exit(1)


if __name__ == "__main__":
    main()
