"""libparley-client (clients/c) end to end: the examples of clients/c/examples, linked against
the shared library, against a real stack: nats-server, parley-nlu (shipped models), parley-qa
(a knowledge base with one document), parley-dialog (the shipped `assistant` spec),
parley-asr (shipped model), parley-tts-fake (tone-generator voice) and the gateway, on free
127.0.0.1 ports. What each example prints is compared with what a Python grpcio client gets
for the same request from the same gateway:

1. Recognize of a WAV (transcript and word count), StreamingRecognize of the same WAV
   (interim and final results), an unknown model (exit 1, the gRPC status and message);
2. Synthesize and SynthesizeOnline into WAV files (the audio the Python client gets);
3. NaturalQuery over a text and over the knowledge base;
4. AnalyzeIntent, AnalyzeEntities, PunctuateText;
5. Converse: two text turns of one session, a spoken turn (push-to-talk, reply audio),
   another user's session (NOT_FOUND);
6. a second gateway with TLS and API keys: the key and the CA accepted, no key
   UNAUTHENTICATED, plaintext UNAVAILABLE;
7. `cmake --install` into a temporary prefix, an example compiled there with pkg-config and run;
8. pl-sdk-bench: SDK vs raw gRPC latency of PunctuateText (ratio printed, gross regressions
   fail).
Environment: PL_NLU, PL_QA, PL_DIALOG, PL_ASR, PL_TTS, PL_GATEWAY, PL_PARLEY, PL_SDK_EXAMPLES,
PL_SDK_BENCH, PL_BUILD_DIR, PL_SOURCE_DIR, PARLEY_DATA_DIR.
"""
import os
import re
import subprocess
import wave

import dialog_stories as ds
import gwtest as g
from gwtest import check, code_of, grpc

from riva.proto import riva_asr_pb2 as asr, riva_asr_pb2_grpc  # noqa: E402
from riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc  # noqa: E402
from riva.proto import riva_tts_pb2 as tts, riva_tts_pb2_grpc  # noqa: E402

EX = os.environ["PL_SDK_EXAMPLES"]
DATA = os.environ.get("PARLEY_DATA_DIR") or os.path.join(ds.SRC, "..", "shared", "data")
CLIP = os.path.join(DATA, "speech", "ljspeech-subset", "wavs", "LJ001-0035.flac")
TEXT = "The Parley manual was written by Ada Lovelace in London."


def run(name, *args, env=None, exe=None):
    argv = [exe or os.path.join(EX, "pl-sdk-" + name)] + [str(a) for a in args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    print("---- %s %s (exit %d)\n%s%s" % (os.path.basename(argv[0]), " ".join(argv[1:])[:120],
                                          p.returncode, p.stdout[-1500:], p.stderr[-800:]), flush=True)
    return p


def grpc_code(stderr):
    m = re.search(r"gRPC status (-?\d+)\]", stderr)
    return int(m.group(1)) if m else None


def start_speech(nats):
    ds.start([os.environ["PL_ASR"], "--nats", nats, "--http-port", "-1", "--model-dir",
              os.path.join(ds.SRC, "models")], "asr",
             {"PARLEY_ASR_LOG_LEVEL": "warn", "PARLEY_ASR_PUNCTUATION": "false"}, r"models=[1-9]")
    voice = os.path.join(g.TMP, "voices", "fake-a")
    os.makedirs(voice, exist_ok=True)
    ds.start([os.environ["PL_TTS"], "--nats", nats, "--http-port", "-1"], "tts",
             {"PARLEY_TTS_VOICES": voice, "PL_FAKE_TTS_BLOCK_MS": "20",
              "PARLEY_TTS_LOG_LEVEL": "warn",
              "PARLEY_TTS_MODEL_DIR": os.path.join(ds.SRC, "models")}, r"voices=[1-9]")


def speech_recognition(ch, server):
    wav = os.path.join(g.TMP, "clip16.wav")
    subprocess.run(["sox", CLIP, "-t", "wav", "-r", "16000", "-b", "16", "-c", "1", wav], check=True)
    stub = riva_asr_pb2_grpc.RivaSpeechRecognitionStub(ch)
    cfg = asr.RecognitionConfig(language_code="en-US", max_alternatives=1,
                                enable_word_time_offsets=True)
    want = stub.Recognize(asr.RecognizeRequest(config=cfg, audio=open(wav, "rb").read()), timeout=60)
    want_lines = [r.alternatives[0].transcript for r in want.results]
    n_words = sum(len(r.alternatives[0].words) for r in want.results)
    p = run("recognize", wav, "--words", "--server", server)
    lines = [l for l in p.stdout.splitlines() if not l.startswith("    ")]
    words = [l for l in p.stdout.splitlines() if l.startswith("    ")]
    check(p.returncode == 0 and lines == want_lines and want_lines and want_lines[0].strip(),
          "pl-sdk-recognize: the transcript the Python client gets (%r)" % lines)
    check(len(words) == n_words > 0, "pl-sdk-recognize --words: %d words, as Python" % len(words))

    p = run("stream", wav, "--server", server)
    finals = [l for l in p.stdout.splitlines() if not l.startswith("~ ")]
    interims = [l for l in p.stdout.splitlines() if l.startswith("~ ")]
    said = set(" ".join(finals).split())
    ref = set(" ".join(want_lines).split())
    check(p.returncode == 0 and finals and interims and len(said & ref) >= len(ref) // 2,
          "pl-sdk-stream: %d interim and %d final results, finals %r" % (len(interims), len(finals),
                                                                         finals))

    c, d = code_of(lambda: stub.Recognize(asr.RecognizeRequest(
        config=asr.RecognitionConfig(language_code="en-US", model="nope"),
        audio=open(wav, "rb").read()), timeout=30))
    p = run("recognize", wav, "--model", "nope", "--server", server)
    check(p.returncode == 1 and c != grpc.StatusCode.OK and grpc_code(p.stderr) == c.value[0]
          and "nope" in p.stderr and "Recognize: %s" % c.name in p.stderr,
          "an unknown model: exit 1, gRPC status %d %s and the message naming it" % (c.value[0], c.name))
    return wav


def read_wav(path):
    w = wave.open(path)
    return w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())


def speech_synthesis(ch, server):
    stub = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(ch)
    text = "Hello from the C SDK. This sentence is long enough to come in several chunks."
    want = stub.Synthesize(tts.SynthesizeSpeechRequest(text=text, language_code="en-US",
                                                       encoding=1, sample_rate_hz=22050),
                           timeout=60).audio
    out = os.path.join(g.TMP, "offline.wav")
    p = run("synthesize", text, out, "--server", server)
    rate, width, frames = read_wav(out)
    check(p.returncode == 0 and rate == 22050 and width == 2 and frames == want and want,
          "pl-sdk-synthesize: a 22050 Hz WAV with the audio Python gets (%d bytes)" % len(frames))
    out = os.path.join(g.TMP, "stream.wav")
    p = run("synthesize", text, out, "--stream", "--server", server)
    m = re.search(r"(\d+) bytes in (\d+) chunks", p.stdout)
    rate, width, frames = read_wav(out)
    online = b"".join(r.audio for r in stub.SynthesizeOnline(iter([tts.SynthesizeSpeechRequest(
        text=text, language_code="en-US", encoding=1, sample_rate_hz=22050)]), timeout=60))
    check(p.returncode == 0 and m and int(m.group(2)) >= 2 and frames == online and rate == 22050,
          "pl-sdk-synthesize --stream: %s chunks, the audio of Python's SynthesizeOnline"
          % (m.group(2) if m else "?"))


def question_answering(ch, server, stack):
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
    ctx = os.path.join(g.TMP, "context.txt")
    open(ctx, "w").write(TEXT + "\n")
    q = "Who wrote the Parley manual?"
    want = stub.NaturalQuery(nlp.NaturalQueryRequest(query=q, context=TEXT + "\n", top_n=1),
                             timeout=30).results
    p = run("ask", q, "--context", ctx, "--server", server)
    got = [l.split("\t", 1)[1] for l in p.stdout.splitlines() if "\t" in l]
    check(p.returncode == 0 and got == [r.answer or "(no answer)" for r in want],
          "pl-sdk-ask --context: the answer Python gets (%r)" % got)
    if stack.has_reader:
        check(got[0] in TEXT, "the answer is a span of the text (extractive)")
    want = stub.NaturalQuery(nlp.NaturalQueryRequest(query=q, top_n=2), timeout=30).results
    p = run("ask", q, "--top-n", 2, "--server", server)
    got = [l.split("\t", 1)[1] for l in p.stdout.splitlines() if "\t" in l]
    check(p.returncode == 0 and got == [r.answer or "(no answer)" for r in want],
          "pl-sdk-ask from the knowledge base: %r" % got)


def language_understanding(ch, server):
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
    text = "book a table for four in boston tomorrow"
    it = stub.AnalyzeIntent(nlp.AnalyzeIntentRequest(query=text), timeout=30)
    p = run("nlu", text, "--server", server)
    check(p.returncode == 0 and "intent: %s (%.3f)" % (it.intent.class_name, it.intent.score) in p.stdout,
          "pl-sdk-nlu: the intent Python gets (%s)" % it.intent.class_name)
    slots = re.findall(r"  slot (\S+) = (.*) \[", p.stdout)
    check(slots == [(s.label[0].class_name, s.token) for s in it.slots] and slots,
          "pl-sdk-nlu: the slots Python gets %s" % slots)
    ents = stub.AnalyzeEntities(nlp.AnalyzeEntitiesRequest(query=text), timeout=30)
    got = re.findall(r"entity: (\S+) (.*) \(", p.stdout)
    check(got == [(e.label[0].class_name, e.token) for s in ents.results for e in s.results],
          "pl-sdk-nlu: the entities Python gets %s" % got)
    punct = stub.PunctuateText(nlp.TextTransformRequest(text=[text]), timeout=30).text[0]
    check("punctuated: %s\n" % punct in p.stdout, "pl-sdk-nlu: %r punctuated as Python gets it" % punct)
    p = run("nlu", text, "--model", "no-such-domain", "--only", "intent", "--server", server)
    c, _ = code_of(lambda: stub.AnalyzeIntent(nlp.AnalyzeIntentRequest(
        query=text, options=nlp.AnalyzeIntentOptions(domain="no-such-domain")), timeout=30))
    check(p.returncode == 1 and grpc_code(p.stderr) == c.value[0] and "no-such-domain" in p.stderr,
          "an unknown domain: exit 1 with %s and the message naming it" % c.name)
    return punct


def dialog(server):
    p = run("converse", "hello", "--user", "sdk-alice", "--server", server)
    m = re.match(r"session ([0-9a-f]{32})\n", p.stdout)
    check(p.returncode == 0 and m and "intent greet" in p.stdout and
          re.search(r"^bot (Hi|Hello)", p.stdout, re.M) and re.search(r"^event 11 ", p.stdout, re.M),
          "pl-sdk-converse: a new session, intent greet, the greeting, TURN_COMPLETE")
    sid = m.group(1)
    p = run("converse", "book a table for four in boston", "--user", "sdk-alice", "--session", sid,
            "--server", server)
    check(p.returncode == 0 and p.stdout.startswith("session %s\n" % sid) and
          re.search(r"^slot \w+=boston$", p.stdout, re.M) and re.search(r"^bot (What time\?|For when\?)$", p.stdout, re.M),
          "pl-sdk-converse --session: the same session, the form asks for the time")
    # a spoken turn, push-to-talk: the WAV streamed, END_OF_UTTERANCE, the reply as audio too
    clip = os.path.join(DATA, "speech", "fsdd", "recordings", "7_george_0.wav")
    p = run("converse", "--audio", clip, "--user", "sdk-alice", "--server", server)
    m = re.search(r"^you (.*)$", p.stdout, re.M)
    b = re.search(r"^reply audio (\d+) bytes$", p.stdout, re.M)
    check(p.returncode == 0 and m and m.group(1).strip() and re.search(r"^bot .+", p.stdout, re.M)
          and b and int(b.group(1)) > 0 and re.search(r"^event 13 ", p.stdout, re.M),
          "pl-sdk-converse --audio: transcript %r, a reply, %s bytes of reply audio, "
          "REPLY_AUDIO_DONE" % (m and m.group(1), b and b.group(1)))
    p = run("converse", "hello", "--user", "sdk-mallory", "--session", sid, "--server", server)
    check(p.returncode == 1 and grpc_code(p.stderr) == 5 and "Converse: NOT_FOUND" in p.stderr,
          "another user's session: exit 1, NOT_FOUND")


def tls_and_keys(nats, punct_text, punct):
    cert, key = os.path.join(g.TMP, "cert.pem"), os.path.join(g.TMP, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    keys = os.path.join(g.TMP, "keys.txt")
    open(keys, "w").write("sdk-test-key-0123456789 carol\n")
    _, port, _ = g.start_gateway(nats, env_extra={"PARLEY_GATEWAY_TLS_CERT": cert,
                                                  "PARLEY_GATEWAY_TLS_KEY": key,
                                                  "PARLEY_GATEWAY_API_KEYS_FILE": keys})
    server = "127.0.0.1:%d" % port
    p = run("nlu", punct_text, "--only", "punct", "--server", server, "--tls-ca", cert,
            "--api-key", "sdk-test-key-0123456789")
    check(p.returncode == 0 and "punctuated: %s\n" % punct in p.stdout,
          "TLS with the CA file and the API key: answered")
    p = run("nlu", punct_text, "--only", "punct", "--server", server, "--tls-ca", cert)
    check(p.returncode == 1 and grpc_code(p.stderr) == 16, "TLS without the API key: UNAUTHENTICATED")
    p = run("nlu", punct_text, "--only", "punct", "--server", server, "--tls-ca", cert,
            "--api-key", "wrong-key-0123456789")
    check(p.returncode == 1 and grpc_code(p.stderr) == 16 and "invalid API key" in p.stderr,
          "a wrong API key: UNAUTHENTICATED, 'invalid API key'")
    p = run("nlu", punct_text, "--only", "punct", "--server", server, "--api-key",
            "sdk-test-key-0123456789", "--timeout-ms", 3000)
    check(p.returncode == 1 and grpc_code(p.stderr) in (14, 4), "plaintext to the TLS port: refused")
    p = run("nlu", punct_text, "--only", "punct", "--server", server, "--tls-ca", "/nonexistent.pem")
    check(p.returncode == 1 and grpc_code(p.stderr) == -1 and "/nonexistent.pem" in p.stderr,
          "a missing CA file: a local error naming it")


def install(server, punct_text, punct):
    prefix = os.path.join(g.TMP, "prefix")
    subprocess.run(["cmake", "--install", os.environ["PL_BUILD_DIR"], "--prefix", prefix,
                    "--component", "sdk"], check=True, capture_output=True)
    libdir = [d for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
              if os.path.exists(os.path.join(prefix, d, "pkgconfig", "parley-client.pc"))]
    check(libdir and os.path.exists(os.path.join(prefix, "include", "parley", "client.h")) and
          os.path.exists(os.path.join(prefix, "include", "parley", "status.h")),
          "cmake --install: lib, parley/client.h, parley/status.h and parley-client.pc in place")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, libdir[0], "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "parley-client"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    check(("-I%s/include" % prefix) in flags and "-lparley-client" in flags,
          "pkg-config parley-client: %s" % " ".join(flags))
    exe = os.path.join(g.TMP, "nlu-installed")
    src = os.path.join(ds.SRC, "clients", "c", "examples")
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", os.path.join(src, "nlu.c"), "-o", exe]
                        + flags, capture_output=True, text=True)
    check(cc.returncode == 0, "an example compiles against the installed SDK %s" % cc.stderr[-300:])
    p = run("nlu", punct_text, "--only", "punct", "--server", server, exe=exe,
            env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, libdir[0])))
    check(p.returncode == 0 and "punctuated: %s\n" % punct in p.stdout,
          "the example built from the installed SDK answers")


def bench(server):
    p = run("bench", "--server", server, "--calls", 300, exe=os.environ["PL_SDK_BENCH"])
    m = re.search(r"ratio SDK/raw  p50 ([\d.]+)  mean ([\d.]+)", p.stdout)
    # the goal is 1.05 (docs/benchmarks.md, many calls); a short run on a busy machine is noisy
    check(p.returncode == 0 and m and float(m.group(1)) < 1.5,
          "pl-sdk-bench: SDK/raw p50 %s (fails past 1.5)" % (m.group(1) if m else "?"))


def main():
    stack = ds.Stack()
    start_speech(stack.nats)
    server = "127.0.0.1:%d" % stack.port
    ch = grpc.insecure_channel(server, options=[("grpc.max_receive_message_length", 64 << 20)])
    speech_recognition(ch, server)
    speech_synthesis(ch, server)
    question_answering(ch, server, stack)
    text = "book a table for four in boston tomorrow"
    punct = language_understanding(ch, server)
    dialog(server)
    tls_and_keys(stack.nats, text, punct)
    install(server, text, punct)
    bench(server)
    p = run("recognize", "/nonexistent.wav", "--server", server)
    check(p.returncode == 2 and "/nonexistent.wav" in p.stderr, "an unreadable file: exit 2")
    print("all SDK checks passed")


if __name__ == "__main__":
    main()
