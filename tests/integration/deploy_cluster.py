"""Parley distributed without containers (issue 19 items 4 and 6; docs/deployment.md,
"Failover on a NATS cluster" and "Dialog shards").

A 3-node nats-server cluster on 127.0.0.1 (free client, route and monitor ports). Replica A of
parley-asr and parley-nlu (the shipped models), parley-tts-fake and parley-dialog shard 0 of 2
lists node 1 first in its NATS URL list, replica B (dialog shard 1) node 2; the gateway lists
node 3 first.
Each dialog shard has its own SQLite file. Checked:
- routing: CreateSession spreads sessions over both shards (the id's first two hex digits), a
  second replica on a served shard refuses to start, DeleteUser reaches both shards;
- under load (Recognize of a spoken sentence, AnalyzeIntent and Synthesize loops,
  SynthesizeOnline streams, dialog turns on four sessions; every call with a DEADLINE s
  deadline) node 1 and the asr and nlu replicas B are killed with SIGKILL at once: every call ends OK or UNAVAILABLE (dialog turns may also end
  DEADLINE_EXCEEDED from parley-dialog, when the NLU request of the turn was lost: the dialog's
  own nlu_timeout_ms), a stream in flight at the kill whose frames were lost in the dead node
  included (UNAVAILABLE "... lost in transit": a sequence gap, or, when the lost frame was the
  sender's last, the sequence number of its next heartbeat), none runs to its deadline, the
  calls in flight at the kill end within INFLIGHT_S (well before the deadline), and every kind
  succeeds again within RECOVER_S;
- dialog shard 1 killed with kill -9: its sessions get UNAVAILABLE naming the shard while
  shard 0's go on; restarted on the same file, its sessions continue with their history;
- no dialog turn is lost: every turn whose TURN_COMPLETE a client received is in GetHistory.
The measured figures are printed on a MEASURED line.
Environment: PL_ASR, PL_NLU, PL_TTS (parley-tts-fake), PL_DIALOG, PL_GATEWAY, PL_PYTHON_STUBS,
PL_SOURCE_DIR.
"""
import json
import os
import subprocess
import threading
import time
import urllib.request

import dialog_stories as ds
import gwtest as g
import tts_test_service as tts
from gwtest import check, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc
from riva.proto import riva_asr_pb2, riva_asr_pb2_grpc, riva_tts_pb2_grpc

from parley.dialog.v1 import dialog_pb2 as D, dialog_pb2_grpc  # noqa: E402

SRC = os.environ["PL_SOURCE_DIR"]
DEADLINE = 10.0     # every call's gRPC deadline
SILENCE_MS = 3000   # gateway.stream_timeout_ms: a worker silent this long ends its calls
INFLIGHT_S = SILENCE_MS / 1000 + 1.5
RECOVER_S = 5.0
OK, UNAV, DL = grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED
SCRIPT = ["hello", "book a table for four in boston", "at 8 pm", "yes", "thanks", "bye"]


class Cluster:
    """Three nats-server nodes routed to each other."""

    def __init__(self):
        exe = "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else "nats-server"
        self.ports = [(g.free_port(), g.free_port(), g.free_port()) for _ in range(3)]
        self.procs = []
        for i, (cp, rp, mp) in enumerate(self.ports):
            routes = ",".join("nats://127.0.0.1:%d" % self.ports[j][1] for j in range(3) if j != i)
            self.procs.append(g.spawn(
                [exe, "-a", "127.0.0.1", "-p", str(cp), "-m", str(mp), "-n", "node%d" % (i + 1),
                 "--cluster_name", "parley", "--cluster", "nats://127.0.0.1:%d" % rp,
                 "--routes", routes], "nats-node%d.log" % (i + 1)))
        for cp, _, _ in self.ports:
            assert g.wait_port(cp), "nats-server did not start"
        end = time.time() + 15
        while time.time() < end and not all(self.routes(i) == 2 for i in range(3)):
            time.sleep(0.1)
        check(all(self.routes(i) == 2 for i in range(3)), "3-node NATS cluster: 2 routes per node")

    def routes(self, i):
        try:
            url = "http://127.0.0.1:%d/routez" % self.ports[i][2]
            with urllib.request.urlopen(url, timeout=1) as r:
                return json.loads(r.read())["num_routes"]
        except OSError:
            return -1

    def urls(self, first):
        """Every node's URL, node `first` (0-based) first: the order a client tries them."""
        order = [first] + [i for i in range(3) if i != first]
        return ",".join("nats://127.0.0.1:%d" % self.ports[i][0] for i in order)


def start_dialog(urls, shard, store):
    env = {"PARLEY_DIALOG_STORE_PATH": store, "PARLEY_DIALOG_DEFAULT_DIALOG": "assistant",
           "PARLEY_DIALOG_SHARD": str(shard), "PARLEY_DIALOG_SHARDS": "2",
           "PARLEY_DIALOG_LOG_LEVEL": "warn"}
    return ds.start([os.environ["PL_DIALOG"], "--nats", urls, "--http-port", "-1", "--model-dir",
                     os.path.join(SRC, "dialog", "specs")], "dialog%d" % shard, env,
                    r"shard=%d/2" % shard)


class Load:
    """Threads calling in loops; records (kind, t_start, t_end, code, details)."""

    def __init__(self, stack, sessions):
        self.st, self.rec, self.lock = stack, [], threading.Lock()
        self.stop_ev = threading.Event()
        self.answered = {sid: [] for sid, _ in sessions}  # turns whose TURN_COMPLETE came
        self.threads = [threading.Thread(target=self.loop, args=(k, f), daemon=True)
                        for k, f in (("asr", self.recognize), ("asr", self.recognize),
                                     ("intent", self.intent), ("intent", self.intent),
                                     ("synth", self.synth), ("stream", self.stream))]
        self.threads += [threading.Thread(target=self.loop, args=("dialog%s" % sid[:2],
                                                                   self.turner(sid, user)),
                                          daemon=True) for sid, user in sessions]
        for t in self.threads:
            t.start()

    def loop(self, kind, fn):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            code, det = g.code_of(fn)
            with self.lock:
                self.rec.append((kind, t0, time.monotonic(), code, det))
            time.sleep(0.02)

    def recognize(self):
        r = self.st.asr.Recognize(riva_asr_pb2.RecognizeRequest(
            config=riva_asr_pb2.RecognitionConfig(language_code="en-US", max_alternatives=1),
            audio=self.st.speech), timeout=DEADLINE)
        assert r.results and r.results[0].alternatives

    def intent(self):
        r = self.st.nlp.AnalyzeIntent(riva_nlp_pb2.AnalyzeIntentRequest(
            query="book a table for two in boston"), timeout=DEADLINE)
        assert r.intent.class_name

    def synth(self):
        assert len(self.st.synth.Synthesize(tts.req("Hello there."), timeout=DEADLINE).audio)

    def stream(self):
        n = sum(len(x.audio) for x in self.st.synth.SynthesizeOnline(iter([tts.req(tts.LONG)]),
                                                                      timeout=DEADLINE))
        assert n > 0

    def turner(self, sid, user):
        state = {"i": 0}

        def turn():
            text = SCRIPT[state["i"] % len(SCRIPT)]
            state["i"] += 1
            reqs = [D.ConverseRequest(config=D.ConverseConfig(session_id=sid, user_id=user)),
                    D.ConverseRequest(text=D.TextInput(text=text))]
            for r in self.st.dialog.Converse(iter(reqs), timeout=DEADLINE):
                if r.WhichOneof("response") == "event" and r.event.type == D.EVENT_TURN_COMPLETE:
                    with self.lock:
                        self.answered[sid].append(text)
        return turn

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(DEADLINE + 5)
        return not any(t.is_alive() for t in self.threads)

    def snapshot(self):
        with self.lock:
            return list(self.rec)


def recovered_at(rec, kind, t):
    """Start of the first call of kind (prefix) started after t from which on every call
    succeeded; None when none."""
    calls = sorted((r for r in rec if r[0].startswith(kind) and r[1] >= t), key=lambda r: r[1])
    last_bad = max((i for i, r in enumerate(calls) if r[3] != OK), default=-1)
    return calls[last_bad + 1][1] if last_bad + 1 < len(calls) else None


def history(stub, user, sid):
    """The user texts of the session's whole history (every page)."""
    events, after = [], 0
    while True:
        h = stub.GetHistory(D.GetHistoryRequest(session_id=sid, user_id=user, after_seq=after,
                                                page_size=1000), timeout=10)
        events += list(h.events)
        if not h.more or not h.events:
            return [e.user_text for e in events if e.WhichOneof("payload") == "user_text"]
        after = h.events[-1].seq


def subsequence(small, big):
    it = iter(big)
    return all(x in it for x in small)


class Stack:
    def __init__(self):
        self.cl = Cluster()
        models = os.path.join(SRC, "models")
        self.p = {}
        for name, node in (("a", 0), ("b", 1)):
            self.p["asr-" + name] = ds.start(
                [os.environ["PL_ASR"], "--nats", self.cl.urls(node), "--http-port", "-1",
                 "--model-dir", models], "asr-" + name,
                {"PARLEY_ASR_LOG_LEVEL": "warn", "PARLEY_ASR_PUNCTUATION": "false"},
                r"models=[1-9]")
            self.p["nlu-" + name] = ds.start(
                [os.environ["PL_NLU"], "--nats", self.cl.urls(node), "--http-port", "-1",
                 "--model-dir", models], "nlu-" + name, {"PARLEY_NLU_LOG_LEVEL": "warn"},
                r"models=[1-9]")
            self.p["tts-" + name] = ds.start_tts(self.cl.urls(node), 20)
        self.stores = [os.path.join(g.TMP, "dialog-shard%d.sqlite" % k) for k in range(2)]
        for k in range(2):
            self.p["dialog%d" % k] = start_dialog(self.cl.urls(k), k, self.stores[k])
        self.p["gateway"], self.port, _ = g.start_gateway(
            self.cl.urls(2), env_extra={"PARLEY_GATEWAY_STREAM_TIMEOUT_MS": str(SILENCE_MS),
                                        "PARLEY_GATEWAY_HEARTBEAT_MS": "500"})
        ch = g.channel(self.port)
        self.speech = spoken("book a table for two in boston")
        self.asr = riva_asr_pb2_grpc.RivaSpeechRecognitionStub(ch)
        self.nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
        self.synth = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(ch)
        self.dialog = dialog_pb2_grpc.DialogStub(ch)


def spoken(text):
    """text spoken by flite, as a 16 kHz mono 16-bit WAV (bytes)."""
    raw, wav = os.path.join(g.TMP, "speech-raw.wav"), os.path.join(g.TMP, "speech.wav")
    subprocess.run(["flite", "-t", text, "-o", raw], check=True)
    subprocess.run(["sox", raw, "-r", "16000", "-c", "1", "-b", "16", wav], check=True)
    with open(wav, "rb") as f:
        return f.read()


def sessions_on_both_shards(st):
    """Two sessions per shard (CreateSession goes to either replica)."""
    per = {"00": [], "01": []}
    for i in range(60):
        user = "user%d" % i
        sid = st.dialog.CreateSession(D.CreateSessionRequest(user_id=user), timeout=10) \
            .session.session_id
        assert sid[:2] in per, "session id %s names no shard of 2" % sid
        if len(per[sid[:2]]) < 2:
            per[sid[:2]].append((sid, user))
        if all(len(v) == 2 for v in per.values()):
            break
    check(all(len(v) == 2 for v in per.values()),
          "CreateSession spreads sessions over both shards (ids %s)"
          % [s[:6] + "..." for v in per.values() for s, _ in v])
    return per["00"] + per["01"]


def check_routing(st):
    # a second replica on a served shard refuses to start
    dup = g.spawn([os.environ["PL_DIALOG"], "--nats", st.cl.urls(0), "--http-port", "-1",
                   "--model-dir", os.path.join(SRC, "dialog", "specs")], "dialog-dup.log",
                  env={k: v for k, v in dict(
                      os.environ, PARLEY_DIALOG_SHARD="1", PARLEY_DIALOG_SHARDS="2",
                      PARLEY_DIALOG_STORE_PATH=os.path.join(g.TMP, "dup.sqlite")).items()
                      if k != "PARLEY_CONFIG"})
    rc = dup.wait(timeout=30)
    log = open(os.path.join(g.TMP, "dialog-dup.log")).read()
    check(rc != 0 and "already served by another running parley-dialog" in log,
          "a second replica for shard 1 refuses to start (exit %d)" % rc)
    # DeleteUser reaches both shards: one user with a session on each
    user, got = "deleteme", set()
    for _ in range(40):
        got.add(st.dialog.CreateSession(D.CreateSessionRequest(user_id=user), timeout=10)
                .session.session_id[:2])
        if len(got) == 2:
            break
    r = st.dialog.DeleteUser(D.DeleteUserRequest(user_id=user), timeout=10)
    check(got == {"00", "01"} and r.sessions_deleted >= 2,
          "DeleteUser of a user with sessions on both shards deletes them all (%d)"
          % r.sessions_deleted)


def main():
    t_start = time.monotonic()
    st = Stack()
    t_up = time.monotonic() - t_start
    sessions = sessions_on_both_shards(st)
    check_routing(st)
    load = Load(st, sessions)
    time.sleep(3.0)
    before = load.snapshot()
    check(len(before) > 20 and all(r[3] == OK for r in before),
          "steady load before the kills: %d calls, all OK %s" % (
              len(before), sorted({(r[0], r[3].name, r[4]) for r in before if r[3] != OK})))

    # ---- kill NATS node 1 and the asr and nlu replicas B ------------------------------------
    t_kill = time.monotonic()
    st.cl.procs[0].kill()
    st.p["asr-b"].kill()
    st.p["nlu-b"].kill()
    def lost_frames(r):
        """A stream (SynthesizeOnline, Converse) whose frames were lost in the dead node: it
        ends UNAVAILABLE naming them, at the gap or at the sender's next heartbeat (counted)."""
        return r[3] == UNAV and "lost in transit" in r[4]

    st.cl.procs[0].wait()
    st.p["asr-b"].wait()
    st.p["nlu-b"].wait()
    # new calls, from a thread that no call in flight holds up: until each kind succeeds
    probes = {"asr": load.recognize, "intent": load.intent, "synth": load.synth,
              "stream": load.stream}
    probes.update({"dialog" + sid[:2]: load.turner(sid, user) for sid, user in sessions[1:3]})
    recovery = {}
    for kind, fn in probes.items():
        while kind not in recovery and time.monotonic() - t_kill < RECOVER_S + 2:
            if g.code_of(fn)[0] == OK:
                recovery[kind] = time.monotonic() - t_kill
            else:
                time.sleep(0.05)
    check(len(recovery) == len(probes) and max(recovery.values()) <= RECOVER_S,
          "new calls of every kind succeed within %.2f s of the kill (bound %.0f s): %s"
          % (max(recovery.values(), default=-1), RECOVER_S,
             {k: round(v, 2) for k, v in recovery.items()}))
    time.sleep(max(0.0, t_kill + SILENCE_MS / 1000 + 1.0 - time.monotonic()))
    rec = load.snapshot()
    inflight = [r for r in rec if r[1] < t_kill <= r[2]]
    late = max((r[2] - t_kill for r in inflight), default=0.0)
    check(late <= INFLIGHT_S, "%d call(s) in flight at the kill ended within %.2f s (bound %.1f s, "
          "deadline %.0f s): %s" % (len(inflight), late, INFLIGHT_S, DEADLINE,
                                    sorted((r[0], r[3].name, round(r[2] - t_kill, 2))
                                           for r in inflight)))

    asr_calls = [r for r in rec if r[0] == "asr"]
    asr_inflight = [(r[3].name, round(r[2] - t_kill, 2)) for r in inflight if r[0] == "asr"]
    asr_after = [r for r in asr_calls if r[1] >= t_kill + recovery.get("asr", RECOVER_S)]
    check(len(asr_calls) > 10 and asr_after and all(r[3] == OK for r in asr_after),
          "Recognize with one of two parley-asr replicas and one NATS node gone: %d calls, in "
          "flight at the kill %s, OK again %.2f s after it, all %d later calls OK"
          % (len(asr_calls), asr_inflight, recovery.get("asr", -1), len(asr_after)))

    # ---- kill -9 dialog shard 1, restart it on its file -------------------------------------
    sid1, user1 = [s for s in sessions if s[0].startswith("01")][0]
    sid0, user0 = [s for s in sessions if s[0].startswith("00")][0]
    t_dkill = time.monotonic()
    st.p["dialog1"].kill()
    st.p["dialog1"].wait()
    code, det = g.code_of(lambda: st.dialog.GetHistory(
        D.GetHistoryRequest(session_id=sid1, user_id=user1), timeout=DEADLINE))
    check(code == UNAV and "dialog shard 1" in det,
          "shard 1 down: its session's GetHistory is UNAVAILABLE naming the shard ('%s')" % det)
    code0, _ = g.code_of(lambda: history(st.dialog, user0, sid0))
    check(code0 == OK, "shard 0's sessions go on meanwhile")
    time.sleep(SILENCE_MS / 1000 + 1.0)  # its turns in flight end, new ones are refused
    t_restart = time.monotonic()
    st.p["dialog1"] = start_dialog(st.cl.urls(1), 1, st.stores[1])
    t_dup = time.monotonic() - t_restart
    time.sleep(RECOVER_S)
    check(load.stop(), "load threads finished (no call hung)")
    rec = load.snapshot()
    t1 = recovered_at(rec, "dialog01", t_restart)
    check(t1 is not None and t1 - t_restart <= RECOVER_S,
          "shard 1's sessions take turns again %.2f s after its restart (%.2f s to start)"
          % ((t1 - t_restart) if t1 else -1, t_dup))
    dialog_down = [r for r in rec if r[0] == "dialog01" and t_dkill <= r[1] < t_restart]
    odd = [(round(r[1] - t_dkill, 2), round(r[2] - t_dkill, 2), r[3].name, r[4])
           for r in dialog_down if not (r[3] == UNAV and "dialog shard 1" in r[4])]
    check(dialog_down and not odd, "while shard 1 was down its turns ended UNAVAILABLE naming it "
          "(%d calls) %s" % (len(dialog_down), odd))

    # ---- every call ended well; no turn lost ------------------------------------------------
    def excused(r):
        """A dialog turn whose NLU request was lost (parley-dialog's nlu_timeout_ms answers
        DEADLINE_EXCEEDED naming parley-nlu)."""
        return r[0].startswith("dialog") and r[3] == DL and "parley.nlu" in r[4]
    stalled = [r for r in rec if lost_frames(r)]
    bad = [r for r in rec if not (r[3] in (OK, UNAV) or excused(r))]
    check(not bad, "every call ended OK or UNAVAILABLE (%s)" % sorted({(r[0], r[3].name, r[4])
                                                                       for r in bad}))
    longest = max(r[2] - r[1] for r in rec)
    check(longest < DEADLINE, "no call ran to its deadline (longest %.2f s; streams that lost "
          "frames in the dead node, ended UNAVAILABLE: %s)"
          % (longest, [(r[0], r[4]) for r in stalled]))
    lost = 0
    for sid, user in sessions:
        said = history(st.dialog, user, sid)
        if not subsequence(load.answered[sid], said):
            lost += 1
            print("session %s: answered %s\n  stored %s" % (sid, load.answered[sid], said))
    total = sum(len(v) for v in load.answered.values())
    check(lost == 0 and total >= 8, "no dialog turn lost: the %d answered turns of %d sessions "
          "are all in GetHistory" % (total, len(sessions)))
    unav = {}
    for r in rec:
        if r[3] != OK:
            unav[r[3].name] = unav.get(r[3].name, 0) + 1
    print("MEASURED start_s=%.1f calls=%d not_ok=%s lost_frame_streams=%s inflight_at_kill=%d "
          "inflight_end_s=%.2f "
          "recover_s=%s dialog_restart_s=%.2f shard1_recover_s=%.2f longest_call_s=%.2f "
          "asr_calls=%d asr_inflight_at_kill=%s"
          % (t_up, len(rec), unav, [r[0] for r in stalled], len(inflight), late,
             {k: round(v, 2) for k, v in recovery.items()}, t_dup, t1 - t_restart, longest,
             len(asr_calls), asr_inflight),
          flush=True)
    for name, p in st.p.items():
        if name not in ("asr-b", "nlu-b"):  # killed on purpose
            check(p.poll() is None, "%s still running" % name)
    print("PASS")


if __name__ == "__main__":
    main()
