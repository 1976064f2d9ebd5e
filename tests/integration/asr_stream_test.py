"""StreamingRecognize end to end: nats-server + parley-asr + gateway on free 127.0.0.1 ports, a
random-weight acoustic model with unnormalized features (tests/reference/asr_model_ref.py), the
Silero VAD from PARLEY_DATA_DIR, and a Python gRPC client that streams the way the official Riva
clients do (first message streaming_config, then audio_content chunks; the WAV header in the
first chunk).

Checks: a real LJ Speech recording streamed in 100 ms chunks in real time and as fast as
possible gives the same final text as Recognize on the same file, with interim results
(is_final false, stability) before it; two utterances separated by silence give two finals;
silence gives no final; a client process killed mid-stream frees its stream
(parley_active_streams back to 0 on the worker); 64 concurrent streams all complete with the
same final text. Environment: PL_ASR, PL_GATEWAY, PL_PYTHON_STUBS, PL_SOURCE_DIR,
PARLEY_DATA_DIR (tests/asrstream.cmake).
"""
import io
import json
import os
import subprocess
import sys
import threading
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest as g  # noqa: E402
from gwtest import check, grpc  # noqa: E402
from riva.proto import riva_asr_pb2 as asr  # noqa: E402
from riva.proto import riva_asr_pb2_grpc as asr_grpc  # noqa: E402

import asr_test_service as svc  # noqa: E402

SRC = os.environ["PL_SOURCE_DIR"]
DATA = os.environ.get("PARLEY_DATA_DIR", os.path.join(SRC, "..", "shared", "data"))
LJ = os.path.join(DATA, "speech", "ljspeech-subset", "wavs")


def cfg(**kw):
    kw.setdefault("language_code", "en-US")
    kw.setdefault("max_alternatives", 1)
    kw.setdefault("enable_word_time_offsets", True)
    return asr.RecognitionConfig(**kw)


def requests(config, wav, chunk_bytes, realtime_s=0.0, interim=True):
    yield asr.StreamingRecognizeRequest(
        streaming_config=asr.StreamingRecognitionConfig(config=config, interim_results=interim))
    for off in range(0, len(wav), chunk_bytes):
        if realtime_s:
            time.sleep(realtime_s)
        yield asr.StreamingRecognizeRequest(audio_content=wav[off:off + chunk_bytes])


def stream(stub, config, wav, chunk_bytes, realtime_s=0.0, interim=True):
    finals, interims = [], []
    for resp in stub.StreamingRecognize(requests(config, wav, chunk_bytes, realtime_s, interim), timeout=120):
        for r in resp.results:
            (finals if r.is_final else interims).append(r)
    return finals, interims


def text(finals):
    return " ".join(r.alternatives[0].transcript for r in finals)


def wav16k(clip, extra=()):
    return svc.sox([clip, "-t", "wav", "-r", "16000", "-b", "16", "-c", "1", "-"] + list(extra))


def active_streams(port):
    _, m = g.http_get(port, "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in m.splitlines() if l.startswith("parley_active_streams"))


def main():
    models = os.path.join(g.TMP, "models")
    os.makedirs(models)
    mdir = os.path.join(models, "asr-test")
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "reference", "asr_model_ref.py"),
                    mdir, "--config", "tiny", "--cases", "1"], check=True, stdout=subprocess.DEVNULL)
    c = json.load(open(os.path.join(mdir, "config.json")))
    c.setdefault("features", {})["normalize"] = "none"  # streaming features == offline ones
    json.dump(c, open(os.path.join(mdir, "config.json"), "w"))
    _, nats_url = g.start_nats()
    _, asr_http, n_models, _ = svc.start_asr(nats_url, models)
    check(n_models == 1, "parley-asr loaded the model")
    _, grpc_port, _ = g.start_gateway(nats_url)
    stub = asr_grpc.RivaSpeechRecognitionStub(g.channel(grpc_port))

    wav = wav16k(os.path.join(LJ, "LJ001-0010.flac"))
    with wave.open(io.BytesIO(wav)) as w:
        dur = w.getnframes() / w.getframerate()
    want = " ".join(r.alternatives[0].transcript for r in
                    stub.Recognize(asr.RecognizeRequest(config=cfg(), audio=wav), timeout=60).results)
    check(want != "", "Recognize gives a transcript")
    chunk = 3200  # 100 ms of 16-bit 16 kHz
    finals, interims = stream(stub, cfg(), wav, chunk, realtime_s=0.1)
    check(text(finals) == want, "100 ms chunks in real time: final == Recognize (%r)" % text(finals)[:60])
    check(len(interims) > 20 and all(not r.is_final and 0 <= r.stability <= 1 for r in interims),
          "interim results with stability before the final (%d)" % len(interims))
    check(len(finals) == 1 and abs(finals[0].audio_processed - dur) < 0.02,
          "audio_processed of the final = %.2f s of %.2f" % (finals[0].audio_processed if finals else -1, dur))
    finals, _ = stream(stub, cfg(), wav, chunk)
    check(text(finals) == want, "100 ms chunks as fast as possible: final == Recognize")

    # With parley-nlu running (tiny random punctuation model): the final is what PunctuateText
    # makes of the plain one
    if os.environ.get("PL_NLU"):
        import nlu_test_service
        import nlu_tiny
        from riva.proto import riva_nlp_pb2, riva_nlp_pb2_grpc
        nlu_models = os.path.join(g.TMP, "nlu-models")
        nlu_tiny.write_models(nlu_models)
        nlu_test_service.start_nlu(nats_url, nlu_models)
        punct = list(riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(g.channel(grpc_port)).PunctuateText(
            riva_nlp_pb2.TextTransformRequest(text=[want]), timeout=30).text)
        finals, _ = stream(stub, cfg(enable_automatic_punctuation=True), wav, chunk, interim=False)
        check([text(finals)] == punct and punct != [want],
              "enable_automatic_punctuation: final punctuated by parley-nlu (%r)" % text(finals)[:60])

    # parley transcribe --stream (gRPC C core client)
    if os.environ.get("PL_TRANSCRIBE"):
        path = os.path.join(g.TMP, "clip16k.wav")
        open(path, "wb").write(wav)
        out = subprocess.run([os.environ["PL_TRANSCRIBE"], path, "--stream", "--server", "127.0.0.1:%d" % grpc_port,
                              "--chunk-ms", "200", "--realtime"], stdout=subprocess.PIPE, timeout=60)
        lines = out.stdout.decode().splitlines()
        check(out.returncode == 0 and any(l.startswith("~ [") for l in lines) and lines[-1] == want,
              "parley transcribe --stream --realtime: interim lines and the final (%d lines)" % len(lines))

    two = svc.sox(["-t", "wav", "-", "-t", "wav", "-", "repeat", "1"], stdin=wav16k(
        os.path.join(LJ, "LJ001-0010.flac"), ["pad", "0", "2"]))
    finals, _ = stream(stub, cfg(), two, chunk, interim=False)
    check(len(finals) == 2, "two utterances separated by 2 s of silence: two finals (%d)" % len(finals))
    check(len(finals) == 2 and finals[1].alternatives[0].words[0].start_time >= 1000 * finals[0].audio_processed - 1,
          "word offsets of the second final are absolute in the stream")

    silence = svc.sox(["-n", "-t", "wav", "-r", "16000", "-b", "16", "-c", "1", "-", "trim", "0", "3"])
    finals, interims = stream(stub, cfg(), silence, chunk)
    check(not finals and not interims, "silence only: no result")

    # a client process that vanishes mid-stream
    code = ("import sys,time; sys.path.insert(0, %r); import grpc\n"
            "from riva.proto import riva_asr_pb2 as asr, riva_asr_pb2_grpc as ag\n"
            "def gen():\n"
            "    yield asr.StreamingRecognizeRequest(streaming_config=asr.StreamingRecognitionConfig("
            "config=asr.RecognitionConfig(language_code='en-US'), interim_results=True))\n"
            "    while True:\n"
            "        yield asr.StreamingRecognizeRequest(audio_content=open(%r,'rb').read()[:3200])\n"
            "        time.sleep(0.1)\n"
            "for r in ag.RivaSpeechRecognitionStub(grpc.insecure_channel('127.0.0.1:%d')).StreamingRecognize(gen()):\n"
            "    pass\n") % (os.environ["PL_PYTHON_STUBS"], os.path.join(g.TMP, "clip.wav"), grpc_port)
    open(os.path.join(g.TMP, "clip.wav"), "wb").write(wav)
    p = subprocess.Popen(["/usr/bin/python3", "-c", code])
    end = time.time() + 20
    while time.time() < end and active_streams(asr_http) < 1:
        time.sleep(0.1)
    check(active_streams(asr_http) == 1, "a client's stream is open on the worker")
    p.kill()
    p.wait()
    end = time.time() + 20
    while time.time() < end and active_streams(asr_http) > 0:
        time.sleep(0.2)
    check(active_streams(asr_http) == 0, "the killed client's stream is freed (parley_active_streams 0)")

    # 64 concurrent streams of a 3 s excerpt in 100 ms chunks
    short = wav16k(os.path.join(LJ, "LJ001-0010.flac"), ["trim", "0", "3"])
    want_short = text(stream(stub, cfg(), short, chunk, interim=False)[0])
    results = [None] * 64

    def one(i):
        try:
            results[i] = text(stream(stub, cfg(), short, chunk, interim=False)[0])
        except grpc.RpcError as e:
            results[i] = "error %s" % e.code()
    t0 = time.time()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(64)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = sum(r == want_short for r in results)
    check(ok == 64, "64 concurrent streams complete with the same final (%d/64 in %.1f s; %r)" % (
        ok, time.time() - t0, [r for r in results if r != want_short][:2]))
    end = time.time() + 10
    while time.time() < end and active_streams(asr_http) > 0:
        time.sleep(0.2)
    check(active_streams(asr_http) == 0, "no stream left open")
    print("OK")


if __name__ == "__main__":
    main()
