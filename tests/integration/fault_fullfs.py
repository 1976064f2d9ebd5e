"""Fault test: a real full file system and a real read-only one under Parley's state: the
dialog store (parley-dialog), the knowledge base (parley-qa, `parley kb`) and nats-server's
JetStream store, all in one state directory on a small tmpfs, as `parley up` lays them out.

Needs root (mount); the test re-runs itself in a private mount namespace (unshare -m), so the
mounts vanish with its processes however it ends, and unmounts them itself on a normal end.
When it cannot mount it prints a SKIP banner and exits 77 (ctest: skipped).

Checked, in order:
1. Disk full (ENOSPC): the tmpfs filled by a filler file.
   - parley-dialog: a Converse turn ends RESOURCE_EXHAUSTED "dialog store PATH: disk full: ...",
     CreateSession too; GetHistory answers with every committed turn; the process runs on.
   - knowledge base: `parley kb add` exits 1 "knowledge base PATH: disk full: ..." and leaves
     the documents as they were; parley-qa, reading the same file, keeps answering.
   - JetStream: a publish to a file stream on the full store gets an error or no answer;
     nats-server keeps running and keeps carrying Parley's calls (AnalyzeIntent through the
     gateway answers).
   - Space freed (filler removed): turns, CreateSession and `parley kb add` work again without a
     restart. JetStream (nats-server 2.9.10 wedges it on ENOSPC) is checked after nats-server
     is restarted on the same store (SIGKILL when SIGTERM does not stop it): it holds the
     messages stored before and stores again; Parley's processes reconnect by themselves.
     0 committed turns lost.
2. Read-only: a plain `mount -o remount,ro` is refused (EBUSY) while the services hold their
   files open for writing; with them stopped it succeeds, and on the read-only state directory:
   `parley up` exits 1 at once naming it; nats-server with JetStream there exits at start;
   parley-dialog starts on its existing store (WARN "is read-only"), a turn ends UNAVAILABLE
   "dialog store PATH is read-only", GetHistory answers; parley-qa starts and answers from the
   knowledge base, `parley kb add` exits 1 "read-only". Remounted read-write and parley-dialog
   restarted, turns are answered and every committed turn is there.
3. Read-only mid-run (when a loop device is there; else said and skipped): the dialog store on
   an ext4 image mounted errors=remount-ro, parley-dialog with its default dialog.sync_full
   (a turn is answered once its commit is fsynced: what is not written back is lost when the
   kernel stops the file system); the kernel's error path (/sys/fs/ext4/DEV/
   trigger_fs_error) turns it read-only under the running parley-dialog, as an I/O error does
   on a real disk: a turn ends UNAVAILABLE "dialog store PATH is read-only", GetHistory
   answers, the process runs on; after e2fsck and a read-write mount, parley-dialog restarted
   answers again and every committed turn is there.
Environment: PL_DIALOG, PL_NLU, PL_QA, PL_GATEWAY, PL_PARLEY, PL_SOURCE_DIR, PL_PYTHON_STUBS.
"""
import atexit
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NS_FLAG = "PL_FULLFS_IN_NS"


def skip(why):
    print("SKIP: fault_fullfs needs to mount a file system (tmpfs, as root): %s" % why, flush=True)
    sys.exit(77)


if os.environ.get(NS_FLAG) != "1":
    # re-run in a private mount namespace: the mounts go away with the test's processes
    if os.geteuid() != 0:
        skip("not root (uid %d)" % os.geteuid())
    if not shutil.which("unshare"):
        skip("no unshare(1)")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        skip("unshare --mount: %s" % r.stderr.strip())
    env = dict(os.environ, **{NS_FLAG: "1"})
    try:
        rc = subprocess.call(["unshare", "--mount", "--propagation", "private", sys.executable,
                              os.path.abspath(__file__)], env=env)
    except KeyboardInterrupt:
        rc = 130
    sys.exit(rc)

MNT = tempfile.mkdtemp(prefix="pl_fullfs_")
_mounts = []


def _unmount():
    for m in reversed(_mounts):
        subprocess.call(["umount", m], stderr=subprocess.DEVNULL)
        if os.path.ismount(m):
            subprocess.call(["umount", "-l", m], stderr=subprocess.DEVNULL)
    for m in reversed(_mounts):
        shutil.rmtree(m, ignore_errors=True)


atexit.register(_unmount)  # registered before gwtest's clean-up, so it runs after it

r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", MNT],
                   capture_output=True, text=True)
if r.returncode != 0:
    skip("mount -t tmpfs: %s" % r.stderr.strip())
_mounts.append(MNT)

import dialog_stories as ds  # noqa: E402
import gwtest as g  # noqa: E402
from gwtest import check, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc  # noqa: E402

from parley.dialog.v1 import dialog_pb2 as D  # noqa: E402

STATE = os.path.join(MNT, "state")
os.makedirs(STATE)
MODELS = os.path.join(ds.SRC, "models")
SPECS = os.path.join(ds.SRC, "dialog", "specs")
USER = "fullfs"


# ---- a minimal NATS client (the text protocol) for JetStream's API ----------------------------

class Nats:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""
        self.sid = 0
        self._line()  # INFO
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\nPING\r\n')
        while self._line() != b"PONG":
            pass

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("nats-server closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        if line == b"PING":
            self.s.sendall(b"PONG\r\n")
            return self._line()
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("nats-server closed the connection")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n + 2:]
        return out

    def request(self, subject, payload, timeout=3.0):
        """The reply's payload, or None when nothing answers within timeout."""
        self.sid += 1
        inbox = "_INBOX.fullfs.%d" % self.sid
        self.s.sendall(b"SUB %s %d\r\nPUB %s %s %d\r\n%s\r\n" % (
            inbox.encode(), self.sid, subject.encode(), inbox.encode(), len(payload), payload))
        self.s.settimeout(timeout)
        try:
            while True:
                line = self._line()
                if line.startswith(b"MSG "):
                    parts = line.split()
                    data = self._take(int(parts[-1]))
                    if parts[2] == str(self.sid).encode():
                        return data
                elif line.startswith(b"-ERR"):
                    raise ConnectionError(line.decode())
        except socket.timeout:
            return None
        finally:
            self.s.settimeout(5)
            self.s.sendall(b"UNSUB %d\r\n" % self.sid)

    def close(self):
        self.s.close()


def js_api(nc, what, body):
    r = nc.request("$JS.API." + what, json.dumps(body).encode())
    return json.loads(r) if r else None


def js_publish(nc, n, size=4096):
    """Publish n messages of size bytes to the file stream; the first error reply (or
    'no reply'), else None."""
    for i in range(n):
        r = nc.request("fault.data", os.urandom(size // 2).hex().encode(), timeout=3)
        if r is None:
            return "no reply"
        a = json.loads(r)
        if "error" in a:
            return a["error"].get("description", str(a["error"]))
    return None


# ---- the stack --------------------------------------------------------------------------------

def start_nats(port=0, store=os.path.join(STATE, "nats")):
    port = port or g.free_port()
    exe = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"
    p = g.spawn([exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                "nats-%d.log" % port)
    return p, port


class Stack:
    def __init__(self):
        self.nats_p, self.nats_port = start_nats()
        check(g.wait_port(self.nats_port), "nats-server with JetStream on the tmpfs (%s/nats)"
              % STATE)
        self.nats = "nats://127.0.0.1:%d" % self.nats_port
        ds.start([os.environ["PL_NLU"], "--nats", self.nats, "--http-port", "-1", "--model-dir",
                  MODELS], "nlu", {"PARLEY_NLU_LOG_LEVEL": "warn"}, r"models=\d+")
        self.kb = os.path.join(STATE, "kb.sqlite")
        self.doc = os.path.join(g.TMP, "manual.md")
        open(self.doc, "w").write("# The Parley manual\n\nThe Parley manual was written by Ada "
                                  "Lovelace in London. It explains how to book a table.\n")
        subprocess.run([os.environ["PL_PARLEY"], "kb", "--kb", self.kb, "add", self.doc],
                       check=True, stdout=subprocess.DEVNULL)
        self.has_reader = os.path.exists(os.path.join(MODELS, "qa-squad", "config.json"))
        self.start_qa()
        self.store = os.path.join(STATE, "dialog.sqlite")
        self.start_dialog()
        self.gw, self.port, _ = g.start_gateway(self.nats)
        ch = g.channel(self.port)
        from parley.dialog.v1 import dialog_pb2_grpc
        self.stub = dialog_pb2_grpc.DialogStub(ch)
        self.nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)

    def start_qa(self):
        self.qa = ds.start([os.environ["PL_QA"], "--nats", self.nats, "--http-port", "-1",
                            "--model-dir", MODELS], "qa",
                           {"PARLEY_QA_KB_PATH": self.kb, "PARLEY_QA_LOG_LEVEL": "warn"},
                           r"models=\d+")

    def start_dialog(self, store=None, env=None):
        try:
            self._start_dialog(store, env or {})
        except AssertionError:
            print("parley-dialog's log ends: %s" % open(os.path.join(g.TMP, "dialog.log"),
                                                         errors="replace").read()[-1500:])
            raise

    def _start_dialog(self, store, env):
        env = dict(env, PARLEY_DIALOG_STORE_PATH=store or self.store,
                   PARLEY_DIALOG_DEFAULT_DIALOG="assistant")
        self.dialog = ds.start([os.environ["PL_DIALOG"], "--nats", self.nats, "--http-port", "-1",
                                "--model-dir", SPECS], "dialog", env, r"specs=[1-9]")

    def stop(self, p, what):
        check(g.stop(p, timeout=15) == 0, "%s stopped by SIGTERM" % what)

    def session(self):
        return self.stub.CreateSession(D.CreateSessionRequest(user_id=USER),
                                       timeout=10).session.session_id

    def turn(self, sid, text):
        reqs = [D.ConverseRequest(config=D.ConverseConfig(session_id=sid, user_id=USER)),
                D.ConverseRequest(text=D.TextInput(text=text))]
        out = list(self.stub.Converse(iter(reqs), timeout=30))
        evs = [r.event.type for r in out if r.WhichOneof("response") == "event"]
        return evs[-1:] == [D.EVENT_TURN_COMPLETE]

    def turn_events(self, sid, text):
        reqs = [D.ConverseRequest(config=D.ConverseConfig(session_id=sid, user_id=USER)),
                D.ConverseRequest(text=D.TextInput(text=text))]
        return [(D.EventType.Name(r.event.type), r.event.detail, dict(r.event.attributes))
                if r.WhichOneof("response") == "event" else r.WhichOneof("response")
                for r in self.stub.Converse(iter(reqs), timeout=30)]

    def turn_retry(self, sid, text):
        """A turn right after a (re)start (UNAVAILABLE until the worker has subscribed)."""
        return retry(lambda: self.turn(sid, text))

    def history(self, sid):
        h = self.stub.GetHistory(D.GetHistoryRequest(session_id=sid, user_id=USER,
                                                     page_size=1000), timeout=30)
        return [e.user_text for e in h.events if e.WhichOneof("payload") == "user_text"]

    def intent(self):
        r = self.nlp.AnalyzeIntent(riva_nlp_pb2.AnalyzeIntentRequest(query="book a table for "
                                                                           "two"), timeout=10)
        return r.intent.class_name

    def ask(self):
        return self.nlp.NaturalQuery(riva_nlp_pb2.NaturalQueryRequest(
            query="who wrote the parley manual?", top_n=1), timeout=30)

    def kb_cli(self, *args):
        r = subprocess.run([os.environ["PL_PARLEY"], "kb", "--kb", self.kb] + list(args),
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr.strip()

    def docs(self):
        rc, out, err = self.kb_cli("list")
        assert rc == 0, "parley kb list: %s" % err
        return out.strip().splitlines()[1:]

    def alive(self, what):
        procs = {"nats-server": self.nats_p, "parley-dialog": self.dialog, "parley-qa": self.qa,
                 "gateway": self.gw}
        dead = {k: p.returncode for k, p in procs.items() if p.poll() is not None}
        check(not dead, "%s: every process still running %s" % (what, dead or ""))


def nats_version():
    exe = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return r.stdout.strip().split(":")[-1].strip()


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path):
    """Write a filler file until the file system says ENOSPC; returns its size."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 16, 4096, 512, 1):
            while True:
                try:
                    n += f.write(b"\0" * chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return n


def code_of(fn):
    c, d = g.code_of(fn)
    return c, d


def retry(fn, secs=10):
    """fn() once it stops failing with UNAVAILABLE from the path to the worker (a worker or
    nats-server just (re)started); a store's own refusal is not retried."""
    end = time.time() + secs
    while True:
        try:
            return fn()
        except grpc.RpcError as e:
            if (e.code() != grpc.StatusCode.UNAVAILABLE or "dialog store" in (e.details() or "")
                    or time.time() > end):
                raise
            time.sleep(0.2)


# ---- 1. disk full -------------------------------------------------------------------------------

def disk_full(st, sid, answered):
    nc = Nats(st.nats_port)
    r = js_api(nc, "STREAM.CREATE.FAULT", {"name": "FAULT", "subjects": ["fault.>"],
                                           "storage": "file"})
    check(r is not None and "error" not in r, "a JetStream file stream on the tmpfs: %s"
          % (r and r.get("error")))
    check(js_publish(nc, 20) is None, "20 messages stored in it")
    filler = os.path.join(STATE, "filler")
    n = fill(filler)
    print("     tmpfs full: filler of %d bytes, %d bytes free; store files %s" % (
        n, free_bytes(STATE), {f: os.path.getsize(os.path.join(STATE, f))
                               for f in sorted(os.listdir(STATE)) if f.startswith("dialog")}))
    c, d = code_of(lambda: st.turn(sid, "no, make it six people"))
    check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "disk full" in d and st.store in d,
          "a turn on the full disk: %s %r" % (c.name, d))
    c, d = code_of(st.session)
    check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "disk full" in d,
          "CreateSession on the full disk: %s %r" % (c.name, d))
    check(st.history(sid) == answered, "GetHistory answers on the full disk, every committed "
          "turn there")
    before = st.docs()
    doc = os.path.join(g.TMP, "cinema.md")
    open(doc, "w").write("# Cinema\n\n" + "The cinema on Main Street shows films at 8 pm. " * 200)
    rc, _, err = st.kb_cli("add", doc)
    check(rc == 1 and "disk full" in err and st.kb in err,
          "parley kb add on the full disk: exit %d, %s" % (rc, err))
    check(st.docs() == before, "the knowledge base holds the %d document(s) it had" % len(before))
    if st.has_reader:
        c, d = code_of(st.ask)
        check(c == grpc.StatusCode.OK, "parley-qa answers NaturalQuery from it: %s %s"
              % (c.name, d))
    t0 = time.monotonic()
    err = js_publish(nc, 50)
    check(err is not None, "JetStream refuses to store on the full disk: %s (%.1f s)"
          % (err, time.monotonic() - t0))
    check(st.intent(), "core NATS carries Parley's calls with JetStream's store full "
          "(AnalyzeIntent through the gateway answers)")
    st.alive("disk full")
    nc.close()

    os.unlink(filler)
    print("     filler removed: %d bytes free" % free_bytes(STATE))
    check(st.turn(sid, "no, make it six people"), "space freed: the refused turn answered "
          "when sent again, no restart")
    answered.append("no, make it six people")
    check(st.session(), "CreateSession works again")
    rc, out, err = st.kb_cli("add", doc)
    check(rc == 0 and len(st.docs()) == len(before) + 1, "parley kb add works again: %s"
          % (out.strip() or err))
    nc = Nats(st.nats_port)
    r = js_api(nc, "STREAM.INFO.FAULT", {})
    nc.close()
    print("     JetStream with the space back: %s" % (
        "answers (%s messages)" % r["state"]["messages"] if r and "state" in r else
        "still no answer (nats-server %s wedges JetStream on ENOSPC until it restarts)"
        % nats_version()))
    # nats-server restarted (parley up: SIGTERM, then SIGKILL after its grace period) on the
    # same store: JetStream comes back with what it had stored; Parley's processes reconnect
    t0 = time.monotonic()
    st.nats_p.terminate()
    try:
        rc = st.nats_p.wait(timeout=5)
        how = "exit %d on SIGTERM" % rc
    except subprocess.TimeoutExpired:
        st.nats_p.kill()
        st.nats_p.wait()
        how = "no exit 5 s after SIGTERM: SIGKILLed"
    print("     nats-server stopped: %s (%.1f s)" % (how, time.monotonic() - t0))
    st.nats_p, _ = start_nats(st.nats_port)
    check(g.wait_port(st.nats_port), "nats-server restarted on the same store")
    nc = Nats(st.nats_port)
    r = js_api(nc, "STREAM.INFO.FAULT", {})
    check(r is not None and r.get("state", {}).get("messages", 0) >= 20,
          "JetStream answers again and holds the stream's messages: %s"
          % (r and (r.get("state") or r.get("error"))))
    check(js_publish(nc, 5) is None, "JetStream stores again")
    nc.close()
    check(st.turn_retry(sid, "yes"), "Parley reconnected by itself: a turn answered")
    answered.append("yes")
    check(st.history(sid) == answered, "0 committed turns lost: %s" % answered)


# ---- 2. read-only at start ----------------------------------------------------------------------

def remount(opts):
    return subprocess.run(["mount", "-o", "remount," + opts, MNT], capture_output=True, text=True)


def read_only_start(st, sid, answered):
    r = remount("ro")
    check(r.returncode != 0 and "busy" in r.stderr, "mount -o remount,ro is refused while the "
          "services hold their files open for writing: %s" % r.stderr.strip().splitlines()[:1])
    st.stop(st.dialog, "parley-dialog")
    st.stop(st.qa, "parley-qa")
    g.stop(st.nats_p, timeout=15)  # nats-server exits 1 on SIGTERM
    r = remount("ro")
    check(r.returncode == 0, "with them stopped the state directory is remounted read-only")
    ports = [str(g.free_port()) for _ in range(3)]
    r = subprocess.run([os.environ["PL_PARLEY"], "up", "--state-dir", STATE, "--only", "none",
                        "--nats-port", ports[0], "--grpc-port", ports[1], "--http-port", ports[2],
                        "--ready-timeout", "5"], capture_output=True, text=True, timeout=60)
    err = r.stderr.strip()
    check(r.returncode == 1 and "not writable" in err and STATE in err,
          "parley up on the read-only state directory: exit %d, %s" % (r.returncode, err))
    # nats-server with JetStream in the read-only directory
    p, port = start_nats()
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        rc = None
    log = open(os.path.join(g.TMP, "nats-%d.log" % port), errors="replace").read()
    ftl = [x.split("[FTL] ", 1)[-1] for x in log.splitlines() if "[FTL]" in x]
    check(rc == 1 and ftl and ("not writable" in ftl[0] or "read-only" in ftl[0]), "nats-server with JetStream in the "
          "read-only state directory exits at start: exit %s, %s" % (rc, ftl))
    # the services, on a nats-server whose JetStream store is elsewhere, on the same port
    st.nats_p, _ = start_nats(st.nats_port, os.path.join(g.TMP, "nats-elsewhere"))
    check(g.wait_port(st.nats_port), "nats-server restarted with its store elsewhere")
    st.start_dialog()
    dlog = open(os.path.join(g.TMP, "dialog.log"), errors="replace").read()
    check("dialog.sqlite is read-only" in dlog, "parley-dialog starts on its store in the "
          "read-only directory and logs it")
    c, d = g.code_of(lambda: st.turn_retry(sid, "at 9 pm"))
    check(c == grpc.StatusCode.UNAVAILABLE and "is read-only" in d and st.store in d,
          "a turn: %s %r" % (c.name, d))
    c, d = code_of(st.session)
    check(c == grpc.StatusCode.UNAVAILABLE and "is read-only" in d,
          "CreateSession: %s %r" % (c.name, d))
    check(st.history(sid) == answered, "GetHistory answers, every committed turn there")
    st.start_qa()
    qlog = open(os.path.join(g.TMP, "qa.log"), errors="replace").read()
    check("kb.sqlite is read-only" in qlog, "parley-qa starts with the knowledge base read-only "
          "and logs it")
    if st.has_reader:
        c, d = code_of(st.ask)
        check(c == grpc.StatusCode.OK, "NaturalQuery answers from it: %s %s" % (c.name, d))
    rc, out, _ = st.kb_cli("search", "who wrote the manual")
    check(rc == 0 and "Ada Lovelace" in out, "parley kb search answers")
    rc, _, err = st.kb_cli("add", st.doc)
    check(rc == 1 and "read-only" in err and st.kb in err, "parley kb add: exit %d, %s"
          % (rc, err))
    st.alive("read-only state directory")
    check(remount("rw").returncode == 0, "remounted read-write")
    st.stop(st.dialog, "parley-dialog")
    st.start_dialog()
    check(st.turn_retry(sid, "thanks"), "parley-dialog restarted: a turn is answered")
    answered.append("thanks")
    check(st.history(sid) == answered, "0 committed turns lost: %s" % answered)


# ---- 3. read-only mid-run (ext4, errors=remount-ro) ---------------------------------------------

def read_only_midrun(st):
    img = os.path.join(g.TMP, "ext4.img")
    mnt = tempfile.mkdtemp(prefix="pl_fullfs_ext4_")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", img], capture_output=True, text=True)
    if r.returncode != 0:
        print("skip the read-only-mid-run part: mkfs.ext4: %s" % r.stderr.strip())
        return False
    r = subprocess.run(["mount", "-o", "loop,errors=remount-ro", img, mnt], capture_output=True,
                       text=True)
    if r.returncode != 0:
        print("skip the read-only-mid-run part: no loop device (%s)" % r.stderr.strip())
        os.rmdir(mnt)
        return False
    _mounts.append(mnt)
    dev = os.path.basename(subprocess.run(["findmnt", "-n", "-o", "SOURCE", mnt],
                                          capture_output=True, text=True).stdout.strip())
    trigger = "/sys/fs/ext4/%s/trigger_fs_error" % dev
    if not os.path.exists(trigger):
        print("skip the read-only-mid-run part: no %s" % trigger)
        return False
    store = os.path.join(mnt, "dialog.sqlite")
    # an error that turns the file system read-only drops what was not written back yet: only
    # commits that were fsynced are sure to be there afterwards. parley-dialog's default
    # (dialog.sync_full: true, a group fsync before a turn is answered) is what is tested.
    sync = {}
    st.stop(st.dialog, "parley-dialog")
    st.start_dialog(store, sync)
    sid = retry(st.session)
    answered = []
    for t in ("hello", "book a table for four in boston"):
        check(st.turn(sid, t), "ext4 store: turn %r answered" % t)
        answered.append(t)
    with open(trigger, "w") as f:
        f.write("parley fault test")
    opts = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", mnt], capture_output=True,
                          text=True).stdout.strip()
    check({"ro", "emergency_ro"} & set(opts.split(",")), "the kernel turned the ext4 read-only under parley-dialog "
          "(%s)" % opts)
    got = []
    c, d = code_of(lambda: got.append(st.turn_events(sid, "at 8 pm")))
    check(c == grpc.StatusCode.UNAVAILABLE and "is read-only" in d and store in d,
          "a turn on the store turned read-only ends the stream: %s %r %s" % (c.name, d,
                                                                               got or ""))
    c, d = code_of(st.session)
    check(c == grpc.StatusCode.UNAVAILABLE and "is read-only" in d,
          "CreateSession: %s %r" % (c.name, d))
    check(st.history(sid) == answered, "GetHistory answers, every committed turn there")
    st.alive("ext4 turned read-only")
    # what an operator does: stop the service, check the file system, mount it again
    st.stop(st.dialog, "parley-dialog")
    check(subprocess.call(["umount", mnt]) == 0, "unmounted")
    r = subprocess.run(["e2fsck", "-f", "-y", img], capture_output=True, text=True)
    check(r.returncode in (0, 1), "e2fsck: exit %d" % r.returncode)
    check(subprocess.call(["mount", "-o", "loop,errors=remount-ro", img, mnt]) == 0,
          "mounted read-write again")
    st.start_dialog(store, sync)
    check(st.turn_retry(sid, "at 8 pm"), "parley-dialog restarted: the turn is answered")
    answered.append("at 8 pm")
    check(st.history(sid) == answered, "0 committed turns lost: %s" % answered)
    return True


def main():
    print("state directory %s on a 16 MiB tmpfs (private mount namespace)" % STATE)
    st = Stack()
    sid = st.session()
    answered = []
    for t in ("hello", "book a table for four in boston", "at 8 pm"):
        check(st.turn(sid, t), "turn %r answered" % t)
        answered.append(t)
    disk_full(st, sid, answered)
    read_only_start(st, sid, answered)
    read_only_midrun(st)
    print("PASS")


if __name__ == "__main__":
    main()
