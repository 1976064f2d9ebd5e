#!/usr/bin/env python3
"""Hands-free voice latency: end of the user's speech -> first byte of reply audio, and where
the time goes, through Converse on the real stack.

    /usr/bin/python3 services/dialog/bench_voice_latency.py [--build build]
        [--silence 800,400,400/120,400/120/tone] [--eot-conf 0.99] [--fall-slope -10]
        [--rise-slope 0] [--eot-model nlu-eot] [--eot-complete 0.75]
        [--lj 6] [--commas 8] [--set bench|dev] [--tts fake]

Starts the stack of tests/integration/dialog_voice.py on free 127.0.0.1 ports: nats-server,
parley-asr (shipped acoustic model, VAD, LM), parley-nlu (SNIPS), parley-tts (models/tts-voice;
--tts fake: the tone voice), parley-dialog (the `assistant` spec, a fresh SQLite file) and the
gateway. For each hands-free stop window in --silence (dialog.endpointing_silence_ms; parley-
dialog restarted with it; "400/120": the 400 ms window with the end-of-turn check after
120 ms of silence, dialog.end_of_turn_silence_ms, at --eot-conf, docs/dialog.md "End of
turn", with the NLU's confidence alone: dialog.end_of_turn_tone false; "400/120/tone": the
tone of the voice counts too, dialog.end_of_turn_tone with --fall-slope, --rise-slope; "400/120/model": the end-of-turn classifier
--eot-model decides instead of the intent, dialog.end_of_turn_model at --eot-complete; a bare
number turns the check off; a suffix "@DB" restarts parley-asr with asr.stream_tail_gate_db DB,
"@0" timing the pause from the VAD's last speech, the behaviour before the quiet tail) every recording is one Converse stream, hands-free, LINEAR_PCM at the
recording's rate, sent in 20 ms chunks on a real-time schedule (a chunk leaves when its last
sample would have been spoken) as 0.3 s of dither, the speech, 1.5 s of dither.

The recordings: FSDD digits (8 kHz) and LJ Speech sentences (--lj, the shortest of
ljspeech-real; --commas, the shortest with a comma, whose pauses test the stop window;
resampled to 16 kHz with sox). The end of speech is the end of the recording's
last 10 ms frame above 5% of its loudest frame's RMS (a recording's own trailing silence is
not speech), placed on the send schedule.

Per utterance, client clock (monotonic):
  eos->final   end of speech -> the last final transcript, in two parts: end decided (the
               audio from the end of speech to where the endpointer ended the utterance, the
               final's audio_processed: the stop window plus the VAD's tail) and asr (from
               sending that audio to the final's arrival: parley-asr's work, the final
               decode, NATS and the gateway both ways)
  final->text  -> the BotText (NLU, policy, commit)
  text->audio  -> the first BotAudio (parley-tts's first chunk; the server's tts_first_ms)
  eos->audio   the total
"early": the utterances the end-of-turn check ended (END_OF_UTTERANCE "end of turn"); the
dialog's log (printed path) has one line per check with the words, the intent score and the
verdict.
An utterance cut into more than one final (a pause inside it taken for its end) is a split;
it is counted and kept out of the latency figures (its first reply came while it was spoken).
Prints one line per utterance and a p50/mean summary per stop window.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "..", "shared", "data", "speech")
FSDD = ["7_george_0.wav", "6_lucas_0.wav", "7_lucas_0.wav", "3_jackson_0.wav"]
# --set dev: recordings disjoint from the bench's, to choose the end-of-turn rule on: the other
# three FSDD speakers, and LJ Speech sentences of ljspeech-real and ljspeech-subset that are
# not among the bench's (the shortest 4 and the shortest 8 with commas of ljspeech-real)
# (part K: the K-th slice of each list and other digits, for a second look)
DEV_DIGITS = [(1, 4, 8), (2, 5, 9), (0, 3, 6)]
CHUNK_MS = 20


def setup_env(build, tts):
    b = os.path.abspath(build)
    os.environ.update({
        "PL_DIALOG": os.path.join(b, "services/dialog/parley-dialog"),
        "PL_NLU": os.path.join(b, "services/nlu/parley-nlu"),
        "PL_ASR": os.path.join(b, "services/asr/parley-asr"),
        "PL_GATEWAY": os.path.join(b, "services/gateway/parley-gateway"),
        "PL_CHAT": os.path.join(b, "clients/parley-chat"),
        "PL_PYTHON_STUBS": os.path.join(b, "python"),
        "PL_SOURCE_DIR": ROOT,
    })
    if tts == "fake":
        os.environ["PL_TTS"] = os.path.join(b, "tests/parley-tts-fake")
        os.environ["PL_TTS_FAKE"] = "1"
    else:
        os.environ["PL_TTS"] = os.path.join(b, "services/tts/parley-tts")
        os.environ.pop("PL_TTS_FAKE", None)
    sys.path.insert(0, os.path.join(ROOT, "tests/integration"))


def read_wav(path):
    w = wave.open(path)
    assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
    return w.getframerate(), w.readframes(w.getnframes())


def speech_end_s(rate, pcm):
    """End of the last 10 ms frame above 5% of the loudest frame's RMS."""
    import array
    a = array.array("h", pcm)
    n = rate // 100
    rms = [(sum(x * x for x in a[i:i + n]) / n) ** 0.5 for i in range(0, len(a) - n + 1, n)]
    top = max(rms)
    last = max(i for i, r in enumerate(rms) if r > 0.05 * top)
    return (last + 1) * n / rate


def lj_rows(folder):
    """(id, text, folder) of the LJ Speech recordings there, shortest text first."""
    meta = os.path.join(DATA, folder, "metadata.csv")
    rows = [line.split("|") for line in open(meta, encoding="utf-8")]
    rows = [(r[0], r[2], folder) for r in rows
            if os.path.exists(os.path.join(DATA, folder, "wavs", r[0] + ".flac"))]
    rows.sort(key=lambda r: len(r[1]))
    return rows


def dev_fsdd(part):
    return ["%d_%s_0.wav" % (d, s) for s in ("nicolas", "theo", "yweweler")
            for d in DEV_DIGITS[part % len(DEV_DIGITS)]]


def recordings(n_lj, tmp, commas=0, dev=False, part=0):
    rows = lj_rows("ljspeech-real")
    with_commas = [r for r in rows if "," in r[1]]
    chosen = rows[:n_lj] + with_commas[:commas]
    fsdd = FSDD
    if dev:  # the same kinds of recording, none of the bench's
        taken = set(r[0] for r in rows[:4] + with_commas[:8])
        pool = {}
        for r in rows + lj_rows("ljspeech-subset"):
            if r[0] not in taken and r[0] not in pool:
                pool[r[0]] = r
        rows = sorted(pool.values(), key=lambda r: len(r[1]))
        with_commas = [r for r in rows if "," in r[1]]
        plain = [r for r in rows if "," not in r[1]]
        chosen = (plain[part * n_lj:(part + 1) * n_lj] +
                  with_commas[part * commas:(part + 1) * commas])
        fsdd = dev_fsdd(part)
    out = [(name, os.path.join(DATA, "fsdd", "recordings", name)) for name in fsdd]
    for r in chosen:
        wav = os.path.join(tmp, r[0] + ".wav")
        subprocess.run(["sox", "-V1", os.path.join(DATA, r[2], "wavs", r[0] + ".flac"),
                        "-r", "16000", "-b", "16", "-c", "1", wav], check=True)
        out.append((r[0], wav))
    return out


def one(dv, stack, name, path):
    from parley.dialog.v1 import dialog_pb2 as D
    from riva.proto import riva_audio_pb2 as RA
    rate, pcm = read_wav(path)
    eos_in = 0.3 + speech_end_s(rate, pcm)
    c = dv.Conv(stack.stub, dv.config(input_audio=D.AudioInputConfig(
        encoding=RA.LINEAR_PCM, sample_rate_hertz=rate, server_endpointing=True),
        output_audio=dv.out_cfg(22050)))
    _, created = c.wait(dv.is_event(D.EVENT_SESSION_CREATED), what="SESSION_CREATED")
    data = dv.silence(rate, 0.3) + pcm + dv.silence(rate, 1.5)
    n = rate * CHUNK_MS // 1000 * 2
    t0 = time.monotonic()
    for k, i in enumerate(range(0, len(data), n)):
        due = t0 + (k + 1) * CHUNK_MS / 1000.0  # its last sample has been spoken
        time.sleep(max(0.0, due - time.monotonic()))
        c.send(audio_content=data[i:i + n])
    t_eos = t0 + eos_in
    time.sleep(1.0)
    try:
        c.wait(dv.is_event(D.EVENT_TURN_COMPLETE), timeout=10, what="TURN_COMPLETE")
    except AssertionError:
        pass
    time.sleep(0.3)
    c.close()
    finals = [(t, r.transcript.text, r.transcript.audio_processed) for t, r in c.out
              if r.WhichOneof("response") == "transcript" and r.transcript.is_final]
    early = sum(1 for t, r in c.out if r.WhichOneof("response") == "event" and
                r.event.type == D.EVENT_END_OF_UTTERANCE and "end of turn" in r.event.detail)
    if not finals:
        return {"name": name, "finals": [], "early": early, "sid": created.session_id}
    t_fin, _, processed = finals[-1]
    t_decided = t0 + processed  # when the audio that decided the end was sent
    after = [(t, r) for t, r in c.out if t >= t_fin]
    t_text = next((t for t, r in after if r.WhichOneof("response") == "bot_text"), None)
    t_audio = next((t for t, r in after if r.WhichOneof("response") == "bot_audio"), None)
    done = [r.event for t, r in after if r.WhichOneof("response") == "event" and
            r.event.type == D.EVENT_REPLY_AUDIO_DONE]
    ms = lambda a, b: (b - a) * 1000.0 if a is not None and b is not None else float("nan")
    return {"name": name, "finals": [f for _, f, _ in finals], "early": early,
            "sid": created.session_id,
            "eos_final": ms(t_eos, t_fin), "eos_decided": ms(t_eos, t_decided),
            "decided_final": ms(t_decided, t_fin), "final_text": ms(t_fin, t_text),
            "text_audio": ms(t_text, t_audio), "eos_audio": ms(t_eos, t_audio),
            "tts_first": float(done[0].attributes["tts_first_ms"]) if done else float("nan"),
            "srv_first": float(done[0].attributes["first_audio_ms"]) if done else float("nan")}


def restart_asr(ds, stack, gate_db):
    """parley-asr again, with asr.stream_tail_gate_db (None: its default)."""
    stack.asr.terminate()
    stack.asr.wait()
    env = {"PARLEY_ASR_LOG_LEVEL": "warn", "PARLEY_ASR_PUNCTUATION": "false"}
    if gate_db is not None:
        env["PARLEY_ASR_STREAM_TAIL_GATE_DB"] = str(gate_db)
    stack.asr = ds.start([os.environ["PL_ASR"], "--nats", stack.nats, "--http-port", "-1",
                          "--model-dir", os.path.join(ROOT, "models")], "asr", env, r"models=[1-9]")


def restart_dialog(ds, stack, silence_ms, eot_ms, eot_conf, tone=False, fall_slope=-10.0,
                   rise_slope=0.0, model="", complete=0.75):
    stack.dialog.terminate()
    stack.dialog.wait()
    env = {"PARLEY_DIALOG_STORE_PATH": stack.store, "PARLEY_DIALOG_LOG_LEVEL": "info",
           "PARLEY_DIALOG_ENDPOINTING_SILENCE_MS": str(silence_ms),
           "PARLEY_DIALOG_END_OF_TURN_SILENCE_MS": str(eot_ms),
           "PARLEY_DIALOG_END_OF_TURN_MIN_CONFIDENCE": str(eot_conf),
           "PARLEY_DIALOG_END_OF_TURN_TONE": "true" if tone else "false",
           "PARLEY_DIALOG_END_OF_TURN_FALL_SLOPE": str(fall_slope),
           "PARLEY_DIALOG_END_OF_TURN_RISE_SLOPE": str(rise_slope),
           "PARLEY_DIALOG_END_OF_TURN_MODEL": model,
           "PARLEY_DIALOG_END_OF_TURN_MIN_COMPLETE": str(complete)}
    stack.dialog = ds.start([os.environ["PL_DIALOG"], "--nats", stack.nats, "--http-port", "-1",
                             "--model-dir", os.path.join(ROOT, "dialog", "specs")], "dialog", env,
                            r"specs=1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--silence", default="800,400,400/120",
                    help="stop windows, each optionally /end-of-turn pause (ms)")
    ap.add_argument("--eot-conf", type=float, default=0.99,
                    help="dialog.end_of_turn_min_confidence")
    ap.add_argument("--lj", type=int, default=6)
    ap.add_argument("--commas", type=int, default=0,
                    help="also the N shortest LJ sentences with commas (pauses inside)")
    ap.add_argument("--fall-slope", type=float, default=-10.0,
                    help="dialog.end_of_turn_fall_slope (for the /tone specs of --silence)")
    ap.add_argument("--rise-slope", type=float, default=0.0,
                    help="dialog.end_of_turn_rise_slope (for the /tone specs of --silence)")
    ap.add_argument("--set", choices=("bench", "dev"), default="bench",
                    help="dev: recordings disjoint from the bench's (to choose a rule on)")
    ap.add_argument("--part", type=int, default=0,
                    help="--set dev: the PART-th slice of the dev recordings (0, 1, 2)")
    ap.add_argument("--eot-model", default="nlu-eot",
                    help="dialog.end_of_turn_model (for the /model specs of --silence)")
    ap.add_argument("--eot-complete", type=float, default=0.75,
                    help="dialog.end_of_turn_min_complete (for the /model specs of --silence)")
    ap.add_argument("--no-fsdd", action="store_true")
    ap.add_argument("--tts", default="real")
    a = ap.parse_args()
    setup_env(a.build, a.tts)
    import dialog_stories as ds
    import dialog_voice as dv
    tmp = tempfile.mkdtemp(prefix="pl_voicelat_")
    recs = recordings(a.lj, tmp, a.commas, a.set == "dev", a.part)
    if a.no_fsdd:
        recs = recs[len(dev_fsdd(a.part) if a.set == "dev" else FSDD):]
    stack = dv.Stack()
    print("load average at start: %s" % open("/proc/loadavg").read().split()[:3], flush=True)
    summary = []
    import gwtest
    gate_now = None
    for spec in a.silence.split(","):
        spec_w, _, gate = spec.partition("@")
        gate = float(gate) if gate else None
        if gate != gate_now:
            restart_asr(ds, stack, gate)
            gate_now = gate
        silence, _, eot = spec_w.partition("/")
        eot, _, tone = eot.partition("/")
        silence, eot = int(silence), int(eot or 0)
        restart_dialog(ds, stack, silence, eot, a.eot_conf, tone == "tone", a.fall_slope,
                       a.rise_slope, a.eot_model if tone == "model" else "", a.eot_complete)
        one(dv, stack, "warm-up", recs[0][1])
        log = os.path.join(gwtest.TMP, "dialog.log")
        at = os.path.getsize(log) if os.path.exists(log) else 0
        rows = [one(dv, stack, name, path) for name, path in recs]
        checks = {}  # the end-of-turn checks per session
        with open(log, encoding="utf-8", errors="replace") as f:
            f.seek(at)
            for ln in f:
                if "end of turn after" in ln:
                    m = ln.split("converse ", 1)[-1].split(":", 1)[0]
                    rest = ln.split(": end of turn after ", 1)[-1].split('","', 1)[0]
                    checks.setdefault(m, []).append(rest.replace('\\"', '"').strip())
        ok = [r for r in rows if len(r["finals"]) == 1]
        for r in rows:
            for ch in checks.get(r["sid"], []):
                print("  %-8s %-14s check after %s" % (spec, r["name"], ch), flush=True)
            if len(r["finals"]) != 1:
                print("  %-8s %-14s finals %s" % (spec, r["name"], r["finals"]), flush=True)
                continue
            print("  %-8s %-14s eos->final %6.1f (end decided %6.1f + asr %5.1f)  final->text %5.1f  text->audio %6.1f  "
                  "eos->audio %6.1f  (tts first %5.1f, server final->audio %5.1f) %s %r" % (
                      spec, r["name"], r["eos_final"], r["eos_decided"], r["decided_final"],
                      r["final_text"], r["text_audio"],
                      r["eos_audio"], r["tts_first"], r["srv_first"],
                      "early" if r["early"] else "     ", r["finals"][0]),
                  flush=True)
        med = lambda k: statistics.median([r[k] for r in ok]) if ok else float("nan")
        avg = lambda k: statistics.mean([r[k] for r in ok]) if ok else float("nan")
        line = ("stop window %s ms: %d utterances, %d split, %d ended early, %d without a final; "
                "p50 (mean) "
                "eos->final %.0f (%.0f) [end decided %.0f (%.0f) + asr/transport %.0f (%.0f)], "
                "final->text %.1f (%.1f), text->audio %.0f (%.0f), "
                "eos->audio %.0f (%.0f) ms" % (
                    spec, len(rows), sum(len(r["finals"]) > 1 for r in rows),
                    sum(r["early"] > 0 for r in rows),
                    sum(not r["finals"] for r in rows), med("eos_final"), avg("eos_final"),
                    med("eos_decided"), avg("eos_decided"), med("decided_final"),
                    avg("decided_final"),
                    med("final_text"), avg("final_text"), med("text_audio"), avg("text_audio"),
                    med("eos_audio"), avg("eos_audio")))
        summary.append(line)
        print(line, flush=True)
    print("load average at end: %s" % open("/proc/loadavg").read().split()[:3])
    print("\n".join(summary))


if __name__ == "__main__":
    main()
