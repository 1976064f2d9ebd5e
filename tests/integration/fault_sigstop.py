"""Fault test: a worker frozen with SIGSTOP during calls, then SIGCONT.

A steady load of AnalyzeIntent and Synthesize calls (2 threads each, DEADLINE s) runs through
the gateway against parley-nlu and parley-tts-fake; parley-nlu is stopped with SIGSTOP for
STOP_S seconds. Checked:
- every call ends by its deadline (+0.5 s): the frozen worker's calls with DEADLINE_EXCEEDED
  or UNAVAILABLE, never a hang and never another code;
- the gateway's health Check of nvidia.riva.nlp.RivaLanguageUnderstanding turns NOT_SERVING
  within HEALTH_S (the on-demand probe times out after 2 s) while the TTS service stays
  SERVING and Synthesize keeps succeeding;
- after SIGCONT, AnalyzeIntent succeeds again and the NLU health is SERVING within RECOVER_S;
  no process exited. The measured times are printed (MEASURED line).
Environment: see fault_common.py.
"""
import os
import signal
import time

import fault_common as fc
from gwtest import check, grpc, health_pb2, health_pb2_grpc

DEADLINE = 2.0
STOP_S = 5.0
HEALTH_S = 5.0
RECOVER_S = 10.0
NLU_SVC = "nvidia.riva.nlp.RivaLanguageUnderstanding"
TTS_SVC = "nvidia.riva.tts.RivaSpeechSynthesis"
OK, DL, UNAV = grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE
HS = health_pb2.HealthCheckResponse


def main():
    st = fc.Stack()
    health = health_pb2_grpc.HealthStub(st.ch)

    def status(svc):
        return health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=5).status

    check(status(NLU_SVC) == HS.SERVING and status(TTS_SVC) == HS.SERVING,
          "NLU and TTS health SERVING before the stop")
    load = fc.Load(st, deadline=DEADLINE)
    time.sleep(1.5)
    t_stop = time.monotonic()
    os.kill(st.nlu.pid, signal.SIGSTOP)
    t_health = None
    while time.monotonic() - t_stop < STOP_S:
        if t_health is None and status(NLU_SVC) == HS.NOT_SERVING:
            t_health = time.monotonic() - t_stop
        time.sleep(0.1)
    tts_during = status(TTS_SVC)
    t_cont = time.monotonic()
    os.kill(st.nlu.pid, signal.SIGCONT)
    t_ok = t_serving = None
    while time.monotonic() - t_cont < RECOVER_S + 2 and (t_ok is None or t_serving is None):
        if t_ok is None:
            t_ok = fc.first_ok_after(load.snapshot(), "intent", t_cont)
        if t_serving is None and status(NLU_SVC) == HS.SERVING:
            t_serving = time.monotonic() - t_cont
        time.sleep(0.1)
    time.sleep(1.0)
    check(load.stop(), "load threads finished (no call hung)")
    rec = load.snapshot()

    before = [r for r in rec if r[2] < t_stop]
    check(before and all(r[3] == OK for r in before), "before the stop: %s" % fc.codes(before))
    frozen = [r for r in rec if r[0] == "intent" and r[2] >= t_stop and r[1] < t_cont]
    check(frozen and all(r[3] in (OK, DL, UNAV) for r in frozen) and
          any(r[3] != OK for r in frozen),
          "AnalyzeIntent while parley-nlu was stopped: %s" % fc.codes(frozen))
    longest = max(r[2] - r[1] for r in rec)
    check(longest <= DEADLINE + 0.5, "no call ran past its deadline (longest %.2f s, deadline "
          "%.1f s)" % (longest, DEADLINE))
    failed = [r for r in frozen if r[3] != OK]
    ends = [r[2] - r[1] for r in failed if r[3] == DL]
    if ends:
        print("     DEADLINE_EXCEEDED after %.2f..%.2f s" % (min(ends), max(ends)))
    synth = [r for r in rec if r[0] == "synth" and r[1] >= t_stop and r[2] < t_cont]
    check(synth and all(r[3] == OK for r in synth),
          "Synthesize unaffected while parley-nlu was stopped: %s" % fc.codes(synth))
    check(t_health is not None and t_health <= HEALTH_S,
          "NLU health NOT_SERVING %.2f s after SIGSTOP (bound %.0f s)" % (t_health or -1, HEALTH_S))
    check(tts_during == HS.SERVING, "TTS health stayed SERVING")
    check(t_ok is not None and t_ok - t_cont <= RECOVER_S,
          "AnalyzeIntent succeeds again %.2f s after SIGCONT (bound %.0f s)"
          % ((t_ok - t_cont) if t_ok else -1, RECOVER_S))
    check(t_serving is not None, "NLU health SERVING again %.2f s after SIGCONT" % (t_serving or -1))
    after = [r for r in rec if r[1] >= t_ok]
    check(all(r[3] == OK for r in after), "every call after recovery OK: %s" % fc.codes(after))
    for name, p in st.procs().items():
        check(p.poll() is None, "%s still running (no crash, no exit)" % name)
    print("MEASURED stop_s=%.1f deadline_s=%.1f health_not_serving_s=%.2f recover_call_s=%.2f "
          "recover_health_s=%.2f intent_during_stop=%s longest_call_s=%.2f"
          % (STOP_S, DEADLINE, t_health, t_ok - t_cont, t_serving, fc.codes(frozen), longest),
          flush=True)
    print("PASS")


if __name__ == "__main__":
    main()
