"""StreamingRecognize end to end: nats-server + parley-asr + gateway on free 127.0.0.1 ports, a
random-weight acoustic model with unnormalized features (tests/reference/asr_model_ref.py), the
Silero VAD from PARLEY_DATA_DIR, and a Python gRPC client that streams the way the official Riva
clients do (first message streaming_config, then audio_content chunks; the WAV header in the
first chunk).

Checks: a real LJ Speech recording streamed in 100 ms chunks in real time and as fast as
possible gives the same final text as Recognize on the same file, with interim results
(is_final false, stability) before it; two utterances separated by silence give two finals;
silence gives no final; a client process killed mid-stream frees its stream
(parley_active_streams back to 0 on the worker); 64 concurrent streams of 4 different
recordings all complete with the final text Recognize gives for their recording, and the
worker's scheduler metrics show that the model steps were batched across streams (mean batch
> 1). These run with asr.stream_endpointing "vad" (the random model's CTC blanks mean nothing).

Then the worker is replaced by one serving the shipped model (models/asr-en-quartznet) with
"vad+blank" endpointing (VAD and CTC blank probabilities combined): a recording, 2 s
of silence and the recording again give two finals, the first cut inside the silence; silence
only gives no result. Then with the default endpointing (VAD alone for it) and a 120 ms
end-of-utterance pause (stop_history_eou), the pause's stability-1 interim comes within 190 ms
of audio of the recordings' true end (their sound: 5% of the loudest 10 ms frame's RMS) with
asr.stream_tail_gate_db 30 (the pause timed from where the sound stopped), and later, after
the VAD's hangover, with the gate off (0, the default). Environment: PL_ASR, PL_GATEWAY,
PL_PYTHON_STUBS, PL_SOURCE_DIR, PARLEY_DATA_DIR (tests/asrstream.cmake).
"""
import io
import json
import os
import struct
import subprocess
import threading
import time
import wave

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


def dither(wav, lsb=8):
    """16-bit WAV bytes (44-byte header) plus deterministic noise of +-lsb: silence that is not
    digital zeros (the streaming running normalization of the shipped model amplifies the
    rounding noise of exactly constant frames, see docs/asr-streaming.md)."""
    pcm = bytearray(wav[44:])
    seed = 1
    for i in range(0, len(pcm) - 1, 2):
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        v = struct.unpack_from("<h", pcm, i)[0] + (seed >> 16) % (2 * lsb + 1) - lsb
        struct.pack_into("<h", pcm, i, max(-32768, min(32767, v)))
    return wav[:44] + bytes(pcm)


def active_streams(port):
    _, m = g.http_get(port, "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in m.splitlines() if l.startswith("parley_active_streams"))


def sched_metric(port, name):
    """Sum over models of a scheduler series (e.g. parley_asr_stream_batch_size_sum)."""
    _, m = g.http_get(port, "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in m.splitlines()
               if l.startswith(name + "{") or l.startswith(name + " "))


def speech_end_s(wav):
    """End of the last 10 ms frame above 5% of the loudest frame's RMS (16 kHz WAV bytes)."""
    a = struct.unpack("<%dh" % ((len(wav) - 44) // 2), wav[44:44 + (len(wav) - 44) // 2 * 2])
    rms = [(sum(x * x for x in a[i:i + 160]) / 160) ** 0.5 for i in range(0, len(a) - 159, 160)]
    top = max(rms)
    return (max(i for i, r in enumerate(rms) if r > 0.05 * top) + 1) * 0.01


def pause_lags(stub, clips):
    """Per clip (16 kHz WAV bytes, with 1.5 s of dither after it) streamed in 20 ms chunks with
    a 120 ms end-of-utterance pause and a 2 s stop window: where the last stability-1
    interim's audio ends (audio_processed), minus the clip's true end of sound (s)."""
    lags = []
    for wav in clips:
        end = speech_end_s(wav)
        padded = dither(svc.sox(["-t", "wav", "-", "-t", "wav", "-", "pad", "0", "1.5"], stdin=wav))
        c = cfg(endpointing_config=asr.EndpointingConfig(stop_history=2000, stop_history_eou=120))
        _, interims = stream(stub, c, padded, 640)
        firm = [r.audio_processed for r in interims if r.stability == 1.0]
        lags.append(firm[-1] - end if firm else float("nan"))  # the last: pauses inside come first
    return lags


def main():
    models = os.path.join(g.TMP, "models")
    os.makedirs(models)
    mdir = os.path.join(models, "asr-test")
    svc.ref_model(mdir, "--config", "tiny", "--cases", "1")
    c = json.load(open(os.path.join(mdir, "config.json")))
    c.setdefault("features", {})["normalize"] = "none"  # streaming features == offline ones
    json.dump(c, open(os.path.join(mdir, "config.json"), "w"))
    vad = os.path.join(SRC, "models", "vad-silero")  # the shipped VAD, as parley up finds it
    os.symlink(vad, os.path.join(models, "vad-silero"))
    _, nats_url = g.start_nats()
    asr_p, asr_http, n_models, _ = svc.start_asr(nats_url, models,
                                                 {"PARLEY_ASR_STREAM_ENDPOINTING": "vad"})
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
    code = ("import time; import grpc\n"
            "from riva.proto import riva_asr_pb2 as asr, riva_asr_pb2_grpc as ag\n"
            "def gen():\n"
            "    yield asr.StreamingRecognizeRequest(streaming_config=asr.StreamingRecognitionConfig("
            "config=asr.RecognitionConfig(language_code='en-US'), interim_results=True))\n"
            "    while True:\n"
            "        yield asr.StreamingRecognizeRequest(audio_content=open(%r,'rb').read()[:3200])\n"
            "        time.sleep(0.1)\n"
            "for r in ag.RivaSpeechRecognitionStub(grpc.insecure_channel('127.0.0.1:%d')).StreamingRecognize(gen()):\n"
            "    pass\n") % (os.path.join(g.TMP, "clip.wav"), grpc_port)
    open(os.path.join(g.TMP, "clip.wav"), "wb").write(wav)
    p = subprocess.Popen(["/usr/bin/python3", "-c", code],
                         env=dict(os.environ, PYTHONPATH=os.environ["PL_PYTHON_STUBS"]))
    # a poll, not a timing: on a loaded 2-core machine the client's Python start-up and
    # grpc import once took more than 20 s
    end = time.time() + 90
    while time.time() < end and active_streams(asr_http) < 1:
        time.sleep(0.1)
    check(active_streams(asr_http) == 1, "a client's stream is open on the worker")
    p.kill()
    p.wait()
    end = time.time() + 20
    while time.time() < end and active_streams(asr_http) > 0:
        time.sleep(0.2)
    check(active_streams(asr_http) == 0, "the killed client's stream is freed (parley_active_streams 0)")

    # 64 concurrent streams of 3 s excerpts of 4 recordings in 100 ms chunks: each final equals
    # Recognize on its excerpt, and the scheduler batched the model steps across streams
    clips = ["LJ001-0010", "LJ001-0001", "LJ001-0035", "LJ001-0049"]
    shorts = [wav16k(os.path.join(LJ, c + ".flac"), ["trim", "0", "3"]) for c in clips]
    wants = [" ".join(r.alternatives[0].transcript for r in stub.Recognize(
        asr.RecognizeRequest(config=cfg(), audio=w), timeout=60).results) for w in shorts]
    check(all(wants) and len(set(wants)) == len(wants), "Recognize: 4 different excerpts, 4 texts")
    steps0 = sched_metric(asr_http, "parley_asr_stream_batch_size_count")
    streams0 = sched_metric(asr_http, "parley_asr_stream_batch_size_sum")
    results = [None] * 64

    def one(i):
        try:
            results[i] = text(stream(stub, cfg(), shorts[i % 4], chunk, interim=False)[0])
        except grpc.RpcError as e:
            results[i] = "error %s" % e.code()
    t0 = time.time()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(64)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = sum(results[i] == wants[i % 4] for i in range(64))
    check(ok == 64, "64 concurrent streams complete with their Recognize text (%d/64 in %.1f s; %r)" % (
        ok, time.time() - t0, [r for i, r in enumerate(results) if r != wants[i % 4]][:2]))
    steps = sched_metric(asr_http, "parley_asr_stream_batch_size_count") - steps0
    streams = sched_metric(asr_http, "parley_asr_stream_batch_size_sum") - streams0
    check(steps > 0 and streams / steps > 1.0,
          "the scheduler batched model steps across streams: %d stream steps in %d model steps "
          "(mean batch %.2f)" % (streams, steps, streams / max(steps, 1)))
    end = time.time() + 10
    while time.time() < end and active_streams(asr_http) > 0:
        time.sleep(0.2)
    check(active_streams(asr_http) == 0, "no stream left open")

    # The shipped model with the default endpointing: VAD + CTC blank probabilities
    qn = os.path.join(SRC, "models", "asr-en-quartznet")
    if os.path.exists(os.path.join(qn, "model.safetensors")):
        asr_p.terminate()
        asr_p.wait(timeout=30)
        qmodels = os.path.join(g.TMP, "qmodels")
        os.makedirs(qmodels)
        os.symlink(qn, os.path.join(qmodels, "asr-en-quartznet"))
        os.symlink(vad, os.path.join(qmodels, "vad-silero"))
        q_p, q_http, nq, _ = svc.start_asr(nats_url, qmodels, {"PARLEY_ASR_LM": "none",
                                                             "PARLEY_ASR_STREAM_ENDPOINTING": "vad+blank"})
        check(nq == 1, "parley-asr serves models/asr-en-quartznet (stream_endpointing vad+blank)")
        clip = wav16k(os.path.join(LJ, "LJ001-0010.flac"))
        two = dither(svc.sox(["-t", "wav", "-", "-t", "wav", "-", "repeat", "1"], stdin=wav16k(
            os.path.join(LJ, "LJ001-0010.flac"), ["pad", "0", "2"])))
        finals, _ = stream(stub, cfg(), two, chunk, interim=False)
        check(len(finals) == 2 and all(r.alternatives[0].transcript for r in finals),
              "vad+blank: two utterances separated by 2 s of silence give two finals (%d: %r)" % (
                  len(finals), [r.audio_processed for r in finals]))
        check(len(finals) == 2 and dur < finals[0].audio_processed < dur + 2.0,
              "vad+blank: the first final is cut inside the silence (%.2f s, clip %.2f s)" % (
                  finals[0].audio_processed if finals else -1, dur))
        finals, interims = stream(stub, cfg(), silence, chunk)
        check(not finals and not interims, "vad+blank: silence only gives no result")
        finals, interims = stream(stub, cfg(), dither(silence, 30), chunk)
        check(not finals and not interims, "vad+blank: low noise only gives no result")
        finals, _ = stream(stub, cfg(), clip, 1600, interim=False)
        finals2, _ = stream(stub, cfg(), clip, 16000, interim=False)
        check(len(finals) >= 1 and text(finals) == text(finals2),
              "vad+blank: 50 ms and 500 ms chunks give the same finals (%r)" % text(finals)[:60])

        # the end-of-utterance pause, timed from the true end of the sound
        clips = [wav16k(os.path.join(LJ, c + ".flac")) for c in ("LJ001-0010", "LJ001-0035",
                                                                  "LJ001-0049")]
        lag = {}
        for gate in ("30", "0"):  # on, then off (the default)
            q_p.terminate()
            q_p.wait(timeout=30)
            q_p, _, nq, _ = svc.start_asr(nats_url, qmodels, {
                "PARLEY_ASR_LM": "none", "PARLEY_ASR_STREAM_TAIL_GATE_DB": gate})
            lag[gate] = pause_lags(stub, clips)
            print("end-of-utterance pause after 120 ms, tail gate %s: stability-1 interim at "
                  "+%s ms of the true end" % (gate,
                                              ["%.0f" % (x * 1000) for x in lag[gate]]))
        check(all(0.11 <= x <= 0.19 for x in lag["30"]),
              "the pause (120 ms) is timed from the end of the sound: its interim within 110-190 "
              "ms of it (%s)" % lag["30"])
        check(all(x > y + 0.04 for x, y in zip(lag["0"], lag["30"])),
              "with the gate off it comes after the VAD's hangover, later (%s)" % lag["0"])
    else:
        print("SKIP: models/asr-en-quartznet is not there (vad+blank checks)")
    print("OK")


if __name__ == "__main__":
    main()
