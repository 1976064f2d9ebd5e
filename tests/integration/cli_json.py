"""`parley ... --json` against a real stack (nats-server, parley-nlu, parley-qa with a one-document
knowledge base, parley-dialog with the `assistant` spec, parley-asr, parley-tts-fake and the
gateway on free 127.0.0.1 ports): the output of ask, transcribe (offline and --stream),
synthesize and chat parses as JSON and says what a raw grpcio client gets for the same
request; ask over TLS with --tls-ca and --api-key. Environment: as integration_sdk_examples
plus PL_CLIENTS_DIR (build/clients).
"""
import json
import os
import subprocess

import dialog_stories as ds
import gwtest as g
from gwtest import check, grpc

from riva.proto import riva_asr_pb2 as asr, riva_asr_pb2_grpc  # noqa: E402
from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc  # noqa: E402
from riva.proto import riva_tts_pb2 as tts, riva_tts_pb2_grpc  # noqa: E402

DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(ds.SRC, "..", "shared", "data")
CLIP = os.path.join(DATA, "speech", "ljspeech-subset", "wavs", "LJ001-0035.flac")
TEXT = "The Parley manual was written by Ada Lovelace in London.\n"
PARLEY = os.path.join(os.environ["PL_CLIENTS_DIR"], "parley")


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
          {s["name"]: s["value"] for s in nlu[1]["slots"]}.get("city") == "boston" and
          len(bots) >= 2, "chat --json: intents %s, city=boston, replies %r" %
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


def main():
    stack = ds.Stack()
    ds.start_asr(stack.nats)
    os.environ["PL_TTS_FAKE"] = "1"
    ds.start_tts(stack.nats, 20)
    server = "127.0.0.1:%d" % stack.port
    ch = grpc.insecure_channel(server, options=[("grpc.max_receive_message_length", 64 << 20)])
    answers = ask(ch, server)
    transcribe(ch, server)
    synthesize(ch, server)
    chat(server)
    tls(stack.nats, answers)
    print("all CLI --json checks passed")


if __name__ == "__main__":
    main()
