"""Riva's realtime API on the gateway's HTTP port (services/gateway/gateway_realtime.c,
docs/realtime-api.md), driven the way the official clients scripts/asr/realtime_asr_client.py
and scripts/tts/realtime_tts_client.py drive it (the same HTTP calls and the same event
sequence, with Debian's python3-websockets 10 instead of the websockets>=15 they need), against
nats-server, parley-asr (the shipped model), parley-tts (PL_TTS; PL_TTS_FAKE=1: the
tone-generator voice) and the gateway on free 127.0.0.1 ports, all stopped by PID.

1. POST /v1/realtime/transcription_sessions and /synthesis_sessions answer the default
   session (id "sess_...", the settings); a POST body overrides a setting; a bad body is 400,
   another path 404; two requests on one keep-alive connection both answer.
2. GET /v1/audio/list_voices lists parley-tts's voices by language.
3. Transcription, file mode (input_audio_format "none": the WAV file's bytes, header first, in
   chunks of 1600 frames, each appended and committed, then done): conversation.created,
   transcription_session.updated echoing the overrides, then
   conversation.item.input_audio_transcription.delta/.completed, the last completed with
   is_last_result true; a Speech Commands "seven" (16 kHz) comes out "seven". An FSDD clip
   (8 kHz) and raw pcm16 samples sent at a microphone's pace (input_audio_format "pcm16") give
   the same event structure, with interim results as delta events; word offsets come in
   words_info when asked for.
4. Synthesis: the update sent at once (as the TTS client does), conversation.created and
   synthesize_session.updated each within 1 s; two lines appended and committed, then done:
   conversation.item.speech.data events (base64 16-bit PCM at the requested 44100 Hz) of a
   plausible length for the text, then conversation.item.speech.completed is_last_result.
5. Errors, each an event whose type is "error" with error.message naming the problem, and the
   socket still usable after the non-fatal ones: bad JSON, an event without a type, an unknown
   event type, a binary message, audio before transcription_session.update, text before
   synthesize_session.update, audio that is not base64, pcm16 with an odd byte count, a wrong
   setting type, an unsupported input_audio_format and audio_format, an unknown intent (then
   the socket closes), the browser socket (/v1/converse) refusing bad start messages (user too
   long, endpointing, dialog, session_id, voice) naming the field, parley-tts killed (synthesis error names parley-tts, list_voices 503),
   parley-asr killed (transcription error names parley-asr). The gateway still answers
   /healthz at the end.
Environment: PL_ASR, PL_TTS, PL_TTS_FAKE, PL_GATEWAY, PL_SOURCE_DIR, PARLEY_DATA_DIR.
"""
import asyncio
import base64
import http.client
import json
import os
import sys
import time
import wave

import dialog_stories as ds
import gwtest as g
from gwtest import check

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets missing (scripts/deps.sh installs it)")
    sys.exit(77)

SRC = os.environ["PL_SOURCE_DIR"]
FAKE = os.environ.get("PL_TTS_FAKE") == "1"
DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(SRC, "..", "shared", "data")
SEVEN = os.path.join(DATA, "speech", "speech-commands", "speech_commands_v0.01", "seven",
                     "439c84f4_nohash_1.wav")
FSDD = os.path.join(DATA, "speech", "fsdd", "recordings", "3_jackson_0.wav")
SENTENCE = ["The quick brown fox jumps over the lazy dog.",
            "Parley speaks through the realtime socket."]


class Stack:
    def __init__(self):
        _, self.nats = g.start_nats()
        models = os.path.join(SRC, "models")
        self.asr = ds.start([os.environ["PL_ASR"], "--nats", self.nats, "--http-port", "-1",
                             "--model-dir", models], "asr",
                            {"PARLEY_ASR_LOG_LEVEL": "warn", "PARLEY_ASR_PUNCTUATION": "false"},
                            r"models=[1-9]")
        if FAKE:
            voice = os.path.join(g.TMP, "voices", "fake-a")
            os.makedirs(voice)
            env = {"PARLEY_TTS_VOICES": voice}
        else:
            env = {"PARLEY_TTS_VOICES": os.path.join(models, "tts-voice")}
        env.update({"PARLEY_TTS_LOG_LEVEL": "warn", "PARLEY_TTS_MODEL_DIR": models})
        self.tts = ds.start([os.environ["PL_TTS"], "--nats", self.nats, "--http-port", "-1"],
                            "tts", env, r"voices=[1-9]")
        self.gw, _, self.http = g.start_gateway(
            self.nats, env_extra={"PARLEY_GATEWAY_STREAM_TIMEOUT_MS": "3000",
                                  "PARLEY_GATEWAY_HEARTBEAT_MS": "300"})
        self.server = "127.0.0.1:%d" % self.http  # what --server takes


def req(port, method, path, body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    data = r.read().decode()
    if conn is None:
        c.close()
    return r.status, data


# ---- a client that behaves as the official ones do -------------------------------------------

async def recv(ws, timeout=10.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def transcribe(server, chunks, overrides, done=True, pace=0.0):
    """realtime_asr_client.py's sequence: POST the session, connect, conversation.created,
    transcription_session.update with the POSTed settings plus overrides, updated; then
    append+commit per chunk, done; events until a completed with is_last_result or an error."""
    st, body = req(int(server.split(":")[1]), "POST", "/v1/realtime/transcription_sessions", "{}")
    check(st == 200, "POST transcription_sessions: 200 (%s)" % st)
    session = json.loads(body)
    async with websockets.connect("ws://%s/v1/realtime?intent=transcription" % server) as ws:
        first = await recv(ws)
        check(first["type"] == "conversation.created", "first event conversation.created: %s" % first)
        for sec, kv in overrides.items():
            if isinstance(kv, dict):
                session.setdefault(sec, {}).update(kv)
            else:
                session[sec] = kv
        await ws.send(json.dumps({"type": "transcription_session.update", "session": session}))
        upd = await recv(ws)
        check(upd["type"] == "transcription_session.updated", "updated: %s" % upd)

        async def send():
            for ch in chunks:
                await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                          "audio": base64.b64encode(ch).decode()}))
                await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
                if pace:
                    await asyncio.sleep(pace)
            if done:
                await ws.send(json.dumps({"type": "input_audio_buffer.done"}))

        events = []

        async def receive():
            while True:
                ev = await recv(ws, 30)
                events.append(ev)
                if "error" in ev["type"].lower():
                    return
                if ev["type"].endswith(".completed") and ev.get("is_last_result"):
                    return

        await asyncio.gather(send(), receive())
        return upd["session"], events


def file_chunks(path, frames=1600):
    """AudioChunkFileIterator: the file's bytes from its start (header included)."""
    with wave.open(path) as w:
        step = frames * w.getsampwidth() * w.getnchannels()
    data = open(path, "rb").read()
    return [data[i:i + step] for i in range(0, len(data), step)]


def pcm_chunks(path, frames=1600, pad_s=0.5):
    with wave.open(path) as w:
        rate = w.getframerate()
        pcm = w.readframes(w.getnframes())
    pcm = bytes(int(rate * pad_s) * 2) + pcm + bytes(int(rate * pad_s) * 2)
    return rate, [pcm[i:i + frames * 2] for i in range(0, len(pcm), frames * 2)]


def transcript(events):
    finals = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    return " ".join(e["transcript"] for e in finals if e["transcript"]).strip()


def check_structure(events, what):
    types = [e["type"] for e in events]
    check(not any("error" in t for t in types), "%s: no error (%s)" % (what, events[-1:]))
    last = events[-1]
    check(last["type"] == "conversation.item.input_audio_transcription.completed"
          and last["is_last_result"] is True, "%s: the last event is completed with "
          "is_last_result (%s)" % (what, last))
    check(all(not e.get("is_last_result") for e in events[:-1]),
          "%s: is_last_result only on the last event" % what)
    for e in events:
        check(e.get("event_id", "").startswith("event_"), "%s: event_id on %s" % (what, e["type"]))
        if e["type"].endswith(".delta"):
            check(isinstance(e["delta"], str) and e["delta"], "%s: a delta carries text" % what)
        if e["type"].endswith(".completed"):
            check(isinstance(e["transcript"], str) and "words" in e["words_info"],
                  "%s: completed has transcript and words_info" % what)


async def synthesize(server, lines, voice="", rate=44100, fmt="LINEAR_PCM"):
    """realtime_tts_client.py's sequence: POST the session, connect, send
    synthesize_session.update at once (overrides only), conversation.created and
    synthesize_session.updated each within 1 s, then per line append + commit, then done."""
    st, _ = req(int(server.split(":")[1]), "POST", "/v1/realtime/synthesis_sessions", "{}")
    check(st == 200, "POST synthesis_sessions: 200 (%s)" % st)
    async with websockets.connect("ws://%s/v1/realtime?intent=synthesize" % server) as ws:
        session = {"input_text_synthesis": {"language_code": "en-US"},
                   "output_audio_params": {"sample_rate_hz": rate, "audio_format": fmt}}
        if voice:
            session["input_text_synthesis"]["voice_name"] = voice
        await ws.send(json.dumps({"event_id": "event_1", "type": "synthesize_session.update",
                                  "session": session}))
        seen = []
        while len(seen) < 2:
            ev = await recv(ws, 1.0)  # the client's timeout
            seen.append(ev["type"])
            if ev["type"] == "error":
                return ev, b"", []
            if ev["type"] == "synthesize_session.updated":
                updated = ev["session"]
        check(seen == ["conversation.created", "synthesize_session.updated"],
              "synthesis: created then updated (%s)" % seen)
        for line in lines:
            await ws.send(json.dumps({"type": "input_text.append", "text": line}))
            await ws.send(json.dumps({"type": "input_text.commit"}))
        await ws.send(json.dumps({"type": "input_text.done"}))
        audio, events = b"", []
        while True:
            ev = await recv(ws, 30)
            events.append(ev)
            if ev["type"] == "conversation.item.speech.data":
                audio += base64.b64decode(ev["audio"])
            elif ev["type"] == "conversation.item.speech.completed" and ev.get("is_last_result"):
                return updated, audio, events
            elif ev["type"] == "error":
                return ev, audio, events


async def errors_of(server, intent, messages, n_expect=None):
    """Send raw messages on a fresh socket (after conversation.created); collect the events."""
    url = "ws://%s/v1/realtime%s" % (server, "?intent=" + intent if intent is not None else "")
    out = []
    async with websockets.connect(url) as ws:
        first = await recv(ws, 5)
        out.append(first)
        for m in messages:
            if isinstance(m, tuple):  # ("silent", message): no answer expected
                await ws.send(m[1])
                continue
            try:
                await ws.send(m)
                out.append(await recv(ws, 5))
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                out.append(None)
    return out


def err_msg(ev):
    check(ev is not None and ev["type"] == "error", "an error event (%s)" % ev)
    return ev["error"]["message"]


async def main():
    s = Stack()
    port = s.http
    t0 = time.time()

    # 1. session endpoints
    st, body = req(port, "POST", "/v1/realtime/transcription_sessions", "{}")
    ses = json.loads(body)
    check(st == 200 and ses["id"].startswith("sess_") and ses["object"] ==
          "realtime.transcription_session" and ses["input_audio_params"]["sample_rate_hz"] == 16000
          and ses["input_audio_transcription"]["language"] == "en-US",
          "transcription session defaults: %s" % body[:200])
    st, body = req(port, "POST", "/v1/realtime/synthesis_sessions",
                    json.dumps({"output_audio_params": {"sample_rate_hz": 16000}}))
    ses = json.loads(body)
    check(st == 200 and ses["object"] == "realtime.synthesis_session" and
          ses["output_audio_params"] == {"sample_rate_hz": 16000, "audio_format": "LINEAR_PCM"},
          "synthesis session with a body override: %s" % body[:200])
    st, body = req(port, "POST", "/v1/realtime/synthesis_sessions", "[1, 2")
    check(st == 400 and "JSON object" in json.loads(body)["detail"], "bad POST body: 400 %s" % body)
    st, body = req(port, "POST", "/v1/realtime/transcription_sessions",
                    json.dumps({"input_audio_format": "mp3"}))
    check(st == 400 and "input_audio_format" in json.loads(body)["detail"],
          "POST with an unsupported format: 400 %s" % body)
    st, _ = req(port, "POST", "/v1/nothing", "{}")
    check(st == 404, "POST elsewhere: 404")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    a = req(port, "POST", "/v1/realtime/transcription_sessions", "{}", conn)
    b = req(port, "GET", "/healthz", None, conn)
    c = req(port, "GET", "/healthz", None, conn)
    conn.close()
    check(a[0] == 200 and b == (200, "ok\n") and c == (200, "ok\n"),
          "keep-alive: POST then two GETs on one connection (%s %s %s)" % (a[0], b, c))

    # 2. list_voices
    st, body = req(port, "GET", "/v1/audio/list_voices")
    voices = json.loads(body)
    check(st == 200 and "en-US" in voices and voices["en-US"]["voices"],
          "list_voices: %s" % body[:200])
    voice = voices["en-US"]["voices"][0]
    print("voices:", voices)

    # 3. transcription
    upd, ev = await transcribe(s.server, file_chunks(SEVEN), {
        "input_audio_format": "none", "input_audio_params": {"sample_rate_hz": 16000},
        "recognition_config": {"enable_word_time_offsets": True, "max_alternatives": 1}})
    check(upd["input_audio_format"] == "none" and
          upd["recognition_config"]["enable_word_time_offsets"] is True,
          "updated echoes the overrides: %s" % upd)
    check_structure(ev, "seven (file)")
    text = transcript(ev)
    print("seven (file):", repr(text), "%d events" % len(ev))
    check(text == "seven", "the Speech Commands clip comes out 'seven' (%r)" % text)
    words = [w for e in ev if e["type"].endswith(".completed") for w in e["words_info"]["words"]]
    check(any(w["word"] == "seven" and w["end_time"] >= w["start_time"] > 0 for w in words),
          "word offsets in words_info: %s" % words)

    rate, chunks = pcm_chunks(SEVEN)
    _, ev = await transcribe(s.server, chunks, {"input_audio_format": "pcm16",
                                                "input_audio_params": {"sample_rate_hz": rate}},
                             pace=1600 / rate)  # a microphone's pace: interim results come
    check_structure(ev, "seven (pcm16)")
    deltas = [e["delta"] for e in ev if e["type"].endswith(".delta")]
    print("seven (pcm16, real time):", repr(transcript(ev)), "deltas:", deltas)
    check(deltas and ev.index(next(e for e in ev if e["type"].endswith(".delta"))) <
          len(ev) - 1, "interim results come as delta events before the completed one")
    check(transcript(ev) == "seven", "pcm16 samples: 'seven' (%r)" % transcript(ev))

    _, ev = await transcribe(s.server, file_chunks(FSDD), {"input_audio_format": "none"})
    check_structure(ev, "FSDD 8 kHz (file)")
    print("FSDD three (8 kHz, weak on these):", repr(transcript(ev)),
          "deltas:", sum(e["type"].endswith(".delta") for e in ev))

    _, ev = await transcribe(s.server, [], {})
    check(len(ev) == 1 and ev[0]["transcript"] == "" and ev[0]["is_last_result"],
          "done without audio: one empty completed, is_last_result (%s)" % ev)

    # 4. synthesis
    upd, audio, ev = await synthesize(s.server, SENTENCE, voice=voice)
    check(upd.get("output_audio_params", {}).get("sample_rate_hz") == 44100,
          "synthesize_session.updated: the settings (%s)" % upd)
    secs = len(audio) / 2 / 44100
    n_words = sum(len(x.split()) for x in SENTENCE)
    n_data = sum(e["type"] == "conversation.item.speech.data" for e in ev)
    print("synthesis: %.2f s of audio at 44100 Hz for %d words in %d speech.data events"
          % (secs, n_words, n_data))
    check(len(audio) % 2 == 0 and n_data >= 1, "speech.data: 16-bit audio")
    lo, hi = (0.15, 1.2) if not FAKE else (0.05, 2.0)  # seconds per word
    check(lo * n_words <= secs <= hi * n_words,
          "a plausible length: %.2f s for %d words" % (secs, n_words))
    check(ev[-1]["synthesis_metadata"]["audio_bytes"] == len(audio),
          "speech.completed counts the audio bytes")
    import array
    samples = array.array("h", audio)
    peak = max(abs(x) for x in samples)
    check(peak > 1000, "the audio is not silence (peak %d)" % peak)
    upd, audio, ev = await synthesize(s.server, [], voice=voice)
    check(audio == b"" and ev[-1]["is_last_result"], "done with no text: speech.completed at once")

    # 5. errors
    out = await errors_of(s.server, "transcription", [
        "{not json", json.dumps({"audio": "x"}), json.dumps({"type": "response.create"}),
        b"\x00\x01",
        json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}),
        json.dumps({"type": "transcription_session.update",
                    "session": {"input_audio_params": {"sample_rate_hz": "fast"}}}),
        json.dumps({"type": "transcription_session.update",
                    "session": {"input_audio_format": "g729"}}),
        json.dumps({"type": "transcription_session.update", "session": {}}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "!!not base64!!"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "AA=="}),
    ])
    msgs = [err_msg(e) for e in out[1:8]] + [out[8]["type"]] + [err_msg(e) for e in out[9:]]
    print("transcription errors:", json.dumps(msgs, indent=1))
    check("JSON object" in msgs[0], "bad JSON: %s" % msgs[0])
    check('"type"' in msgs[1], "no type: %s" % msgs[1])
    check("response.create" in msgs[2] and "unknown" in msgs[2], "unknown type: %s" % msgs[2])
    check("binary" in msgs[3], "binary message: %s" % msgs[3])
    check("before transcription_session.update" in msgs[4], "audio before update: %s" % msgs[4])
    check("sample_rate_hz" in msgs[5], "wrong setting type: %s" % msgs[5])
    check("input_audio_format" in msgs[6] and "g729" in msgs[6], "bad format: %s" % msgs[6])
    check(msgs[7] == "transcription_session.updated", "the socket goes on after errors")
    check("base64" in msgs[8], "not base64: %s" % msgs[8])
    check("whole 16-bit samples" in msgs[9], "odd pcm16 bytes: %s" % msgs[9])

    out = await errors_of(s.server, "synthesize", [
        json.dumps({"type": "input_text.append", "text": "hello"}),
        json.dumps({"type": "synthesize_session.update",
                    "session": {"output_audio_params": {"audio_format": "MP3"}}}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}),
        json.dumps({"type": "synthesize_session.update",
                    "session": {"input_text_synthesis": {"voice_name": "No-Such.Voice"}}}),
        ("silent", json.dumps({"type": "input_text.append", "text": "hello there"})),
        json.dumps({"type": "input_text.done"}),
    ])
    print("synthesis errors:", [e and (e.get("error") or e["type"]) for e in out[1:]])
    check("before synthesize_session.update" in err_msg(out[1]), "text before update")
    check("audio_format" in err_msg(out[2]) and "MP3" in err_msg(out[2]), "bad audio_format")
    check("unknown event type" in err_msg(out[3]), "an ASR event on a synthesis socket")
    check(out[4]["type"] == "synthesize_session.updated", "update after errors")
    last = out[5]
    check(last is not None and "parley-tts" in err_msg(last) and "No-Such.Voice" in err_msg(last),
          "an unknown voice: parley-tts's error names it (%s)" % last)

    out = await errors_of(s.server, "translate", ["{}"])
    check("intent" in err_msg(out[0]) and out[1] is None, "unknown intent: error, then closed "
          "(%s)" % out)
    out = await errors_of(s.server, None, ["{}"])
    check("intent" in err_msg(out[0]), "no intent: error")

    # the browser socket on the same port refuses a bad start naming the field, and stays open
    starts = [{"user": "u" * 65}, {"input_audio": {"endpointing": "always"}},
              {"dialog": "../etc"}, {"session_id": "a b"}, {"output_audio": {"voice": "x/y"}}]
    async with websockets.connect("ws://%s/v1/converse" % s.server,
                                  subprotocols=["parley.converse.v1"]) as ws:
        got = []
        for m in starts:
            await ws.send(json.dumps(dict(m, type="start", protocol=1)))
            ev = await recv(ws, 5)
            check(ev["type"] == "error" and ev["code"] == "INVALID_ARGUMENT" and not ev["fatal"],
                  "converse start %s: a non-fatal INVALID_ARGUMENT (%s)" % (m, ev))
            got.append(ev["message"])
    print("converse start errors:", json.dumps(got, indent=1))
    for want, msg in zip(["user: at most 64 bytes", "input_audio.endpointing:", "dialog: ",
                          "session_id: ", "output_audio.voice: "], got):
        check(msg.startswith(want), "converse start error names the field: %s" % msg)

    # services down
    g.stop(s.tts)
    time.sleep(0.3)
    upd, audio, ev = await synthesize(s.server, SENTENCE[:1], voice=voice)
    msg = err_msg(upd if upd.get("type") == "error" else ev[-1])
    print("parley-tts down:", msg)
    check("parley-tts" in msg, "parley-tts killed: the error names it (%s)" % msg)
    st, body = req(port, "GET", "/v1/audio/list_voices")
    check(st == 503 and "parley-tts" in json.loads(body)["detail"],
          "list_voices with parley-tts down: 503 %s" % body)
    g.stop(s.asr)
    time.sleep(0.3)
    _, ev = await transcribe(s.server, file_chunks(SEVEN), {"input_audio_format": "none"})
    msg = err_msg(ev[-1])
    print("parley-asr down:", msg)
    check("parley-asr" in msg, "parley-asr killed: the error names it (%s)" % msg)

    check(req(port, "GET", "/healthz") == (200, "ok\n"), "the gateway still answers")
    check(s.gw.poll() is None, "the gateway is alive")
    print("realtime API: all checks passed in %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    asyncio.run(main())
