"""parley-asr end to end: nats-server + parley-asr + gateway on free 127.0.0.1 ports, a
random-weight acoustic model (tests/reference/asr_model_ref.py) plus the shipped LM, and a
Python gRPC client sending audio the way the official Riva clients do.

The model's words are gibberish, so the checks are about the service: every encoding and
container gives a well-formed result; lossless forms of the same samples (WAV, raw PCM, FLAC)
give the same transcript; stereo with separate recognition gives one result per channel;
long audio is split at pauses (and travels over NATS in frames); n-best, word times,
GetRivaSpeechRecognitionConfig; every bad request gives INVALID_ARGUMENT / NOT_FOUND with a
message naming the problem. Environment: PL_ASR, PL_GATEWAY, PL_PYTHON_STUBS, PL_SOURCE_DIR,
PARLEY_DATA_DIR (see tests/asrsvc.cmake).
"""
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
import wave

import numpy as np

import gwtest as g  # noqa: E402
from gwtest import check, code_of, grpc  # noqa: E402
from riva.proto import riva_asr_pb2 as asr  # noqa: E402
from riva.proto import riva_asr_pb2_grpc as asr_grpc  # noqa: E402
from riva.proto import riva_audio_pb2 as ra  # noqa: E402

SRC = os.environ["PL_SOURCE_DIR"]
DATA = os.environ.get("PARLEY_DATA_DIR", os.path.join(SRC, "..", "shared", "data"))
LJ = os.path.join(DATA, "speech", "ljspeech-subset", "wavs")
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def start_asr(nats_url, model_dir, extra_env=None):
    env = dict(os.environ)
    # a 20 ms batching window so that concurrent segments reliably share a forward
    env.update({"PARLEY_ASR_LOG_LEVEL": "warn", "PARLEY_ASR_HANDLER_THREADS": "8",
                "PARLEY_ASR_MAX_QUEUE_DELAY_US": "20000"})
    env.pop("PARLEY_CONFIG", None)
    env.update(extra_env or {})
    out = os.path.join(g.TMP, "asr-out-%d" % time.monotonic_ns())
    p = g.spawn([os.environ["PL_ASR"], "--nats", nats_url, "--http-port", "0", "--model-dir", model_dir],
                "asr.log", env=env, stdout=open(out, "wb"))
    end = time.time() + 60
    while time.time() < end:
        m = re.search(r"http_port=(\d+) models=(\d+) lm=(\d)", open(out).read())
        if m:
            return p, int(m.group(1)), int(m.group(2)), int(m.group(3))
        if p.poll() is not None:
            raise AssertionError("parley-asr exited: %s (see %s/asr.log)" % (p.returncode, g.TMP))
        time.sleep(0.05)
    raise AssertionError("parley-asr did not start")


def ref_model(out_dir, *args):
    """A random-weight model from tests/reference/asr_model_ref.py OUT_DIR ARGS (it imports the
    recipe's package `train` from the source root)."""
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "reference", "asr_model_ref.py"),
                    out_dir] + list(args), check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=SRC))


def sox(args, stdin=None):
    return subprocess.run(["sox"] + args, input=stdin, stdout=subprocess.PIPE, check=True).stdout


def sox_nd(args):
    """sox without its dither: a conversion that resamples or cuts the sample width otherwise
    adds fresh random noise (+-1..2 LSB, its own in each channel) on every run, and a
    random-weight model's transcript can turn on that much."""
    return sox(["-D"] + args)


def cfg(**kw):
    kw.setdefault("language_code", "en-US")
    kw.setdefault("max_alternatives", 1)
    return asr.RecognitionConfig(**kw)


def well_formed(resp, duration, what, channels=(1,)):
    ok = len(resp.results) >= 1
    last = {}
    for r in resp.results:
        ok = ok and len(r.alternatives) >= 1 and r.channel_tag in channels
        ok = ok and 0 < r.audio_processed <= duration + 0.05
        ok = ok and r.audio_processed >= last.get(r.channel_tag, 0)
        last[r.channel_tag] = r.audio_processed
        for a in r.alternatives:
            ok = ok and a.transcript.strip() != "" and 0 <= a.confidence <= 1
            ok = ok and list(a.language_code) == ["en-US"]
    check(ok, "%s: %d well-formed result(s): %r" % (
        what, len(resp.results), [r.alternatives[0].transcript[:40] for r in resp.results][:3]))


def text(resp):
    return " | ".join(r.alternatives[0].transcript for r in resp.results)


def main():
    models = os.path.join(g.TMP, "models")
    os.makedirs(models)
    ref_model(os.path.join(models, "asr-test"), "--cases", "1")
    os.symlink(os.path.join(SRC, "models", "asr-lm"), os.path.join(models, "asr-lm"))
    os.makedirs(os.path.join(models, "not-a-model"))  # skipped
    _, nats_url = g.start_nats()
    asr_p, asr_http, n_models, has_lm = start_asr(nats_url, models)
    check(n_models == 1 and has_lm == 1, "parley-asr loaded 1 model and the LM")
    _, grpc_port, _ = g.start_gateway(nats_url)
    opts = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    ch = grpc.insecure_channel("127.0.0.1:%d" % grpc_port, options=opts)
    stub = asr_grpc.RivaSpeechRecognitionStub(ch)
    st, _ = g.http_get(asr_http, "/readyz")
    check(st == 200, "/readyz 200")

    # GetRivaSpeechRecognitionConfig: what transcribe_file_offline.py --list-models filters on
    rc = stub.GetRivaSpeechRecognitionConfig(asr.RivaSpeechRecognitionConfigRequest(), timeout=10)
    offline = [c.model_name for c in rc.model_config
               if c.parameters["type"] == "offline" and c.parameters["language_code"] == "en-US"]
    online = [c.model_name for c in rc.model_config
              if c.parameters["type"] == "online" and c.parameters["language_code"] == "en-US"]
    check(offline == ["asr-test"] and online == ["asr-test"],
          "GetRivaSpeechRecognitionConfig lists asr-test as offline and online en-US")
    check(rc.model_config[0].parameters["sample_rate"] == "16000", "config parameter sample_rate")
    c, d = code_of(lambda: stub.GetRivaSpeechRecognitionConfig(
        asr.RivaSpeechRecognitionConfigRequest(model_name="nope"), timeout=10))
    check(c == grpc.StatusCode.NOT_FOUND and "nope" in d, "unknown model_name: NOT_FOUND (%s)" % d)

    # A real clip as the official offline client sends it: whole WAV file, encoding unset
    clip = os.path.join(LJ, "LJ001-0001.flac")
    wav = sox([clip, "-t", "wav", "-b", "16", "-"])
    with wave.open(io.BytesIO(wav)) as w:
        rate, nfr = w.getframerate(), w.getnframes()
        pcm = w.readframes(nfr)
    dur = nfr / rate
    r_wav = stub.Recognize(asr.RecognizeRequest(config=cfg(), audio=wav), timeout=60)
    well_formed(r_wav, dur, "WAV %d Hz, encoding unset" % rate)
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(encoding=ra.LINEAR_PCM), audio=wav), timeout=60)
    check(text(r) == text(r_wav), "WAV with encoding LINEAR_PCM: same transcript")
    r = stub.Recognize(asr.RecognizeRequest(
        config=cfg(encoding=ra.LINEAR_PCM, sample_rate_hertz=rate, audio_channel_count=1), audio=pcm), timeout=60)
    check(text(r) == text(r_wav), "raw LINEAR_PCM %d Hz: same transcript as the WAV" % rate)
    flac = open(clip, "rb").read()
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(), audio=flac), timeout=60)
    check(text(r) == text(r_wav), "FLAC file (encoding unset): same transcript as the WAV")
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(encoding=ra.FLAC), audio=flac), timeout=60)
    check(text(r) == text(r_wav), "FLAC file (encoding FLAC): same transcript")

    # 8 kHz mu-law / A-law raw, 16 kHz Opus, stereo 44.1 kHz
    mu = sox_nd([clip, "-t", "raw", "-r", "8000", "-e", "mu-law", "-b", "8", "-c", "1", "-"])
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(encoding=ra.MULAW, sample_rate_hertz=8000), audio=mu),
                       timeout=60)
    well_formed(r, dur, "raw MULAW 8 kHz")
    al = sox_nd([clip, "-t", "raw", "-r", "8000", "-e", "a-law", "-b", "8", "-c", "1", "-"])
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(encoding=ra.ALAW, sample_rate_hertz=8000), audio=al),
                       timeout=60)
    well_formed(r, dur, "raw ALAW 8 kHz")
    opus = sox_nd([clip, "-r", "16000", "-t", "wav", "-"])
    opus = subprocess.run(["/usr/bin/python3", "-c", OPUS_ENC], input=opus, stdout=subprocess.PIPE,
                          check=True).stdout
    check(opus[:4] == b"OggS", "Ogg/Opus made (%d bytes)" % len(opus))
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(), audio=opus), timeout=60)
    well_formed(r, dur + 0.1, "Ogg/Opus 16 kHz (encoding unset)")
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(encoding=ra.OGGOPUS), audio=opus), timeout=60)
    well_formed(r, dur + 0.1, "Ogg/Opus 16 kHz (encoding OGGOPUS)")
    stereo = sox_nd([clip, "-t", "wav", "-r", "44100", "-c", "2", "-b", "16", "-"])
    with wave.open(io.BytesIO(stereo)) as w:
        lr = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    check(np.array_equal(lr[:, 0], lr[:, 1]), "stereo 44.1 kHz WAV: its two channels are the same samples")
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(), audio=stereo), timeout=60)
    well_formed(r, dur, "stereo 44.1 kHz WAV, downmixed")
    r = stub.Recognize(asr.RecognizeRequest(
        config=cfg(audio_channel_count=2, enable_separate_recognition_per_channel=True), audio=stereo), timeout=60)
    well_formed(r, dur, "stereo with separate recognition", channels=(1, 2))
    t1 = [x.alternatives[0].transcript for x in r.results if x.channel_tag == 1]
    t2 = [x.alternatives[0].transcript for x in r.results if x.channel_tag == 2]
    check(t1 and t1 == t2, "separate recognition: channel 1 and 2 (same signal) give the same results")

    # n-best with word times; greedy via custom_configuration
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(max_alternatives=3, enable_word_time_offsets=True),
                                            audio=wav), timeout=60)
    alts = r.results[0].alternatives
    check(2 <= len(alts) <= 3 and len(set(a.transcript for a in alts)) == len(alts),
          "max_alternatives 3: %d distinct alternatives" % len(alts))
    ws = [w for x in r.results for w in x.alternatives[0].words]
    ok = len(ws) > 0 and all(0 <= w.start_time <= w.end_time <= dur * 1000 + 50 and 0 <= w.confidence <= 1
                             for w in ws)
    ok = ok and all(a.start_time <= b.start_time for a, b in zip(ws, ws[1:]))
    ok = ok and [w.word for w in ws] == " ".join(x.alternatives[0].transcript for x in r.results).split()
    check(ok, "word time offsets: %d words, ordered, inside the audio, matching the transcript" % len(ws))
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(custom_configuration={"decoder": "greedy"}), audio=wav),
                       timeout=60)
    well_formed(r, dur, "custom_configuration decoder=greedy")
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(enable_automatic_punctuation=True), audio=wav), timeout=60)
    check(text(r) == text(r_wav), "automatic punctuation without parley-nlu: unpunctuated, still OK")
    boosted = r_wav.results[0].alternatives[0].transcript.split()[0]
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(speech_contexts=[asr.SpeechContext(
        phrases=["zebra"], boost=20.0)]), audio=wav), timeout=60)
    well_formed(r, dur, "speech_contexts boost accepted (%s)" % boosted)

    # With parley-nlu running (tiny random punctuation model, tests/integration/nlu_tiny.py):
    # each transcript is what PunctuateText makes of the plain one
    if os.environ.get("PL_NLU"):
        import nlu_test_service
        import nlu_tiny
        from riva.proto import riva_nlp_pb2, riva_nlp_pb2_grpc
        nlu_models = os.path.join(g.TMP, "nlu-models")
        nlu_tiny.write_models(nlu_models)
        nlu_test_service.start_nlu(nats_url, nlu_models)
        plain = [x.alternatives[0].transcript for x in r_wav.results]
        want = list(riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch).PunctuateText(
            riva_nlp_pb2.TextTransformRequest(text=plain), timeout=30).text)
        r = stub.Recognize(asr.RecognizeRequest(config=cfg(enable_automatic_punctuation=True), audio=wav),
                           timeout=60)
        got = [x.alternatives[0].transcript for x in r.results]
        check(got == want and got != plain, "automatic punctuation through parley-nlu: %r" % got)

    # Long audio: four clips with 1.5 s of silence between (> 1 MiB: NATS frames) -> one
    # result per clip, audio_processed increasing
    clips = ["LJ001-0001.flac", "LJ001-0010.flac", "LJ001-0035.flac", "LJ001-0001.flac"]
    sig = []
    for cname in clips:
        x = np.frombuffer(sox_nd([os.path.join(LJ, cname), "-t", "raw", "-r", "16000", "-e", "signed",
                                  "-b", "16", "-c", "1", "-"]), dtype="<i2")
        sig += [x, np.zeros(24000, dtype="<i2")]
    long_pcm = np.concatenate(sig).tobytes()
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(encoding=ra.LINEAR_PCM, sample_rate_hertz=16000),
                                            audio=long_pcm), timeout=120)
    ldur = len(long_pcm) / 32000
    well_formed(r, ldur, "long raw audio %.1f s (%d bytes)" % (ldur, len(long_pcm)))
    check(len(r.results) == len(clips), "long audio split at the pauses: %d results for %d clips" % (
        len(r.results), len(clips)))

    # Concurrent requests share batched forwards: each gets what it gets alone
    import concurrent.futures as cf
    reqs = [(asr.RecognizeRequest(config=cfg(encoding=ra.LINEAR_PCM, sample_rate_hertz=16000),
                                  audio=long_pcm), text(r)),
            (asr.RecognizeRequest(config=cfg(), audio=wav), text(r_wav))] * 3
    with cf.ThreadPoolExecutor(6) as ex:
        got = list(ex.map(lambda q: text(stub.Recognize(q[0], timeout=120)), reqs))
    check(got == [q[1] for q in reqs], "6 concurrent requests (batched): the same transcripts as alone")
    st, m = g.http_get(asr_http, "/metrics")
    inf = g.metric(m, "parley_inference_count", model="asr-test")
    exe = g.metric(m, "parley_execution_count", model="asr-test")
    check(st == 200 and inf > exe > 0, "/metrics: %d segments in %d batched forwards" % (inf, exe))

    # Errors: INVALID_ARGUMENT naming the problem
    def err(config, audio, want, what, code=INVALID):
        c, d = code_of(lambda: stub.Recognize(asr.RecognizeRequest(config=config, audio=audio), timeout=30))
        check(c == code and want in d, "%s: %s (%s)" % (what, c.name, d))
    err(cfg(), b"", "empty", "zero-length audio")
    err(cfg(), os.urandom(5000), "not a WAV", "garbage bytes, encoding unset")
    err(cfg(encoding=ra.LINEAR_PCM), pcm, "sample_rate_hertz", "raw PCM without sample_rate_hertz")
    err(cfg(encoding=ra.LINEAR_PCM, sample_rate_hertz=96000), pcm, "96000", "raw PCM at 96 kHz")
    err(cfg(encoding=ra.LINEAR_PCM, sample_rate_hertz=16000), pcm[:1001], "", "odd byte count")
    err(cfg(encoding=7), wav[44:], "encoding 7", "unknown encoding value")
    err(cfg(), wav[:30], "header", "truncated WAV header")
    err(cfg(encoding=ra.FLAC), pcm, "FLAC", "encoding FLAC without a FLAC header")
    err(cfg(language_code="de-DE"), wav, "de-DE", "language_code de-DE")
    err(cfg(model="nope"), wav, "nope", "unknown model", code=grpc.StatusCode.NOT_FOUND)
    err(cfg(max_alternatives=1000), wav, "max_alternatives", "max_alternatives 1000")
    err(cfg(custom_configuration={"beam_width": "wide"}), wav, "beam_width", "bad custom_configuration value")
    err(asr.RecognitionConfig(), b"", "empty", "empty request")
    c, d = code_of(lambda: ch.unary_unary("/nvidia.riva.asr.RivaSpeechRecognition/Recognize")(
        b"\x0a\xff\xff\xff", timeout=10))
    check(c == INVALID, "undecodable protobuf: INVALID_ARGUMENT (%s)" % d)
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(encoding=ra.LINEAR_PCM, sample_rate_hertz=16000),
                                            audio=bytes(32000)), timeout=30)
    check(len(r.results) == 0, "one second of digital silence: no results")
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(), audio=wav), timeout=60)
    check(text(r) == text(r_wav), "service still answers after the errors")

    # SIGHUP reloads the model repository (runtime/model_repo.h): an added model is served, a
    # broken replacement of it is refused (the loaded one keeps answering), a removed one goes
    reload_checks(stub, asr_p, models, wav, text(r_wav))

    # `parley transcribe FILE` through the gateway prints one line per result
    parley = os.environ.get("PL_PARLEY")
    if parley:
        wav_path = os.path.join(g.TMP, "clip.wav")
        open(wav_path, "wb").write(wav)
        p = subprocess.run([parley, "transcribe", wav_path, "--server", "127.0.0.1:%d" % grpc_port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        lines = p.stdout.decode().splitlines()
        check(p.returncode == 0 and lines == [x.alternatives[0].transcript for x in r_wav.results],
              "parley transcribe prints the transcript (%r)" % lines)
        p = subprocess.run([parley, "transcribe", wav_path, "--server", "127.0.0.1:%d" % grpc_port,
                            "--word-time-offsets", "--max-alternatives", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(p.returncode == 0 and "conf" in p.stdout.decode(), "parley transcribe --max-alternatives 2 "
              "--word-time-offsets")
        bad = os.path.join(g.TMP, "bad.bin")
        open(bad, "wb").write(os.urandom(3000))
        p = subprocess.run([parley, "transcribe", bad, "--server", "127.0.0.1:%d" % grpc_port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(p.returncode == 1 and b"status 3" in p.stderr, "parley transcribe on garbage: exit 1, "
              "INVALID_ARGUMENT on stderr (%s)" % p.stderr.decode().strip())
    print("all checks passed")


def model_names(stub):
    rc = stub.GetRivaSpeechRecognitionConfig(asr.RivaSpeechRecognitionConfigRequest(), timeout=10)
    return sorted({c.model_name for c in rc.model_config})


def reload(asr_p, stub, want, what):
    """SIGHUP, then wait until the served models are `want`."""
    asr_p.send_signal(signal.SIGHUP)
    end = time.time() + 30
    while time.time() < end and model_names(stub) != want:
        time.sleep(0.1)
    check(model_names(stub) == want, "%s: models %s" % (what, model_names(stub)))


def reload_checks(stub, asr_p, models, wav, want_text):
    two = os.path.join(models, "asr-test2")
    shutil.copytree(os.path.join(models, "asr-test"), two)
    reload(asr_p, stub, ["asr-test", "asr-test2"], "a model added to the folder is served after SIGHUP")
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(model="asr-test2"), audio=wav), timeout=60)
    check(text(r) == want_text, "the added model answers Recognize (same weights, same transcript)")
    # a broken config.json renamed over the model's: refused, the loaded version keeps serving
    cj = os.path.join(two, "config.json")
    c = json.load(open(cj))
    c["vocab"] = c["vocab"][:3]
    with open(cj + ".new", "w") as f:
        json.dump(c, f)
    os.rename(cj + ".new", cj)
    log = os.path.join(g.TMP, "asr.log")
    mark = os.path.getsize(log)
    asr_p.send_signal(signal.SIGHUP)
    end = time.time() + 30
    while time.time() < end and "reloaded" not in open(log).read()[mark:]:
        time.sleep(0.1)
    tail = open(log).read()[mark:]
    check(re.search(r"asr-test2 \(\S+\) not reloaded: [^\"]*decoder[^\"]*the loaded version keeps serving",
                    tail) is not None, "a broken replacement is refused with a log line saying why")
    r = stub.Recognize(asr.RecognizeRequest(config=cfg(model="asr-test2"), audio=wav), timeout=60)
    check(text(r) == want_text, "the loaded asr-test2 keeps answering")
    shutil.rmtree(two)
    reload(asr_p, stub, ["asr-test"], "a removed model is no longer served after SIGHUP")
    c, d = code_of(lambda: stub.Recognize(asr.RecognizeRequest(config=cfg(model="asr-test2"), audio=wav),
                                          timeout=30))
    check(c == grpc.StatusCode.NOT_FOUND, "Recognize on the removed model: NOT_FOUND (%s)" % d)
    check(asr_p.poll() is None, "parley-asr is still running after three reloads")


# Ogg/Opus encoder through libsndfile (python3-soundfile is not guaranteed; use ctypes).
OPUS_ENC = r'''
import ctypes, sys, struct
data = sys.stdin.buffer.read()
import wave, io
w = wave.open(io.BytesIO(data)); rate = w.getframerate(); n = w.getnframes(); pcm = w.readframes(n)
sf = ctypes.CDLL("libsndfile.so.1")
class INFO(ctypes.Structure):
    _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]
info = INFO(0, rate, 1, 0x200000 | 0x0064, 0, 0)
import tempfile, os
path = tempfile.mktemp(suffix=".opus")
sf.sf_open.restype = ctypes.c_void_p
h = sf.sf_open(path.encode(), 0x20, ctypes.byref(info))
assert h, "sf_open"
buf = (ctypes.c_short * n).from_buffer_copy(pcm)
sf.sf_write_short(ctypes.c_void_p(h), buf, ctypes.c_int64(n))
sf.sf_close(ctypes.c_void_p(h))
sys.stdout.buffer.write(open(path, "rb").read()); os.unlink(path)
'''

if __name__ == "__main__":
    main()
