#!/usr/bin/env python3
"""Real requests to a containerized Parley through its gateway (docker/compose_test.sh).

  smoke.py HOST:PORT WAV            the requests; prints "session <id>" last
  smoke.py HOST:PORT --session ID   the session is still there with its turn (after a restart)

Checks grpc.health.v1 SERVING for the gateway and each service, Recognize of WAV,
AnalyzeIntent, NaturalQuery over a context, Synthesize, and a dialog session with one Converse
turn. Needs the Python stubs of the build (PYTHONPATH=build/python) and Debian's python3-grpcio.
Prints one line per check and a timing; exit status 1 on the first failure.
"""
import sys
import time

import grpc
from riva.proto import health_pb2, health_pb2_grpc
from riva.proto import riva_asr_pb2 as asr, riva_asr_pb2_grpc as asr_grpc
from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc as nlp_grpc
from riva.proto import riva_tts_pb2 as tts, riva_tts_pb2_grpc as tts_grpc
from parley.dialog.v1 import dialog_pb2 as D, dialog_pb2_grpc as D_grpc


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        sys.exit(1)


def check_session(ch, sid):
    dl = D_grpc.DialogStub(ch)
    h = dl.GetHistory(D.GetHistoryRequest(session_id=sid, user_id="compose-test"), timeout=30)
    n = len(h.events)
    check(n >= 1, "dialog session %s kept its history after the restart: %d event(s)" % (sid, n))


def main():
    target = sys.argv[1]
    ch = grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=30)
    if sys.argv[2] == "--session":
        return check_session(ch, sys.argv[3])
    wav_path = sys.argv[2]
    t0 = time.monotonic()

    health = health_pb2_grpc.HealthStub(ch)
    for svc in ["", "nvidia.riva.asr.RivaSpeechRecognition",
                "nvidia.riva.nlp.RivaLanguageUnderstanding", "nvidia.riva.tts.RivaSpeechSynthesis",
                "parley.dialog.v1.Dialog"]:
        st = health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=10).status
        check(st == health_pb2.HealthCheckResponse.SERVING,
              "health %r: %s" % (svc, health_pb2.HealthCheckResponse.ServingStatus.Name(st)))

    with open(wav_path, "rb") as f:
        wav = f.read()
    r = asr_grpc.RivaSpeechRecognitionStub(ch).Recognize(
        asr.RecognizeRequest(config=asr.RecognitionConfig(language_code="en-US", max_alternatives=1),
                             audio=wav), timeout=60)
    text = " ".join(x.alternatives[0].transcript for x in r.results if x.alternatives)
    check(len(r.results) >= 1, "Recognize (%d bytes of WAV): %r" % (len(wav), text))

    nl = nlp_grpc.RivaLanguageUnderstandingStub(ch)
    r = nl.AnalyzeIntent(nlp.AnalyzeIntentRequest(query="book a table for two in boston"), timeout=30)
    slots = ["%s=%s" % (s.label[0].class_name, s.token) for s in r.slots if s.label]
    check(r.intent.class_name == "BookRestaurant",
          "AnalyzeIntent: intent %s %.2f, slots %s" % (r.intent.class_name, r.intent.score, slots))

    ctx = ("The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It is named "
           "after the engineer Gustave Eiffel, whose company designed and built the tower "
           "from 1887 to 1889.")
    r = nl.NaturalQuery(nlp.NaturalQueryRequest(query="Who is the Eiffel Tower named after?",
                                                context=ctx, top_n=3), timeout=60)
    got = [(x.answer, round(x.score, 2)) for x in r.results]
    check(any("Eiffel" in a for a, _ in got), "NaturalQuery over a context: %s" % got)

    r = tts_grpc.RivaSpeechSynthesisStub(ch).Synthesize(
        tts.SynthesizeSpeechRequest(text="Hello from the container.", language_code="en-US",
                                    encoding=1, sample_rate_hz=22050), timeout=60)
    secs = len(r.audio) / 2 / 22050
    check(0.5 < secs < 10, "Synthesize: %.2f s of audio at 22050 Hz" % secs)

    dl = D_grpc.DialogStub(ch)
    s = dl.CreateSession(D.CreateSessionRequest(user_id="compose-test"), timeout=20)
    sid = s.session.session_id
    reqs = [D.ConverseRequest(config=D.ConverseConfig(session_id=sid, user_id="compose-test",
                                                      include_nlu=True)),
            D.ConverseRequest(text=D.TextInput(text="book a table for two in boston"))]
    out = list(dl.Converse(iter(reqs), timeout=60))
    bot = [m.bot_text.text for m in out if m.WhichOneof("response") == "bot_text"]
    nlu = [m.nlu.intent.name for m in out if m.WhichOneof("response") == "nlu"]
    check(bool(bot), "dialog Converse turn in session %s: nlu %s, bot %r" % (sid, nlu, bot))

    print("smoke: all requests answered in %.2f s" % (time.monotonic() - t0))
    print("session %s" % sid)


if __name__ == "__main__":
    main()
