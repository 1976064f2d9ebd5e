"""Crash durability of parley-dialog under load: the stack of dialog_stories.py, `parley perf
--dialog` driving USERS users (each its own session on one Converse stream, the demo
conversation in a loop; a turn unanswered for 1 s is cancelled and sent again on a new stream
of the same session), and KILLS times: wait a random 0.2..1.2 s, kill -9 parley-dialog, start it
again on the same SQLite file. Then:

- 0 committed turns lost: every turn whose TURN_COMPLETE a client received (the load
  generator's --ack-log) is in the session's stored history, in order. A turn may be stored
  twice in a row (stored, then killed before its reply went out, then sent again), never
  missing; consecutive repeats are collapsed before comparing (the script has no line twice in
  a row), and the history holds at most the answered turns plus nothing else;
- every turn of the history has its replies and TURN_COMPLETE (a turn is committed whole);
- the conversations continue: every session takes one more turn after the last restart, and
  it answers the turn the session was at.
Environment: as dialog_stories.py. KILLS and USERS: PL_CRASH_KILLS (20), PL_CRASH_USERS (16).
"""
import os
import random
import signal
import subprocess
import time

import dialog_stories as ds
import gwtest as g
from gwtest import check

from parley.dialog.v1 import dialog_pb2 as D  # noqa: E402

KILLS = int(os.environ.get("PL_CRASH_KILLS", "20"))
USERS = int(os.environ.get("PL_CRASH_USERS", "16"))


def history(stack, user, sid):
    events, after = [], 0
    while True:
        h = stack.stub.GetHistory(D.GetHistoryRequest(session_id=sid, user_id=user, after_seq=after,
                                                       page_size=1000), timeout=30)
        events += list(h.events)
        if not h.more or not h.events:
            return events
        after = h.events[-1].seq


def collapse(seq):
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def main():
    seed = int(os.environ.get("PL_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print("seed %d (PL_CRASH_SEED reruns it), %d users, %d kills" % (seed, USERS, KILLS), flush=True)
    stack = ds.Stack()
    acks = os.path.join(g.TMP, "acks.tsv")
    perf = g.spawn([os.environ["PL_PARLEY"], "perf", "--dialog", "--target", "127.0.0.1:%d" % stack.port,
                    "--users", str(USERS), "--duration", "600", "--warmup", "0",
                    "--turn-timeout-ms", "1000", "--ack-log", acks, "--user-prefix", "crash"],
                   "perf.log", stdout=open(os.path.join(g.TMP, "perf.out"), "wb"))
    time.sleep(1.0)
    t0 = time.time()
    for k in range(KILLS):
        time.sleep(rnd.uniform(0.2, 1.2))
        stack.restart_dialog()
        assert perf.poll() is None, "the load generator stopped"
    print("%d kill -9 restarts in %.1f s" % (KILLS, time.time() - t0), flush=True)
    time.sleep(1.5)  # load on the last incarnation
    perf.send_signal(signal.SIGINT)
    perf.wait(timeout=30)
    out = open(os.path.join(g.TMP, "perf.out")).read()
    print(out.strip(), flush=True)
    check(perf.returncode == 0, "the load generator ran (answered turns under load)")

    answered = {}
    users = {}
    for line in open(acks, encoding="utf-8"):
        sid, user, n, text = line.rstrip("\n").split("\t", 3)
        answered.setdefault(sid, []).append(text)
        users[sid] = user
    total = sum(len(v) for v in answered.values())
    check(len(answered) >= USERS and total > 20 * KILLS // 2,
          "%d answered turns in %d sessions under load" % (total, len(answered)))

    lost, repeats, incomplete = 0, 0, 0
    for sid, texts in answered.items():
        ev = history(stack, users[sid], sid)
        said = [e.user_text for e in ev if e.WhichOneof("payload") == "user_text"]
        done = sum(1 for e in ev if e.WhichOneof("payload") == "event" and
                   e.event.type == D.EVENT_TURN_COMPLETE)
        incomplete += len(said) - done
        stored = collapse(said)
        repeats += len(said) - len(stored)
        if stored[:len(texts)] != texts or len(stored) > len(texts) + 1:
            lost += 1
            print("session %s: answered %s\n  stored %s" % (sid, texts, stored))
    check(lost == 0, "0 committed turns lost: every answered turn of %d sessions is stored, in "
          "order (%d stored twice: committed, killed before the reply, sent again)" %
          (len(answered), repeats))
    check(incomplete == 0, "every stored turn is whole (its TURN_COMPLETE is stored with it)")

    script = ["hello", "book a table for four in boston", "at 8 pm", "no, make it six people",
              "yes", "add wonderwall to my road trip playlist", "thanks", "bye"]
    ok = 0
    for sid, texts in answered.items():
        nxt = script[(script.index(texts[-1]) + 1) % len(script)]
        reqs = [D.ConverseRequest(config=D.ConverseConfig(session_id=sid, user_id=users[sid])),
                D.ConverseRequest(text=D.TextInput(text=nxt))]
        resp = list(stack.stub.Converse(iter(reqs), timeout=30))
        bots = [r.bot_text.text for r in resp if r.WhichOneof("response") == "bot_text"]
        evs = [r.event.type for r in resp if r.WhichOneof("response") == "event"]
        ok += bool(bots) and evs[-1:] == [D.EVENT_TURN_COMPLETE]
    check(ok == len(answered), "every conversation continues after the last restart (%d/%d)"
          % (ok, len(answered)))
    print("all crash checks passed")


if __name__ == "__main__":
    main()
