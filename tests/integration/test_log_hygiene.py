"""Log hygiene and side-port binding (docs/security.md): nats-server + parley-nlu (shipped SNIPS
model) + parley-qa (one-document knowledge base) + parley-tts (PL_TTS; the fake voice in make
test) + parley-dialog (the shipped spec) + gateway with API keys, every service at its default
log level (info). Requests carry a marker word in their text, a wrong API key is tried, errors
are provoked, a gateway is pointed at a NATS URL with a password; afterwards no log line holds
the marker or any 8-character piece of a key or the password. Every
service's metrics/health side port, started without a bind address, listens on 127.0.0.1 only.
Environment: PL_DIALOG, PL_NLU, PL_QA, PL_TTS, PL_GATEWAY, PL_PARLEY, PL_SOURCE_DIR."""
import glob
import ipaddress
import os
import subprocess

import gwtest as g
from gwtest import check, code_of, grpc, riva_nlp_pb2, riva_nlp_pb2_grpc
from dialog_stories import start
from parley.dialog.v1 import dialog_pb2 as D, dialog_pb2_grpc
from riva.proto import riva_tts_pb2 as TTS, riva_tts_pb2_grpc

SRC = os.environ["PL_SOURCE_DIR"]
MARK = "zebracanary"
KEY = "sk-secret-7f3a9c2e5b1d4086"
WRONG = "sk-wrong-c0ffee4d2e9a7b15"


def default_env(svc):
    """The service's own defaults: no config file, no log-level override."""
    return {"PARLEY_%s_LOG_LEVEL" % svc: "info"}  # info is the shipped default (main.c)


nats_p, nats = g.start_nats()
models = os.path.join(SRC, "models")
procs = {}
procs["nlu"] = start([os.environ["PL_NLU"], "--nats", nats, "--http-port", "0", "--model-dir",
                      models], "nlu", default_env("NLU"), r"models=\d+")
kb = os.path.join(g.TMP, "kb.sqlite")
doc = os.path.join(g.TMP, "manual.md")
open(doc, "w").write("# Manual\n\nThe %s manual was written by Ada Lovelace in London.\n" % MARK)
subprocess.run([os.environ["PL_PARLEY"], "kb", "--kb", kb, "add", doc], check=True,
               stdout=subprocess.DEVNULL)
procs["qa"] = start([os.environ["PL_QA"], "--nats", nats, "--http-port", "0", "--model-dir", models],
                    "qa", dict(default_env("QA"), PARLEY_QA_KB_PATH=kb), r"models=\d+")
voice = os.path.join(g.TMP, "voices", "fake-a")
os.makedirs(voice)
procs["tts"] = start([os.environ["PL_TTS"], "--nats", nats, "--http-port", "0", "--model-dir",
                      models], "tts", dict(default_env("TTS"), PARLEY_TTS_VOICES=voice),
                     r"voices=[1-9]")
procs["dialog"] = start([os.environ["PL_DIALOG"], "--nats", nats, "--http-port", "0",
                         "--model-dir", os.path.join(SRC, "dialog", "specs")], "dialog",
                        dict(default_env("DIALOG"),
                             PARLEY_DIALOG_STORE_PATH=os.path.join(g.TMP, "dialog.sqlite")),
                        r"specs=1")
keys = os.path.join(g.TMP, "keys.txt")
open(keys, "w").write("%s alice rate=50 burst=50\n" % KEY)
gw, port, hport = g.start_gateway(nats, env_extra=dict(default_env("GATEWAY"),
                                                       PARLEY_GATEWAY_API_KEYS_FILE=keys))
procs["gateway"] = gw
ch = g.channel(port)
md = [("authorization", "Bearer " + KEY)]
nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
r = nlp.AnalyzeIntent(riva_nlp_pb2.AnalyzeIntentRequest(query="book a table at %s tonight" % MARK),
                      timeout=30, metadata=md)
check(r.intent.class_name != "", "AnalyzeIntent answered (%s)" % r.intent.class_name)
c, d = code_of(lambda: nlp.NaturalQuery(riva_nlp_pb2.NaturalQueryRequest(
    query="who wrote the %s manual" % MARK, top_n=1), timeout=30, metadata=md))
check(c in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND), "NaturalQuery answered (%s)" % c.name)
synth = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(ch)
a = synth.Synthesize(TTS.SynthesizeSpeechRequest(text="Hello %s." % MARK, language_code="en-US",
                                                 sample_rate_hz=22050, encoding=1), timeout=30,
                     metadata=md)
check(len(a.audio) > 0, "Synthesize answered")
dlg = dialog_pb2_grpc.DialogStub(ch)
out = list(dlg.Converse(iter([D.ConverseRequest(config=D.ConverseConfig(include_nlu=True)),
                              D.ConverseRequest(text=D.TextInput(text="I want %s pizza" % MARK))]),
                        timeout=60, metadata=md))
check(any(o.HasField("bot_text") for o in out), "Converse answered with the bot's text")
# errors carrying the text: an unknown voice, an empty reply; a wrong key
c, d = code_of(lambda: synth.Synthesize(TTS.SynthesizeSpeechRequest(
    text="%s again" % MARK, language_code="en-US", sample_rate_hz=22050, encoding=1,
    voice_name="nope"), timeout=10, metadata=md))
check(c != grpc.StatusCode.OK, "Synthesize with an unknown voice refused (%s)" % c.name)
c, d = code_of(lambda: nlp.AnalyzeIntent(riva_nlp_pb2.AnalyzeIntentRequest(query=MARK), timeout=10,
                                         metadata=[("authorization", "Bearer " + WRONG)]))
check(c == grpc.StatusCode.UNAUTHENTICATED, "wrong API key: UNAUTHENTICATED")


def listening(pid):
    """(address, port) of every TCP socket the process listens on."""
    inodes = set()
    for fd in glob.glob("/proc/%d/fd/*" % pid):
        try:
            t = os.readlink(fd)
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:
                continue
            addr, p = f[1].split(":")
            raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, len(addr), 8))
            ip = ipaddress.ip_address(raw)
            if v6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            out.append((str(ip), int(p, 16)))
    return out


for name in ("nlu", "qa", "tts", "dialog"):
    socks = listening(procs[name].pid)
    check(socks and all(ip in ("127.0.0.1", "::1") for ip, _ in socks),
          "parley-%s side port (no bind address given) on loopback only: %s" % (name, socks))
socks = listening(gw.pid)
check(len(socks) == 2 and all(ip == "127.0.0.1" for ip, _ in socks),
      "gateway listens on loopback only: %s" % socks)
help_text = subprocess.run([os.environ["PL_GATEWAY"], "--help"], capture_output=True,
                           text=True).stdout
check('listen' in help_text and '127.0.0.1:50051' in help_text and '127.0.0.1:8090' in help_text,
      "gateway defaults: gRPC 127.0.0.1:50051, HTTP 127.0.0.1:8090")

# NATS credentials in the URL: the connect errors logged name the server, not the password
NATS_PW = "pw-9f8e7d6c5b4a3921"
gw2, _, _ = g.start_gateway("nats://alice:%s@127.0.0.1:%d" % (NATS_PW, g.free_port()),
                            env_extra=default_env("GATEWAY"))
g.stop(gw2)
check("nats://***@127.0.0.1" in open(os.path.join(g.TMP, "gateway.log")).read(),
      "gateway with an unreachable NATS URL holding a password: logs nats://***@127.0.0.1:...")

ch.close()
for name, p in procs.items():
    g.stop(p)
logs = {}
for path in glob.glob(os.path.join(g.TMP, "*.log")):
    logs[os.path.basename(path)] = open(path, errors="replace").read()
check(sum(len(t.splitlines()) for t in logs.values()) > 10,
      "the services logged (%d lines in %d files)" % (sum(len(t.splitlines()) for t in logs.values()),
                                                    len(logs)))
pieces = {k[i:i + 8] for k in (KEY, WRONG, NATS_PW) for i in range(len(k) - 7)}
pieces -= {"sk-secre", "sk-wrong"}  # the key's public prefix says nothing
for name, text in sorted(logs.items()):
    check(MARK not in text, "%s: no request text (the marker) in the log" % name)
    leak = [p for p in pieces if p in text]
    check(not leak, "%s: no piece of an API key in the log %s" % (name, leak[:2]))
print("PASS")
