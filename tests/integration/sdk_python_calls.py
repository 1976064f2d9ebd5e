"""Runs inside a virtual environment where the Parley Python SDK (clients/python) is installed
with pip: every call of the SDK against a running gateway, the results printed as one JSON
document on stdout for sdk_python.py to compare with what raw grpcio stubs get. Uses only the
installed `parley` package and the standard library (no stubs of the build tree on the path).

    python sdk_python_calls.py calls  SERVER WAV SPOKEN.wav CONTEXT_TEXT
    python sdk_python_calls.py tls    SERVER CA.pem KEY
    python sdk_python_calls.py bench  SERVER CALLS
"""
import hashlib
import json
import statistics
import sys
import time
import wave

import parley


def digest(b):
    return {"n": len(b), "sha256": hashlib.sha256(b).hexdigest()}


def failure(fn):
    """What fn raised: the parley.Error subclass, its status, code and message."""
    try:
        fn()
    except parley.Error as e:
        return {"class": type(e).__name__, "status": e.status, "code": e.code.name,
                "message": e.message, "str": str(e), "rpc": e.rpc}
    except Exception as e:  # a local mistake: Python's own exception
        return {"class": type(e).__name__, "local": True, "str": str(e)}
    return {"class": None}


def speech(c, wav, out):
    t = c.recognize(wav, word_offsets=True)
    out["recognize"] = {"lines": [r.transcript for r in t.results], "text": t.text,
                        "words": sum(len(r.words) for r in t.results),
                        "first_word": t.results[0].words[0].__dict__ if t.results and
                        t.results[0].words else None}
    rs = list(c.recognize_stream(wav, interim_results=True))
    out["stream_path"] = {"finals": [r.transcript for r in rs if r.is_final],
                          "interims": sum(not r.is_final for r in rs)}

    def mic():  # a microphone stand-in: 3200-byte chunks of the open file
        with open(wav, "rb") as f:
            while True:
                b = f.read(3200)
                if not b:
                    return
                yield b
    rs = list(c.recognize_stream(mic()))
    out["stream_iter"] = {"finals": [r.transcript for r in rs if r.is_final]}
    with open(wav, "rb") as f:
        out["recognize_file"] = c.recognize(f).text
    out["recognize_nope"] = failure(lambda: c.recognize(wav, model="nope"))
    out["stream_nope"] = failure(lambda: list(c.recognize_stream(wav, model="nope")))
    out["stream_raw_no_rate"] = failure(lambda: c.recognize_stream(b"\0\0" * 800))
    out["recognize_garbage"] = failure(lambda: c.recognize(b"RIFF not really a wav file"))


def synthesis(c, text, out, tmp):
    a = c.synthesize(text)
    a.write_wav(tmp)
    w = wave.open(tmp)
    out["synthesize"] = dict(digest(a.data), rate=w.getframerate(), width=w.getsampwidth(),
                             frames_equal=w.readframes(w.getnframes()) == a.data,
                             duration_s=a.duration_s)
    chunks = list(c.synthesize_stream(text))
    out["synthesize_stream"] = dict(digest(b"".join(chunks)), chunks=len(chunks))
    it = c.synthesize_stream(text)
    first = next(it)
    it.close()  # dropped early: the call is cancelled, the client goes on
    out["stream_dropped"] = {"first": len(first), "after": c.punctuate("hello there")}
    out["synthesize_voice_nope"] = failure(lambda: c.synthesize(text, voice="nope"))
    out["synthesize_empty"] = failure(lambda: c.synthesize(""))
    out["synthesize_bad_encoding"] = failure(lambda: c.synthesize(text, encoding="mp3"))


def language(c, text, context, out):
    it = c.analyze_intent(text)
    out["intent"] = {"intent": it.intent, "score": it.score, "domain": it.domain,
                     "slots": [s.__dict__ for s in it.slots]}
    out["entities"] = [e.__dict__ for e in c.analyze_entities(
        "The Parley manual was written by Ada Lovelace in London.")]
    out["tokens"] = [e.__dict__ for e in c.classify_tokens(text)]
    out["punct"] = c.punctuate(text)
    out["intent_domain_nope"] = failure(lambda: c.analyze_intent(text, domain="no-such-domain"))
    out["punct_model_nope"] = failure(lambda: c.punctuate(text, model="no-such-model"))
    q = "Who wrote the Parley manual?"
    out["qa_context"] = [a.__dict__ for a in c.natural_query(q, context=context)]
    out["qa_kb"] = [a.__dict__ for a in c.natural_query(q, top_n=2)]
    out["ask"] = c.ask(q, context=context).__dict__
    out["qa_empty"] = failure(lambda: c.natural_query(""))


def turn_summary(t):
    return {"session": t.session_id, "intent": t.nlu.intent if t.nlu else None,
            "slots": {s.name: s.value for s in t.nlu.slots} if t.nlu else {},
            "replies": t.replies, "transcript": t.transcript, "audio": len(t.audio),
            "events": [int(e.type) for e in t.events], "complete": t.complete}


def dialog(c, spoken, out):
    with c.conversation(user_id="py-alice") as conv:
        a = conv.say("hello")
        b = conv.say("book a table for four in boston")
        out["conversation"] = [turn_summary(a), turn_summary(b)]
        out["conversation_session"] = conv.session_id
    sid = out["conversation_session"]
    out["converse_again"] = turn_summary(c.converse("tomorrow at seven pm", user_id="py-alice",
                                                    session_id=sid))
    out["converse_audio"] = turn_summary(c.converse(audio=spoken, user_id="py-alice",
                                                    audio_out=True, output_sample_rate_hz=16000))
    out["converse_other_user"] = failure(lambda: c.converse("hello", user_id="py-mallory",
                                                            session_id=sid))
    out["converse_both"] = failure(lambda: c.converse("hi", audio=spoken))


def calls(server, wav, spoken, context):
    out = {"health": None}
    with parley.Client(server, timeout=60) as c:
        out["health"] = c.health()
        speech(c, wav, out)
        synthesis(c, "Hello from the Python SDK. This sentence is long enough to come in "
                  "several chunks.", out, wav + ".py-tts.wav")
        language(c, "book a table for four in boston tomorrow", context, out)
        dialog(c, spoken, out)
    out["bad_key"] = failure(lambda: parley.Client(server, api_key="has space"))
    out["missing_ca"] = failure(lambda: parley.Client(server, tls_ca="/nonexistent.pem"))
    out["unavailable"] = failure(lambda: parley.Client("127.0.0.1:1", timeout=5).punctuate("x"))
    return out


def tls(server, ca, key):
    text = "book a table for four in boston tomorrow"
    out = {}
    with parley.Client(server, tls_ca=ca, api_key=key) as c:
        out["with_key"] = c.punctuate(text)
    with open(ca, "rb") as f:
        pem = f.read()
    with parley.Client(server, tls_ca=pem, api_key=key) as c:
        out["ca_bytes"] = c.punctuate(text)
    out["no_key"] = failure(lambda: parley.Client(server, tls_ca=ca).punctuate(text))
    out["wrong_key"] = failure(lambda: parley.Client(server, tls_ca=ca,
                                                     api_key="wrong-key-0123456789")
                               .punctuate(text))
    out["plaintext"] = failure(lambda: parley.Client(server, api_key=key, timeout=3)
                               .punctuate(text))
    return out


def bench(server, n):
    """PunctuateText through the SDK and through a raw grpcio stub (the SDK's own generated
    stub, a channel of its own), call by call in turn (SDK first in every other pair), so that
    the two see the same load on a busy machine; per-call latency in us."""
    import grpc
    from parley._proto.riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc
    text = "hello how are you today"
    c = parley.Client(server, timeout=10)
    ch = grpc.insecure_channel(server)
    stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(ch)
    sdk, raw = [], []

    def raw_call():
        return stub.PunctuateText(nlp.TextTransformRequest(text=[text]), timeout=10).text[0]

    for _ in range(20):  # warm both channels
        c.punctuate(text)
        raw_call()
    for i in range(max(2, n)):
        for fn, acc in ((c.punctuate, sdk), (None, raw)) if i % 2 == 0 else \
                ((None, raw), (c.punctuate, sdk)):
            t0 = time.perf_counter()
            fn(text) if fn else raw_call()
            acc.append((time.perf_counter() - t0) * 1e6)
    r = {"calls": len(sdk), "sdk_p50_us": statistics.median(sdk), "raw_p50_us":
         statistics.median(raw), "sdk_mean_us": statistics.fmean(sdk),
         "raw_mean_us": statistics.fmean(raw)}
    r["ratio_p50"] = r["sdk_p50_us"] / r["raw_p50_us"]
    r["ratio_mean"] = r["sdk_mean_us"] / r["raw_mean_us"]
    return r


def main():
    mode = sys.argv[1]
    if mode == "calls":
        out = calls(*sys.argv[2:6])
    elif mode == "tls":
        out = tls(*sys.argv[2:5])
    else:
        out = bench(sys.argv[2], int(sys.argv[3]))
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
