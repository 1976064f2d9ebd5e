"""Fault test: SQLite state on a read-only directory (parley-dialog's store, parley-qa's
knowledge base).

Root bypasses file permissions, so when the test runs as root the services under test run as
nobody (setpriv --reuid/--regid 65534) in a state directory owned by nobody; otherwise they run
as the test's own user. Checked:
- parley-dialog started on a read-only state directory (no store yet): exits 1 (not a
  signal) at start-up with an error naming the file and SQLite's reason;
- parley-qa with its knowledge base in a read-only directory: starts (the knowledge base opens
  for reading only, logged), NaturalQuery answers from it through the gateway (when the QA
  model is shipped; else the searches `parley kb search` does), and `parley kb add` / `rm`
  exit 1 naming the read-only knowledge base, which stays as it was;
- parley-dialog running when its directory and store become read-only (chmod 555/444): turns
  go on (SQLite writes through the descriptors it holds) and are answered, no crash;
  restarted there it starts on the read-only store: a Converse turn ends with UNAVAILABLE
  "dialog store PATH is read-only: ...", CreateSession too, nothing is stored, GetHistory
  still answers, the service keeps running; with the permissions back every turn answered
  before, during and after is in the stored history (0 committed turns lost).
Disk full: fault_diskfull.py.
Environment: PL_DIALOG, PL_NLU, PL_QA, PL_GATEWAY, PL_PARLEY, PL_SOURCE_DIR, PL_PYTHON_STUBS.
"""
import os
import shutil
import subprocess
import tempfile
import time

import dialog_stories as ds
import gwtest as g
from gwtest import check

from parley.dialog.v1 import dialog_pb2 as D  # noqa: E402

ROOT = os.geteuid() == 0
UID = 65534 if ROOT else os.geteuid()
DROP = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if ROOT else []
STATE = tempfile.mkdtemp(prefix="pl_fault_ro_")
os.chmod(STATE, 0o755)
import atexit  # noqa: E402

atexit.register(lambda: shutil.rmtree(STATE, ignore_errors=True))


def state_dir(name, mode):
    d = os.path.join(STATE, name)
    os.makedirs(d, exist_ok=True)
    for root, dirs, files in os.walk(d):
        for f in dirs + files:
            os.chown(os.path.join(root, f), UID, -1)
    os.chown(d, UID, -1)
    os.chmod(d, mode)
    return d


def refused(argv, env_extra, name):
    """Run a service that must refuse to start; returns (exit code, its log)."""
    env = dict(os.environ)
    env.pop("PARLEY_CONFIG", None)
    env.update(env_extra)
    log = os.path.join(g.TMP, name + ".log")
    with open(log, "wb") as f:
        rc = subprocess.run(DROP + argv, env=env, stdout=f, stderr=f, timeout=30).returncode
    return rc, open(log, errors="replace").read()


class Stack(ds.Stack):
    """dialog_stories' stack with parley-dialog as UID, its store in STATE/rw."""

    def start_dialog(self):
        self.store = os.path.join(STATE, "rw", "dialog.sqlite")
        argv = [os.environ["PL_DIALOG"], "--nats", self.nats, "--http-port", "-1",
                "--model-dir", os.path.join(ds.SRC, "dialog", "specs")]
        self.dialog = ds.start(DROP + argv,
                               "dialog", {"PARLEY_DIALOG_STORE_PATH": self.store}, r"specs=1")


SID = [""]  # the session, made by CreateSession


def kb_cli(kb, *args):
    r = subprocess.run(DROP + [os.environ["PL_PARLEY"], "kb", "--kb", kb] + list(args),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr.strip()


def read_only_kb(kb, doc):
    """parley-qa on a knowledge base in a read-only directory: serves, refuses writes."""
    from gwtest import riva_nlp_pb2, riva_nlp_pb2_grpc
    _, nats = g.start_nats()
    env = {"PARLEY_QA_KB_PATH": kb, "PARLEY_QA_LOG_LEVEL": "warn"}
    qa = ds.start(DROP + [os.environ["PL_QA"], "--nats", nats, "--http-port", "-1",
                          "--model-dir", os.path.join(ds.SRC, "models")], "qa-ro", env,
                  r"models=\d+ kb=1")
    log = open(os.path.join(g.TMP, "qa-ro.log"), errors="replace").read()
    check("kb.sqlite is read-only" in log, "parley-qa starts with its knowledge base in a "
          "read-only directory and logs it: %s" % [x for x in log.splitlines() if "read-only" in x])
    rc, out, _ = kb_cli(kb, "search", "who wrote the manual")
    check(rc == 0 and "Ada Lovelace" in out, "the knowledge base answers searches: %r" % out[:80])
    if os.path.exists(os.path.join(ds.SRC, "models", "qa-squad", "config.json")):
        _, port, _ = g.start_gateway(nats)
        nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(port))
        # three answers: the reader may put "no answer" first (its threshold is the model's
        # business); the spans after it show that the read-only knowledge base was read
        r = nlp.NaturalQuery(riva_nlp_pb2.NaturalQueryRequest(query="who wrote the parley manual?",
                                                             top_n=3), timeout=30)
        spans = [x.answer for x in r.results if x.answer]
        check(spans and all(a in open(doc).read() for a in spans), "NaturalQuery answers with spans of "
              "the read-only knowledge base's document: %r" % [x.answer for x in r.results])
    for args in (("add", doc), ("rm", "1")):
        rc, _, err = kb_cli(kb, *args)
        check(rc == 1 and "read-only" in err and kb in err, "parley kb %s refused: exit %d, %s"
              % (args[0], rc, err))
    rc, out, _ = kb_cli(kb, "list")
    check(rc == 0 and len(out.strip().splitlines()) == 2, "the knowledge base still holds its "
          "one document")
    check(qa.poll() is None, "parley-qa still running")
    check(g.stop(qa) == 0, "parley-qa stopped by SIGTERM")


def turn(stack, text):
    reqs = [D.ConverseRequest(config=D.ConverseConfig(session_id=SID[0], user_id="ro")),
            D.ConverseRequest(text=D.TextInput(text=text))]
    out = list(stack.stub.Converse(iter(reqs), timeout=30))
    evs = [r.event.type for r in out if r.WhichOneof("response") == "event"]
    return evs[-1:] == [D.EVENT_TURN_COMPLETE]


def main():
    print("services run as uid %d%s" % (UID, " (setpriv: root bypasses permissions)" if ROOT else ""))
    specs = os.path.join(ds.SRC, "dialog", "specs")
    # 1. start-up on a read-only directory
    ro = state_dir("ro", 0o555)
    rc, log = refused([os.environ["PL_DIALOG"], "--nats", "nats://127.0.0.1:1", "--http-port",
                       "-1", "--model-dir", specs],
                      {"PARLEY_DIALOG_STORE_PATH": os.path.join(ro, "dialog.sqlite")}, "dialog-ro")
    msg = [x for x in log.splitlines() if "dialog.sqlite" in x]
    check(rc == 1 and msg, "parley-dialog on a read-only directory: exit %d, %s" % (rc, msg[-1:]))
    kbdir = state_dir("kb", 0o755)
    kb = os.path.join(kbdir, "kb.sqlite")
    doc = os.path.join(g.TMP, "doc.md")
    open(doc, "w").write("# The Parley manual\n\nThe Parley manual was written by Ada Lovelace "
                         "in London. It explains how to book a table.\n")
    os.chmod(g.TMP, 0o755)
    os.chmod(doc, 0o644)
    subprocess.run([os.environ["PL_PARLEY"], "kb", "--kb", kb, "add", doc], check=True,
                   stdout=subprocess.DEVNULL)
    state_dir("kb", 0o555)
    read_only_kb(kb, doc)

    # 2. parley-dialog's directory turns read-only while it runs
    rw = state_dir("rw", 0o755)
    stack = Stack()
    SID[0] = stack.stub.CreateSession(D.CreateSessionRequest(user_id="ro"),
                                      timeout=10).session.session_id
    lines = ["hello", "book a table for four in boston", "at 8 pm", "no, make it six people",
             "yes", "thanks"]
    answered = []
    for t in lines[:2]:
        check(turn(stack, t), "turn %r answered (writable)" % t)
        answered.append(t)
    os.chmod(stack.store, 0o444)
    os.chmod(rw, 0o555)
    for t in lines[2:4]:
        check(turn(stack, t), "turn %r answered with the directory read-only (open "
              "descriptors)" % t)
        answered.append(t)
    check(stack.dialog.poll() is None, "parley-dialog still running")
    stack.dialog.terminate()
    rc = stack.dialog.wait(timeout=15)
    check(rc == 0, "parley-dialog stopped by SIGTERM: exit %d" % rc)
    # restarted there: SQLite opens the store read-only; a turn must end with UNAVAILABLE
    # naming the read-only store, nothing stored, no crash
    stack.start_dialog()
    dlog = open(os.path.join(g.TMP, "dialog.log"), errors="replace").read()
    check("dialog.sqlite is read-only" in dlog, "parley-dialog restarted on the read-only store "
          "starts and logs it")
    c, d = g.code_of(lambda: turn(stack, "at 9 pm"))
    check(c == g.grpc.StatusCode.UNAVAILABLE and "is read-only" in d and stack.store in d,
          "a turn on the read-only store: %s %r" % (c.name, d))
    c, d = g.code_of(lambda: stack.stub.CreateSession(D.CreateSessionRequest(user_id="ro"),
                                                      timeout=10))
    check(c == g.grpc.StatusCode.UNAVAILABLE and "is read-only" in d,
          "CreateSession on the read-only store: %s %r" % (c.name, d))
    h = stack.stub.GetHistory(D.GetHistoryRequest(session_id=SID[0], user_id="ro", page_size=1000),
                              timeout=30)
    check(len(h.events) > 0, "GetHistory still answers from the read-only store")
    check(stack.dialog.poll() is None, "parley-dialog still running")
    stack.dialog.terminate()
    check(stack.dialog.wait(timeout=15) == 0, "parley-dialog stopped by SIGTERM")
    os.chmod(rw, 0o755)
    os.chmod(stack.store, 0o644)
    stack.start_dialog()
    for t in lines[4:]:
        end = time.time() + 10
        while True:
            try:
                ok = turn(stack, t)
                break
            except g.grpc.RpcError:
                if time.time() > end:
                    raise
                time.sleep(0.2)
        check(ok, "turn %r answered after the permissions came back" % t)
        answered.append(t)
    h = stack.stub.GetHistory(D.GetHistoryRequest(session_id=SID[0], user_id="ro", page_size=1000),
                              timeout=30)
    said = [e.user_text for e in h.events if e.WhichOneof("payload") == "user_text"]
    check(said == answered, "0 committed turns lost: history %s" % said)
    print("PASS")


if __name__ == "__main__":
    main()
