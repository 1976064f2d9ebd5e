"""Fault test: nats-server killed (SIGKILL) under load and restarted on the same port.

A steady load of AnalyzeIntent and Synthesize calls (2 threads each, 3 s deadline) runs
through the gateway against parley-nlu and parley-tts-fake. nats-server is killed with
SIGKILL, left down DOWN_S seconds, and started again on the same port. Checked:
- before the kill every call succeeds;
- every call ends OK or UNAVAILABLE (never DEADLINE_EXCEEDED, nothing else) and no call runs
  past its deadline (+0.5 s of slack);
- the calls in flight at the kill (a burst of 2 x BURST calls sent just before it, and the
  load's) end within 1 s of it, OK or UNAVAILABLE;
- the gateway and both services reconnect on their own: from the restart, both kinds of call
  succeed again (and keep succeeding) within RECOVER_S (10 s); the measured time is printed;
- health "" is SERVING again; no process exited.
Environment: see fault_common.py.
"""
import time

import fault_common as fc
import gwtest as g
from gwtest import check, grpc, health_pb2, health_pb2_grpc

DEADLINE = 3.0
DOWN_S = 1.5
BURST = 32
RECOVER_S = 10.0
OK, UNAV = grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE


def main():
    st = fc.Stack()
    load = fc.Load(st, deadline=DEADLINE)
    time.sleep(2.0)
    # a burst of calls sent just before the kill, so that some are surely in flight
    burst = [st.nlp.AnalyzeIntent.future(fc.riva_nlp_pb2.AnalyzeIntentRequest(query=fc.QUERY * 4),
                                         timeout=DEADLINE) for _ in range(BURST)]
    burst += [st.synth.Synthesize.future(fc.tts.req(fc.tts.LONG), timeout=DEADLINE)
              for _ in range(BURST)]
    t_kill = time.monotonic()
    st.nats_p.kill()
    st.nats_p.wait()
    bcodes, bend = {}, 0.0
    for f in burst:
        try:
            f.result()
            c = OK
        except grpc.RpcError as e:
            c = e.code()
        bend = max(bend, time.monotonic() - t_kill)
        bcodes[c.name] = bcodes.get(c.name, 0) + 1
    check(set(bcodes) <= {"OK", "UNAVAILABLE"} and bcodes.get("UNAVAILABLE", 0) > 0,
          "burst of %d calls sent at the kill: %s" % (len(burst), bcodes))
    check(bend <= 1.0, "the burst's calls in flight ended within %.3f s of the kill" % bend)
    before = [r for r in load.snapshot() if r[2] < t_kill]
    check(len(before) > 10 and all(r[3] == OK for r in before),
          "steady load before the kill: %d calls, %s" % (len(before), fc.codes(before)))
    time.sleep(DOWN_S)
    t_up = time.monotonic()
    st.nats_p, _ = g.start_nats(st.nats_port)
    t_listen = time.monotonic() - t_up
    end = t_up + RECOVER_S + 2
    while time.monotonic() < end:
        rec = load.snapshot()
        if all(fc.first_ok_after(rec, k, t_up) is not None and
               sum(1 for r in rec if r[0] == k and r[1] >= t_up and r[3] == OK) >= 5
               for k in ("intent", "synth")):
            break
        time.sleep(0.1)
    time.sleep(1.0)  # steady load on the reconnected stack
    check(load.stop(), "load threads finished (no call hung)")
    rec = load.snapshot()

    during = [r for r in rec if r[2] >= t_kill]
    check(all(r[3] in (OK, UNAV) for r in rec),
          "every call ended OK or UNAVAILABLE: %s from the kill on" % fc.codes(during))
    longest = max(r[2] - r[1] for r in rec)
    check(longest <= DEADLINE + 0.5, "no call ran past its deadline (longest %.2f s, deadline "
          "%.1f s)" % (longest, DEADLINE))
    inflight = [r for r in rec if r[1] < t_kill <= r[2]]
    late = max((r[2] - t_kill for r in inflight), default=0.0)
    check(late <= 1.0, "%d call(s) in flight at the kill ended within %.3f s (%s)"
          % (len(inflight), late, fc.codes(inflight)))
    unav = [r for r in rec if r[3] == UNAV]
    if unav:
        print("     UNAVAILABLE details seen: %s" % sorted({r[4] for r in unav}))
    rec_t = {}
    for k in ("intent", "synth"):
        t = fc.first_ok_after(rec, k, t_up)
        check(t is not None and t - t_up <= RECOVER_S,
              "%s calls succeed again %.2f s after nats-server restarted (bound %.0f s)"
              % (k, (t - t_up) if t else -1, RECOVER_S))
        rec_t[k] = t - t_up
    print("MEASURED burst=%s burst_end_s=%.3f nats_down_s=%.1f listen_s=%.2f "
          "recover_intent_s=%.2f recover_synth_s=%.2f calls=%d unavailable=%d "
          "inflight_at_kill=%d inflight_end_s=%.3f longest_call_s=%.2f"
          % (bcodes, bend, DOWN_S, t_listen, rec_t["intent"], rec_t["synth"], len(rec), len(unav),
             len(inflight), late, longest), flush=True)
    health = health_pb2_grpc.HealthStub(st.ch)
    h = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    check(h.status == health_pb2.HealthCheckResponse.SERVING, "gateway health SERVING again")
    for name, p in st.procs().items():
        check(p.poll() is None, "%s still running (no crash, no exit)" % name)
    print("PASS")


if __name__ == "__main__":
    main()
