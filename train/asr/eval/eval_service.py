#!/usr/bin/python3
"""Evaluate Parley's ASR through the service (gRPC Recognize via the gateway, exactly as a
client sends audio: the whole file, encoding unset) against pocketsphinx on the same clips.

Sets (held out of training; see train/asr/synth.py):
  lj     real read speech: every 4th clip of the LJ Speech subset by sorted id    -> WER
  fsdd   free spoken digits, takes 0-4 of every speaker and digit                 -> digit accuracy
  synth  espeak-ng voice en-029 reading LJ050-* sentences (synth.py's dev_synth)   -> WER
For each engine: WER (or accuracy) and the real-time factor on one core = CPU seconds of the
recognizer process / seconds of audio (pocketsphinx: CPU of pocketsphinx_batch after its
model load is subtracted; parley-asr: CPU of the parley-asr process during the requests).

  # against a stack this script starts (nats-server + parley-asr + gateway on free ports):
  /usr/bin/python3 -m train.asr.eval.eval_service --build build [--model-dir models] [--model NAME]
  # against a running stack (no CPU figure unless --asr-pid):
  /usr/bin/python3 -m train.asr.eval.eval_service --server 127.0.0.1:50051 --build build
Options: --sets lj,fsdd,synth  --limit N (clips per set)  --no-pocketsphinx  --json OUT
         --custom k=v,... (RecognitionConfig.custom_configuration, e.g. decoder=greedy)
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from train.asr import synth
from train.asr.textnorm import normalize
from train.common import paths
from train.common.stubs import load_stubs

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PS_MODEL = "/usr/share/pocketsphinx/model/en-us"


# ---- data --------------------------------------------------------------------------------

def lj_set(ddir):
    meta = os.path.join(ddir, "speech", "ljspeech-subset", "metadata.csv")
    rows = []
    with open(meta, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("|")
            rows.append((p[0], p[2] if len(p) > 2 else p[1]))
    rows.sort()
    wavs = os.path.join(ddir, "speech", "ljspeech-subset", "wavs")
    return [(cid, os.path.join(wavs, cid + ".flac"), normalize(t))
            for i, (cid, t) in enumerate(rows) if i % 4 == 0]


def fsdd_set(ddir):
    out = []
    for p in sorted(glob.glob(os.path.join(ddir, "speech", "fsdd", "recordings", "*.wav"))):
        d, spk, take = os.path.basename(p)[:-4].split("_")
        if int(take) <= 4:
            out.append(("%s_%s_%s" % (d, spk, take), p, DIGITS[int(d)]))
    return out


def synth_set(ddir, cache):
    """synth.py's dev_synth items (the plan the training used), synthesized once into cache/
    with espeak-ng."""
    os.makedirs(cache, exist_ok=True)
    out = []
    for it in synth.plan(ddir, 1.0):
        if it["set"] != "dev_synth":
            continue
        wav = os.path.join(cache, it["id"] + ".wav")
        if not os.path.exists(wav):
            synth.tts(it, wav + ".tmp.wav")
            os.rename(wav + ".tmp.wav", wav)
        out.append((it["id"], wav, normalize(it["text"])))
    return out


def duration(path):
    r = subprocess.run(["soxi", "-D", path], stdout=subprocess.PIPE, check=True)
    return float(r.stdout)


# ---- scoring --------------------------------------------------------------------------------

def edits(ref, hyp):
    r, h = ref.split(), hyp.split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)


def clean(text):
    return normalize(re.sub(r"[^\w' ]+", " ", text.lower()))


def score(kind, refs, hyps):
    if kind == "accuracy":
        ok = sum(1 for r, h in zip(refs, hyps) if clean(h) == r)
        return {"accuracy": ok / max(1, len(refs)), "correct": ok, "n": len(refs)}
    e = n = 0
    for r, h in zip(refs, hyps):
        a, b = edits(r, clean(h))
        e, n = e + a, n + b
    return {"wer": e / max(1, n), "errors": e, "ref_words": n, "n": len(refs)}


# ---- parley through gRPC --------------------------------------------------------------------

def cpu_seconds(pid):
    if not pid:
        return None
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parley_decode(stub, asr, clips, model, custom, pid):
    hyps = []
    c0, t0 = cpu_seconds(pid), time.time()
    for cid, path, _ in clips:
        cfg = asr.RecognitionConfig(language_code="en-US", max_alternatives=1, model=model or "",
                                    verbatim_transcripts=True, custom_configuration=custom)
        r = stub.Recognize(asr.RecognizeRequest(config=cfg, audio=open(path, "rb").read()), timeout=300)
        hyps.append(" ".join(x.alternatives[0].transcript for x in r.results if x.alternatives))
    c1, t1 = cpu_seconds(pid), time.time()
    return hyps, (c1 - c0 if c0 is not None else None), t1 - t0


# ---- pocketsphinx ---------------------------------------------------------------------------

def ps_run(clips, tmp, name):
    d = os.path.join(tmp, "ps-" + name)
    os.makedirs(d, exist_ok=True)
    ctl = os.path.join(d, "ctl")
    with open(ctl, "w") as f:
        for i, (_, path, _) in enumerate(clips):
            # -D: no dither. sox dithers with fresh random noise on every run when it writes
            # 16-bit samples after resampling, and pocketsphinx's result moved by a point
            # between runs on the same clips because of it
            subprocess.run(["sox", "-V1", "-D", path, "-t", "raw", "-r", "16000", "-e", "signed",
                            "-b", "16", "-c", "1", os.path.join(d, "u%05d.raw" % i)], check=True)
            f.write("u%05d\n" % i)
    hyp = os.path.join(d, "hyp")
    argv = ["pocketsphinx_batch", "-adcin", "yes", "-cepdir", d, "-cepext", ".raw", "-ctl", ctl,
            "-hyp", hyp, "-hmm", PS_MODEL + "/en-us", "-lm", PS_MODEL + "/en-us.lm.bin",
            "-dict", PS_MODEL + "/cmudict-en-us.dict", "-logfn", os.path.join(d, "log")]
    t0 = time.time()
    ru0 = os.times()
    subprocess.run(argv, check=True)
    ru1 = os.times()
    cpu = (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)
    wall = time.time() - t0
    got = {}
    for line in open(hyp):
        m = re.match(r"^(.*)\((u\d+)(?: -?\d+)*\)\s*$", line)
        if m:
            got[m.group(2)] = m.group(1).strip()
    return [got.get("u%05d" % i, "") for i in range(len(clips))], cpu, wall


def ps_load_cost(tmp):
    """CPU seconds pocketsphinx_batch spends loading its models (an empty control file)."""
    d = os.path.join(tmp, "ps-empty")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "ctl"), "w").close()
    ru0 = os.times()
    subprocess.run(["pocketsphinx_batch", "-adcin", "yes", "-cepdir", d, "-cepext", ".raw", "-ctl",
                    os.path.join(d, "ctl"), "-hyp", os.path.join(d, "hyp"), "-hmm", PS_MODEL + "/en-us",
                    "-lm", PS_MODEL + "/en-us.lm.bin", "-dict", PS_MODEL + "/cmudict-en-us.dict",
                    "-logfn", os.path.join(d, "log")], check=True)
    ru1 = os.times()
    return (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)


# ---- stack ----------------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_stack(build, model_dir, tmp, procs):
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
    env = dict(os.environ, PARLEY_ASR_LOG_LEVEL="warn", OPENBLAS_NUM_THREADS="1",
               PARLEY_ASR_INSTANCES="1")
    env.pop("PARLEY_CONFIG", None)
    out = os.path.join(tmp, "asr.out")
    asr = subprocess.Popen([os.path.join(build, "services", "asr", "parley-asr"), "--nats", url,
                            "--http-port", "-1", "--model-dir", model_dir], env=env,
                           stdout=open(out, "w"), stderr=open(os.path.join(tmp, "asr.log"), "w"))
    procs.append(asr)
    gout = os.path.join(tmp, "gw.out")
    gw = subprocess.Popen([os.path.join(build, "services", "gateway", "parley-gateway"), "--listen",
                           "127.0.0.1:0", "--http", "127.0.0.1:0", "--nats", url],
                          env=dict(env, PARLEY_GATEWAY_LOG_LEVEL="warn"), stdout=open(gout, "w"),
                          stderr=subprocess.DEVNULL)
    procs.append(gw)
    end = time.time() + 120
    port, info = None, None
    while time.time() < end and (port is None or info is None):
        m = re.search(r"grpc_port=(\d+)", open(gout).read())
        port = int(m.group(1)) if m else None
        info = re.search(r"models=(\d+) lm=(\d)", open(out).read())
        if asr.poll() is not None:
            raise SystemExit("parley-asr exited; see %s" % os.path.join(tmp, "asr.log"))
        time.sleep(0.1)
    if port is None or info is None:
        raise SystemExit("the stack did not start")
    return "127.0.0.1:%d" % port, asr.pid, info.group(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(paths.ROOT, "build"))
    ap.add_argument("--server", help="use a running gateway instead of starting a stack")
    ap.add_argument("--asr-pid", type=int, help="parley-asr pid of a running stack (CPU time)")
    ap.add_argument("--model-dir", default=paths.models_dir())
    ap.add_argument("--model", default="")
    ap.add_argument("--data", default=paths.data_dir())
    ap.add_argument("--sets", default="lj,fsdd,synth")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--no-pocketsphinx", action="store_true")
    ap.add_argument("--custom", default="")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "parley-asr-eval-cache"))
    ap.add_argument("--json")
    a = ap.parse_args()
    load_stubs(os.path.join(a.build, "python"))
    import grpc
    from riva.proto import riva_asr_pb2 as asr
    from riva.proto import riva_asr_pb2_grpc as asr_grpc

    tmp = tempfile.mkdtemp(prefix="parley-asr-eval-")
    procs = []

    def stop(*_):
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        pid, info = a.asr_pid, "running stack"
        server = a.server
        if not server:
            server, pid, info = start_stack(os.path.abspath(a.build), os.path.abspath(a.model_dir), tmp, procs)
        ch = grpc.insecure_channel(server, options=[("grpc.max_send_message_length", 64 << 20),
                                                    ("grpc.max_receive_message_length", 64 << 20)])
        stub = asr_grpc.RivaSpeechRecognitionStub(ch)
        rc = stub.GetRivaSpeechRecognitionConfig(asr.RivaSpeechRecognitionConfigRequest(), timeout=30)
        models = [(c.model_name, dict(c.parameters)) for c in rc.model_config]
        model = a.model or (models[0][0] if models else "")
        custom = dict(kv.split("=", 1) for kv in a.custom.split(",") if kv)
        print("parley-asr (%s): model %s; decoder %s, LM %s; custom %s" % (
            info, model, dict(models).get(model, {}).get("decoder"),
            dict(models).get(model, {}).get("language_model"), custom or "-"), flush=True)
        ps_load = None if a.no_pocketsphinx else ps_load_cost(tmp)
        results = {"model": model, "server_info": info, "custom": custom, "sets": {}}
        for name in a.sets.split(","):
            clips = {"lj": lambda: lj_set(a.data), "fsdd": lambda: fsdd_set(a.data),
                     "synth": lambda: synth_set(a.data, os.path.join(a.cache, "dev_synth"))}[name]()
            if a.limit:
                clips = clips[:a.limit]
            kind = "accuracy" if name == "fsdd" else "wer"
            refs = [c[2] for c in clips]
            audio_s = sum(duration(c[1]) for c in clips)
            hyps, cpu, wall = parley_decode(stub, asr, clips, model, custom, pid)
            row = {"clips": len(clips), "audio_s": round(audio_s, 2)}
            row["parley"] = score(kind, refs, hyps)
            row["parley"].update({"rtf_cpu": cpu / audio_s if cpu is not None else None,
                                  "rtf_wall": wall / audio_s})
            row["examples"] = [{"id": c[0], "ref": c[2], "parley": h} for c, h in zip(clips[:3], hyps[:3])]
            if not a.no_pocketsphinx:
                phyps, pcpu, pwall = ps_run(clips, tmp, name)
                row["pocketsphinx"] = score(kind, refs, phyps)
                row["pocketsphinx"].update({"rtf_cpu": max(0.0, pcpu - ps_load) / audio_s,
                                            "rtf_wall": pwall / audio_s})
                for e, h in zip(row["examples"], phyps[:3]):
                    e["pocketsphinx"] = h
            results["sets"][name] = row
            metric = "accuracy" if kind == "accuracy" else "wer"
            line = "%-6s %4d clips %7.1f s audio | parley %s %.2f%% RTF cpu %s wall %.3f" % (
                name, len(clips), audio_s, metric, 100 * row["parley"][metric],
                "%.4f" % row["parley"]["rtf_cpu"] if row["parley"]["rtf_cpu"] is not None else "-",
                row["parley"]["rtf_wall"])
            if "pocketsphinx" in row:
                line += " | pocketsphinx %s %.2f%% RTF cpu %.4f wall %.3f" % (
                    metric, 100 * row["pocketsphinx"][metric], row["pocketsphinx"]["rtf_cpu"],
                    row["pocketsphinx"]["rtf_wall"])
            print(line, flush=True)
            for e in row["examples"][:2]:
                print("    ref: %s\n    parley: %s%s" % (e["ref"], e["parley"],
                      "\n    pocketsphinx: %s" % e["pocketsphinx"] if "pocketsphinx" in e else ""))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        stop()


if __name__ == "__main__":
    main()
