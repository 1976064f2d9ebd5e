"""End of turn decided by the end-of-turn classifier (dialog.end_of_turn_model, models/nlu-eot;
docs/dialog.md "End of turn"). The real stack of dialog_voice.py (nats-server, parley-asr,
parley-nlu serving every shipped model, the tone voice, parley-dialog, the gateway):

1. the classifier through the gateway as parley-dialog asks it (ClassifyText, model_name
   nlu-eot, every label): "book a table for four in boston" is complete at the threshold,
   "book a table" (before "for four in boston") and "according to lawson" (before ", the
   chosen route ...") are not, though the words rule lets both through;
2. parley-dialog with dialog.end_of_turn_model at its default (nlu-eot), a 2000 ms stop
   window and the check after 150 ms: a spoken answer to the party-size prompt ("seven") still ends at the pause
   (the prompt rule comes first, no classifier call); in a new session a lone digit then
   silence: the check asks the classifier (the log names its P(complete)) and follows it: at
   the threshold or above the utterance ends there (END_OF_UTTERANCE "end of turn"), under it
   the stop window ends it;
3. end_of_turn_model naming a model parley-nlu does not serve: the check logs the failure and
   waits (P -1), the stop window ends the utterance, the stream goes on and answers.
Environment as dialog_voice.py; fails when models/nlu-eot is missing.
"""
import os
import re

import dialog_stories as ds
import dialog_voice as dv
import dialog_voice_eot as de
import gwtest as g
from gwtest import check, riva_nlp_pb2 as NLP, riva_nlp_pb2_grpc

from parley.dialog.v1 import dialog_pb2 as D  # noqa: E402

THRESHOLD = 0.75  # dialog.end_of_turn_min_complete's default
CASES = [("book a table for four in boston", True), ("book a table", False),
         ("according to lawson", False)]


def restart_dialog(stack, model):
    g.stop(stack.dialog)
    env = {"PARLEY_DIALOG_STORE_PATH": stack.store, "PARLEY_DIALOG_LOG_LEVEL": "info",
           "PARLEY_DIALOG_ENDPOINTING_SILENCE_MS": str(de.WINDOW_MS),
           "PARLEY_DIALOG_END_OF_TURN_SILENCE_MS": str(de.EOT_MS),
           "PARLEY_DIALOG_END_OF_TURN_MIN_COMPLETE": str(THRESHOLD)}
    if model is not None:  # None: parley-dialog's default, nlu-eot
        env["PARLEY_DIALOG_END_OF_TURN_MODEL"] = model
    stack.dialog = ds.start([os.environ["PL_DIALOG"], "--nats", stack.nats, "--http-port", "-1",
                             "--model-dir", os.path.join(dv.SRC, "dialog", "specs")], "dialog",
                            env, r"specs=1")


def p_complete(stub, text):
    r = stub.ClassifyText(NLP.TextClassRequest(text=[text], top_n=2,
                                               model=NLP.NLPModelParams(model_name="nlu-eot")),
                          timeout=20)
    return {lab.class_name: lab.score for lab in r.results[0].labels}.get("complete", -1.0)


def lone_word(stack, clip):
    """A new session, one recording then silence: the check asks the classifier."""
    c, at = de.fresh(stack)
    t_eos, _ = de.speak(c, [clip], 0)
    t_fin, fin = c.wait(lambda r: r.WhichOneof("response") == "transcript" and r.transcript.is_final,
                        what="final transcript", start=at)
    c.wait(dv.is_event(D.EVENT_TURN_COMPLETE), what="TURN_COMPLETE", start=at)
    check(c.close() == dv.grpc.StatusCode.OK, "%s: the stream ends OK" % clip)
    lines = de.log_checks(c.out[0][1].session_id)
    eos_fin = (t_fin - t_eos) * 1000
    print("%s: %r, %s, end of speech -> final %.0f ms" % (clip, fin.transcript.text,
                                                          de.eou_details(c), eos_fin), flush=True)
    for ln in lines:
        print("  ", ln[-200:], flush=True)
    return c, lines, eos_fin


def main():
    check(os.path.exists(os.path.join(dv.SRC, "models", "nlu-eot", "config.json")),
          "models/nlu-eot is there")
    stack = dv.Stack()
    nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(stack.port))
    for text, complete in CASES:
        p = p_complete(nlp, text)
        print("P(complete | %r) = %.3f" % (text, p), flush=True)
        check((p >= THRESHOLD) == complete and 0 <= p <= 1,
              "%r is %s at %.2f (P(complete) %.3f)" % (text, "complete" if complete else
                                                      "not complete", THRESHOLD, p))

    restart_dialog(stack, None)
    de.complete_answer(stack)  # the answer to the prompt ends at the pause, the classifier aside
    for clip in ("7_george_0.wav", "3_jackson_0.wav"):
        c, lines, eos_fin = lone_word(stack, clip)
        got = [re.search(r'\\"(.*?)\\" complete (-?[\d.]+): (.*?) \(', ln) for ln in lines]
        got = [m for m in got if m]
        check(got, "%s: the check asked the classifier (%d check lines)" % (clip, len(lines)))
        text, p, verdict = got[0].group(1), float(got[0].group(2)), got[0].group(3)
        ends = p >= THRESHOLD
        check(verdict.startswith("end") == ends,
              "%s: P(complete | %r) = %.3f, verdict %r" % (clip, text, p, verdict))
        at_pause, detail, lag = de.ended_at_pause(c, c.at, lines)
        check(at_pause if ends else detail == "end of utterance (detected)",
              "%s: the utterance ended %s (%s, %.0f ms after the end of speech; parley-asr %.0f ms "
              "behind the live audio at the pause)" % (clip, "at the pause" if ends else
                                                     "at the stop window", detail, eos_fin, lag))

    restart_dialog(stack, "no-such-eot-model")
    c, lines, eos_fin = lone_word(stack, "7_george_0.wav")
    check(any(re.search(r'\\" complete -1\.000: wait', ln) for ln in lines),
          "a model parley-nlu does not serve: the check waits")
    check(de.eou_details(c)[-1] == "end of utterance (detected)" and eos_fin > de.WINDOW_MS / 2,
          "a model parley-nlu does not serve: the stop window ends the utterance (%.0f ms)" % eos_fin)
    log = open(os.path.join(g.TMP, "dialog.log"), encoding="utf-8", errors="replace").read()
    check("the classifier no-such-eot-model is unavailable" in log,
          "a model parley-nlu does not serve: parley-dialog's log says so")


if __name__ == "__main__":
    main()
