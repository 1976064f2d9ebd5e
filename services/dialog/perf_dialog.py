#!/usr/bin/env python3
"""Dialog load benchmark: parley-dialog + parley-nlu (shipped SNIPS model) through the gateway.

    /usr/bin/python3 services/dialog/perf_dialog.py [--build build] [--users 200]
        [--duration 20] [--warmup 3] [--rate 300] [--sync-full true|false] [--dialog BIN]

Starts the stack of tests/integration/dialog_stories.py on free 127.0.0.1 ports (nats-server,
parley-nlu, parley-qa, parley-dialog with a fresh SQLite file, parley-gateway), then runs
`parley perf --dialog` twice with --users users (each its own session on one Converse stream,
saying the demo booking/playlist conversation in a loop):

  closed loop   every user sends its next turn as soon as the last is answered: the most
                turns/s the stack sustains, and the latency at that saturation;
  paced         all users together offer --rate turns/s: the latency at that load.

For each run it prints the load generator's RESULT line, the CPU time per turn of every process
(/proc/PID/stat utime+stime; the load generator's from getrusage), and the SQLite figures:
database and WAL bytes per 1,000 turns (file growth), the logical size of a turn's rows, and
the write amplification: bytes parley-dialog caused to be written to storage
(/proc/PID/io write_bytes) per turn, divided by that logical size. The logical size counts the
turn's appended event rows (their column bytes) plus one context row with its slots and one
session row, the rows every turn rewrites. Turns are counted in the database (user-text events),
so warm-up turns count for the per-turn figures.
"""
import argparse
import os
import re
import resource
import sqlite3
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def setup_env(build):
    b = os.path.abspath(build)
    env = {
        "PL_DIALOG": os.path.join(b, "services/dialog/parley-dialog"),
        "PL_NLU": os.path.join(b, "services/nlu/parley-nlu"),
        "PL_QA": os.path.join(b, "services/qa/parley-qa"),
        "PL_GATEWAY": os.path.join(b, "services/gateway/parley-gateway"),
        "PL_PARLEY": os.path.join(b, "clients/parley"),
        "PL_PYTHON_STUBS": os.path.join(b, "python"),
        "PL_SOURCE_DIR": ROOT,
    }
    os.environ.update(env)
    sys.path.insert(0, os.path.join(ROOT, "tests/integration"))


def cpu_ms(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def write_bytes(pid):
    for line in open("/proc/%d/io" % pid):
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def fsize(p):
    return os.path.getsize(p) if os.path.exists(p) else 0


class Db:
    def __init__(self, path):
        self.path = path

    def q(self, sql, *args):
        c = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=10)
        try:
            return c.execute(sql, args).fetchone()
        finally:
            c.close()

    def turns(self):
        return self.q("SELECT count(*) FROM events WHERE kind=1")[0]

    def logical(self, since_ms):
        """Mean logical bytes of a turn's rows for the turns since since_ms (see the doc)."""
        ev, n = self.q("SELECT sum(length(session_id)+length(user_id)+length(context_id)+"
                       "length(data)+32), sum(kind=1) FROM events WHERE time_ms>=?", since_ms)
        ctx = self.q("SELECT avg(length(context_id)+length(session_id)+length(user_id)+"
                     "length(name)+length(flow)+length(awaiting)+48) FROM contexts")[0] or 0
        slots = self.q("SELECT avg(b) FROM (SELECT sum(length(context_id)+length(name)+"
                       "length(value)) b FROM slots GROUP BY context_id)")[0] or 0
        sess = self.q("SELECT avg(length(session_id)+length(user_id)+length(dialog)+"
                      "length(language)+length(metadata)+56) FROM sessions")[0] or 0
        return ((ev or 0) / max(n or 1, 1), ctx + slots + sess)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--rate", type=float, default=300)
    ap.add_argument("--dialog", default="", help="the parley-dialog binary (default: the build's)")
    ap.add_argument("--sync-full", choices=["true", "false"], default=None,
                    help="parley-dialog's dialog.sync_full (default: the service's own default)")
    a = ap.parse_args()
    setup_env(a.build)
    if a.dialog:
        os.environ["PL_DIALOG"] = os.path.abspath(a.dialog)
    import dialog_stories as ds  # noqa: E402  (needs the environment above)
    import gwtest as g  # noqa: E402

    t0 = time.time()
    denv = {} if a.sync_full is None else {"PARLEY_DIALOG_SYNC_FULL": a.sync_full}
    stack = ds.Stack(dialog_env=denv)
    print("stack up in %.1f s (state in %s)" % (time.time() - t0, stack.store), flush=True)
    procs = {}
    for p in g._procs:
        name = os.path.basename(p.args[0])
        if p.poll() is None and p.pid != stack.dialog.pid:
            procs[name] = p.pid
    procs["parley-dialog"] = stack.dialog.pid  # whatever --dialog named, counted once
    db = Db(stack.store)
    cpu = os.cpu_count()
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    print("CPU: %s, %d cores%s; load average before: %s" % (
        model, cpu, ", AVX-512" if "avx512f" in flags else "",
        " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)

    runs = [("closed loop", []), ("paced %.0f turns/s" % a.rate, ["--rate", str(a.rate)])]
    for label, extra in runs:
        c0 = {n: cpu_ms(pid) for n, pid in procs.items()}
        w0, n0 = write_bytes(procs["parley-dialog"]), db.turns()
        f0 = fsize(stack.store), fsize(stack.store + "-wal")
        ms0 = int(time.time() * 1000)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load0 = open("/proc/loadavg").read().split()[0]
        argv = [os.environ["PL_PARLEY"], "perf", "--dialog", "--target", "127.0.0.1:%d" % stack.port,
                "--users", str(a.users), "--duration", str(a.duration), "--warmup", str(a.warmup)]
        out = subprocess.run(argv + extra, capture_output=True, text=True, timeout=a.duration + a.warmup + 120)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c1 = {n: cpu_ms(pid) for n, pid in procs.items()}
        w1, n1 = write_bytes(procs["parley-dialog"]), db.turns()
        f1 = fsize(stack.store), fsize(stack.store + "-wal")
        turns = max(n1 - n0, 1)
        print("\n== %s, %d users (load average at start %s)" % (label, a.users, load0))
        print(out.stdout.strip())
        if out.returncode != 0:
            print(out.stderr.strip())
            sys.exit("parley perf --dialog failed")
        print("turns stored by parley-dialog: %d (warm-up included)" % turns)
        gen = ((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)) * 1000
        parts = ["%s %.3f" % (n, (c1[n] - c0[n]) / turns) for n in sorted(procs)]
        total = sum(c1[n] - c0[n] for n in procs)
        print("CPU ms per turn: %s; servers total %.3f; load generator %.3f" % (
            ", ".join(parts), total / turns, gen / turns))
        ev_b, rows_b = db.logical(ms0)
        wpt = (w1 - w0) / turns
        print("SQLite: database +%.1f KB and WAL %.1f KB (file size now %.1f MB / %.1f MB) "
              "per 1,000 turns" % ((f1[0] - f0[0]) / turns, (f1[1] - f0[1]) / turns,
                                  f1[0] / 1e6, f1[1] / 1e6))
        print("SQLite: logical bytes per turn %.0f (events %.0f + rewritten context, slots and "
              "session rows %.0f); written to storage per turn %.0f; write amplification %.1fx"
              % (ev_b + rows_b, ev_b, rows_b, wpt, wpt / max(ev_b + rows_b, 1)), flush=True)
    m = re.search(r"RESULT .*", out.stdout)
    print("\nstate file %s: %.1f MB after %d turns" % (stack.store, fsize(stack.store) / 1e6, db.turns()))
    return 0 if m else 1


if __name__ == "__main__":
    sys.exit(main())
