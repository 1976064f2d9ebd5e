#!/usr/bin/python3
"""Evaluate Parley's ASR through the service against pocketsphinx on the same clips, in one run.

Every clip goes through the gateway twice, and through pocketsphinx once:
  offline    Recognize with the whole file as a client sends it (encoding unset, verbatim),
             one request at a time: the real-time factor on one core comes from this pass;
  streaming  StreamingRecognize as parley-dialog's voice turns use it (interim results,
             speech_events, server endpointing, verbatim): the clip as 16-bit WAV, header in
             the first chunk, --chunk-ms chunks paced at --stream-speed x real time (1: real
             time, the default; 0: as fast as the server answers), --parallel clips at once;
             the transcript is the finals joined by a space;
  pocketsphinx  pocketsphinx_batch (Debian's en-us model, en-us.lm.bin, CMUdict) on 16 kHz
             16-bit raw PCM (libsndfile decodes, sox resamples without dither).
Sets (--sets, default lj,so,fsdd,cmds):
  lj     real read speech (speech/ljspeech-subset): held-out rows "lj" = every 4th clip by
         sorted id (train/asr/synth.py lj_heldout, 18 clips), and "lj_all" = all 71, of which
         the other 53 are in the acoustic model's training data (partly trained-on)  -> WER
  so     speechocean762 test speakers (Ogg Opus): every --so-every'th clip by sorted id
         (default 5: 500 of the 2,500; --so-every 1 for all)                         -> WER
  fsdd   free spoken digits, takes 0-4 of every speaker and digit (300 clips)        -> digit accuracy
  cmds   the 20 voice-assistant commands of train/asr/eval/commands.txt, synthesized with
         espeak-ng voice en-us+Annie (a variant no training item uses)               -> WER
  synth  espeak-ng voice en-029 reading LJ050-* sentences (synth.py's dev_synth)     -> WER
References and all hypotheses are scored after the same normalization (train/asr/textnorm.py:
lower case, numbers spelled out, punctuation dropped). RTF on one core = CPU seconds of the
recognizer process / seconds of audio (parley-asr: its process CPU during the pass, with
instances 1, threads 1, OPENBLAS_NUM_THREADS=1; pocketsphinx: CPU of pocketsphinx_batch minus
its model load).

  # against a stack this script starts (nats-server + parley-asr + gateway on free ports):
  nice -n 10 /usr/bin/python3 -m train.asr.eval.eval_service --build build \\
      --json asr-eval.json --markdown asr-eval.md [--model-dir models] [--model NAME]
  # against a running stack (no CPU figure unless --asr-pid):
  /usr/bin/python3 -m train.asr.eval.eval_service --server 127.0.0.1:50051 --build build
Options: --sets lj,so,fsdd,cmds,synth  --limit N (clips per set)  --so-every N  --cmds-voice V
         --no-pocketsphinx  --no-stream  --stream-speed X  --parallel N  --chunk-ms MS
         --custom k=v,... (RecognitionConfig.custom_configuration, e.g. decoder=greedy)
Exit status 0 when every set ran (a set whose data is missing is skipped and said so), 1
when a request failed.
"""
import argparse
import concurrent.futures as cf
import glob
import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

from train.asr import synth
from train.asr.textnorm import normalize
from train.common import paths
from train.common.stubs import load_stubs

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PS_MODEL = "/usr/share/pocketsphinx/model/en-us"
COMMANDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "commands.txt")
CMD_VOICE = "en-us+Annie"
CMD_RATE = 165
DEFAULT_SETS = "lj,so,fsdd,cmds"
SETS = ("lj", "so", "fsdd", "cmds", "synth")


# ---- audio ----------------------------------------------------------------------------------

def read_pcm16(path):
    """(int16 mono samples, sample rate) through libsndfile, the library parley-asr decodes
    with (WAV, FLAC, Ogg Opus; Debian's sox has no Opus handler). Channels are averaged."""
    x, rate = synth.sndfile_read(path)
    # libsndfile reads 16-bit files as s / 32768: scaled back by 32767, a sample comes back
    # within 1 LSB (and a run gives the same samples every time)
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2"), rate


def wav_bytes(pcm, rate):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class Clip:
    """One utterance: id, file, normalized reference; audio decoded once on demand."""

    def __init__(self, cid, path, ref):
        self.id, self.path, self.ref = cid, path, ref
        self._pcm = None

    def pcm(self):
        if self._pcm is None:
            self._pcm = read_pcm16(self.path)
        return self._pcm

    def seconds(self):
        x, rate = self.pcm()
        return len(x) / rate

    def drop_audio(self):
        self._pcm = None


# ---- data --------------------------------------------------------------------------------

def lj_set(ddir):
    """The held-out LJ clips (every 4th by sorted id) as (id, path, reference) tuples."""
    held, _ = synth.lj_heldout(ddir)
    wavs = os.path.join(ddir, "speech", "ljspeech-subset", "wavs")
    return [(cid, os.path.join(wavs, cid + ".flac"), normalize(t)) for cid, t in held]


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


def lj_rows(ddir):
    """All 71 LJ subset clips; rows: the held-out 18 and all 71 (53 of them trained on)."""
    ids = synth.lj_subset_ids(ddir)
    held = {cid for cid, _ in synth.lj_heldout(ddir)[0]}
    wavs = os.path.join(ddir, "speech", "ljspeech-subset", "wavs")
    clips = [(cid, os.path.join(wavs, cid + ".flac"), normalize(t)) for cid, t in ids]
    return clips, [
        ("lj", "held-out read speech (ljspeech-subset speaker, every 4th clip)",
         [i for i, c in enumerate(clips) if c[0] in held]),
        ("lj_all", "the same speaker, all the subset's clips (%d of the %d in training: partly "
         "trained-on)" % (len(clips) - len(held), len(clips)), list(range(len(clips))))]


def so_set(ddir, every):
    """speechocean762 test-split clips, every `every`'th by sorted id."""
    so = os.path.join(ddir, "speech", "speechocean762")
    with open(os.path.join(so, "transcripts.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    test = sorted((r[1], normalize(r[5])) for r in rows if len(r) >= 6 and r[0] == "test")
    test = [(cid, t) for cid, t in test if t]
    return [(cid, os.path.join(so, "audio", cid + ".opus"), t) for cid, t in test[::every]]


def command_texts(path=COMMANDS):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def cmds_set(cache, voice=CMD_VOICE, rate=CMD_RATE):
    """The commands of commands.txt read by espeak-ng `voice`, cached by voice, rate and text."""
    os.makedirs(cache, exist_ok=True)
    out = []
    for i, text in enumerate(command_texts()):
        ref = normalize(text)
        key = hashlib.sha1(("%s|%d|%s" % (voice, rate, ref)).encode()).hexdigest()[:12]
        wav = os.path.join(cache, "cmd%02d-%s.wav" % (i, key))
        if not os.path.exists(wav):
            synth.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", wav + ".tmp.wav", ref])
            os.rename(wav + ".tmp.wav", wav)
        out.append(("cmd%02d" % i, wav, ref))
    return out


def load_set(name, a):
    """(clips, kind, rows) for set `name`: rows are (row name, description, clip indices)."""
    d = a.data
    if name == "lj":
        clips, rows = lj_rows(d)
        return clips, "wer", rows
    if name == "so":
        clips = so_set(d, a.so_every)
        return clips, "wer", [("so", "speechocean762 test speakers, every %s clip by sorted id"
                               % ("" if a.so_every == 1 else ordinal(a.so_every)),
                               list(range(len(clips))))]
    if name == "fsdd":
        clips = fsdd_set(d)
        return clips, "accuracy", [("fsdd", "FSDD takes 0-4 (digit accuracy)",
                                    list(range(len(clips))))]
    if name == "cmds":
        clips = cmds_set(os.path.join(a.cache, "cmds"), a.cmds_voice)
        return clips, "wer", [("cmds", "voice-assistant commands, espeak-ng %s%s" % (
            a.cmds_voice, " (not in training)" if a.cmds_voice == CMD_VOICE else ""),
            list(range(len(clips))))]
    if name == "synth":
        clips = synth_set(d, os.path.join(a.cache, "dev_synth"))
        return clips, "wer", [("synth", "espeak-ng en-029 on LJ050-* text (dev_synth)",
                               list(range(len(clips))))]
    raise SystemExit("unknown set %r (lj, so, fsdd, cmds, synth)" % name)


def ordinal(n):
    return "%d%s" % (n, {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if n % 100 not in (11, 12, 13) else 0, "th"))


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


class Parley:
    """The gateway's ASR stub, the model and settings every request carries, failures counted."""

    def __init__(self, stub, asr, model, custom):
        self.stub, self.asr, self.model, self.custom = stub, asr, model, custom
        self.failures = []

    def config(self, extra=None):
        return self.asr.RecognitionConfig(language_code="en-US", max_alternatives=1,
                                          model=self.model, verbatim_transcripts=True,
                                          custom_configuration=dict(self.custom, **(extra or {})))

    def failed(self, mode, clip, err):
        self.failures.append({"mode": mode, "id": clip.id, "error": "%s: %s" % (
            getattr(err, "code", lambda: "")(), getattr(err, "details", lambda: str(err))())})
        return ""

    def recognize(self, clip):
        import grpc
        try:
            with open(clip.path, "rb") as f:
                r = self.stub.Recognize(self.asr.RecognizeRequest(config=self.config(),
                                                                  audio=f.read()), timeout=300)
        except grpc.RpcError as err:
            return self.failed("offline", clip, err)
        return " ".join(x.alternatives[0].transcript for x in r.results if x.alternatives).strip()

    def stream(self, clip, chunk_ms, speed):
        """Finals joined by a space; chunks paced at `speed` x real time (0: unpaced)."""
        import grpc
        x, rate = clip.pcm()
        wav = wav_bytes(x, rate)
        hdr, body = wav[:44], wav[44:]
        step = max(2, int(rate * chunk_ms / 1000) * 2)
        cfg = self.config({"speech_events": "true"})
        asr = self.asr

        def requests():
            yield asr.StreamingRecognizeRequest(
                streaming_config=asr.StreamingRecognitionConfig(config=cfg, interim_results=True))
            t0 = time.monotonic()
            for i, off in enumerate(range(0, len(body), step)):
                if speed > 0:
                    wait = t0 + i * chunk_ms / 1000 / speed - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                yield asr.StreamingRecognizeRequest(
                    audio_content=(hdr if i == 0 else b"") + body[off:off + step])
        finals = []
        try:
            for resp in self.stub.StreamingRecognize(requests(), timeout=300 + 2 * clip.seconds()):
                finals += [r.alternatives[0].transcript for r in resp.results
                           if r.is_final and r.alternatives]
        except grpc.RpcError as err:
            return self.failed("stream", clip, err)
        return " ".join(f for f in finals if f).strip()


def timed(pid, fn):
    """(fn(), CPU seconds of process pid during it or None, wall seconds)."""
    c0, t0 = cpu_seconds(pid), time.time()
    out = fn()
    c1, t1 = cpu_seconds(pid), time.time()
    return out, (c1 - c0 if c0 is not None else None), t1 - t0



# ---- pocketsphinx ---------------------------------------------------------------------------

def ps_argv(d, ctl, hyp):
    return ["pocketsphinx_batch", "-adcin", "yes", "-cepdir", d, "-cepext", ".raw", "-ctl", ctl,
            "-hyp", hyp, "-hmm", PS_MODEL + "/en-us", "-lm", PS_MODEL + "/en-us.lm.bin",
            "-dict", PS_MODEL + "/cmudict-en-us.dict", "-logfn", os.path.join(d, "log")]


def children_cpu(fn):
    r0 = os.times()
    fn()
    r1 = os.times()
    return (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)


def ps_raw16k(clip, out):
    """The clip as 16 kHz 16-bit raw PCM: libsndfile decodes, sox resamples. -D: no dither
    (sox dithers with fresh random noise on every run when it writes 16-bit samples after
    resampling, and pocketsphinx's result moved by a point between runs because of it)."""
    x, rate = clip.pcm()
    synth.run(["sox", "-V1", "-D", "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
               "-r", str(rate), "-", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16",
               "-c", "1", out], input=x.tobytes())


def ps_run(clips, tmp, name):
    """pocketsphinx transcripts of the clips (Clip objects or (id, path, reference) tuples, as
    train/tts/eval_service.py passes them), CPU seconds of pocketsphinx_batch, wall seconds."""
    clips = [c if isinstance(c, Clip) else Clip(*c) for c in clips]
    d = os.path.join(tmp, "ps-" + name)
    os.makedirs(d, exist_ok=True)
    ctl, hyp = os.path.join(d, "ctl"), os.path.join(d, "hyp")
    with open(ctl, "w") as f:
        for i, clip in enumerate(clips):
            ps_raw16k(clip, os.path.join(d, "u%05d.raw" % i))
            f.write("u%05d\n" % i)
    t0 = time.time()
    cpu = children_cpu(lambda: subprocess.run(ps_argv(d, ctl, hyp), check=True))
    wall = time.time() - t0
    got = {}
    for line in open(hyp):
        m = re.match(r"^(.*)\((u\d+)(?: -?\d+)*\)\s*$", line)
        if m:
            got[m.group(2)] = m.group(1).strip()
    shutil.rmtree(d, ignore_errors=True)
    return [got.get("u%05d" % i, "") for i in range(len(clips))], cpu, wall


def ps_load_cost(tmp):
    """CPU seconds pocketsphinx_batch spends loading its models (an empty control file)."""
    d = os.path.join(tmp, "ps-empty")
    os.makedirs(d, exist_ok=True)
    ctl = os.path.join(d, "ctl")
    open(ctl, "w").close()
    return children_cpu(lambda: subprocess.run(ps_argv(d, ctl, os.path.join(d, "hyp")), check=True))


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
            raise SystemExit("parley-asr exited: %s" % open(os.path.join(tmp, "asr.log")).read()[-500:])
        time.sleep(0.1)
    if port is None or info is None:
        raise SystemExit("the stack did not start")
    return "127.0.0.1:%d" % port, asr.pid, info.group(0)


# ---- one set ----------------------------------------------------------------------------------

def missing_data(name, a):
    need = {"lj": "speech/ljspeech-subset/metadata.csv", "so": "speech/speechocean762/transcripts.tsv",
            "fsdd": "speech/fsdd/recordings", "synth": "text/ljspeech-sentences.csv"}.get(name)
    return need and not os.path.exists(os.path.join(a.data, need)) and need


def run_set(name, a, parley, pid, ps_load, tmp):
    """Decode one set offline, streamed and with pocketsphinx; one result row per scored subset."""
    tuples, kind, rows = load_set(name, a)
    if a.limit:
        tuples = tuples[:a.limit]
        rows = [(r, d, [i for i in idx if i < a.limit]) for r, d, idx in rows]
    clips = [Clip(*t) for t in tuples]
    secs = [c.seconds() for c in clips]
    for c in clips:
        c.drop_audio()
    hyps = {}
    hyps["offline"], cpu, wall = timed(pid, lambda: [parley.recognize(c) for c in clips])
    cost = {"offline": (cpu, wall)}
    if not a.no_stream:
        def one(c):
            h = parley.stream(c, a.chunk_ms, a.stream_speed)
            c.drop_audio()
            return h
        with cf.ThreadPoolExecutor(a.parallel) as ex:
            hyps["stream"], cpu, wall = timed(pid, lambda: list(ex.map(one, clips)))
        cost["stream"] = (cpu, wall)
    if not a.no_pocketsphinx:
        hyps["pocketsphinx"], cpu, wall = ps_run(clips, tmp, name)
        cost["pocketsphinx"] = (max(0.0, cpu - ps_load), wall)
    total = sum(secs)
    out = {}
    for rname, desc, idx in rows:
        audio = sum(secs[i] for i in idx)
        row = {"set": name, "description": desc, "clips": len(idx), "audio_s": round(audio, 2),
               "metric": kind}
        for mode, hs in hyps.items():
            row[mode] = score(kind, [clips[i].ref for i in idx], [hs[i] for i in idx])
            c, w = cost[mode]
            # the pass covered the whole set: its cost per audio second holds for every row
            row[mode]["rtf_cpu"] = c / total if c is not None and total else None
            row[mode]["rtf_wall"] = w / total if total else None
        keep = idx if a.transcripts < 0 else idx[:a.transcripts]
        row["transcripts"] = [dict({"id": clips[i].id, "ref": clips[i].ref},
                                   **{m: hs[i] for m, hs in hyps.items()}) for i in keep]
        out[rname] = row
    return out


# ---- report -------------------------------------------------------------------------------

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        name = m.group(1).strip() if m else platform.processor()
    except OSError:
        name = platform.processor()
    return "%s, %d cores" % (name or "unknown CPU", os.cpu_count() or 0)


def pct(row, mode):
    if mode not in row:
        return "-"
    return "%.2f%%" % (100 * row[mode][row["metric"]])


def rtf(row, mode):
    v = row.get(mode, {}).get("rtf_cpu")
    return "-" if v is None else "%.4f" % v


def line(rname, row):
    s = "%-7s %4d clips %7.1f s | offline %s" % (rname, row["clips"], row["audio_s"], pct(row, "offline"))
    if "stream" in row:
        s += " stream %s" % pct(row, "stream")
    s += " RTF %s/%s" % (rtf(row, "offline"), rtf(row, "stream"))
    if "pocketsphinx" in row:
        s += " | pocketsphinx %s RTF %s" % (pct(row, "pocketsphinx"), rtf(row, "pocketsphinx"))
    return s + "  (%s)" % row["metric"]


def markdown(results):
    r = results
    st = r["stream"]
    stream = "streaming: %g ms chunks at %s, %d clips at once" % (
        st["chunk_ms"], "%gx real time" % st["speed"] if st["speed"] else "the server's pace",
        st["parallel"]) if st["parallel"] else "no streaming pass"
    out = ["Run of %s to %s UTC on %s (load average %s at the start), model `%s` (%s), "
           "custom %s; %s." % (r["started"], r["finished"], r["cpu"], r["load_start"], r["model"],
                               r["server_info"], r["custom"] or "none", stream),
           "",
           "```", r["command"], "```", "",
           "| set | clips / audio | Parley offline | Parley streaming | pocketsphinx | "
           "Parley RTF offline / streaming (CPU, 1 core) | pocketsphinx RTF |",
           "|---|---|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        what = "WER" if row["metric"] == "wer" else "accuracy"
        out.append("| %s: %s, %s | %d / %.1f s | %s | %s | %s | %s / %s | %s |" % (
            name, row["description"], what, row["clips"], row["audio_s"], pct(row, "offline"),
            pct(row, "stream"), pct(row, "pocketsphinx"), rtf(row, "offline"),
            rtf(row, "stream"), rtf(row, "pocketsphinx")))
    if r["failures"]:
        out += ["", "%d requests failed (see the JSON)." % len(r["failures"])]
    return "\n".join(out) + "\n"


def utc():
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(paths.ROOT, "build"))
    ap.add_argument("--server", help="use a running gateway instead of starting a stack")
    ap.add_argument("--asr-pid", type=int, help="parley-asr pid of a running stack (CPU time)")
    ap.add_argument("--model-dir", default=paths.models_dir())
    ap.add_argument("--model", default="")
    ap.add_argument("--data", default=paths.data_dir())
    ap.add_argument("--sets", default=DEFAULT_SETS)
    ap.add_argument("--limit", type=int, default=0, help="first N clips of each set (0: all)")
    ap.add_argument("--so-every", type=int, default=5,
                    help="speechocean762 test: every Nth clip by sorted id (1: all 2,500)")
    ap.add_argument("--cmds-voice", default=CMD_VOICE,
                    help="espeak-ng voice of the commands set (default %s, not in training)" % CMD_VOICE)
    ap.add_argument("--no-pocketsphinx", action="store_true")
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--stream-speed", type=float, default=1.0,
                    help="chunk pace in multiples of real time (0: as fast as the server answers)")
    ap.add_argument("--chunk-ms", type=float, default=100)
    ap.add_argument("--parallel", type=int, default=8, help="clips streamed at once")
    ap.add_argument("--custom", default="")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "parley-asr-eval-cache"))
    ap.add_argument("--transcripts", type=int, default=-1,
                    help="clips per row whose transcripts the JSON keeps (default: all)")
    ap.add_argument("--json")
    ap.add_argument("--markdown", help="write the results table (docs/benchmarks.md style) here")
    a = ap.parse_args()
    if a.so_every < 1 or a.parallel < 1 or a.chunk_ms <= 0 or a.stream_speed < 0:
        ap.error("--so-every and --parallel must be >= 1, --chunk-ms > 0, --stream-speed >= 0")
    for name in a.sets.split(","):
        if name not in SETS:
            ap.error("unknown set %r (%s)" % (name, ", ".join(SETS)))
    load_stubs(os.path.join(a.build, "python"))
    import grpc
    from riva.proto import riva_asr_pb2 as asr
    from riva.proto import riva_asr_pb2_grpc as asr_grpc

    tmp = tempfile.mkdtemp(prefix="parley-asr-eval-")
    procs = []

    def stop():
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
        results = {"started": utc(), "cpu": cpu_name(), "load_start": "%.1f" % os.getloadavg()[0],
                   "command": " ".join(["python3 -m train.asr.eval.eval_service"] + sys.argv[1:])}
        pid, info = a.asr_pid, "running stack"
        server = a.server
        if not server:
            server, pid, info = start_stack(os.path.abspath(a.build), os.path.abspath(a.model_dir),
                                            tmp, procs)
        ch = grpc.insecure_channel(server, options=[("grpc.max_send_message_length", 64 << 20),
                                                    ("grpc.max_receive_message_length", 64 << 20)])
        stub = asr_grpc.RivaSpeechRecognitionStub(ch)
        rc = stub.GetRivaSpeechRecognitionConfig(asr.RivaSpeechRecognitionConfigRequest(), timeout=30)
        models = {c.model_name: dict(c.parameters) for c in rc.model_config}
        model = a.model or (next(iter(models)) if models else "")
        custom = dict(kv.split("=", 1) for kv in a.custom.split(",") if kv)
        params = models.get(model, {})
        print("parley-asr (%s): model %s; decoder %s, LM %s; custom %s; %s" % (
            info, model, params.get("decoder"), params.get("language_model"), custom or "-",
            results["cpu"]), flush=True)
        results.update({"model": model, "model_parameters": params, "server_info": info,
                        "custom": custom, "rows": {},
                        "stream": {"chunk_ms": a.chunk_ms, "speed": a.stream_speed,
                                   "parallel": 0 if a.no_stream else a.parallel},
                        "skipped": {}})
        parley = Parley(stub, asr, model, custom)
        ps_load = None if a.no_pocketsphinx else ps_load_cost(tmp)
        for name in a.sets.split(","):
            need = missing_data(name, a)
            if need:
                print("%-7s skipped: no %s under %s" % (name, need, a.data), flush=True)
                results["skipped"][name] = "no " + need
                continue
            t0 = time.time()
            for rname, row in run_set(name, a, parley, pid, ps_load, tmp).items():
                results["rows"][rname] = row
                print(line(rname, row), flush=True)
            for e in row["transcripts"][:2]:
                print("    ref: %s\n%s" % (e["ref"], "".join(
                    "    %s: %s\n" % (m, e[m]) for m in ("offline", "stream", "pocketsphinx") if m in e)),
                      end="")
            print("    (%.0f s)" % (time.time() - t0), flush=True)
        results["finished"] = utc()
        results["failures"] = parley.failures
        for f in parley.failures[:10]:
            print("FAILED %(mode)s %(id)s: %(error)s" % f)
        md = markdown(results)
        print("\n" + md, end="")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(md)
        return 1 if parley.failures else 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
