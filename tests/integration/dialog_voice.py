"""Converse with voice (services/dialog/dialog_voice.c) end to end: nats-server, parley-asr
(the shipped acoustic model, VAD and LM), parley-nlu (the shipped SNIPS model), parley-tts
(PL_TTS; PL_TTS_FAKE=1: the tone-generator voice of tests/support/fake_tts_voice.c, slowed to
one block per PL_FAKE_TTS_BLOCK_MS so that a reply is streamed over about a second),
parley-dialog (the shipped `assistant` spec, a temporary SQLite file) and the gateway, on free
127.0.0.1 ports, stopped by PID.

1. hands-free: an FSDD recording (8 kHz WAV, header in the first chunk) streamed in real time
   with 1.5 s of silence after it; parley-asr's endpointer ends the utterance: SPEECH_STARTED,
   interim and final Transcript, END_OF_UTTERANCE, NluResult of the transcript, BotText, then
   BotAudio chunks (LINEAR_PCM at the requested 16 kHz, is_last on the last one) of a length
   that matches the reply, REPLY_AUDIO_DONE with the latency, TURN_COMPLETE last; the turn is
   in the SQLite history (GetHistory) with the transcript as the user's text;
2. push-to-talk: raw 8 kHz LINEAR_PCM, END_OF_UTTERANCE ends the utterance; the time from
   END_OF_UTTERANCE to the first BotAudio is measured (printed, and the server's
   eou_to_audio_ms);
3. barge-in: INTERRUPT after the first BotAudio chunk of a long reply stops it (no BotAudio
   after REPLY_INTERRUPTED, less audio than the whole reply); with barge_in, speech in the
   input audio while the reply is sent interrupts it (reason speech);
4. bad audio configs: INVALID_ARGUMENT naming the field; audio without a WAV header when the
   encoding is unset;
5. `parley chat --audio FILE --reply-audio OUT --fast`: transcript, NLU, reply printed, OUT a
   16-bit WAV at the requested rate;
6. parley-tts killed: a spoken reply gives BotText, then EVENT_ERROR naming parley-tts, then
   TURN_COMPLETE; the stream goes on (a second turn answers); parley-asr killed: audio gives
   EVENT_ERROR naming parley-asr, a text turn on the same stream still answers; every turn is
   committed.
Environment: PL_DIALOG, PL_NLU, PL_ASR, PL_TTS, PL_GATEWAY, PL_CHAT, PL_PYTHON_STUBS,
PL_SOURCE_DIR, PARLEY_DATA_DIR.
"""
import glob
import os
import queue
import re
import signal
import subprocess
import threading
import time
import wave

import dialog_stories as ds
import gwtest as g
from gwtest import check, grpc

from parley.dialog.v1 import dialog_pb2 as D, dialog_pb2_grpc  # noqa: E402
from riva.proto import riva_audio_pb2 as RA  # noqa: E402

SRC = os.environ["PL_SOURCE_DIR"]
DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(SRC, "..", "shared", "data")
FAKE = os.environ.get("PL_TTS_FAKE") == "1"
# the real parley-tts without models/tts-voice runs a random-weights voice (train/tts/export.py):
# its durations mean nothing, so reply lengths are only checked to be non-zero then
RANDOM = not FAKE and not os.path.exists(os.path.join(SRC, "models", "tts-voice", "config.json"))
FSDD = os.path.join(DATA, "speech", "fsdd", "recordings")
OUT_RATE = 16000


def fsdd(name):
    return os.path.join(FSDD, name)


def pcm_of(path):
    w = wave.open(path)
    return w.getframerate(), w.readframes(w.getnframes())


def silence(rate, seconds):
    # a little dither: exact zeros are the running normalization's worst case (asr-streaming.md)
    import random
    rnd = random.Random(7)
    return b"".join(int(rnd.randint(-8, 8)).to_bytes(2, "little", signed=True)
                    for _ in range(int(rate * seconds)))


class Conv:
    """One Converse call fed from a queue; responses collected with their arrival times."""

    def __init__(self, stub, config):
        self.q = queue.Queue()
        self.q.put(D.ConverseRequest(config=config))
        self.out = []  # (time, response)
        self.cv = threading.Condition()
        self.code, self.details, self.done = None, "", False
        self.sent = {}
        self.call = stub.Converse(self._reqs(), timeout=120)
        self.th = threading.Thread(target=self._recv, daemon=True)
        self.th.start()

    def _reqs(self):
        while True:
            r = self.q.get()
            if r is None:
                return
            yield r

    def _recv(self):
        try:
            for r in self.call:
                with self.cv:
                    self.out.append((time.monotonic(), r))
                    self.cv.notify_all()
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.code, self.details = e.code(), e.details()
        with self.cv:
            self.done = True
            self.cv.notify_all()

    def send(self, **kw):
        self.q.put(D.ConverseRequest(**kw))

    def audio(self, data, rate, chunk_ms=100, realtime=True, width=2):
        n = int(rate * chunk_ms / 1000) * width
        for i in range(0, len(data), n):
            self.send(audio_content=data[i:i + n])
            if realtime:
                time.sleep(chunk_ms / 1000.0)

    def control(self, kind):
        self.sent[kind] = time.monotonic()
        self.send(control=D.ControlInput(kind=kind))

    def close(self, timeout=60):
        self.q.put(None)
        with self.cv:
            self.cv.wait_for(lambda: self.done, timeout)
        check(self.done, "the stream ended after the half-close")
        return self.code

    def wait(self, pred, timeout=30, what="a response", start=0):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, r in self.out[start:]:
                    if pred(r):
                        return t, r
                left = end - time.monotonic()
                if left <= 0 or self.done:
                    raise AssertionError("no %s in %s (status %s %s)" % (what, summary(self.out),
                                                                         self.code, self.details))
                self.cv.wait(left)

    def of(self, kind):
        return [getattr(r, kind) for _, r in self.out if r.WhichOneof("response") == kind]


def is_event(t):
    return lambda r: r.WhichOneof("response") == "event" and r.event.type == t


def summary(out):
    s = []
    for _, r in out:
        k = r.WhichOneof("response")
        if k == "event":
            s.append(D.EventType.Name(r.event.type)[6:])
        elif k == "transcript":
            s.append("transcript(%r%s)" % (r.transcript.text, ",final" if r.transcript.is_final else ""))
        elif k == "bot_audio":
            if not s or not s[-1].startswith("audio"):
                s.append("audio")
        else:
            s.append(k)
    return s


def config(**kw):
    c = D.ConverseConfig(user_id=kw.pop("user", "vera"), include_nlu=True)
    for k, v in kw.items():
        if k in ("input_audio", "output_audio"):
            getattr(c, k).CopyFrom(v)
        else:
            setattr(c, k, v)
    return c


def out_cfg(rate=OUT_RATE):
    return D.AudioOutputConfig(encoding=RA.LINEAR_PCM, sample_rate_hz=rate)


def history_texts(stack, user, sid):
    r = stack.stub.GetHistory(D.GetHistoryRequest(session_id=sid, user_id=user, page_size=500))
    return [e.user_text for e in r.events if e.WhichOneof("payload") == "user_text"]


class Stack(ds.Stack):
    def __init__(self):
        _, self.nats = g.start_nats()
        p, self.store = ds.start_voice_workers(self.nats, 150, dialog_log="info")
        self.nlu, self.asr, self.tts, self.dialog = p["nlu"], p["asr"], p["tts"], p["dialog"]
        _, self.port, _ = g.start_gateway(self.nats)
        self.stub = dialog_pb2_grpc.DialogStub(g.channel(self.port))


def check_reply_audio(c, rate, what):
    audio = c.of("bot_audio")
    check(audio and all(a.sample_rate_hz == rate and a.encoding == RA.LINEAR_PCM for a in audio),
          "%s: BotAudio chunks, LINEAR_PCM at %d Hz (%d chunks)" % (what, rate, len(audio)))
    n_last, n_text = sum(a.is_last for a in audio), len(c.of("bot_text"))
    check(audio[-1].is_last and n_last == n_text,
          "%s: is_last ends each reply's audio (%d is_last, %d BotText)" % (what, n_last, n_text))
    n = sum(len(a.audio) for a in audio)
    secs = n / 2.0 / rate
    words = sum(len(b.text.split()) for b in c.of("bot_text"))
    lo, hi = (0.001, 1e9) if RANDOM else (0.1 * words, 1.5 * words + 1)
    check(n % 2 == 0 and lo <= secs <= hi,
          "%s: %.2f s of reply audio for %d words" % (what, secs, words))
    return secs


def hands_free(stack):
    # FSDD take 0 of a digit; streamed recognition of these short 8 kHz clips is weaker than
    # Recognize's (running feature normalization), so only the structure is asserted here
    rate, pcm = pcm_of(fsdd("7_george_0.wav"))
    header = open(fsdd("7_george_0.wav"), "rb").read()[:44]
    c = Conv(stack.stub, config(input_audio=D.AudioInputConfig(server_endpointing=True),
                                output_audio=out_cfg(), interim_results=True))
    c.wait(is_event(D.EVENT_SESSION_CREATED), what="SESSION_CREATED")
    data = header + silence(rate, 0.3) + pcm + silence(rate, 1.5)
    # the WAV header split over two chunks
    c.send(audio_content=data[:20])
    c.audio(data[20:], rate)
    t_final, fin = c.wait(lambda r: r.WhichOneof("response") == "transcript" and r.transcript.is_final,
                          what="final transcript (endpointed before the half-close)")
    c.wait(is_event(D.EVENT_TURN_COMPLETE), what="TURN_COMPLETE")
    t_audio, _ = c.wait(lambda r: r.WhichOneof("response") == "bot_audio", what="BotAudio")
    check(c.close() == grpc.StatusCode.OK, "hands-free: the stream ends OK")
    seq = summary(c.out)
    print("hands-free:", seq, flush=True)
    text = fin.transcript.text
    check(text.strip() != "", "hands-free: a final transcript (%r)" % text)
    print("hands-free transcript: %r (want 'seven')" % text, flush=True)
    i = {k: seq.index(k) for k in ("SPEECH_STARTED", "END_OF_UTTERANCE", "nlu", "bot_text", "audio",
                                     "REPLY_AUDIO_DONE", "TURN_COMPLETE")}
    check(i["SPEECH_STARTED"] < i["END_OF_UTTERANCE"] < i["nlu"] < i["bot_text"] < i["audio"] <
          i["REPLY_AUDIO_DONE"] < i["TURN_COMPLETE"] == len(seq) - 1,
          "hands-free: speech started, end of utterance, NLU, BotText, BotAudio, audio done, "
          "turn complete, in that order")
    check(c.of("nlu")[0].text == text, "the NLU result is the transcript's")
    check_reply_audio(c, OUT_RATE, "hands-free")
    done = [e for e in c.of("event") if e.type == D.EVENT_REPLY_AUDIO_DONE][0]
    lat = float(done.attributes["first_audio_ms"])
    print("hands-free: final transcript -> first BotAudio: server %.1f ms, client %.1f ms "
          "(tts first chunk %s ms)" % (lat, (t_audio - t_final) * 1000, done.attributes["tts_first_ms"]),
          flush=True)
    check(0 <= lat < 5000, "REPLY_AUDIO_DONE reports first_audio_ms (%.1f)" % lat)
    sid = c.out[0][1].session_id
    check(history_texts(stack, "vera", sid) == [text], "the spoken turn is committed with its transcript")
    return sid


# clips streamed push-to-talk that the shipped model gets right (checked with this stack)
PTT_CLIPS = [("7_george_0.wav", "seven"), ("6_lucas_0.wav", "six"), ("7_lucas_0.wav", "seven")]


def push_to_talk(stack, lat):
    rate = 8000
    c = Conv(stack.stub, config(input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                               sample_rate_hertz=rate),
                                output_audio=out_cfg(22050)))
    for k, (clip, _) in enumerate(PTT_CLIPS):
        r, pcm = pcm_of(fsdd(clip))
        assert r == rate
        c.audio(silence(rate, 0.3) + pcm + silence(rate, 0.3), rate)
        with c.cv:
            start = len(c.out)
        c.control(D.ControlInput.END_OF_UTTERANCE)
        t_eou = c.sent[D.ControlInput.END_OF_UTTERANCE]
        t, _ = c.wait(lambda r: r.WhichOneof("response") == "bot_audio", start=start,
                      what="BotAudio of turn %d" % (k + 1))
        c.wait(is_event(D.EVENT_TURN_COMPLETE), start=start, what="TURN_COMPLETE")
        lat.append((t - t_eou) * 1000)
    check(c.close() == grpc.StatusCode.OK, "push-to-talk: the stream ends OK")
    finals = [t.text for t in c.of("transcript") if t.is_final]
    check(finals == [w for _, w in PTT_CLIPS],
          "push-to-talk: one final per END_OF_UTTERANCE, the digits said: %s" % finals)
    check_reply_audio(c, 22050, "push-to-talk")
    dones = [e for e in c.of("event") if e.type == D.EVENT_REPLY_AUDIO_DONE]
    srv = [float(e.attributes["eou_to_audio_ms"]) for e in dones]
    print("push-to-talk: END_OF_UTTERANCE -> first BotAudio, client ms %s, server ms %s; "
          "transcripts %s" % (["%.1f" % x for x in lat], srv, finals), flush=True)
    check(len(dones) == 3 and all(x >= 0 for x in srv), "REPLY_AUDIO_DONE carries eou_to_audio_ms")
    sid = c.out[0][1].session_id
    check(history_texts(stack, "vera", sid) == finals, "three spoken turns committed")
    check_audio_done_logged(stack, sid, dones)


def check_audio_done_logged(stack, sid, dones):
    """Each REPLY_AUDIO_DONE the stream got is in the session's history with the same
    attributes, in its turn and context, after the turn's TURN_COMPLETE and before the next
    user text."""
    hist = history_events(stack, "vera", sid)
    kinds = []
    for e in hist:
        p = e.WhichOneof("payload")
        kinds.append(p if p != "event" else D.EventType.Name(e.event.type)[6:])
    logged = [e for e in hist if e.WhichOneof("payload") == "event" and
              e.event.type == D.EVENT_REPLY_AUDIO_DONE]
    pos = [i for i, k in enumerate(kinds) if k == "REPLY_AUDIO_DONE"]
    check(len(logged) == len(dones) and
          [dict(e.event.attributes) for e in logged] == [dict(d.attributes) for d in dones] and
          all(kinds[i - 1] == "TURN_COMPLETE" and (i + 1 == len(kinds) or
                                                   kinds[i + 1] == "user_text") for i in pos) and
          [e.turn for e in logged] == [t.turn for t in history_turns(hist)],
          "REPLY_AUDIO_DONE stored with each spoken turn (%s)" % ", ".join(
              "turn %d first_audio_ms %s" % (e.turn, e.event.attributes["first_audio_ms"])
              for e in logged))


def history_turns(hist):
    """The user_text events of a history (one per turn)."""
    return [e for e in hist if e.WhichOneof("payload") == "user_text"]


def history_events(stack, user, sid):
    r = stack.stub.GetHistory(D.GetHistoryRequest(session_id=sid, user_id=user, page_size=500))
    return list(r.events)


def check_barge_in_logged(stack, c, ev, reason):
    """The REPLY_INTERRUPTED the stream got is in the session's history too: what was
    interrupted (the reply's number, response, text) and where (audio_ms sent, played_ms),
    after the interrupted turn's TURN_COMPLETE and before the next turn."""
    sid = c.out[0][1].session_id
    hist = history_events(stack, "vera", sid)
    kinds = [(e.WhichOneof("payload"), e.event.type if e.WhichOneof("payload") == "event" else 0)
             for e in hist]
    got = [(i, e) for i, e in enumerate(hist) if kinds[i] == ("event", D.EVENT_REPLY_INTERRUPTED)]
    check(got, "barge-in (%s) is in the history: %s" % (reason, kinds))
    i, h = got[0]
    a = h.event.attributes
    sent = ev.event.attributes
    check(a["reason"] == reason and a["audio_ms"] == sent["audio_ms"] and
          a["response"] == sent["response"] != "" and a["reply"] == "1" and
          a["text"] and 0 <= int(a["played_ms"]) <= int(a["audio_ms"]) and
          h.turn == ev.turn and h.context_id == ev.context_id,
          "history: REPLY_INTERRUPTED reason=%s, response %s, reply %s, %s ms sent, played to %s "
          "ms, turn %d: %r" % (a["reason"], a["response"], a["reply"], a["audio_ms"],
                               a["played_ms"], h.turn, a["text"][:40]))
    done = [j for j in range(i) if kinds[j] == ("event", D.EVENT_TURN_COMPLETE) and
            hist[j].turn == ev.turn]
    check(done, "history: the barge-in follows the interrupted turn's TURN_COMPLETE")
    print("barge-in logged:", dict(a), flush=True)


def barge_in(stack):
    c = Conv(stack.stub, config(output_audio=out_cfg()))
    c.send(text=D.TextInput(text="help"))
    c.wait(lambda r: r.WhichOneof("response") == "bot_audio", what="BotAudio")
    c.control(D.ControlInput.INTERRUPT)
    _, ev = c.wait(is_event(D.EVENT_REPLY_INTERRUPTED), what="REPLY_INTERRUPTED")
    c.wait(is_event(D.EVENT_TURN_COMPLETE), what="TURN_COMPLETE")
    seq = summary(c.out)
    k = seq.index("REPLY_INTERRUPTED")
    check("audio" not in seq[k:] and ev.event.attributes["reason"] == "control",
          "INTERRUPT: REPLY_INTERRUPTED (reason control), no BotAudio after it: %s" % seq)
    got = sum(len(a.audio) for a in c.of("bot_audio")) / 2.0 / OUT_RATE
    check_barge_in_logged(stack, c, ev, "control")
    # the same reply in full, for comparison
    c.send(text=D.TextInput(text="help"))
    c.wait(is_event(D.EVENT_REPLY_AUDIO_DONE), what="REPLY_AUDIO_DONE")
    full = [e for e in c.of("event") if e.type == D.EVENT_REPLY_AUDIO_DONE][0]
    full_s = float(full.attributes["audio_ms"]) / 1000
    check(c.close() == grpc.StatusCode.OK, "the stream goes on after the interrupt and ends OK")
    print("INTERRUPT: %.2f s of %.2f s sent" % (got, full_s), flush=True)
    if FAKE or not RANDOM:
        check(got < full_s * 0.8, "INTERRUPT stopped the reply audio early (%.2f of %.2f s)" % (got, full_s))
    # (the random-weights voice may say the whole reply before the INTERRUPT arrives)
    if RANDOM:
        return  # its reply lengths are arbitrary: too short to barge in on reliably
    # barge-in by voice
    rate, pcm = pcm_of(fsdd("7_george_0.wav"))
    c = Conv(stack.stub, config(input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                               sample_rate_hertz=rate,
                                                               server_endpointing=True),
                                output_audio=out_cfg(), barge_in=True))
    c.send(text=D.TextInput(text="help"))
    c.wait(lambda r: r.WhichOneof("response") == "bot_audio", what="BotAudio")
    c.audio(pcm + silence(rate, 0.4), rate)
    _, ev = c.wait(is_event(D.EVENT_REPLY_INTERRUPTED), what="REPLY_INTERRUPTED by speech")
    check(ev.event.attributes["reason"] == "speech", "barge_in: the user's speech interrupts the reply")
    c.audio(silence(rate, 1.2), rate)
    check(c.close() == grpc.StatusCode.OK, "barge-in stream ends OK")
    check_barge_in_logged(stack, c, ev, "speech")
    seq = summary(c.out)
    print("barge-in by speech:", seq, flush=True)
    check(seq.index("SPEECH_STARTED") < seq.index("REPLY_INTERRUPTED"),
          "SPEECH_STARTED, then REPLY_INTERRUPTED")


def bad_configs(stack):
    cases = [
        (dict(input_audio=D.AudioInputConfig(encoding=RA.FLAC)), "input_audio.encoding"),
        (dict(input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM)), "input_audio.sample_rate_hertz"),
        (dict(input_audio=D.AudioInputConfig(encoding=RA.MULAW, sample_rate_hertz=96000)),
         "input_audio.sample_rate_hertz"),
        (dict(output_audio=D.AudioOutputConfig(sample_rate_hz=1000)), "output_audio.sample_rate_hz"),
        (dict(output_audio=D.AudioOutputConfig(encoding=RA.FLAC)), "output_audio.encoding"),
    ]
    for kw, field in cases:
        c = Conv(stack.stub, config(**kw))
        code = c.close()
        check(code == grpc.StatusCode.INVALID_ARGUMENT and field in c.details,
              "bad config %s: INVALID_ARGUMENT naming %s (%s: %s)" % (field, field, code, c.details))
    c = Conv(stack.stub, config(input_audio=D.AudioInputConfig()))
    c.send(audio_content=b"\x01\x02" * 400)
    code = c.close()
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "WAV" in c.details,
          "encoding unset and raw bytes: INVALID_ARGUMENT (%s)" % c.details)
    c = Conv(stack.stub, config())
    c.send(audio_content=b"\x00" * 100)
    code = c.close()
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "input_audio" in c.details,
          "audio without input_audio: INVALID_ARGUMENT (%s)" % c.details)


def chat_cli(stack):
    out = os.path.join(g.TMP, "reply.wav")
    argv = [os.environ["PL_CHAT"], "--server", "127.0.0.1:%d" % stack.port, "--user", "cli",
            "--audio", fsdd("7_george_0.wav"), "--reply-audio", out, "--reply-rate", "24000",
            "--fast", "--nlu"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    print("---- parley chat --audio (exit %d)\n%s%s" % (p.returncode, p.stdout, p.stderr), flush=True)
    check(p.returncode == 0, "parley chat --audio exits 0")
    check(re.search(r"^you: \S", p.stdout, re.M) and re.search(r"^bot: \S", p.stdout, re.M) and
          re.search(r"^  nlu: ", p.stdout, re.M), "it prints the transcript, the NLU and the reply")
    w = wave.open(out)
    secs = w.getnframes() / float(w.getframerate())
    check(w.getframerate() == 24000 and w.getsampwidth() == 2 and w.getnchannels() == 1 and
          secs > (0.01 if RANDOM else 0.2),
          "--reply-audio: a 24 kHz 16-bit WAV of %.2f s" % secs)


def failures(stack):
    # parley-tts gone: text still answers, the error names the service, the stream goes on
    g.stop(stack.tts, signal.SIGKILL)
    c = Conv(stack.stub, config(output_audio=out_cfg()))
    c.send(text=D.TextInput(text="hello"))
    c.wait(is_event(D.EVENT_TURN_COMPLETE), what="TURN_COMPLETE without parley-tts")
    c.send(text=D.TextInput(text="thanks"))
    c.wait(lambda r: len(c.of("bot_text")) >= 2 and len(
        [1 for x in c.of("event") if x.type == D.EVENT_TURN_COMPLETE]) == 2, what="second turn")
    check(c.close() == grpc.StatusCode.OK, "parley-tts down: the stream ends OK")
    seq = summary(c.out)
    errs = [e for e in c.of("event") if e.type == D.EVENT_ERROR]
    print("parley-tts down:", seq, errs[0].detail if errs else "", flush=True)
    check(len(errs) == 2 and all(e.attributes["service"] == "parley-tts" and "parley-tts" in e.detail
                                 for e in errs) and not c.of("bot_audio"),
          "parley-tts down: one EVENT_ERROR naming parley-tts per turn, no audio")
    check(seq.index("bot_text") < seq.index("ERROR") < seq.index("TURN_COMPLETE"),
          "BotText, then the error, then TURN_COMPLETE")
    sid = c.out[0][1].session_id
    check(history_texts(stack, "vera", sid) == ["hello", "thanks"], "both turns committed")
    # parley-asr gone
    g.stop(stack.asr, signal.SIGKILL)
    rate, pcm = pcm_of(fsdd("7_george_0.wav"))
    c = Conv(stack.stub, config(input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                               sample_rate_hertz=rate,
                                                               server_endpointing=True)))
    c.audio(pcm, rate, realtime=False)
    _, ev = c.wait(is_event(D.EVENT_ERROR), what="EVENT_ERROR for parley-asr")
    check(ev.event.attributes["service"] == "parley-asr" and "parley-asr" in ev.event.detail,
          "parley-asr down: EVENT_ERROR naming parley-asr (%s)" % ev.event.detail)
    c.send(text=D.TextInput(text="hello"))
    c.wait(lambda r: r.WhichOneof("response") == "bot_text", what="a text turn after the ASR error")
    check(c.close() == grpc.StatusCode.OK, "parley-asr down: the stream goes on and ends OK")
    print("parley-asr down:", summary(c.out), flush=True)
    check(stack.dialog.poll() is None, "parley-dialog is still running")


def main():
    t0 = time.monotonic()
    stack = Stack()
    print("stack up in %.1f s" % (time.monotonic() - t0), flush=True)
    hands_free(stack)
    lat = []
    push_to_talk(stack, lat)
    barge_in(stack)
    bad_configs(stack)
    if os.environ.get("PL_CHAT"):
        chat_cli(stack)
    failures(stack)
    print("all voice checks passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
