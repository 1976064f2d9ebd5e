#!/usr/bin/python3
"""Recognize vs StreamingRecognize on the same clips (docs/asr-streaming.md, "Streaming vs
offline accuracy").

Every clip goes through the gateway twice, as the same WAV bytes:
  offline  Recognize with the whole file (as eval_service.py sends it);
  stream   StreamingRecognize as parley-dialog's voice turns use it: interim_results, server
           endpointing (no endpointing_config: parley-asr's defaults), custom_configuration
           speech_events=true, verbatim transcripts, the WAV header in the first chunk, then
           --chunk-ms chunks (100 ms), paced in real time (--realtime) or as fast as the
           server answers; the transcript is the finals joined by a space.
Sets (held out of training as eval_service.py takes them, except sc):
  fsdd  free spoken digits, takes 0-4 of every speaker and digit (300 clips, 8 kHz) -> accuracy
  sc    speech commands v0.01, --sc-per-word clips of each of the 30 words (16 kHz)  -> accuracy
        (these clips were in the training data; they measure the gap, not the model)
  lj    every 4th LJ Speech subset clip (18 clips, FLAC, sent as 16-bit WAV)        -> WER
  dev_so, dev_synth  lm_sweep.py's dev sets (speechocean762 dev speakers, espeak-ng reading
        LJ050-*)                                                                -> WER
The stream's interims are scored too ("interim"): the last interim before each final (the
words a client showed just before the final replaced them), joined like the finals.
--lead-ms/--trail-ms put that much silence (+-2 LSB dither, or --digital-silence zeros)
before/after each clip, in both paths (a microphone stream starts before the speech).

  /usr/bin/python3 -m train.asr.eval.stream_vs_offline --build build [--sets fsdd,sc,lj]
      [--limit N] [--chunk-ms 100] [--realtime] [--parallel 8] [--lead-ms 0] [--json OUT]
Exit status 0; the figures go to stdout (and --json).
"""
import argparse
import concurrent.futures as cf
import glob
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave

from train.asr.eval.eval_service import (clean, fsdd_set, lj_set, score, start_stack)
from train.asr.eval.lm_sweep import load_dev
from train.asr.textnorm import normalize
from train.common import paths
from train.common.stubs import load_stubs


def sc_set(ddir, per_word):
    root = os.path.join(ddir, "speech", "speech-commands", "speech_commands_v0.01")
    out = []
    for d in sorted(glob.glob(os.path.join(root, "*", ""))):
        word = os.path.basename(os.path.dirname(d))
        for p in sorted(glob.glob(os.path.join(d, "*.wav")))[:per_word]:
            out.append(("%s/%s" % (word, os.path.basename(p)[:-4]), p, normalize(word)))
    return out


def wav_bytes(path, lead_ms, trail_ms, digital, seed):
    """The clip as mono 16-bit WAV bytes (FLAC through sox, Opus through libsndfile), with
    silence around it."""
    if path.endswith(".opus"):  # speechocean762 (dev_so): libsndfile decodes Ogg Opus
        import numpy as np
        from train.asr.synth import sndfile_read
        x, rate = sndfile_read(path)
        ch, sw = 1, 2
        data = (np.clip(x, -1, 1) * 32767).round().astype("<i2").tobytes()
    elif path.endswith(".wav"):
        with wave.open(path) as w:
            rate, ch, sw, data = w.getframerate(), w.getnchannels(), w.getsampwidth(), \
                w.readframes(w.getnframes())
    else:
        raw = subprocess.run(["sox", "-V1", "-D", path, "-t", "wav", "-b", "16", "-c", "1", "-"],
                             stdout=subprocess.PIPE, check=True).stdout
        with wave.open(io.BytesIO(raw)) as w:
            rate, ch, sw, data = w.getframerate(), w.getnchannels(), w.getsampwidth(), \
                w.readframes(w.getnframes())
    if ch != 1 or sw != 2:
        raise SystemExit("%s: want mono 16-bit" % path)

    def sil(ms):
        n = int(rate * ms / 1000)
        if digital:
            return b"\0\0" * n
        rng = random.Random(seed)
        return b"".join(rng.randint(-2, 2).to_bytes(2, "little", signed=True) for _ in range(n))
    data = sil(lead_ms) + data + sil(trail_ms)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return buf.getvalue(), rate


def offline(stub, asr, model, wav):
    cfg = asr.RecognitionConfig(language_code="en-US", max_alternatives=1, model=model,
                                verbatim_transcripts=True)
    r = stub.Recognize(asr.RecognizeRequest(config=cfg, audio=wav), timeout=300)
    return " ".join(x.alternatives[0].transcript for x in r.results if x.alternatives).strip()


def streamed(stub, asr, model, wav, rate, chunk_ms, realtime):
    """Finals joined by a space, the number of interims and of speech-start events."""
    cfg = asr.RecognitionConfig(language_code="en-US", max_alternatives=1, model=model,
                                verbatim_transcripts=True,
                                custom_configuration={"speech_events": "true"})
    hdr, body = wav[:44], wav[44:]
    step = max(2, int(rate * chunk_ms / 1000) * 2)

    def gen():
        yield asr.StreamingRecognizeRequest(
            streaming_config=asr.StreamingRecognitionConfig(config=cfg, interim_results=True))
        t0 = time.monotonic()
        for i, off in enumerate(range(0, len(body), step)):
            if realtime:
                d = t0 + i * chunk_ms / 1000 - time.monotonic()
                if d > 0:
                    time.sleep(d)
            yield asr.StreamingRecognizeRequest(
                audio_content=(hdr if i == 0 else b"") + body[off:off + step])
    finals, interims, events, last, lasts = [], 0, 0, "", []
    for resp in stub.StreamingRecognize(gen(), timeout=300):
        for r in resp.results:
            if not r.alternatives:
                events += 1
            elif r.is_final:
                finals.append(r.alternatives[0].transcript)
                lasts.append(last)
                last = ""
            else:
                interims += 1
                last = r.alternatives[0].transcript
    return (" ".join(f for f in finals if f).strip(), interims, events,
            " ".join(x for x in lasts if x).strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(paths.ROOT, "build"))
    ap.add_argument("--server", help="a running gateway instead of a stack of our own")
    ap.add_argument("--model-dir", default=paths.models_dir())
    ap.add_argument("--model", default="")
    ap.add_argument("--data", default=paths.data_dir())
    ap.add_argument("--sets", default="fsdd,sc,lj")
    ap.add_argument("--limit", type=int, default=0, help="clips per set (0: all)")
    ap.add_argument("--sc-per-word", type=int, default=3)
    ap.add_argument("--chunk-ms", type=float, default=100)
    ap.add_argument("--realtime", action="store_true", help="pace the chunks by the clock")
    ap.add_argument("--parallel", type=int, default=8, help="clips streamed at once")
    ap.add_argument("--lead-ms", type=float, default=0)
    ap.add_argument("--trail-ms", type=float, default=0)
    ap.add_argument("--digital-silence", action="store_true")
    ap.add_argument("--env", action="append", default=[], help="K=V for parley-asr")
    ap.add_argument("--show", type=int, default=5, help="differences printed per set")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "parley-asr-eval-cache"),
                    help="dev_synth's synthesized clips (as lm_sweep.py keeps them)")
    ap.add_argument("--json")
    a = ap.parse_args()
    load_stubs(os.path.join(a.build, "python"))
    import grpc
    from riva.proto import riva_asr_pb2 as asr
    from riva.proto import riva_asr_pb2_grpc as asr_grpc

    tmp = tempfile.mkdtemp(prefix="parley-asr-svo-")
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
    for kv in a.env:
        k, v = kv.split("=", 1)
        os.environ[k] = v
    try:
        server, info = a.server, "running stack"
        if not server:
            server, _, info = start_stack(os.path.abspath(a.build), os.path.abspath(a.model_dir),
                                          tmp, procs)
        ch = grpc.insecure_channel(server, options=[("grpc.max_send_message_length", 64 << 20),
                                                    ("grpc.max_receive_message_length", 64 << 20)])
        stub = asr_grpc.RivaSpeechRecognitionStub(ch)
        rc = stub.GetRivaSpeechRecognitionConfig(asr.RivaSpeechRecognitionConfigRequest(),
                                                 timeout=30)
        model = a.model or (rc.model_config[0].model_name if rc.model_config else "")
        print("parley-asr (%s), model %s; stream: %g ms chunks, %s, %d at once, speech_events, "
              "server endpointing; lead %g ms trail %g ms (%s)" % (
                  info, model, a.chunk_ms, "real time" if a.realtime else "as fast as possible",
                  a.parallel, a.lead_ms, a.trail_ms,
                  "zeros" if a.digital_silence else "+-2 LSB"), flush=True)
        results = {"model": model, "args": vars(a), "sets": {}}
        for name in a.sets.split(","):
            clips = {"fsdd": lambda: fsdd_set(a.data), "lj": lambda: lj_set(a.data),
                     "sc": lambda: sc_set(a.data, a.sc_per_word),
                     "dev_so": lambda: load_dev("dev_so", a.data, a.cache),
                     "dev_synth": lambda: load_dev("dev_synth", a.data, a.cache)}[name]()
            if a.limit:
                clips = clips[:a.limit]
            kind = "accuracy" if name in ("fsdd", "sc") else "wer"

            def one(i):
                cid, path, _ = clips[i]
                wav, rate = wav_bytes(path, a.lead_ms, a.trail_ms, a.digital_silence, i)
                off = offline(stub, asr, model, wav)
                st, ni, ne, li = streamed(stub, asr, model, wav, rate, a.chunk_ms, a.realtime)
                return off, st, ni, ne, li
            t0 = time.time()
            with cf.ThreadPoolExecutor(a.parallel) as ex:
                outs = list(ex.map(one, range(len(clips))))
            refs = [c[2] for c in clips]
            so = score(kind, refs, [o[0] for o in outs])
            ss = score(kind, refs, [o[1] for o in outs])
            si = score(kind, refs, [o[4] for o in outs])
            same = sum(1 for o in outs if clean(o[0]) == clean(o[1]))
            m = kind
            row = {"clips": len(clips), "offline": so, "stream": ss, "interim": si,
                   "same_text": same,
                   "interims": sum(o[2] for o in outs), "speech_events": sum(o[3] for o in outs),
                   "clips_detail": [{"id": c[0], "ref": c[2], "offline": o[0], "stream": o[1],
                                     "interim": o[4]}
                                    for c, o in zip(clips, outs)]}
            results["sets"][name] = row
            print("%-5s %3d clips | offline %s %6.2f%% | stream %s %6.2f%% | last interims %s "
                  "%6.2f%% | same text %d/%d | %.0f s" % (
                      name, len(clips), m, 100 * so[m], m, 100 * ss[m], m, 100 * si[m], same,
                      len(clips), time.time() - t0), flush=True)
            shown = 0
            for c, o in zip(clips, outs):
                if clean(o[0]) != clean(o[1]) and shown < a.show:
                    print("    %-28s ref %-12s offline %-20r stream %r" % (
                        c[0], c[2][:12], o[0][:40], o[1][:60]))
                    shown += 1
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        stop()


if __name__ == "__main__":
    main()
