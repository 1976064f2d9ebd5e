"""Converse turns without words (services/dialog/dialog_voice.c, "No words"), end to end on the
stack of dialog_voice.py (nats-server, parley-asr with the shipped model, parley-nlu,
parley-tts-fake, parley-dialog, the gateway; free 127.0.0.1 ports, stopped by PID).

parley-asr sends nothing for audio without words, so an END_OF_UTTERANCE over it used to get
no answer at all: the client waited for TURN_COMPLETE until its deadline. Now:
1. push-to-talk, 8 kHz LINEAR_PCM: a 1 s 440 Hz tone, 1 s of zeros, 1 s of low noise, and no
   audio at all, each followed by END_OF_UTTERANCE: within BOUND_S an empty final Transcript,
   END_OF_UTTERANCE, NO_SPEECH (audio_ms of the utterance, speech true|false) and
   TURN_COMPLETE (turn 0, no_speech=true); no NLU, BotText, audio or error; no turn stored,
   the NO_SPEECH events are in the history (GetHistory) with their attributes, in order;
   a text turn queued before an empty END_OF_UTTERANCE is answered first; then a spoken turn
   ("seven") on the same stream is answered as usual;
2. hands-free: 2.5 s of silence (low noise, then zeros) in real time gives nothing at all (no
   error, no turn); END_OF_UTTERANCE then gets the NO_SPEECH answer within BOUND_S; speech
   after it is endpointed into a turn as usual.
Environment: as dialog_voice.py.
"""
import math
import struct
import time

import dialog_voice as dv
from dialog_voice import D, RA, Conv, check, config, grpc, is_event, summary

BOUND_S = 5.0  # END_OF_UTTERANCE -> TURN_COMPLETE (was: never, the client's deadline)
RATE = 8000    # the FSDD clips' rate


def tone(rate, secs, hz=440.0):
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
                    for i in range(int(rate * secs)))


def kinds(c, start):
    with c.cv:
        return summary(c.out[start:])


def no_speech_done(r):
    return (r.WhichOneof("response") == "event" and r.event.type == D.EVENT_TURN_COMPLETE and
            r.event.attributes.get("no_speech") == "true")


def eou_answer(c, what, start, alone=True):
    """END_OF_UTTERANCE, then the no-speech answer within BOUND_S: returns (seconds, the
    NO_SPEECH event). alone: nothing else was asked since start."""
    c.control(D.ControlInput.END_OF_UTTERANCE)
    t0 = c.sent[D.ControlInput.END_OF_UTTERANCE]
    t, done = c.wait(no_speech_done, timeout=BOUND_S + 10, start=start,
                     what="TURN_COMPLETE (no_speech) after %s" % what)
    dt = t - t0
    seq = kinds(c, start)
    print("%s: %.3f s to TURN_COMPLETE: %s" % (what, dt, seq), flush=True)
    if alone:  # (else the turns before it, their reply audio included, come first)
        check(dt <= BOUND_S, "%s: TURN_COMPLETE %.2f s after END_OF_UTTERANCE (bound %.0f s)"
              % (what, dt, BOUND_S))
    answer = ["transcript('',final)", "END_OF_UTTERANCE", "NO_SPEECH", "TURN_COMPLETE"]
    i = [seq.index(k) for k in answer[:3]]
    check(i == sorted(i) and i[2] == len(seq) - 2 and seq[-1] == "TURN_COMPLETE",
          "%s: empty final Transcript, END_OF_UTTERANCE, NO_SPEECH, TURN_COMPLETE" % what)
    if alone:  # SPEECH_STARTED when the endpointer took a sound for speech
        check([k for k in seq if k != "SPEECH_STARTED"] == answer,
              "%s: no NLU, reply, audio or error" % what)
    ev = [r.event for _, r in c.out[start:] if r.WhichOneof("response") == "event" and
          r.event.type == D.EVENT_NO_SPEECH][0]
    check(done.turn == 0 and done.event.attributes["no_speech"] == "true",
          "%s: TURN_COMPLETE has turn 0 and no_speech=true" % what)
    return dt, ev


def check_no_speech_stored(stack, sid, audio_ms):
    """The NO_SPEECH answers are in the session's history: one per END_OF_UTTERANCE without
    words (the four cases, then the one after the text turn), turn 0, no context, audio_ms
    as sent, each after the turns before it ("hello" precedes the fifth)."""
    hist = dv.history_events(stack, "vera", sid)
    seq = [("text:" + e.user_text) if e.WhichOneof("payload") == "user_text" else
           "NO_SPEECH" if (e.WhichOneof("payload") == "event" and
                           e.event.type == D.EVENT_NO_SPEECH) else None for e in hist]
    seq = [k for k in seq if k]
    ns = [e for e in hist if e.WhichOneof("payload") == "event" and
          e.event.type == D.EVENT_NO_SPEECH]
    check(seq == ["NO_SPEECH"] * 4 + ["text:hello", "NO_SPEECH", "text:seven"] and
          [int(e.event.attributes["audio_ms"]) for e in ns] == audio_ms + [0] and
          all(e.turn == 0 and e.context_id == "" for e in ns),
          "the NO_SPEECH answers are stored, in order with the turns: %s, audio_ms %s" % (
              seq, [e.event.attributes["audio_ms"] for e in ns]))


def push_to_talk(stack):
    c = Conv(stack.stub, config(input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                               sample_rate_hertz=RATE),
                                output_audio=dv.out_cfg()))
    c.wait(is_event(D.EVENT_SESSION_CREATED), what="SESSION_CREATED")
    # (speech: whether the endpointer may take it for voice activity)
    cases = [("1 s 440 Hz tone", tone(RATE, 1.0), ("true", "false")),
             ("1 s of zeros", b"\0" * 2 * RATE, ("false",)),
             ("1 s of low noise", dv.silence(RATE, 1.0), ("false",)), ("no audio", b"", ("false",))]
    times, want_ms = [], []
    for what, pcm, speech in cases:
        with c.cv:
            start = len(c.out)
        c.audio(pcm, RATE, realtime=False)
        dt, ev = eou_answer(c, "push-to-talk, " + what, start)
        times.append(dt)
        ms = int(ev.attributes["audio_ms"])
        want = len(pcm) * 1000 // (2 * RATE)
        want_ms.append(want)
        check(ms == want and ev.attributes["speech"] in speech,
              "NO_SPEECH: audio_ms %d (sent %d ms), speech=%s" % (ms, want,
                                                                ev.attributes["speech"]))
    # a text turn queued before an END_OF_UTTERANCE without audio is answered first
    with c.cv:
        start = len(c.out)
    c.send(text=D.TextInput(text="hello"))
    eou_answer(c, "text turn, then no audio", start, alone=False)
    with c.cv:
        done = [r for _, r in c.out[start:] if r.WhichOneof("response") == "event" and
                r.event.type == D.EVENT_TURN_COMPLETE]
    check(len(done) == 2 and done[0].turn >= 1 and done[1].turn == 0,
          "the text turn's TURN_COMPLETE (turn %d), then the no-speech one" % done[0].turn)
    # the stream goes on: a spoken turn
    with c.cv:
        start = len(c.out)
    _, pcm = dv.pcm_of(dv.fsdd("7_george_0.wav"))
    c.audio(dv.silence(RATE, 0.3) + pcm + dv.silence(RATE, 0.3), RATE, realtime=False)
    c.control(D.ControlInput.END_OF_UTTERANCE)
    c.wait(is_event(D.EVENT_TURN_COMPLETE), start=start, what="TURN_COMPLETE of the spoken turn")
    seq = kinds(c, start)
    finals = [r.transcript.text for _, r in c.out[start:]
              if r.WhichOneof("response") == "transcript" and r.transcript.is_final]
    check(finals == ["seven"] and "bot_text" in seq and "NO_SPEECH" not in seq,
          "after them a spoken turn is answered: %s %s" % (finals, seq))
    check(c.close() == grpc.StatusCode.OK, "push-to-talk: the stream ends OK")
    sid = c.out[0][1].session_id
    check(dv.history_texts(stack, "vera", sid) == ["hello", "seven"],
          "only the text and the spoken turn are stored as turns")
    check_no_speech_stored(stack, sid, [int(w) for w in want_ms])
    print("push-to-talk without words: END_OF_UTTERANCE -> TURN_COMPLETE %s s"
          % ["%.3f" % t for t in times], flush=True)


def hands_free(stack):
    c = Conv(stack.stub, config(input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                               sample_rate_hertz=RATE,
                                                               server_endpointing=True),
                                output_audio=dv.out_cfg(), interim_results=True))
    c.wait(is_event(D.EVENT_SESSION_CREATED), what="SESSION_CREATED")
    c.audio(dv.silence(RATE, 1.5) + b"\0" * 2 * RATE, RATE)
    time.sleep(1.0)  # what the endpointer would still send
    seq = kinds(c, 0)
    check(seq == ["SESSION_CREATED"] and c.code is None,
          "hands-free: 2.5 s of silence gives nothing, no error: %s" % seq)
    with c.cv:
        start = len(c.out)
    eou_answer(c, "hands-free, silence", start)
    with c.cv:
        start = len(c.out)
    _, pcm = dv.pcm_of(dv.fsdd("7_george_0.wav"))
    c.audio(dv.silence(RATE, 0.3) + pcm + dv.silence(RATE, 1.5), RATE)
    c.wait(is_event(D.EVENT_TURN_COMPLETE), start=start, what="TURN_COMPLETE of the speech")
    seq = kinds(c, start)
    check("bot_text" in seq and "NO_SPEECH" not in seq,
          "hands-free: speech after it is a turn: %s" % seq)
    check(c.close() == grpc.StatusCode.OK, "hands-free: the stream ends OK")


def main():
    t0 = time.monotonic()
    stack = dv.Stack()
    print("stack up in %.1f s" % (time.monotonic() - t0), flush=True)
    push_to_talk(stack)
    hands_free(stack)
    print("all no-speech checks passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
