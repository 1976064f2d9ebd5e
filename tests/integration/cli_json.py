"""`parley ... --json` against a real stack (nats-server, parley-nlu, parley-qa with a one-document
knowledge base, parley-dialog with the `assistant` spec, parley-asr, parley-tts-fake and the
gateway on free 127.0.0.1 ports): the output of ask, transcribe (offline and --stream),
synthesize (and --list-voices), chat and status --server parses as JSON and says what a raw
grpcio client gets for the same request; ask and status over TLS with --tls-ca and --api-key
(a wrong key and none: status exits 4); status of a port where nothing listens (exit 3) and of
the stack with parley-tts stopped by PID (exit 1, the speech synthesis service NOT_SERVING), then
parley-qa (exit 1, parley.qa NOT_SERVING while parley-nlu's RivaLanguageUnderstanding serves).
Environment: as integration_sdk_examples plus PL_CLIENTS_DIR (build/clients).
"""
import json
import os
import subprocess

import dialog_stories as ds
import gwtest as g
from gwtest import check, grpc

from riva.proto import health_pb2, health_pb2_grpc  # noqa: E402
from riva.proto import riva_asr_pb2 as asr, riva_asr_pb2_grpc  # noqa: E402
from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc  # noqa: E402
from riva.proto import riva_tts_pb2 as tts, riva_tts_pb2_grpc  # noqa: E402

DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(ds.SRC, "..", "shared", "data")
CLIP = os.path.join(DATA, "speech", "ljspeech-subset", "wavs", "LJ001-0035.flac")
TEXT = "The Parley manual was written by Ada Lovelace in London.\n"
PARLEY = os.path.join(os.environ["PL_CLIENTS_DIR"], "parley")
# the services `parley status --server` checks, in its order
SERVED = ["nvidia.riva.asr.RivaSpeechRecognition", "nvidia.riva.nlp.RivaLanguageUnderstanding",
          "parley.qa", "nvidia.riva.tts.RivaSpeechSynthesis", "parley.dialog.v1.Dialog"]
TTS, QA = SERVED.index("nvidia.riva.tts.RivaSpeechSynthesis"), SERVED.index("parley.qa")


def parley(*args, stdin=None):
    p = subprocess.run([PARLEY] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=120, input=stdin)
    print("---- parley %s (exit %d)\n%s%s" % (" ".join(map(str, args))[:120], p.returncode,
                                             p.stdout[-1200:], p.stderr[-600:]), flush=True)
    return p


def ask(ch, server):
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
    ctx = os.path.join(g.TMP, "context.txt")
    open(ctx, "w").write(TEXT)
    q = "Who wrote the Parley manual?"
    want = stub.NaturalQuery(nlp.NaturalQueryRequest(query=q, context=TEXT, top_n=2),
                             timeout=30).results
    p = parley("ask", q, "--context", ctx, "--top-n", 2, "--json", "--server", server)
    got = json.loads(p.stdout)
    check(p.returncode == 0 and [a["answer"] for a in got["answers"]] ==
          [r.answer for r in want if r.answer] and
          all(abs(a["score"] - r.score) < 1e-4 for a, r in zip(got["answers"], want)),
          "parley ask --json: %s" % got)
    return want


def transcribe(ch, server):
    wav = os.path.join(g.TMP, "clip16.wav")
    subprocess.run(["sox", CLIP, "-t", "wav", "-r", "16000", "-b", "16", "-c", "1", wav],
                   check=True)
    stub = riva_asr_pb2_grpc.RivaSpeechRecognitionStub(ch)
    want = stub.Recognize(asr.RecognizeRequest(config=asr.RecognitionConfig(
        language_code="en-US", max_alternatives=1, enable_word_time_offsets=True,
        verbatim_transcripts=True), audio=open(wav, "rb").read()), timeout=60)
    p = parley("transcribe", wav, "--word-time-offsets", "--json", "--server", server)
    got = json.loads(p.stdout)["results"]
    check(p.returncode == 0 and [r["transcript"] for r in got] ==
          [r.alternatives[0].transcript for r in want.results] and got and
          [len(r["words"]) for r in got] == [len(r.alternatives[0].words) for r in want.results]
          and all(r["is_final"] for r in got), "parley transcribe --json: %d results, %d words "
          "as raw grpcio" % (len(got), sum(len(r["words"]) for r in got)))
    w = got[0]["words"][0]
    w0 = want.results[0].alternatives[0].words[0]
    check((w["word"], w["start_ms"], w["end_ms"]) == (w0.word, w0.start_time, w0.end_time),
          "words with times: %s" % w)
    p = parley("transcribe", wav, "--stream", "--json", "--server", server)
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    finals = [r["transcript"] for r in lines if r["is_final"]]
    check(p.returncode == 0 and finals and any(not r["is_final"] and "stability" in r
                                                for r in lines),
          "parley transcribe --stream --json: %d JSON lines, finals %r" % (len(lines), finals))


def synthesize(ch, server):
    stub = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(ch)
    text = "Hello from the command line."
    want = stub.Synthesize(tts.SynthesizeSpeechRequest(text=text, language_code="en-US",
                                                       encoding=1, sample_rate_hz=22050),
                           timeout=60).audio
    out = os.path.join(g.TMP, "say.wav")
    p = parley("synthesize", text, "-o", out, "--json", "--server", server)
    got = json.loads(p.stdout)
    check(p.returncode == 0 and got["output"] == out and got["bytes"] == len(want) > 0 and
          got["sample_rate_hz"] == 22050 and got["encoding"] == "pcm" and
          abs(got["seconds"] - len(want) / 2 / 22050) < 0.01 and "processed_text" in got,
          "parley synthesize --json: %s" % got)
    p = parley("synthesize", "--stream", text, "--json", "--server", server)
    got = json.loads(p.stdout)
    check(p.returncode == 0 and got["output"] is None and got["bytes"] > 0 and
          got["requests"] == 1 and got["responses"] >= 1 and got["first_audio_ms"] > 0,
          "parley synthesize --stream --json: %s" % got)


def list_voices(ch, server):
    cfg = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(ch).GetRivaSynthesisConfig(
        tts.RivaSynthesisConfigRequest(), timeout=30)
    want = []
    for mc in cfg.model_config:
        prm = dict(mc.parameters)
        want.append({"name": prm.get("voice_name", ""), "language": prm.get("language_code", ""),
                     "subvoices": [v.split(":")[0] for v in prm.get("subvoices", "").split(",")
                                   if v],
                     "sample_rate_hz": int(prm["sample_rate"]) if "sample_rate" in prm else None})
    p = parley("synthesize", "--list-voices", "--json", "--server", server)
    got = json.loads(p.stdout)
    check(p.returncode == 0 and got == {"voices": want} and want and want[0]["subvoices"] and
          want[0]["sample_rate_hz"], "parley synthesize --list-voices --json: %s" % got)
    p = parley("synthesize", "--list-voices", "--server", server)
    check(p.returncode == 0 and "%s.%s\t%s\t%d Hz" % (want[0]["name"], want[0]["subvoices"][0],
                                                     want[0]["language"],
                                                     want[0]["sample_rate_hz"]) in p.stdout,
          "parley synthesize --list-voices: name.subvoice, language, rate")


def raw_health(ch, service, metadata=None):
    r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service),
                                             timeout=10, metadata=metadata)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)


def status_json(server, *extra):
    p = parley("status", "--server", server, "--json", *extra)
    return p, json.loads(p.stdout)


def check_status(got, ch, server, what, metadata=None):
    want = {s: raw_health(ch, s, metadata) for s in SERVED}
    check(got["server"] == server and got["reachable"] is True and got["authorized"] is True and
          got["gateway"] == raw_health(ch, "", metadata) and got["error"] is None and
          [s["name"] for s in got["services"]] == SERVED and
          {s["name"]: s["status"] for s in got["services"]} == want,
          "%s: the gateway and each service as raw grpcio's Health.Check (%s)" % (what, want))
    return want


def status(ch, server):
    p, got = status_json(server)
    want = check_status(got, ch, server, "parley status --server --json")
    check(p.returncode == 0 and got["gateway"] == "SERVING" and
          set(want.values()) == {"SERVING"}, "every service SERVING: exit 0")
    p = parley("status", "--server", server)
    check(p.returncode == 0 and all(("%s SERVING" % s) in " ".join(p.stdout.split())
                                    for s in SERVED), "parley status --server: the table")
    nobody = "127.0.0.1:%d" % g.free_port()
    p, got = status_json(nobody)
    check(p.returncode == 3 and got["reachable"] is False and got["authorized"] is None and
          got["services"] == [] and "UNAVAILABLE" in got["error"] and
          "no gateway answers at " + nobody in p.stderr,
          "parley status --server with nothing listening: exit 3, told to start one")


def status_tts_stopped(ch, server, tts_proc):
    g.stop(tts_proc)
    p, got = status_json(server)
    want = check_status(got, ch, server, "parley status --json with parley-tts stopped")
    check(p.returncode == 1 and want[SERVED[TTS]] == "NOT_SERVING" and
          [want[s] for s in SERVED if s != SERVED[TTS]] == ["SERVING"] * 4,
          "parley-tts stopped: speech synthesis NOT_SERVING, exit 1")


def status_qa_stopped(ch, server, qa_proc):
    """parley-qa shares RivaLanguageUnderstanding with parley-nlu: its own name, parley.qa."""
    g.stop(qa_proc)
    p, got = status_json(server)
    want = check_status(got, ch, server, "parley status --json with parley-qa stopped")
    check(p.returncode == 1 and want["parley.qa"] == "NOT_SERVING" and
          want["nvidia.riva.nlp.RivaLanguageUnderstanding"] == "SERVING",
          "parley-qa stopped: parley.qa NOT_SERVING (parley-nlu's name still SERVING), exit 1")
    p = parley("status", "--server", server)
    check(p.returncode == 1 and "parley.qa NOT_SERVING" in " ".join(p.stdout.split()),
          "parley status --server: the table says parley.qa NOT_SERVING")


def chat(server):
    p = parley("chat", "--user", "cli-json", "--json", "--server", server,
               stdin="hello\nbook a table for four in boston\n")
    msgs = [json.loads(l) for l in p.stdout.splitlines()]
    turns = [m for m in msgs if m["type"] == "event" and m["event"] == "TURN_COMPLETE"]
    nlu = [m for m in msgs if m["type"] == "nlu"]
    bots = [m["text"] for m in msgs if m["type"] == "bot_text"]
    sids = {m["session_id"] for m in msgs}
    check(p.returncode == 0 and len(turns) == 2 and len(sids) == 1 and len(sids.pop()) == 32,
          "parley chat --json: every line JSON, two turns ending in TURN_COMPLETE, one session")
    check([n["intent"] for n in nlu] == ["greet", "book_restaurant"] and
          "boston" in [s["value"] for s in nlu[1]["slots"]] and
          len(bots) >= 2, "chat --json: intents %s, a slot boston, replies %r" %
          ([n["intent"] for n in nlu], bots))


def tls(nats, q_answers):
    cert, key = os.path.join(g.TMP, "cert.pem"), os.path.join(g.TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    keys = os.path.join(g.TMP, "keys.txt")
    open(keys, "w").write("cli-json-key-0123456789 carol\n")
    _, port, _ = g.start_gateway(nats, env_extra={"PARLEY_GATEWAY_TLS_CERT": cert,
                                                  "PARLEY_GATEWAY_TLS_KEY": key,
                                                  "PARLEY_GATEWAY_API_KEYS_FILE": keys})
    server = "127.0.0.1:%d" % port
    ctx = os.path.join(g.TMP, "context.txt")
    p = parley("ask", "Who wrote the Parley manual?", "--context", ctx, "--json", "--server",
               server, "--tls-ca", cert, "--api-key", "cli-json-key-0123456789")
    check(p.returncode == 0 and json.loads(p.stdout)["answers"][0]["answer"] ==
          q_answers[0].answer, "parley ask --tls-ca --api-key over TLS: answered")
    p = parley("ask", "Who wrote it?", "--server", server, "--tls-ca", cert)
    check(p.returncode == 1 and "status 16" in p.stderr, "no key: UNAUTHENTICATED")
    p = parley("transcribe", ctx, "--server", server, "--tls-ca", cert, "--api-key", "k" * 20)
    check(p.returncode == 1 and "status 16" in p.stderr and "invalid API key" in p.stderr,
          "transcribe with a wrong key over TLS: UNAUTHENTICATED 'invalid API key'")
    tls_ch = grpc.secure_channel(server, grpc.ssl_channel_credentials(open(cert, "rb").read()))
    md = [("authorization", "Bearer cli-json-key-0123456789")]
    p, got = status_json(server, "--tls-ca", cert, "--api-key", "cli-json-key-0123456789")
    check_status(got, tls_ch, server, "parley status --tls-ca --api-key", md)
    check(p.returncode == 0, "parley status over TLS with the key: exit 0")
    p, got = status_json(server, "--tls-ca", cert, "--api-key", "k" * 20)
    check(p.returncode == 4 and got["reachable"] is True and got["authorized"] is False and
          "invalid API key" in got["error"] and "refused the API key" in p.stderr and
          "check --api-key" in p.stderr, "parley status with a wrong key: exit 4, said so")
    p = parley("status", "--server", server, "--tls-ca", cert)
    check(p.returncode == 4 and "it wants one: --api-key KEY" in p.stderr,
          "parley status with no key: exit 4, asked for --api-key")


def main():
    stack = ds.Stack()
    ds.start_asr(stack.nats)
    os.environ["PL_TTS_FAKE"] = "1"
    tts_proc = ds.start_tts(stack.nats, 20)
    server = "127.0.0.1:%d" % stack.port
    ch = grpc.insecure_channel(server, options=[("grpc.max_receive_message_length", 64 << 20)])
    answers = ask(ch, server)
    transcribe(ch, server)
    synthesize(ch, server)
    list_voices(ch, server)
    status(ch, server)
    chat(server)
    tls(stack.nats, answers)
    status_tts_stopped(ch, server, tts_proc)
    status_qa_stopped(ch, server, stack.qa)
    print("all CLI --json checks passed")


if __name__ == "__main__":
    main()
