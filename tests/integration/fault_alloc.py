"""Fault test: allocation failures injected into the request paths of parley-nlu and
parley-tts-fake (PARLEY_FAULT_ALLOC, runtime/nrpc_fault.c).

Both workers start with PARLEY_FAULT_ALLOC="requests=N": handler call k (k = 0..N-1) fails
the (k+1)-th pl_malloc it makes on its own thread, so N calls sweep the allocation points of
the request path one by one. Through the gateway, two threads call N AnalyzeIntent and N
Synthesize (unary) one after another; then SynthesizeOnline streams and more unary calls run
with the injection over. Checked:
- every call ends OK with a real answer (an intent; audio) or with RESOURCE_EXHAUSTED or
  INTERNAL whose message says "out of memory"; never another code, never past its deadline;
- allocation failures really happened (at least MIN_OOM calls of each kind answered "out of
  memory"), and the last calls of the sweep all succeeded (the sweep went past the last
  allocation of the request path);
- no worker exited; after the sweep every call succeeds (AFTER each, SynthesizeOnline too);
- SIGTERM: each worker exits 0 and logs how many allocations failed. Built with
  PARLEY_SANITIZE (ASan + LeakSanitizer) a leak makes the exit code non-zero, so run on
  build-san this checks that no failed request leaks.
Environment: see fault_common.py.
"""
import os
import threading
import time

import fault_common as fc
import gwtest as g
import tts_test_service as tts
from gwtest import check, grpc

N = 100        # faulted handler calls per worker (the request paths make 28 and 38)
MIN_OOM = 10   # calls of each kind that must have met a failed allocation
AFTER = 20     # calls of each kind after the sweep, all OK
DEADLINE = 10.0
OK = grpc.StatusCode.OK
OOM_CODES = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL)


def sweep(kind, fn, n, out):
    for i in range(n):
        t0 = time.monotonic()
        try:
            code, det = g.code_of(lambda: fn(DEADLINE))
        except AssertionError as e:  # answered OK but empty: a wrong answer
            code, det = grpc.StatusCode.DATA_LOSS, str(e)
        out.append((kind, i, code, det, time.monotonic() - t0))


def judge(rec, kind):
    calls = [r for r in rec if r[0] == kind]
    bad = [r for r in calls if not (r[2] == OK or (r[2] in OOM_CODES and "out of memory" in r[3]))]
    check(not bad, "%s: every call OK or RESOURCE_EXHAUSTED/INTERNAL naming out of memory "
          "(%d calls; others: %s)" % (kind, len(calls), bad[:3]))
    oom = [r for r in calls if r[2] != OK]
    codes = sorted({r[2].name for r in oom})
    print("     %s: %d calls, %d out of memory %s (last at call %d), e.g. %r" % (
        kind, len(calls), len(oom), codes, oom[-1][1] if oom else -1, oom[0][3] if oom else ""))
    check(len(oom) >= MIN_OOM, "%s: %d calls met a failed allocation (>= %d)"
          % (kind, len(oom), MIN_OOM))
    tail = calls[-20:]
    check(all(r[2] == OK for r in tail), "%s: the sweep's last 20 calls succeeded (past the "
          "request path's last allocation)" % kind)
    slow = max(r[4] for r in calls)
    check(slow < DEADLINE, "%s: no call ran to its deadline (longest %.2f s)" % (kind, slow))
    return len(oom)


def stream(st):
    chunks = list(st.synth.SynthesizeOnline(iter([tts.req("Hello there. How are you today?")]),
                                            timeout=DEADLINE))
    assert sum(len(c.audio) for c in chunks) > 0, "SynthesizeOnline answered without audio"


def main():
    os.environ["PARLEY_FAULT_ALLOC"] = "requests=%d" % N
    st = fc.Stack()
    os.environ.pop("PARLEY_FAULT_ALLOC")
    rec = []
    ths = [threading.Thread(target=sweep, args=("AnalyzeIntent", st.intent, N, rec)),
           threading.Thread(target=sweep, args=("Synthesize", st.synthesize, N, rec))]
    t0 = time.monotonic()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    print("     sweep: %d calls in %.1f s" % (len(rec), time.monotonic() - t0))
    n_oom = judge(rec, "AnalyzeIntent") + judge(rec, "Synthesize")
    for name, p in st.procs().items():
        check(p.poll() is None, "%s still running after %d failed requests" % (name, n_oom))
    after = []
    sweep("AnalyzeIntent", st.intent, AFTER, after)
    sweep("Synthesize", st.synthesize, AFTER, after)
    sweep("SynthesizeOnline", lambda d: stream(st), AFTER, after)
    bad = [r for r in after if r[2] != OK]
    check(not bad, "after the sweep: %d AnalyzeIntent, Synthesize and SynthesizeOnline calls all "
          "OK (%s)" % (len(after), bad[:3]))
    for name, p in (("parley-nlu", st.nlu), ("parley-tts", st.tts)):
        rc = g.stop(p, timeout=30)
        check(rc == 0, "%s stopped by SIGTERM: exit %d (non-zero under ASan: a leak)" % (name, rc))
    logs = open(os.path.join(g.TMP, "nlu.log"), errors="replace").read()
    logs += open(os.path.join(g.TMP, "tts.log"), errors="replace").read()
    failed = [x for x in logs.splitlines() if "allocations failed in handlers" in x]
    check(len(failed) == 2, "each worker logged its failed allocations: %s"
          % [x[x.find("fault injection"):x.find("fault injection") + 60] for x in failed])
    print("PASS")


if __name__ == "__main__":
    main()
