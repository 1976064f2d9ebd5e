"""Slow webhooks hold no thread of parley-dialog (docs/dialog.md, "Threads"); also the benchmark
of turns/s with slow webhooks (docs/benchmarks.md, "Dialog: slow webhooks").

The stack of dialog_stories.py (nats-server, parley-nlu, parley-qa, parley-dialog with the
test spec dialog/actions.yaml, the gateway) and its test HTTP server: USERS users (100), each
its own session on an open Converse stream, send "sleepy service" at once; the webhook answers
each call after 1.5 s. parley-dialog runs with dialog.action_threads = THREADS (4). Every turn
must get the webhook's reply, the whole round must end within a few times the webhook's delay
(not USERS / THREADS x 1.5 s, which a pool thread per waiting turn would take), and a turn whose
webhook never answers, sent meanwhile, must still end with its apology after its timeouts.
Then with one pool thread, two streams of one session with two webhook turns each: a pool turn
waits for the session the other stream's webhook turn holds without that thread (the 4 turns
answered one after the other; another user's webhook turn is served meanwhile).
Last, SIGTERM with 20 webhook calls in flight: parley-dialog exits 0 within 5 s.

    dialog_webhook_load.py [--users N] [--threads N] [--rounds N] [--bench]

--bench prints the rounds' turns/s and skips the time bound (to measure a build without the
I/O thread). Environment as dialog_stories.py.
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dialog_fulfil  # noqa: E402
import dialog_stories as ds  # noqa: E402
import gwtest as g  # noqa: E402
from gwtest import check  # noqa: E402

from parley.dialog.v1 import dialog_pb2 as D  # noqa: E402

DELAY_S = 1.5  # /sleepy (dialog_fulfil.py)
STREAM_S = 120  # a stream's deadline: long enough for a build that serves the turns in turn


def stream_turn(stack, user, sid, text, out):
    """One Converse stream kept open until its turn is answered; out gets (time, response)."""
    done = threading.Event()

    def reqs():
        yield D.ConverseRequest(config=D.ConverseConfig(session_id=sid, user_id=user))
        yield D.ConverseRequest(text=D.TextInput(text=text))
        done.wait(STREAM_S)

    t0 = time.monotonic()
    for r in stack.stub.Converse(reqs(), timeout=STREAM_S):
        out.append((time.monotonic() - t0, r))
        if r.WhichOneof("response") == "event" and r.event.type == D.EVENT_TURN_COMPLETE:
            done.set()


def one_round(stack, sids, slow_sid, text="sleepy service", slow_text="slow service"):
    """Every session's turn saying text at once (open streams), slow_text's turn (a call that
    never answers) meanwhile. Returns (seconds for the round, replies per session, the slow
    turn's replies and time)."""
    outs = [[] for _ in sids]
    ths = [threading.Thread(target=stream_turn, args=(stack, "load%d" % i, sid, text, outs[i]))
           for i, sid in enumerate(sids)]
    slow = []
    ths.append(threading.Thread(target=stream_turn,
                                args=(stack, "hang", slow_sid, slow_text, slow)))
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths[:-1]:
        th.join()
    dt = time.monotonic() - t0
    ths[-1].join()
    return dt, [texts_of(o) for o in outs], texts_of(slow), (slow[-1][0] if slow else 0)


def texts_of(out):
    return [r.bot_text.text for _, r in out if r.WhichOneof("response") == "bot_text"]


def check_session_wait_holds_no_thread(stack, web):
    """With one pool thread: two streams of one session send two webhook turns each at once, so
    that turns of one stream reach the pool while a turn of the other holds the session for its
    webhook. A pool turn must wait for the session without the pool's thread (with the thread
    waiting, the turn holding the session could never be finished: every stream would hang
    until its deadline); another user's webhook turn sent meanwhile is served as usual."""
    threads = stack.dialog_env["PARLEY_DIALOG_ACTION_THREADS"]
    stack.dialog_env["PARLEY_DIALOG_ACTION_THREADS"] = "1"
    stack.restart_dialog()
    sid = stack.stub.CreateSession(D.CreateSessionRequest(user_id="twice", dialog="actions_test"),
                                   timeout=10).session.session_id
    other = stack.stub.CreateSession(D.CreateSessionRequest(user_id="third", dialog="actions_test"),
                                     timeout=10).session.session_id
    outs = {k: [] for k in ("a", "b", "c")}
    t0 = {}

    def run(key, user, session, n):
        t0[key] = time.monotonic()
        try:
            ds.open_stream_turns(stack, user, session, ["sleepy service"] * n, outs[key])
        except g.grpc.RpcError as e:
            outs[key].append((time.monotonic() - t0[key], e.code()))
    ths = [threading.Thread(target=run, args=(k, "twice", sid, 2)) for k in ("a", "b")]
    for th in ths:
        th.start()
    time.sleep(0.2)
    ths.append(threading.Thread(target=run, args=("c", "third", other, 1)))
    ths[-1].start()
    for th in ths:
        th.join()
    end = max(t0[k] + outs[k][-1][0] for k in ("a", "b") if outs[k]) - min(t0["a"], t0["b"])
    c_s = outs["c"][-1][0] if outs["c"] else -1
    ok = (all(texts_of([x for x in outs[k] if not isinstance(x[1], g.grpc.StatusCode)]) ==
              ["Done after a nap."] * n for k, n in (("a", 2), ("b", 2), ("c", 1))) and
          end < 4 * DELAY_S + 4 and 0 < c_s < 2.5 * DELAY_S)
    check(ok, "one pool thread, two streams of one session with two webhook turns each: the 4 "
          "turns answered in %.2f s (4 x %.1f s in turn), another user's webhook turn in %.2f s "
          "(%s)" % (end, DELAY_S, c_s, {k: [x[1] if isinstance(x[1], g.grpc.StatusCode) else ""
                                            for x in o][-1:] for k, o in outs.items()}))
    stack.dialog_env["PARLEY_DIALOG_ACTION_THREADS"] = threads
    stack.restart_dialog()


def stop_in_flight(stack, sids, text, arrived):
    """One turn saying text on each session in sids, each on its own stream; once arrived() (a
    count of the slow responder's requests) has grown by len(sids), or after 10 s, SIGTERM to
    parley-dialog. Returns arrived() before, parley-dialog's exit code and the seconds its stop
    took."""
    def quiet(*args):
        try:
            stream_turn(*args)
        except g.grpc.RpcError:
            pass  # the stream ends with parley-dialog
    before = arrived()
    ths = [threading.Thread(target=quiet, args=(stack, "load%d" % i, sid, text, []))
           for i, sid in enumerate(sids)]
    for th in ths:
        th.start()
    end = time.monotonic() + 10
    while arrived() < before + len(sids) and time.monotonic() < end:
        time.sleep(0.01)
    t0 = time.monotonic()
    rc = g.stop(stack.dialog, timeout=30)
    dt = time.monotonic() - t0
    for th in ths:
        th.join()
    return before, rc, dt


def check_stop_in_flight(stack, web, sids):
    """SIGTERM while the webhook calls of 20 turns are in flight on the I/O thread: parley-dialog
    drains its streams (the calls answer, or end when the I/O thread stops) and exits 0 within
    5 s (its sanitizer build reports leaks at exit)."""
    def sleepy():
        return sum(1 for p, _, _ in web.requests if p == "/sleepy")

    before, rc, dt = stop_in_flight(stack, sids, "sleepy service", sleepy)
    check(sleepy() >= before + len(sids) and rc == 0 and dt < 5,
          "SIGTERM with %d webhook calls in flight: parley-dialog exits %d after %.2f s" % (
              sleepy() - before, rc, dt))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--bench", action="store_true")
    a = ap.parse_args()
    web = dialog_fulfil.HttpFulfilment(backlog=max(64, 2 * a.users))
    env = {"PL_TEST_WEBHOOK_SLEEPY": web.url("/sleepy"), "PL_TEST_WEBHOOK_SLOW": web.url("/slow"),
           "PARLEY_DIALOG_ACTION_THREADS": str(a.threads), "PARLEY_DIALOG_LOG_LEVEL": "warn"}
    stack = ds.Stack(spec_dir=ds.spec_dir_with_test_spec(), dialog_env=env)
    sids = [stack.stub.CreateSession(D.CreateSessionRequest(user_id="load%d" % i,
                                                            dialog="actions_test"),
                                     timeout=10).session.session_id for i in range(a.users)]
    slow_sid = stack.stub.CreateSession(D.CreateSessionRequest(user_id="hang", dialog="actions_test"),
                                        timeout=10).session.session_id
    times = []
    for k in range(a.rounds):
        dt, replies, slow, slow_s = one_round(stack, sids, slow_sid)
        times.append(dt)
        bad = [r for r in replies if r != ["Done after a nap."]]
        check(not bad, "round %d: all %d turns got the webhook's reply (%d did not: %s)" % (
            k + 1, a.users, len(bad), bad[:3]))
        hang_ok = slow == ["Sorry, the slow service did not answer in time."] and 0.8 < slow_s < 3.0
        what = "round %d: a webhook that never answers: the apology after %.0f ms (%s)" % (
            k + 1, slow_s * 1000, slow)
        if a.bench:
            print(what)
        else:
            check(hang_ok, what)
        print("round %d: %d turns waiting %.1f s on a webhook, action_threads %d: %.2f s, "
              "%.1f turns/s" % (k + 1, a.users, DELAY_S, a.threads, dt, a.users / dt))
    best = min(times)
    if not a.bench:
        serial = a.users / a.threads * DELAY_S
        check(best < 4 * DELAY_S,
              "%d turns each waiting %.1f s on a webhook with %d action threads: %.2f s (a pool "
              "thread per waiting turn would take %.0f s)" % (a.users, DELAY_S, a.threads, best,
                                                              serial))
    print("load average %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    if not a.bench:
        check_session_wait_holds_no_thread(stack, web)
        check_stop_in_flight(stack, web, sids[:20])
    web.stop()
    print("all webhook load checks passed")


if __name__ == "__main__":
    main()
