"""Fault test: disk full under parley-dialog's store and parley-qa's knowledge base.

A full disk is made for real without mounting anything: the file-size limit RLIMIT_FSIZE (what
`ulimit -f` sets) of the writing process is lowered to LIMIT bytes, below the size of every
file of the SQLite database, so every write that extends a file fails with EFBIG (the services
and `parley kb` ignore SIGXFSZ, whose default action would kill them). For parley-dialog the
limit is set on the running process with prlimit(2) and lifted the same way; `parley kb add`
runs under it. Checked:
- dialog: turns committed before; with the limit, a Converse turn ends with RESOURCE_EXHAUSTED
  "dialog store PATH: disk full: ..." and CreateSession too, parley-dialog keeps running and
  logging (its stderr is a pipe, which the limit does not touch), GetHistory answers; with
  the limit lifted turns are answered again, and the history holds every answered turn and
  not the refused one (0 committed turns lost);
- dialog, spoken: a push-to-talk Converse (parley-asr with the shipped model, parley-tts:
  PL_TTS) whose recognized utterance cannot be stored ends by itself, as a text turn's stream
  does, with RESOURCE_EXHAUSTED "dialog store PATH: disk full: ..." while the client still has
  it open (no TURN_COMPLETE, no EVENT_ERROR on a stream that goes on); a text turn on a stream
  with reply audio likewise; with the limit lifted a spoken turn is answered and stored;
- knowledge base: `parley kb add` under the limit exits 1 with "knowledge base PATH: disk
  full: ..."; the documents added before are all there, parley-qa (reading the same file)
  keeps answering NaturalQuery, and without the limit the same add succeeds.
Environment: PL_DIALOG, PL_NLU, PL_QA, PL_ASR, PL_TTS (PL_TTS_FAKE=1: parley-tts-fake),
PL_GATEWAY, PL_PARLEY, PL_SOURCE_DIR, PARLEY_DATA_DIR, PL_PYTHON_STUBS.
"""
import os
import resource
import subprocess
import threading
import time

import dialog_stories as ds
import dialog_voice as dv
import gwtest as g
from gwtest import check, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc

from parley.dialog.v1 import dialog_pb2 as D  # noqa: E402
from riva.proto import riva_audio_pb2 as RA  # noqa: E402

LIMIT = 4096  # bytes: below every file of an SQLite database (a page is 4096, a WAL frame more)
FSIZE = resource.RLIMIT_FSIZE
INF = resource.RLIM_INFINITY


class Stack(ds.Stack):
    """dialog_stories' stack plus parley-asr and parley-tts for spoken turns; parley-dialog's
    stderr goes through a pipe into dialog.log, so that its log lines are still written while
    its file-size limit is low."""

    def __init__(self):
        super().__init__()
        ds.start_asr(self.nats)
        ds.start_tts(self.nats, 10)

    def start_dialog(self):
        env = dict(os.environ)
        env.pop("PARLEY_CONFIG", None)
        env["PARLEY_DIALOG_STORE_PATH"] = self.store
        out = os.path.join(g.TMP, "dialog-out")
        self.log = os.path.join(g.TMP, "dialog.log")
        p = subprocess.Popen([os.environ["PL_DIALOG"], "--nats", self.nats, "--http-port", "-1",
                              "--model-dir", os.path.join(ds.SRC, "dialog", "specs")],
                             stdout=open(out, "wb"), stderr=subprocess.PIPE, env=env)
        g._procs.append(p)
        threading.Thread(target=self._copy, args=(p.stderr,), daemon=True).start()
        ds.wait_line(out, r"specs=1", p, "dialog")
        self.dialog = p

    def _copy(self, pipe):
        with open(self.log, "ab") as f:
            for line in pipe:
                f.write(line)
                f.flush()


def turn(stack, sid, text):
    reqs = [D.ConverseRequest(config=D.ConverseConfig(session_id=sid, user_id="full")),
            D.ConverseRequest(text=D.TextInput(text=text))]
    out = list(stack.stub.Converse(iter(reqs), timeout=30))
    evs = [r.event.type for r in out if r.WhichOneof("response") == "event"]
    return evs[-1:] == [D.EVENT_TURN_COMPLETE]


def history(stack, sid):
    h = stack.stub.GetHistory(D.GetHistoryRequest(session_id=sid, user_id="full", page_size=1000),
                              timeout=30)
    return [e.user_text for e in h.events if e.WhichOneof("payload") == "user_text"]


def spoken_turn(stack, sid, clip):
    """A push-to-talk turn (an FSDD clip as raw 8 kHz PCM, sent at once, END_OF_UTTERANCE),
    reply audio asked for; the stream is left open until it ends or TURN_COMPLETE comes.
    Returns the Conv."""
    c = dv.Conv(stack.stub, dv.config(user="full", session_id=sid,
                                      input_audio=D.AudioInputConfig(encoding=RA.LINEAR_PCM,
                                                                     sample_rate_hertz=8000),
                                      output_audio=dv.out_cfg()))
    rate, pcm = dv.pcm_of(dv.fsdd(clip))
    c.audio(dv.silence(rate, 0.3) + pcm + dv.silence(rate, 0.3), rate, realtime=False)
    c.control(D.ControlInput.END_OF_UTTERANCE)
    return c


def ended_by_itself(c, timeout=20):
    """Wait (client side still open) until the stream ends or completes a turn."""
    end = time.monotonic() + timeout
    with c.cv:
        c.cv.wait_for(lambda: c.done or any(dv.is_event(D.EVENT_TURN_COMPLETE)(r)
                                            for _, r in c.out), end - time.monotonic())
    return c.done


def voice_full(stack, sid):
    """Spoken turns on the full disk end the stream with its status; False if skipped."""
    if not os.path.isdir(dv.FSDD):
        print("skip the spoken turn: no FSDD recordings in %s" % dv.FSDD)
        return False
    t0 = time.monotonic()
    c = spoken_turn(stack, sid, "7_george_0.wav")
    check(ended_by_itself(c), "a spoken turn on the full disk ends the stream while the client "
          "keeps it open (%.1f s)" % (time.monotonic() - t0))
    finals = [t.text for t in c.of("transcript") if t.is_final]
    evs = [D.EventType.Name(e.type) for e in c.of("event")]
    check(c.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "disk full" in c.details and
          stack.store in c.details, "  with %s %r after the final %s" % (c.code.name, c.details,
                                                                         finals))
    check(finals == ["seven"] and "EVENT_TURN_COMPLETE" not in evs and "EVENT_ERROR" not in evs,
          "  the utterance was recognized; no EVENT_ERROR, no TURN_COMPLETE: %s" % evs)
    c.q.put(None)
    c = dv.Conv(stack.stub, dv.config(user="full", session_id=sid, output_audio=dv.out_cfg()))
    c.send(text=D.TextInput(text="no, make it six people"))
    check(ended_by_itself(c) and c.code == grpc.StatusCode.RESOURCE_EXHAUSTED and
          "disk full" in c.details, "a text turn on a stream with reply audio: %s %r"
          % (c.code and c.code.name, c.details))
    c.q.put(None)
    return True


def voice_after(stack, sid):
    c = spoken_turn(stack, sid, "6_lucas_0.wav")
    check(not ended_by_itself(c) and c.of("event")[-1].type == D.EVENT_TURN_COMPLETE,
          "a spoken turn once the limit is lifted: TURN_COMPLETE, stream open")
    check(c.close() == grpc.StatusCode.OK and c.of("bot_audio"), "  with reply audio; ends OK")
    return [t.text for t in c.of("transcript") if t.is_final]


def dialog_full(stack):
    sid = stack.stub.CreateSession(D.CreateSessionRequest(user_id="full"),
                                   timeout=10).session.session_id
    lines = ["hello", "book a table for four in boston", "at 8 pm", "yes", "thanks"]
    answered = []
    for t in lines[:3]:
        check(turn(stack, sid, t), "turn %r answered" % t)
        answered.append(t)
    sizes = {f: os.path.getsize(os.path.join(g.TMP, f)) for f in os.listdir(g.TMP)
             if f.startswith("dialog.sqlite")}
    resource.prlimit(stack.dialog.pid, FSIZE, (LIMIT, INF))
    print("     store files %s; parley-dialog's RLIMIT_FSIZE now %d bytes" % (sizes, LIMIT))
    c, d = g.code_of(lambda: turn(stack, sid, "no, make it six people"))
    check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "disk full" in d and stack.store in d,
          "a turn on the full disk: %s %r" % (c.name, d))
    c, d = g.code_of(lambda: stack.stub.CreateSession(D.CreateSessionRequest(user_id="full"),
                                                      timeout=10))
    check(c == grpc.StatusCode.RESOURCE_EXHAUSTED and "disk full" in d,
          "CreateSession on the full disk: %s %r" % (c.name, d))
    spoken = voice_full(stack, sid)
    check(history(stack, sid) == answered, "GetHistory answers on the full disk, every "
          "committed turn there")
    check(stack.dialog.poll() is None, "parley-dialog still running")
    time.sleep(0.2)
    log = open(stack.log, errors="replace").read()
    check("disk full" in log, "parley-dialog logged the refusal")
    resource.prlimit(stack.dialog.pid, FSIZE, (INF, INF))
    for t in lines[3:]:
        check(turn(stack, sid, t), "turn %r answered once the limit is lifted" % t)
        answered.append(t)
    if spoken:
        answered += voice_after(stack, sid)
    said = history(stack, sid)
    check(said == answered, "0 committed turns lost, the refused one not stored: %s" % said)


def kb_add(kb, doc, limit):
    def lower():
        resource.setrlimit(FSIZE, (limit, limit))
    return subprocess.run([os.environ["PL_PARLEY"], "kb", "--kb", kb, "add", doc],
                          capture_output=True, text=True, timeout=30,
                          preexec_fn=lower if limit else None)


def kb_full(stack):
    kb = os.path.join(g.TMP, "kb.sqlite")  # dialog_stories' knowledge base, which parley-qa reads
    nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(stack.port))

    def ask():
        return nlp.NaturalQuery(riva_nlp_pb2.NaturalQueryRequest(query="who wrote the parley "
                                                                       "manual?", top_n=1),
                                timeout=30)

    def docs():
        r = subprocess.run([os.environ["PL_PARLEY"], "kb", "--kb", kb, "list"], check=True,
                           capture_output=True, text=True)
        return r.stdout.strip().splitlines()[1:]

    before = docs()
    doc = os.path.join(g.TMP, "cinema.md")
    open(doc, "w").write("# Cinema\n\n" + "The cinema on Main Street shows films at 8 pm. " * 200)
    r = kb_add(kb, doc, LIMIT)
    err = r.stderr.strip()
    check(r.returncode == 1 and "disk full" in err and kb in err,
          "parley kb add with a %d-byte file-size limit: exit %d, %s" % (LIMIT, r.returncode, err))
    check(docs() == before, "the knowledge base holds the %d document(s) it had" % len(before))
    if stack.has_reader:
        c, d = g.code_of(ask)
        check(c == grpc.StatusCode.OK, "parley-qa answers NaturalQuery from it: %s %s" % (c.name, d))
    r = kb_add(kb, doc, None)
    check(r.returncode == 0 and len(docs()) == len(before) + 1,
          "without the limit the same add succeeds: %s" % r.stdout.strip())


def main():
    stack = Stack()
    dialog_full(stack)
    kb_full(stack)
    print("PASS")


if __name__ == "__main__":
    main()
