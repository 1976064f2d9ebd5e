"""Pipelines (pipelines/*.json, docs/pipelines.md) through the real services: nats-server,
parley-nlu (shipped SNIPS, NER and punctuation models), parley-qa (a knowledge base with one
document), parley-asr (shipped models), parley-tts (the tone-generator voice), parley-dialog
(the shipped specs plus the external-action test spec, so the server's default dialog is not
the pipelines' `assistant`; pipelines from the source tree) and the gateway, on free 127.0.0.1
ports, stopped by PID.

1. text_assistant: a new session runs the pipeline's dialog spec; NLU and the form answer a
   typed turn; output_audio is refused (no tts stage), naming the pipeline;
2. voice_assistant: a push-to-talk FSDD clip goes asr -> punctuation -> nlu -> dialog -> tts:
   the NLU reads (and the history stores) the punctuated transcript, the reply is spoken at the
   pipeline's 22050 Hz when output_audio leaves the rate at 0;
3. document_qa: a typed question and a spoken one go straight to the knowledge base (no NLU
   intent; a kb_answer action in the history), the answer is spoken;
4. an unknown pipeline name: NOT_FOUND naming it and the loaded ones.
Environment: PL_DIALOG, PL_NLU, PL_QA, PL_ASR, PL_TTS (PL_TTS_FAKE=1), PL_GATEWAY, PL_PARLEY,
PL_PYTHON_STUBS, PL_SOURCE_DIR, PARLEY_DATA_DIR.
"""
import os
import time

import dialog_stories as ds
import dialog_voice as dv
import gwtest as g
from gwtest import check, grpc

from parley.dialog.v1 import dialog_pb2 as D  # noqa: E402
from riva.proto import riva_audio_pb2 as RA  # noqa: E402

SRC = os.environ["PL_SOURCE_DIR"]


class Stack(ds.Stack):
    def __init__(self):
        env = {"PARLEY_DIALOG_PIPELINE_DIR": os.path.join(SRC, "pipelines"),
               "PARLEY_DIALOG_DEFAULT_DIALOG": "actions_test"}
        super().__init__(spec_dir=ds.spec_dir_with_test_spec(), dialog_env=env)
        ds.start_asr(self.nats)
        ds.start_tts(self.nats, 20)


def cfg(pipeline, user, **kw):
    c = dv.config(user=user, **kw)
    c.pipeline = pipeline
    return c


def turn_text(stack, c, text):
    with c.cv:
        start = len(c.out)
    c.send(text=D.TextInput(text=text))
    c.wait(dv.is_event(D.EVENT_TURN_COMPLETE), start=start, what="TURN_COMPLETE of %r" % text)
    return [r for _, r in c.out[start:]]


def of(rs, kind):
    return [getattr(r, kind) for r in rs if r.WhichOneof("response") == kind]


def history(stack, user, sid):
    return ds.history(stack, user, sid)


def text_assistant(stack):
    c = dv.Conv(stack.stub, cfg("text_assistant", "tess"))
    rs = turn_text(stack, c, "book a table for four in boston")
    check(c.close() == grpc.StatusCode.OK, "text_assistant: the stream ends OK")
    sid = c.out[0][1].session_id
    s = stack.stub.GetSession(D.GetSessionRequest(session_id=sid, user_id="tess"), timeout=10)
    check(s.session.dialog == "assistant",
          "text_assistant: the new session runs the pipeline's spec: %s (the server's default "
          "is actions_test)" % s.session.dialog)
    nlu, bots = of(rs, "nlu"), of(rs, "bot_text")
    check(nlu and nlu[0].intent.name == "book_restaurant" and
          nlu[0].text == "book a table for four in boston" and
          bots and bots[-1].response_name == "ask_time" and not of(rs, "bot_audio"),
          "text_assistant: nlu -> dialog, no punctuation, text only: %s -> %r" % (
              nlu[0].intent.name if nlu else None, [b.text for b in bots]))
    c = dv.Conv(stack.stub, cfg("text_assistant", "tess", output_audio=dv.out_cfg()))
    c.close()
    check(c.code == grpc.StatusCode.INVALID_ARGUMENT and "text_assistant" in c.details and
          "no tts stage" in c.details,
          "text_assistant with output_audio: %s %s" % (c.code, c.details))


def voice_assistant(stack):
    rate, pcm = dv.pcm_of(dv.fsdd("7_george_0.wav"))
    out = D.AudioOutputConfig(encoding=RA.LINEAR_PCM)  # the rate from the pipeline
    c = dv.Conv(stack.stub, cfg("voice_assistant", "vic",
                                input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                               sample_rate_hertz=rate),
                                output_audio=out))
    c.audio(dv.silence(rate, 0.3) + pcm + dv.silence(rate, 0.3), rate)
    c.control(D.ControlInput.END_OF_UTTERANCE)
    c.wait(dv.is_event(D.EVENT_TURN_COMPLETE), what="TURN_COMPLETE of the spoken turn")
    rs = [r for _, r in c.out]
    typed = turn_text(stack, c, "book a table for four in boston")
    check(c.close() == grpc.StatusCode.OK, "voice_assistant: the stream ends OK")
    final = [t.text for t in of(rs, "transcript") if t.is_final]
    nlu = of(rs, "nlu")
    audio = of(rs, "bot_audio")
    print("voice_assistant:", dv.summary(c.out), "final %r, NLU read %r" % (
        final, nlu[0].text if nlu else None), flush=True)
    check(final == ["seven"], "voice_assistant: asr: the final transcript %s" % final)
    check(nlu and nlu[0].text != final[0] and nlu[0].text.lower().strip(".?!,") == "seven",
          "voice_assistant: punctuation before the NLU: it read %r" % (nlu[0].text if nlu else ""))
    check(audio and all(a.sample_rate_hz == 22050 for a in audio) and audio[-1].is_last and
          any(e.type == D.EVENT_REPLY_AUDIO_DONE for e in of(rs, "event")),
          "voice_assistant: tts at the pipeline's 22050 Hz (%d chunks)" % len(audio))
    tn = of(typed, "nlu")
    check(tn and tn[0].intent.name == "book_restaurant" and of(typed, "bot_audio"),
          "voice_assistant: a typed turn too is punctuated (%r), understood (%s) and spoken" % (
              tn[0].text if tn else "", tn[0].intent.name if tn else ""))
    sid = c.out[0][1].session_id
    texts = [e.user_text for e in history(stack, "vic", sid) if e.WhichOneof("payload") == "user_text"]
    check(texts and texts[0] == nlu[0].text,
          "voice_assistant: the history keeps the punctuated utterance: %s" % texts)


def document_qa(stack):
    rate, pcm = dv.pcm_of(dv.fsdd("7_george_0.wav"))
    c = dv.Conv(stack.stub, cfg("document_qa", "quincy",
                                input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                               sample_rate_hertz=rate),
                                output_audio=dv.out_cfg()))
    rs = turn_text(stack, c, "Who wrote the Parley manual?")
    with c.cv:
        start = len(c.out)
    c.audio(dv.silence(rate, 0.3) + pcm + dv.silence(rate, 0.3), rate)
    c.control(D.ControlInput.END_OF_UTTERANCE)
    c.wait(dv.is_event(D.EVENT_TURN_COMPLETE), start=start, what="TURN_COMPLETE of the spoken question")
    spoken = [r for _, r in c.out[start:]]
    check(c.close() == grpc.StatusCode.OK, "document_qa: the stream ends OK")
    bots = of(rs, "bot_text")
    want = {"kb_answer", "kb_no_answer"} if stack.has_reader else {"kb_unavailable"}
    said = [b.text for b in bots]
    check(bots and bots[0].response_name in want and of(rs, "bot_audio"),
          "document_qa: typed question -> qa -> tts: %r (%s)" % (said, bots[0].response_name if bots else ""))
    if stack.has_reader:
        doc = open(os.path.join(g.TMP, "manual.md")).read()
        check(bots[0].response_name != "kb_answer" or said[0] in doc,
              "document_qa: the answer is a span of the knowledge base's document: %r" % said)
    nlu = of(rs, "nlu")
    check(not nlu or not nlu[0].intent.name, "document_qa: no NLU intent (no nlu stage)")
    sb = of(spoken, "bot_text")
    check([t.text for t in of(spoken, "transcript") if t.is_final] == ["seven"] and sb and
          sb[0].response_name in want and of(spoken, "bot_audio"),
          "document_qa: spoken question -> asr -> qa -> tts: %r" % [b.text for b in sb])
    sid = c.out[0][1].session_id
    acts = [e.action for e in history(stack, "quincy", sid) if e.WhichOneof("payload") == "action"]
    check(len(acts) == 2 and all(a.name == "kb_answer" for a in acts),
          "document_qa: each turn is one kb_answer action in the history: %s" % [a.name for a in acts])


def unknown(stack):
    c = dv.Conv(stack.stub, cfg("no_such_pipeline", "tess"))
    c.close()
    check(c.code == grpc.StatusCode.NOT_FOUND and "no_such_pipeline" in c.details and
          "voice_assistant" in c.details,
          "an unknown pipeline: %s %s" % (c.code, c.details))


def main():
    t0 = time.monotonic()
    stack = Stack()
    print("stack up in %.1f s" % (time.monotonic() - t0), flush=True)
    text_assistant(stack)
    voice_assistant(stack)
    document_qa(stack)
    unknown(stack)
    print("all pipeline checks passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
