#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into tests/fuzz/corpus/<name>/.

Usage: python3 tests/fuzz/make_corpus.py [BUILD_DIR]   (BUILD_DIR: build, for the Python stubs
of the Riva protos in BUILD_DIR/python)

Each seed is a small, real input of its parser (a WAV header and a few samples, a serialized
request, a config.json of a shipped model, ...); the input layouts (a leading option byte,
parts separated by "\\n--\\n") are those the fuzz_<name>.c files describe. Rerunning rewrites
the same files; it never deletes any (tests/fuzz/regress/ holds the crash inputs).
"""
import base64
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
sys.path.insert(0, os.path.join(BUILD, "python"))

from riva.proto import riva_asr_pb2 as asr  # noqa: E402
from riva.proto import riva_audio_pb2 as audio  # noqa: E402
from riva.proto import riva_nlp_pb2 as nlp  # noqa: E402

SEP = b"\n--\n"


def put(name, fname, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def wav(rate=16000, ch=1, bits=16, fmt=1, n=64, data_size=None, extra=b""):
    """A RIFF/WAVE file: fmt chunk (PCM 1, float 3, A-law 6, mu-law 7), n frames of a tone."""
    bps = bits // 8
    if fmt == 3:
        pack = "<f" if bits == 32 else "<d"
        frames = b"".join(struct.pack(pack, 0.5 * math.sin(i / 3.0)) for i in range(n * ch))
    elif bits == 8 and fmt == 1:
        frames = bytes((128 + int(100 * math.sin(i / 3.0))) & 255 for i in range(n * ch))
    elif bits == 8:
        frames = bytes((i * 37) & 255 for i in range(n * ch))
    elif bits == 24:
        frames = b"".join(struct.pack("<i", int(2e6 * math.sin(i / 3.0)))[:3] for i in range(n * ch))
    elif bits == 32:
        frames = b"".join(struct.pack("<i", int(1e9 * math.sin(i / 3.0))) for i in range(n * ch))
    else:
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(i / 3.0))) for i in range(n * ch))
    fmt_chunk = struct.pack("<HHIIHH", fmt, ch, rate, rate * ch * bps, ch * bps, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + extra
    ds = len(frames) if data_size is None else data_size
    body += b"data" + struct.pack("<I", ds) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def s16(n=64):
    return b"".join(struct.pack("<h", int(8000 * math.sin(i / 3.0))) for i in range(n))


def audio_seeds():
    # byte 0: encoding index (0 unset, 1 LINEAR_PCM, 2 FLAC, 3 MULAW, 4 OGGOPUS, 5 ALAW),
    # byte 1: rate index (bits 0-2) and channels (bits 3-5)
    put("audio", "wav_s16_16k", b"\x00\x02" + wav())
    put("audio", "wav_s16_stereo_8k", b"\x01\x11" + wav(rate=8000, ch=2))
    put("audio", "wav_u8", b"\x00\x00" + wav(bits=8))
    put("audio", "wav_s24", b"\x00\x00" + wav(bits=24, n=32))
    put("audio", "wav_s32", b"\x00\x00" + wav(bits=32, n=32))
    put("audio", "wav_f32", b"\x00\x00" + wav(bits=32, fmt=3, n=32))
    put("audio", "wav_f64", b"\x00\x00" + wav(bits=64, fmt=3, n=16))
    put("audio", "wav_mulaw", b"\x00\x00" + wav(bits=8, fmt=7))
    put("audio", "wav_alaw", b"\x00\x00" + wav(bits=8, fmt=6))
    put("audio", "wav_streaming_size0", b"\x00\x00" + wav(data_size=0))
    put("audio", "wav_list_chunk", b"\x00\x00" + wav(extra=b"LIST\x04\x00\x00\x00INFO"))
    put("audio", "raw_s16_16k", b"\x01\x0a" + s16())
    put("audio", "raw_mulaw_8k", b"\x03\x09" + bytes(range(0, 256, 3)))
    put("audio", "raw_alaw_8k", b"\x05\x09" + bytes(range(1, 256, 5)))
    put("audio", "flac_magic", b"\x02\x02fLaC\x00\x00\x00\x22" + bytes(34))
    ogg = b"OggS\x00\x02" + bytes(20) + b"\x01\x13" + b"OpusHead\x01\x01\x38\x01\x80\x3e\x00\x00\x00\x00\x00"
    put("audio", "ogg_opus_head", b"\x04\x02" + ogg)


def recognition_config(**kw):
    c = asr.RecognitionConfig(encoding=kw.get("encoding", audio.LINEAR_PCM),
                              sample_rate_hertz=kw.get("rate", 16000),
                              language_code="en-US", max_alternatives=kw.get("alts", 1),
                              enable_automatic_punctuation=kw.get("punct", False),
                              enable_word_time_offsets=True,
                              audio_channel_count=kw.get("channels", 1))
    for k, v in kw.get("custom", {}).items():
        c.custom_configuration[k] = v
    if kw.get("boost"):
        c.speech_contexts.add(phrases=["parley", "nats"], boost=4.0)
    return c


def asr_seeds():
    r = asr.RecognizeRequest(config=recognition_config(), audio=wav())
    put("asr_request", "recognize_wav", b"\x00" + r.SerializeToString())
    r = asr.RecognizeRequest(config=recognition_config(encoding=audio.LINEAR_PCM, rate=8000,
                                                       custom={"decoder": "beam", "beam_width": "8",
                                                               "lm_alpha": "0.5", "lm": "false",
                                                               "pause_ms": "300",
                                                               "max_segment_s": "10"},
                                                       boost=True, alts=3),
                             audio=s16(200))
    put("asr_request", "recognize_raw_custom", b"\x00" + r.SerializeToString())
    r = asr.RecognizeRequest(config=recognition_config(encoding=audio.MULAW, rate=8000, channels=2),
                             audio=bytes(range(0, 200)))
    put("asr_request", "recognize_mulaw_stereo", b"\x00" + r.SerializeToString())
    q = asr.RivaSpeechRecognitionConfigRequest(model_name="asr-en-quartznet")
    put("asr_request", "get_config", b"\x01" + q.SerializeToString())
    sc = asr.StreamingRecognitionConfig(config=recognition_config(), interim_results=True)
    first = asr.StreamingRecognizeRequest(streaming_config=sc).SerializeToString()
    w = wav(n=400)
    chunks = [asr.StreamingRecognizeRequest(audio_content=w[i:i + 300]).SerializeToString()
              for i in range(0, len(w), 300)]
    put("asr_request", "streaming_wav", b"\x02" + SEP.join([first] + chunks))
    sc = asr.StreamingRecognitionConfig(
        config=recognition_config(encoding=audio.LINEAR_PCM, custom={"decoder": "greedy"}))
    first = asr.StreamingRecognizeRequest(streaming_config=sc).SerializeToString()
    put("asr_request", "streaming_raw", b"\x02" + SEP.join(
        [first, asr.StreamingRecognizeRequest(audio_content=s16(160)).SerializeToString()]))


def nlu_seeds():
    mp = nlp.NLPModelParams(model_name="", language_code="en-US")
    rpcs = [
        ("analyze_intent", nlp.AnalyzeIntentRequest(
            query="book a table for two at an italian restaurant in boston tomorrow",
            options=nlp.AnalyzeIntentOptions(domain="intent", lang="en-US"))),
        ("classify_text", nlp.TextClassRequest(text=["what is the weather", "play some music"],
                                               top_n=2, model=mp)),
        ("classify_tokens", nlp.TokenClassRequest(text=["john met smith in paris"], top_n=1,
                                                  model=mp)),
        ("analyze_entities", nlp.AnalyzeEntitiesRequest(query="john smith flew from london to paris")),
        ("punctuate_text", nlp.TextTransformRequest(text=["how are you doing today john"],
                                                    model=mp)),
        ("transform_text", nlp.TextTransformRequest(text=["what is the weather in boston"],
                                                    model=nlp.NLPModelParams(model_name="punct"))),
        ("get_riva_nlp_config", nlp.RivaNLPConfigRequest(model_name="")),
    ]
    for i, (name, m) in enumerate(rpcs):
        put("nlu_request", name, bytes([i]) + m.SerializeToString())
    put("nlu_request", "classify_tokens_unicode", b"\x02" + nlp.TokenClassRequest(
        text=["Caf\u00e9 \u4e2d\u6587 na\u00efve \U0001F600 x\u0301"], model=mp).SerializeToString())


def qa_seeds():
    ctx = "Parley is a set of C services. The gateway speaks gRPC and the workers talk over NATS."
    put("qa_request", "with_context",
        nlp.NaturalQueryRequest(query="What does the gateway speak?", top_n=2,
                                context=ctx).SerializeToString())
    put("qa_request", "kb", nlp.NaturalQueryRequest(query="Who holds models?").SerializeToString())
    put("qa_request", "fts_syntax", nlp.NaturalQueryRequest(
        query='"gateway" AND NEAR(x y) OR title:* -grpc ^nats').SerializeToString())


def small_seeds():
    # gateway_md: keys file, method path, metadata key/value parts
    put("gateway_md", "bearer", SEP.join([
        b"# keys\nabcdefgh12345678 alice\n\n  0123456789abcdef\tbob\nzzzzzzzzzz\n",
        b"/nvidia.riva.nlp.RivaLanguageUnderstanding/AnalyzeIntent",
        b"authorization", b"Bearer abcdefgh12345678", b"x-request-id", b"0123456789abcdef0123456789abcdef"]))
    put("gateway_md", "plain_key", SEP.join([
        b"0123456789abcdef\n", b"/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize",
        b"authorization", b"0123456789abcdef", b"x-request-id", b"bad id!"]))
    put("gateway_md", "bad_keys", SEP.join([b"short\n", b"/grpc.health.v1.Health/Check"]))

    # qa_kb: a document, then queries
    doc = ("# Parley\n\nParley is a set of C services.\nIt runs offline.\n\n   \n"
           "## Gateway\nThe gateway speaks gRPC (the Riva API).\n\n"
           "## Workers\nWorkers hold models and answer over NATS. " + "word " * 40 + "\n")
    put("qa_kb", "markdown", SEP.join([doc.encode(), b"What does the gateway speak?",
                                       b'"quoted" OR NEAR(a b) *', b"caf\xc3\xa9 \xe4\xb8\xad"]))
    put("qa_kb", "one_line", SEP.join([b"no blank lines at all", b"lines"]))

    # wordpiece: option byte, text, FZ_SEP, second text
    put("wordpiece", "pair", b"\x02" + SEP.join([b"What is the weather in Boston?",
                                                  b"Play some music, unable books table's (two)."]))
    put("wordpiece", "unicode", b"\x41" + SEP.join(["Caf\u00e9 \u4e2d\u6587 na\u00efve\u0301 \U0001F600 "
                                                    "\u00c9COLE \t\x01 a-b".encode(),
                                                    b"unableunableunableunableunable 0120"]))
    put("wordpiece", "windows", b"\xc7" + SEP.join([b"what is", b"book a table " * 20]))

    # arpa
    arpa = ("\\data\\\nngram 1=6\nngram 2=4\nngram 3=2\n\n"
            "\\1-grams:\n-1.0\t<s>\t-0.3\n-1.2\t</s>\n-2.0\t<unk>\n-0.9\tbook\t-0.2\n"
            "-1.1\ta\t-0.25\n-1.3\ttable\t-0.1\n\n"
            "\\2-grams:\n-0.5\t<s> book\t-0.1\n-0.4\tbook a\t-0.2\n-0.3\ta table\n-0.2\ttable </s>\n\n"
            "\\3-grams:\n-0.1\t<s> book a\n-0.05\tbook a table\n\n\\end\\\n")
    put("arpa", "trigram", arpa)
    put("arpa", "unigram_spaces", "\\data\\\nngram 1=3\n\n\\1-grams:\n-1 <s> -0.5\n-1 </s>\n-0.5 hello\n\n\\end\\\n")

    # itn: a transcript, then optionally a profanity word list
    put("itn", "numbers", "i paid twenty five dollars and fifty cents on the twenty first of may "
        "nineteen ninety five, that is two point five percent of minus four thousand and three.")
    put("itn", "years_digits", "nineteen oh five one two three oh nine twenty twenty one hundredth "
        "three million the nineteen sixties")
    put("itn", "profanity", SEP.join([b"well darn it, HECK. gosh darn!", b"darn\nheck\ngosh darn\n\n"]))

    # nats_msg: messages with header blocks
    put("nats_msg", "request", b"NATS/1.0\r\nParley-Request-Id: 0123456789abcdef0123456789abcdef\r\n"
        b"Parley-Timeout-Us: 2500000\r\nParley-User: alice\r\n\r\npayload")
    put("nats_msg", "frames", SEP.join([
        b"NATS/1.0\r\nParley-Kind: data\r\nParley-Seq: 1\r\nParley-More: 1\r\n\r\nabc",
        b"NATS/1.0\r\nParley-Kind: data\r\nParley-Seq: 2\r\nParley-More: 1\r\n\r\ndef",
        b"NATS/1.0\r\nParley-Kind: data\r\nParley-Seq: 3\r\n\r\nghi"]))
    put("nats_msg", "status", b"NATS/1.0\r\nParley-Status: 3\r\nParley-Error: bad \x01 request\r\n\r\n")
    put("nats_msg", "no_responders", b"NATS/1.0 503\r\n\r\n")
    put("nats_msg", "timeout_neg", b"NATS/1.0\r\nParley-Timeout-Us: -5\r\nParley-Timeout-Us: 9223372036854775807\r\n\r\n")

    # config: the shipped config and the gateway section's variants
    with open(os.path.join(ROOT, "config", "parley.json"), "rb") as f:
        put("config", "parley_json", f.read())
    put("config", "types", json.dumps({"gw": {"listen": "0.0.0.0:1", "max_bytes": 2048, "ratio": 1.5,
                                              "tls": True}, "nlu": {"model": "m", "unbounded": -7},
                                       "gateway": {"validate_requests": False, "tls_cert": "c"}}))
    put("config", "errors", '{"gw": {"max_bytes": 1e400, "tls": "yes", "listne": 1}, "gw": {}}')

    # model_config: the shipped models' config.json
    for m in sorted(os.listdir(os.path.join(ROOT, "models"))):
        p = os.path.join(ROOT, "models", m, "config.json")
        if os.path.isfile(p):
            with open(p, "rb") as f:
                put("model_config", m, f.read())

    # safetensors
    def st(tensors, meta=None):
        hdr, blob = {}, b""
        for name, dt, shape, data in tensors:
            hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
            blob += data
        if meta:
            hdr["__metadata__"] = meta
        h = json.dumps(hdr).encode()
        return struct.pack("<Q", len(h)) + h + blob
    f32 = struct.pack("<4f", 1, -2, 3.5, 0)
    put("safetensors", "mixed", st([("w", "F32", [2, 2], f32), ("h", "F16", [3], b"\x00\x3c\x00\xc0\x00\x7c"),
                                    ("b", "BF16", [2], b"\x80\x3f\x00\x40"), ("ids", "I64", [1, 1], bytes(8)),
                                    ("i8", "I8", [], b"\x05")], {"format": "pt"}))
    put("safetensors", "empty", st([]))
    put("safetensors", "scalar_zero", st([("s", "F32", [], f32[:4]), ("z", "F32", [0, 3], b"")]))


def ws_seeds():
    # ws: a byte choosing the socket ('c' converse, 'a' transcription, 't' synthesis), then
    # parts. converse: the Origin, then messages as web/parley.js sends them.
    j = lambda o: json.dumps(o).encode()
    put("ws", "converse_voice", b"c" + SEP.join([
        b"http://127.0.0.1:8080",
        j({"type": "start", "protocol": 1, "user": "web-user", "session_id": "s-0123abcd",
           "context_id": "", "dialog": "assistant", "language": "en-US", "interim_results": True,
           "nlu": True, "barge_in": True, "api_key": "abcdefgh12345678",
           "input_audio": {"sample_rate_hz": 16000, "endpointing": "server"},
           "output_audio": {"sample_rate_hz": 22050, "voice": "English-US.Female-1"}}),
        j({"type": "end_of_utterance"}), j({"type": "interrupt"}), j({"type": "list_contexts"}),
        j({"type": "switch_context", "context_id": "ctx-2"}), j({"type": "new_context", "name": "trip"}),
        j({"type": "stop"})]))
    put("ws", "converse_text", b"c" + SEP.join([
        b"https://app.example.com",
        j({"type": "start", "protocol": 1, "user": "u", "session_id": "", "context_id": "",
           "dialog": "coffee_shop", "language": "en-US", "interim_results": False, "nlu": False,
           "barge_in": False}),
        j({"type": "text", "text": "I'd like a large latte, please"}),
        j({"type": "start", "input_audio": {"endpointing": "push_to_talk"}}),
        j({"type": "start", "dialog": "../etc", "protocol": 2}),
        b'{"type": "nope"}', b"[1,2]", b"{not json"]))
    # realtime: the query, the POST body, then events as the official clients send them
    post = {"input_audio_format": "pcm16",
            "input_audio_transcription": {"language": "en-US", "model": "", "prompt": ""},
            "input_audio_params": {"sample_rate_hz": 16000, "num_channels": 1},
            "recognition_config": {"max_alternatives": 1, "enable_automatic_punctuation": True,
                                   "enable_word_time_offsets": True, "enable_profanity_filter": False,
                                   "enable_verbatim_transcripts": False,
                                   "custom_configuration": "a:1,b:2"},
            "endpointing_config": {"start_history": 200, "stop_threshold": 0.5},
            "speaker_diarization": {"enable_speaker_diarization": True, "max_speaker_count": 4},
            "word_boosting": {"enable_word_boosting": True, "word_boosting_list": [{"phrases": ["Parley", "NATS"], "boost": 20.0}]},
            "client_secret": None}
    audio = base64.b64encode(s16(80)).decode()
    put("ws", "realtime_asr", b"a" + SEP.join([
        b"intent=transcription&api_key=abcdefgh12345678", b"{}",
        j({"type": "transcription_session.update", "session": post}),
        j({"type": "input_audio_buffer.append", "audio": audio}),
        j({"type": "input_audio_buffer.commit"}),
        j({"type": "input_audio_buffer.append", "audio": audio}),
        j({"type": "input_audio_buffer.done"})]))
    put("ws", "realtime_asr_file", b"a" + SEP.join([
        b"intent=transcription", j({"input_audio_format": "none"}),
        j({"type": "transcription_session.update",
           "session": {"input_audio_format": "none",
                       "recognition_config": {"custom_configuration": {"k": "v"}}}}),
        j({"type": "input_audio_buffer.append", "audio": base64.b64encode(wav()).decode()}),
        j({"type": "input_audio_buffer.append", "audio": "AA=="}),
        j({"type": "input_audio_buffer.append", "audio": "!!not base64!!"}),
        j({"type": "transcription_session.update",
           "session": {"input_audio_params": {"sample_rate_hz": "fast"}}}),
        j({"type": "input_audio_buffer.done"})]))
    put("ws", "realtime_tts", b"t" + SEP.join([
        b"intent=synthesize", b"",
        j({"event_id": "event_1", "type": "synthesize_session.update",
           "session": {"input_text_synthesis": {"language_code": "en-US",
                                                "voice_name": "English-US.Female-1"},
                       "output_audio_params": {"sample_rate_hz": 44100, "audio_format": "LINEAR_PCM"},
                       "custom_dictionary": "Parley  P AA1 R L IY0"}}),
        j({"type": "input_text.append", "text": "Hello from Parley."}),
        j({"type": "input_text.commit"}),
        j({"type": "input_text.append", "text": "A second line."}),
        j({"type": "input_text.append", "text": "And a third."}),
        j({"type": "input_text.commit"}),
        j({"type": "input_text.done"})]))
    # a stream that fails (first byte: bit 7, bits 4-6 = k): parley-asr's ends after its
    # config (k = 1): the audio after it is answered once as coming after the end; parley-tts's
    # cannot be opened (k = 0): the commit gets an error, done still ends the session
    put("ws", "realtime_asr_stream_ends", bytes([0x91]) + SEP.join([
        b"intent=transcription", b"",
        j({"type": "transcription_session.update", "session": {"input_audio_format": "pcm16"}}),
        j({"type": "input_audio_buffer.append", "audio": audio}),
        j({"type": "input_audio_buffer.append", "audio": audio}),
        j({"type": "transcription_session.update", "session": {}}),
        j({"type": "input_audio_buffer.done"})]))
    put("ws", "realtime_tts_no_worker", bytes([0x80]) + SEP.join([
        b"intent=synthesize", b"",
        j({"type": "synthesize_session.update", "session": {}}),
        j({"type": "input_text.append", "text": "Hello from Parley."}),
        j({"type": "input_text.commit"}),
        j({"type": "input_text.append", "text": "Again."}),
        j({"type": "input_text.done"}),
        j({"type": "input_text.append", "text": "too late"})]))
    put("ws", "realtime_tts_bad", b"t" + SEP.join([
        b"intent=synthesis&x=%41", j({"output_audio_params": {"audio_format": "MP3"}}),
        j({"type": "input_text.append", "text": "hello"}),
        j({"type": "synthesize_session.update", "session": {"zero_shot_config": {}}}),
        j({"type": "synthesize_session.update", "session": "x"}),
        j({"type": "synthesize_session.update",
           "session": {"output_audio_params": {"audio_format": "OGGOPUS", "sample_rate_hz": 0}}}),
        j({"type": "input_audio_buffer.append", "audio": "AAAA"}),
        j({"type": "input_text.append", "text": "caf\u00e9 \u4e2d"}),
        j({"type": "input_text.done"})]))


def pipeline_seeds():
    # pipeline: the shipped pipelines/*.json, and a few that fail
    d = os.path.join(ROOT, "pipelines")
    for f in sorted(os.listdir(d)):
        if f.endswith(".json"):
            with open(os.path.join(d, f), "rb") as fh:
                put("pipeline", f[:-5], fh.read())
    put("pipeline", "errors", '{\n  "pipeline": "x",\n  "nlu": {"model": 3},\n  "qa": {"top_n": 11}\n}\n')
    put("pipeline", "tts_only", '{"pipeline": "a-b_C9", "tts": {"encoding": "ALAW", '
        '"sample_rate_hz": 8000}, "qa": {"threshold": 1}, "asr": {"endpointing_silence_ms": 0}}')


if __name__ == "__main__":
    audio_seeds()
    asr_seeds()
    nlu_seeds()
    qa_seeds()
    small_seeds()
    ws_seeds()
    pipeline_seeds()
    total = 0
    for d, _, files in os.walk(os.path.join(HERE, "corpus")):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    print(f"corpus: {total} bytes")
