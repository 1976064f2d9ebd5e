"""parley-tts end to end: nats-server + parley-tts + gateway on free 127.0.0.1 ports and a
Python gRPC client (Debian's python3-grpcio with the build's stubs) that behaves as the
official Riva talk.py does (../shared/reference/riva-api.md §5): offline Synthesize at 44.1 kHz
written into a WAV header of its own, --stream (SynthesizeOnline, one request per line on one
bidirectional stream, "time to first audio"), --list-voices (GetRivaSynthesisConfig
parameters language_code / voice_name / subvoices); every bad input of issue 15; the audio
itself (not silent, the rate asked for, a length that fits the text); `parley synthesize`.

PL_TTS_FAKE=1: PL_TTS is parley-tts-fake (a tone generator as the voice,
tests/support/fake_tts_voice.c) with two voices, fake-a and fake-b; else PL_TTS is the real
parley-tts with models/tts-voice.
Environment: PL_TTS, PL_GATEWAY, PL_PARLEY, PL_PYTHON_STUBS, PL_SOURCE_DIR.
"""
import array
import math
import os
import re
import subprocess
import threading
import time
import wave

import gwtest as g
from gwtest import check, code_of, grpc
from riva.proto import riva_tts_pb2, riva_tts_pb2_grpc

TTS = riva_tts_pb2
SRC = os.environ["PL_SOURCE_DIR"]
FAKE = os.environ.get("PL_TTS_FAKE") == "1"
RANDOM = not FAKE and (os.environ.get("PL_TTS_RANDOM_VOICE") == "1" or
                       not os.path.exists(os.path.join(SRC, "models", "tts-voice", "config.json")))
PARLEY = os.environ["PL_PARLEY"]
IA = grpc.StatusCode.INVALID_ARGUMENT

SHORT = "Hello there, this is Parley speaking."
LONG = ("The quick brown fox jumps over the lazy dog while seven wizards quietly hex the jovial "
        "boxing judge, and a patient listener waits for every word of this rather long sentence "
        "to arrive one block after another.")


def start_tts(nats_url, voices):
    env = dict(os.environ)
    env.pop("PARLEY_CONFIG", None)
    env.update({"PARLEY_TTS_VOICES": voices, "PARLEY_TTS_LOG_LEVEL": "info"})
    out = os.path.join(g.TMP, "tts-out-%d" % time.monotonic_ns())
    p = g.spawn([os.environ["PL_TTS"], "--nats", nats_url, "--http-port", "0", "--model-dir",
                 os.path.join(SRC, "models")], "tts.log", env=env, stdout=open(out, "wb"))
    end = time.time() + 120
    while time.time() < end:
        m = re.search(r"http_port=(\d+) voices=(\d+) names=(\S*)", open(out).read())
        if m:
            return p, int(m.group(1)), m.group(3).split(",")
        if p.poll() is not None:
            raise AssertionError("parley-tts exited: %s (see %s/tts.log)" % (p.returncode, g.TMP))
        time.sleep(0.05)
    raise AssertionError("parley-tts did not start")


def req(text, rate=44100, enc=1, voice="", lang="en-US", dictionary=""):
    return TTS.SynthesizeSpeechRequest(text=text, language_code=lang, sample_rate_hz=rate,
                                       encoding=enc, voice_name=voice,
                                       custom_dictionary=dictionary)


def pcm(b):
    a = array.array("h")
    a.frombytes(b)
    return a


def rms(a):
    return math.sqrt(sum(x * x for x in a) / max(len(a), 1)) / 32768.0


def list_voices(stub):
    """What talk.py --list-voices prints (its own code, in short)."""
    r = stub.GetRivaSynthesisConfig(TTS.RivaSynthesisConfigRequest(), timeout=10)
    models = {}
    for c in r.model_config:
        lang = c.parameters["language_code"]
        name = c.parameters["voice_name"]
        subs = [v.split(":")[0] for v in c.parameters["subvoices"].split(",")]
        models.setdefault(lang, {"voices": []})["voices"].extend(name + "." + s for s in subs)
    return r, models


def talk_stream(stub, lines, **kw):
    """talk.py --stream: one request per line on one SynthesizeOnline call. Returns
    [(t_since_start, response)], time to first audio."""
    t0 = time.monotonic()
    got = []
    for resp in stub.SynthesizeOnline(iter([req(x, **kw) for x in lines]), timeout=300):
        got.append((time.monotonic() - t0, resp))
    first = next((t for t, r in got if r.audio), None)
    return got, first


def main():
    _, nats_url = g.start_nats()
    if FAKE:
        vdirs = [os.path.join(g.TMP, "voices", n) for n in ("fake-a", "fake-b")]
        for d in vdirs:
            os.makedirs(d)
    elif RANDOM:
        # the voice's code without its trained model: random weights (train/tts/export.py), so
        # the engine path is tested; what it says is noise, so length checks are loose
        import sys
        sys.path.insert(0, SRC)
        from train.tts import export
        ac, voc, stats = export.random_voice(3)
        vdirs = [os.path.join(g.TMP, "random-voice")]
        export.write(vdirs[0], ac, voc, stats)
    else:
        vdirs = [os.path.join(SRC, "models", "tts-voice")]
    tts_p, tts_http, names = start_tts(nats_url, ",".join(vdirs))
    check(len(names) == len(vdirs) and all(names), "parley-tts serves %s" % names)
    status, _ = g.http_get(tts_http, "/readyz")
    check(status == 200, "parley-tts /readyz 200")
    _, grpc_port, _ = g.start_gateway(nats_url)
    ch = grpc.insecure_channel("127.0.0.1:%d" % grpc_port, options=[
        ("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)])
    stub = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(ch)

    # --list-voices
    r, models = list_voices(stub)
    listed = [n if "." in n else n + ".default" for n in names]
    check(list(models) == ["en-US"] and models["en-US"]["voices"] == listed,
          "talk.py --list-voices: %s" % models)
    for v in listed:
        check(RANDOM or len(stub.Synthesize(req("Hi.", voice=v), timeout=120).audio) > 0,
              "the name --list-voices prints, %s, is a voice_name a request may use" % v)
    if "." in names[0]:
        fam = names[0].rsplit(".", 1)[0]
        check(RANDOM or len(stub.Synthesize(req("Hi.", voice=fam), timeout=120).audio) > 0,
              "the family %s alone picks its voice" % fam)
    rates = {c.model_name: int(c.parameters["sample_rate"]) for c in r.model_config}
    native = rates[names[0]]
    check(all(8000 <= x <= 48000 for x in rates.values()), "voices' sample_rate %s" % rates)
    c, d = code_of(lambda: stub.GetRivaSynthesisConfig(TTS.RivaSynthesisConfigRequest(model_name="nope"), timeout=10))
    check(c == grpc.StatusCode.NOT_FOUND and names[0] in d, "config of an unknown model: NOT_FOUND listing voices (%s)" % d)

    # offline, as talk.py: 44.1 kHz LINEAR_PCM, its own WAV header
    t0 = time.monotonic()
    r = stub.Synthesize(req(SHORT), timeout=120)
    t_short = time.monotonic() - t0
    a = pcm(r.audio)
    secs = len(a) / 44100
    check(len(r.audio) % 2 == 0 and len(a) > 0, "Synthesize: %d bytes of s16 (%.2f s at 44.1 kHz, %.0f ms)" % (len(r.audio), secs, t_short * 1000))
    check(not r.audio.startswith(b"RIFF"), "raw samples, no header (talk.py writes its own)")
    check(rms(a) > (0.0001 if RANDOM else 0.01), "not silent (rms %.4f)" % rms(a))
    words = len(SHORT.split())
    if RANDOM:
        check(secs < 10 * words, "duration %.2f s for %d words (random weights: only bounded)" % (secs, words))
    else:
        check(0.15 * words < secs < 1.2 * words + 1.0, "duration %.2f s plausible for %d words" % (secs, words))
    wav = os.path.join(g.TMP, "talk.wav")
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframesraw(r.audio)
    with wave.open(wav, "rb") as w:
        check(w.getframerate() == 44100 and w.getnframes() == len(a), "talk.py's WAV: 44100 Hz, %d frames" % w.getnframes())
    check(r.meta.text == SHORT and r.meta.processed_text and "parley" in r.meta.processed_text.lower(),
          "meta: text and processed_text (%r)" % r.meta.processed_text)
    dur = sum(r.meta.predicted_durations)
    check(len(r.meta.predicted_durations) > words and 0.5 * secs - 0.05 < dur < 1.5 * secs + 0.2,
          "meta.predicted_durations: %d symbols, %.2f s (audio %.2f s)" % (len(r.meta.predicted_durations), dur, secs))

    # the same text at every rate: the same length in seconds, samples at exactly that rate
    for rate in (8000, 16000, 22050, 24000, 32000, 48000, 11025):
        b = stub.Synthesize(req(SHORT, rate=rate), timeout=120).audio
        s = len(b) / 2 / rate
        check(abs(s - secs) < 0.02 * secs + 0.01, "%d Hz: %.3f s (44.1 kHz: %.3f s)" % (rate, s, secs))
    b = stub.Synthesize(req(SHORT, rate=0), timeout=120).audio
    check(abs(len(b) / 2 / native - secs) < 0.02 * secs + 0.01, "sample_rate_hz 0: the voice's %d Hz" % native)

    # the tone of the fake voice sits where its phones put it: check the rate by zero crossings
    if FAKE:
        a8 = pcm(stub.Synthesize(req("mmm", rate=8000), timeout=60).audio)
        a48 = pcm(stub.Synthesize(req("mmm", rate=48000), timeout=60).audio)
        zc = lambda x: sum(1 for i in range(1, len(x)) if (x[i - 1] < 0) != (x[i] < 0))
        f8 = zc(a8) / 2 / (len(a8) / 8000)
        f48 = zc(a48) / 2 / (len(a48) / 48000)
        check(abs(f8 - f48) < 0.03 * f48, "same pitch at 8 and 48 kHz (%.0f / %.0f Hz): resampled, not relabelled" % (f8, f48))

    # encodings
    o = stub.Synthesize(req(SHORT, enc=4), timeout=120).audio
    check(o.startswith(b"OggS") and b"OpusHead" in o[:100], "OGGOPUS: an Ogg/Opus stream (%d bytes)" % len(o))
    mu = stub.Synthesize(req(SHORT, rate=8000, enc=3), timeout=120).audio
    check(abs(len(mu) / 8000 - secs) < 0.02 * secs + 0.01, "MULAW at 8 kHz: one byte a sample")

    # voices
    if len(names) > 1:
        r2 = stub.Synthesize(req(SHORT, voice=names[1]), timeout=120)
        check(len(r2.audio) > 0, "the second voice, %s" % names[1])
    r2 = stub.Synthesize(req(SHORT, voice=names[0].upper(), lang="EN-us"), timeout=120)
    check(len(r2.audio) > 0, "voice name and language_code are case-insensitive")

    # SSML and the custom dictionary
    ssml = ('<speak>Hello <break time="500ms"/> <prosody rate="slow">world</prosody>, '
            '<say-as interpret-as="characters">abc</say-as>.</speak>')
    r2 = stub.Synthesize(req(ssml), timeout=120)
    check(len(r2.audio) > 0 and "<" not in r2.meta.processed_text, "SSML: %r" % r2.meta.processed_text)
    r2 = stub.Synthesize(req("Parley zyxwv.", dictionary="zyxwv  Z IH1 K S, parley  P AA1 R L IY0"), timeout=120)
    check(len(r2.audio) > 0, "custom_dictionary with two entries")

    # bad input: a clear status, never a crash or a hang
    raw = ch.unary_unary("/nvidia.riva.tts.RivaSpeechSynthesis/Synthesize")
    bad = [
        ("empty text", lambda: stub.Synthesize(req(""), timeout=30), IA, "empty"),
        ("white space", lambda: stub.Synthesize(req(" \n\t "), timeout=30), IA, "empty"),
        ("100 kB text", lambda: stub.Synthesize(req("word " * 20480), timeout=30),
         grpc.StatusCode.RESOURCE_EXHAUSTED, "8192"),
        ("only punctuation", lambda: stub.Synthesize(req("?! ... ,;: -- !!"), timeout=30), IA, "no words"),
        ("only emoji", lambda: stub.Synthesize(req("\U0001F600 \U0001F389\U0001F44D"), timeout=30), IA, "no words"),
        ("invalid UTF-8", lambda: raw(b"\x0a\x06ab\xff\xfecd\x12\x05en-US\x20\x80\xd8\x02", timeout=30), IA, "UTF-8"),
        ("unknown voice", lambda: stub.Synthesize(req(SHORT, voice="nobody"), timeout=30),
         grpc.StatusCode.NOT_FOUND, names[0]),
        ("rate 4000", lambda: stub.Synthesize(req(SHORT, rate=4000), timeout=30), IA, "8000-48000"),
        ("rate 96000", lambda: stub.Synthesize(req(SHORT, rate=96000), timeout=30), IA, "8000-48000"),
        ("rate -1", lambda: stub.Synthesize(req(SHORT, rate=-1), timeout=30), IA, "sample_rate_hz"),
        ("FLAC", lambda: stub.Synthesize(req(SHORT, enc=2), timeout=30), IA, "FLAC"),
        ("encoding 99", lambda: stub.Synthesize(req(SHORT, enc=99), timeout=30), IA, "encoding"),
        ("custom dictionary, one space", lambda: stub.Synthesize(req(SHORT, dictionary="parley P AA1 R L IY0"), timeout=30), IA, "parley"),
        ("custom dictionary, bad phone", lambda: stub.Synthesize(req(SHORT, dictionary="parley  P QQ9"), timeout=30), IA, "QQ9"),
        ("unterminated SSML", lambda: stub.Synthesize(req("<speak>Hello <prosody rate='slow'>world"), timeout=30), IA, "ssml"),
        ("malformed SSML", lambda: stub.Synthesize(req("<speak>Hello <break time=></speak>"), timeout=30), IA, "ssml"),
        ("mismatched SSML", lambda: stub.Synthesize(req("<speak><p>Hello</s></speak>"), timeout=30), IA, "ssml"),
        ("SSML nested 200 deep", lambda: stub.Synthesize(req("<speak>" + "<emphasis>" * 200 + "hi" + "</emphasis>" * 200 + "</speak>"), timeout=30), IA, "ssml"),
        ("SSML nested 10000 deep (SynthesizeOnline)", lambda: list(stub.SynthesizeOnline(iter([req("<speak>" + "<emphasis>" * 10000 + "hi" + "</emphasis>" * 10000 + "</speak>")]), timeout=30)), IA, "ssml"),
        ("empty text (SynthesizeOnline)", lambda: list(stub.SynthesizeOnline(iter([req("")]), timeout=30)), IA, "empty"),
        ("unknown voice (SynthesizeOnline)", lambda: list(stub.SynthesizeOnline(iter([req(SHORT, voice="nobody")]), timeout=30)), grpc.StatusCode.NOT_FOUND, names[0]),
        ("rate 96000 (SynthesizeOnline)", lambda: list(stub.SynthesizeOnline(iter([req(SHORT, rate=96000)]), timeout=30)), IA, "8000-48000"),
        ("language de-DE", lambda: stub.Synthesize(req(SHORT, lang="de-DE"), timeout=30), IA, "de-DE"),
        ("garbage bytes", lambda: raw(b"\x0a\xff\xff\xff", timeout=30), IA, ""),
    ]
    for what, fn, code, word in bad:
        t0 = time.monotonic()
        c, d = code_of(fn)
        check(c == code and word.lower() in d.lower() and time.monotonic() - t0 < 20,
              "%s: %s (%s)" % (what, c, d[:160]))
    for what, text in (("control characters", "Hello\x01\x02 world\x07, again\x1b."),
                       ("NUL-free text with tabs and CR", "Hello\tworld\r\nagain.")):
        r2 = stub.Synthesize(req(text), timeout=60)
        check(len(r2.audio) > 0 and rms(pcm(r2.audio)) > (0.0001 if RANDOM else 0.01), "%s: spoken (%r)" % (what, r2.meta.processed_text))
    check(tts_p.poll() is None, "parley-tts still running after every bad input")

    # SynthesizeOnline as talk.py --stream: one request per line, answered in order
    lines = [SHORT, LONG, "Goodbye."]
    got, first = talk_stream(stub, lines)
    starts = [i for i, (t, x) in enumerate(got) if x.meta.text]
    check([got[i][1].meta.text for i in starts] == lines, "three requests on one stream, answered in order")
    offline = [len(stub.Synthesize(req(x), timeout=120).audio) for x in lines]
    streamed = [sum(len(x.audio) for _, x in got[starts[k]:(starts[k + 1] if k + 1 < 3 else len(got))])
                for k in range(3)]
    check(all(abs(s - o) <= 0.01 * o + 8 for s, o in zip(streamed, offline)),
          "each request's streamed audio matches Synthesize (%s vs %s bytes)" % (streamed, offline))
    # streamed as made: the front end and the acoustic model run over the whole sentence, then
    # each vocoder chunk goes out as it is made, so the long sentence's chunks come a few ms
    # apart (2.3-8 ms on average here, 40-150 ms for all 19) after 40-75 % of the time it took
    # (from the short one's last message). Audio held back until the sentence was made would
    # come in one burst at the end, its chunks a fraction of a millisecond apart: so either a
    # mean gap of at least 1 ms or a spread over a quarter of the time it took. (A fixed span
    # failed: 42 ms < 50 on a quiet run of a fast machine.)
    long_chunks = [(t, x) for t, x in got[starts[1]:starts[2]] if x.audio]
    span = long_chunks[-1][0] - long_chunks[0][0]
    took = long_chunks[-1][0] - got[starts[1] - 1][0]
    gap = span / max(1, len(long_chunks) - 1)
    check(len(long_chunks) >= (1 if RANDOM else 3) and (RANDOM or gap >= 0.001 or span > 0.25 * took),
          "the long sentence streams: %d chunks over %.0f ms (%.1f ms apart) of the %.0f ms it took "
          "(first not held back)" % (len(long_chunks), span * 1000, gap * 1000, took * 1000))
    durs = [x for _, x in got if x.meta.predicted_durations]
    check(len(durs) == 3, "each request ends with its predicted_durations")
    print("time to first audio (SynthesizeOnline, 3 lines): %.1f ms" % (first * 1000))

    # OGGOPUS on the stream: one Ogg/Opus stream per request, its pages sent as they are made
    got, _ = talk_stream(stub, [LONG, SHORT], enc=4)
    whole = b"".join(x.audio for _, x in got)
    check(whole.startswith(b"OggS") and whole.count(b"OpusHead") == 2 and whole.count(b"OpusTags") == 2,
          "OGGOPUS stream: two requests give two chained Ogg/Opus streams (%d bytes)" % len(whole))
    check(sum(1 for _, x in got if x.audio) >= (2 if RANDOM else 3), "OGGOPUS stream: the pages come in several responses (%d)" % sum(1 for _, x in got if x.audio))

    # an error in the middle of a stream: the first request's audio, then the status
    n_audio = [0]

    ok_then_bad = lambda: [n_audio.__setitem__(0, n_audio[0] + len(x.audio)) for x in stub.SynthesizeOnline(iter([req(SHORT), req(SHORT, voice="nobody")]), timeout=60)]
    c, d = code_of(ok_then_bad)
    check(c == grpc.StatusCode.NOT_FOUND and "request 2" in d and n_audio[0] > 0,
          "stream: request 2 names an unknown voice: request 1's audio, then NOT_FOUND (%s)" % d)

    # 100 kB through SynthesizeOnline: sentence by sentence, first audio soon; cancel midway
    big = " ".join(["This is sentence number %d of a very long text." % i for i in range(2200)])
    check(len(big) > 100000, "a %d-byte text" % len(big))
    t0 = time.monotonic()
    call = stub.SynthesizeOnline(iter([req(big)]), timeout=300)
    n = 0
    t_first = None
    for x in call:
        if x.audio and t_first is None:
            t_first = time.monotonic() - t0
        n += 1
        if n >= 5:
            call.cancel()
            break
    check(t_first is not None and t_first < 10, "100 kB on SynthesizeOnline: first audio after %.0f ms, then cancelled" % (t_first * 1000))
    r2 = stub.Synthesize(req(SHORT), timeout=60)
    check(len(r2.audio) > 0, "the service answers after the cancelled stream")

    # concurrent streams
    errs = []

    def one(i):
        try:
            got, _ = talk_stream(stub, [SHORT, "Number %d." % i])
            assert sum(len(x.audio) for _, x in got) > 0
        except Exception as e:  # noqa: BLE001
            errs.append(e)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    [t.start() for t in ts]
    [t.join(120) for t in ts]
    check(not errs and not any(t.is_alive() for t in ts), "4 concurrent SynthesizeOnline streams (%s)" % errs[:1])

    # parley synthesize
    out = os.path.join(g.TMP, "cli.wav")
    p = subprocess.run([PARLEY, "synthesize", SHORT, "-o", out, "--server", "127.0.0.1:%d" % grpc_port,
                        "--sample-rate", "16000"], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "parley synthesize (%s)" % (p.stderr.strip() or p.stdout.strip()))
    with wave.open(out, "rb") as w:
        check(w.getframerate() == 16000 and abs(w.getnframes() / 16000 - secs) < 0.02 * secs + 0.01,
              "its WAV: 16 kHz, %.2f s" % (w.getnframes() / 16000))
    p = subprocess.run([PARLEY, "synthesize", "--stream", SHORT + " " + LONG, "-o", out, "--server",
                        "127.0.0.1:%d" % grpc_port, "--ssml", "--rate", "fast"],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"time to first audio: ([\d.]+) ms", p.stdout + p.stderr)
    check(p.returncode == 0 and m, "parley synthesize --stream --ssml --rate fast: %s" % (p.stdout.strip().splitlines() or [p.stderr])[-1:])
    oo = os.path.join(g.TMP, "cli.ogg")
    p = subprocess.run([PARLEY, "synthesize", SHORT, "-o", oo, "--encoding", "opus", "--server",
                        "127.0.0.1:%d" % grpc_port], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0 and open(oo, "rb").read(4) == b"OggS", "parley synthesize --encoding opus writes Ogg")
    p = subprocess.run([PARLEY, "synthesize", SHORT, "-o", out, "--voice", "nobody", "--server",
                        "127.0.0.1:%d" % grpc_port], capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "not found" in p.stderr, "parley synthesize --voice nobody: %s" % p.stderr.strip())
    p = subprocess.run([PARLEY, "synthesize", "--list-voices", "--server", "127.0.0.1:%d" % grpc_port],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and names[0] in p.stdout, "parley synthesize --list-voices: %s" % p.stdout.strip().replace("\n", " | "))

    check(g.stop(tts_p) == 0, "parley-tts stops cleanly on SIGTERM")

    # voices that do not load: left out; with none, UNAVAILABLE naming why, /readyz 503
    _, nats2 = g.start_nats()
    missing = os.path.join(g.TMP, "no-such-voice")
    p2, http2, names2 = start_tts(nats2, missing)
    check(names2 == [""] and g.http_get(http2, "/readyz")[0] == 503,
          "no voice loads: parley-tts runs, /readyz 503")
    _, port2, _ = g.start_gateway(nats2)
    stub2 = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(g.channel(port2))
    c, d = code_of(lambda: stub2.Synthesize(req(SHORT), timeout=30))
    check(c == grpc.StatusCode.UNAVAILABLE and "no-such-voice" in d, "then Synthesize: UNAVAILABLE (%s)" % d[:150])
    check(len(stub2.GetRivaSynthesisConfig(TTS.RivaSynthesisConfigRequest(), timeout=10).model_config) == 0,
          "and GetRivaSynthesisConfig lists no voice")
    g.stop(p2)
    p2, http2, names2 = start_tts(nats2, vdirs[0] + "," + missing)
    check(names2 == names[:1] and g.http_get(http2, "/readyz")[0] == 200 and
          len(stub2.Synthesize(req(SHORT), timeout=60).audio) > 0,
          "a good voice and a missing one: the good one serves (%s)" % names2)
    g.stop(p2)


if __name__ == "__main__":
    main()
