#!/usr/bin/env python3
"""Where the time between the true end of speech and the endpointer's pause goes, offline.

    /usr/bin/python3 services/dialog/vad_tail.py [--set bench|dev] [--part K] [--lj 4]
        [--commas 8] [--eou 120] [--stop 400] [--gate DB]

For the recordings of services/dialog/bench_voice_latency.py (the same choice of FSDD digits
and LJ Speech sentences, framed the same way: 0.3 s of dither, the speech, 1.5 s of dither,
at 16 kHz as parley-asr hears it after 8 windows of digital silence) this runs the shipped VAD
(tests/reference/vad_ref.py, the float64 reference of engine/models/vad.c) window by window and
parley-asr's endpointer rules (10 ms frames, each with the probability of the 32 ms window
holding its centre; EOU = 11 of the last 12 frames silent, END = 40 of 40) and prints, per
recording, in ms of audio after the true end of speech (the end of the last 10 ms frame above
5% of the loudest frame's RMS, as the bench takes it):
  tail    the end of the last frame the VAD still judges speech (prob >= 0.5): the VAD's
          hangover, where the endpointer starts counting silence
  win     when the window holding that frame is complete (the frame is known to parley-asr)
  eou     the frame that decides the EOU (the end-of-turn pause), and END (the stop window)
  gated   the same with --gate DB: the endpointer's quiet tail (asr.stream_tail_gate_db,
          engine/asr/endpoint.h): once --confirm frames in a row are VAD-silent, the frames
          right before them DB under the utterance's loudest 10 ms frame so far count as
          silent for the EOU window (not for END)
and the pauses inside the utterance that the EOU / END rules find (a split at END).
"""
import argparse
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vad_ref  # noqa: E402
import bench_voice_latency as bvl  # noqa: E402

SR, WIN, HOP = 16000, 512, 160


def load16(path):
    import subprocess
    raw = subprocess.run(["sox", "-V1", path, "-t", "f32", "-r", str(SR), "-c", "1", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<f4").copy()


def dither(n):
    import random
    rnd = random.Random(7)
    return np.array([rnd.randint(-8, 8) for _ in range(n)], np.float32) / 32768.0


def probs_of(model, x):
    model.reset()
    with torch.no_grad():
        z = torch.zeros(1, WIN, dtype=torch.float64)
        for _ in range(8):
            model(z)
        t = torch.from_numpy(x.astype(np.float64))
        return np.array([float(model(t[k * WIN:(k + 1) * WIN].unsqueeze(0)))
                         for k in range(len(x) // WIN)])


def endpoint(p, x, eou_f, eou_need, stop_f, stop_need, gate_db=None, confirm=2, start_f=30,
             start_need=6):
    """parley-asr's VAD-only endpointer; returns the events (type, frame, last voiced). With
    gate_db: once `confirm` frames in a row are VAD-silent, the quiet frames (gate_db under the
    utterance's loudest frame) right before them count as silent too, for the EOU window only
    (engine/asr/endpoint.c)."""
    nfr = len(p) * WIN // HOP
    sil, tail, ev = [], [], []
    speech, since, last, armed, peak, run0, vrun = False, 0, -1, False, 0.0, 0, 0
    for t in range(nfr):
        w = (t * HOP + HOP // 2) // WIN
        e = float(np.mean(x[t * HOP:(t + 1) * HOP] ** 2)) + 1e-12
        v = p[w] >= 0.5
        sil.append(not v)
        tail.append(not v)
        if v:
            last = t
        if speech and gate_db is not None:
            peak = max(peak, e)
            quiet = 10 * np.log10(peak / e) >= gate_db
            if not (quiet or not v):
                run0 = t + 1
            vrun = vrun + 1 if not v else 0
            if vrun == confirm:
                for f in range(max(run0, since), t):
                    tail[f] = True
        lo = lambda n: max(since, t - n + 1)
        if not speech:
            if sum(not s for s in sil[lo(start_f):]) >= start_need:
                speech, since, armed, peak, run0, vrun = True, t + 1, True, e, t + 1, 0
                ev.append(("start", t, last))
            continue
        if sum(sil[lo(stop_f):]) >= stop_need:
            ev.append(("end", t, last))
            speech, since = False, t + 1
            continue
        if sum(tail[lo(eou_f):]) >= eou_need:
            if armed:
                armed = False
                ev.append(("eou", t, last))
        else:
            armed = True
    return ev


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=("bench", "dev"), default="bench")
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--lj", type=int, default=4)
    ap.add_argument("--commas", type=int, default=8)
    ap.add_argument("--eou", type=int, default=120)
    ap.add_argument("--stop", type=int, default=400)
    ap.add_argument("--gate", type=float, default=None)
    ap.add_argument("--confirm", type=int, default=2)
    a = ap.parse_args()
    import tempfile
    tmp = tempfile.mkdtemp(prefix="pl_vadtail_")
    recs = bvl.recordings(a.lj, tmp, a.commas, a.set == "dev", a.part)
    model = vad_ref.SileroVad16k(vad_ref.read_safetensors(
        os.path.join(ROOT, "models", "vad-silero", "model.safetensors")))
    eou_f, stop_f = a.eou // 10, a.stop // 10
    eou_need = int(np.ceil(0.9 * eou_f - 1e-6))
    stop_need = int(np.ceil(0.98 * stop_f - 1e-6))
    rows = []
    for name, path in recs:
        rate, pcm = bvl.read_wav(path)
        eos = 0.3 + bvl.speech_end_s(rate, pcm)
        sp = load16(path)
        x = np.concatenate([dither(int(0.3 * SR)), sp, dither(int(1.5 * SR))])
        p = probs_of(model, x)
        r = {"name": name}
        for key, gate in (("vad", None), ("gated", a.gate)):
            if key == "gated" and gate is None:
                continue
            ev = endpoint(p, x, eou_f, eou_need, stop_f, stop_need, gate, a.confirm)
            ms = lambda f: (f + 1) * 10 - eos * 1000  # end of frame f, after the end of speech
            ends = [e for e in ev if e[0] == "end"]
            eous = [e for e in ev if e[0] == "eou"]
            r[key] = {"tail": ms(ends[-1][2]) if ends else float("nan"),
                      "eou": ms(eous[-1][1]) if eous else float("nan"),
                      "end": ms(ends[-1][1]) if ends else float("nan"),
                      "pauses": len(eous) - 1, "splits": len(ends) - 1}
            if key == "vad" and ends:
                lv = ends[-1][2]
                r["win"] = ((lv * HOP + HOP // 2) // WIN + 1) * WIN / SR * 1000 - eos * 1000
        rows.append(r)
        line = "%-14s vad: tail %6.1f (window done %6.1f) eou %6.1f end %6.1f pauses %d splits %d" % (
            name, r["vad"]["tail"], r.get("win", float("nan")), r["vad"]["eou"], r["vad"]["end"],
            r["vad"]["pauses"], r["vad"]["splits"])
        if "gated" in r:
            g = r["gated"]
            line += "  | gated: tail %6.1f eou %6.1f end %6.1f pauses %d splits %d" % (
                g["tail"], g["eou"], g["end"], g["pauses"], g["splits"])
        print(line, flush=True)
    for key in ("vad", "gated"):
        rr = [r[key] for r in rows if key in r]
        if not rr:
            continue
        med = lambda k: float(np.nanmedian([q[k] for q in rr]))
        print("%s: p50 tail %.0f ms, eou %.0f ms, end %.0f ms after the end of speech; "
              "%d pauses found inside, %d splits" % (
                  key, med("tail"), med("eou"), med("end"), sum(q["pauses"] for q in rr),
                  sum(q["splits"] for q in rr)))


if __name__ == "__main__":
    main()
