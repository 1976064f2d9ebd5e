"""parley.Client: a channel to Parley's gateway and one method per call it serves.

    with parley.Client("127.0.0.1:50051", api_key="KEY", tls_ca="ca.pem") as c:
        print(c.recognize("clip.wav").text)

A Client may be shared by threads (gRPC channels are thread-safe); a Conversation or the
iterator a streaming call returns belongs to one thread at a time.
"""
import os
import re
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union

import grpc

from . import _audio
from ._audio import AudioSource, AudioStream
from ._proto.parley.dialog.v1 import dialog_pb2 as D, dialog_pb2_grpc
from ._proto.riva.proto import health_pb2, health_pb2_grpc
from ._proto.riva.proto import riva_asr_pb2 as asr, riva_asr_pb2_grpc
from ._proto.riva.proto import riva_nlp_pb2 as nlp, riva_nlp_pb2_grpc
from ._proto.riva.proto import riva_tts_pb2 as tts, riva_tts_pb2_grpc
from .dialog import Conversation, converse_config
from .errors import from_rpc_error
from .results import (Answer, Audio, Encoding, Entity, Intent, RecognitionResult, Slot,
                      Transcript, Turn, Word)

DEFAULT_TARGET = "127.0.0.1:50051"
_KEY = re.compile(r"^[\x21-\x7e]{1,400}$")
T = TypeVar("T")


def _result(r, is_final=True, stability=0.0) -> RecognitionResult:
    """The best alternative of a (streaming) recognition result."""
    alts = list(r.alternatives)
    best = alts[0] if alts else None
    words = [Word(w.word, w.start_time, w.end_time, w.confidence) for w in best.words] if best else []
    return RecognitionResult(transcript=best.transcript if best else "",
                             confidence=best.confidence if best else 0.0, is_final=is_final,
                             stability=stability, audio_processed_s=r.audio_processed,
                             channel=r.channel_tag, words=words,
                             alternatives=[a.transcript for a in alts])


def _token(v) -> Tuple[str, float, int, int]:
    label = v.label[0] if len(v.label) else None
    span = v.span[0] if len(v.span) else None
    return (label.class_name if label else "", label.score if label else 0.0,
            span.start if span else 0, span.end if span else 0)


def _entities(r) -> List[Entity]:
    seq = r.results[0].results if len(r.results) else []
    out = []
    for v in seq:
        label, score, start, end = _token(v)
        out.append(Entity(v.token, label, score, start, end))
    return out


class Client:
    """A channel to one Parley gateway.

    target: "host:port" (default 127.0.0.1:50051). api_key: sent with every call as
    "authorization: Bearer KEY", what the gateway's api_keys_file checks. tls: TLS with the
    system's CA certificates; tls_ca: a PEM CA bundle (a path or its bytes) to verify the
    gateway with (implies tls); tls_server_name: the name the certificate must carry when it
    differs from target's host. timeout: seconds each call may take (streams: the whole
    call; None = no limit). Connecting is lazy: a gateway that is not there raises
    parley.Unavailable on the first call.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, api_key: Optional[str] = None,
                 tls: bool = False, tls_ca: Optional[Union[str, bytes, "os.PathLike[str]"]] = None,
                 tls_server_name: Optional[str] = None, timeout: Optional[float] = 60.0,
                 options: Sequence[Tuple[str, object]] = ()):
        if api_key is not None and not _KEY.match(api_key):
            raise ValueError("api_key: 1-400 printable characters without spaces")
        opts = [("grpc.max_receive_message_length", 1 << 30),
                ("grpc.max_send_message_length", 1 << 30)] + list(options)
        if tls_ca is not None or tls:
            ca = None
            if isinstance(tls_ca, bytes):
                ca = tls_ca
            elif tls_ca is not None:
                with open(tls_ca, "rb") as f:
                    ca = f.read()
            if tls_server_name:
                opts.append(("grpc.ssl_target_name_override", tls_server_name))
            creds = grpc.ssl_channel_credentials(root_certificates=ca)
            self._channel = grpc.secure_channel(target, creds, options=opts)
        else:
            self._channel = grpc.insecure_channel(target, options=opts)
        self.target = target
        self.timeout = timeout
        self._md: Tuple[Tuple[str, str], ...] = (("authorization", "Bearer " + api_key),) \
            if api_key else ()
        self._asr = riva_asr_pb2_grpc.RivaSpeechRecognitionStub(self._channel)
        self._tts = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(self._channel)
        self._nlp = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(self._channel)
        self._dialog = dialog_pb2_grpc.DialogStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the channel; calls in flight end with parley.Cancelled."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _timeout(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else timeout

    def _unary(self, rpc: str, method: Callable, request, timeout: Optional[float]):
        try:
            return method(request, timeout=self._timeout(timeout), metadata=self._md)
        except grpc.RpcError as e:
            raise from_rpc_error(rpc, e) from None

    def _stream(self, rpc: str, method: Callable, requests: Iterator, timeout: Optional[float],
                convert: Callable[[object], Iterable[T]]) -> Iterator[T]:
        """The responses of a bidirectional call, converted; the call starts on the first
        next() and is cancelled when the iterator is dropped before its end."""
        call = method(requests, timeout=self._timeout(timeout), metadata=self._md)
        try:
            for resp in call:
                yield from convert(resp)
        except grpc.RpcError as e:
            raise from_rpc_error(rpc, e) from None
        finally:
            call.cancel()

    def health(self, service: str = "", *, timeout: Optional[float] = None) -> str:
        """The gateway's grpc.health.v1 status of service ("" = the whole server):
        "SERVING", "NOT_SERVING", ..."""
        r = self._unary("Health.Check", self._health.Check,
                        health_pb2.HealthCheckRequest(service=service), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)

    # ------------------------------------------------------------------ speech recognition

    @staticmethod
    def _asr_config(model, language, encoding, sample_rate_hz, channels, punctuation,
                    word_offsets, max_alternatives):
        return asr.RecognitionConfig(
            encoding=int(_audio.encoding_of(encoding)), sample_rate_hertz=sample_rate_hz,
            audio_channel_count=channels, language_code=language or "en-US",
            model=model or "", max_alternatives=max_alternatives,
            enable_automatic_punctuation=punctuation, enable_word_time_offsets=word_offsets)

    def recognize(self, audio: AudioSource, *, model: Optional[str] = None,
                  language: str = "en-US", encoding: Union[Encoding, str, None] = None,
                  sample_rate_hz: int = 0, channels: int = 0, punctuation: bool = False,
                  word_offsets: bool = False, max_alternatives: int = 1,
                  timeout: Optional[float] = None) -> Transcript:
        """Recognize a whole file (WAV, FLAC, Ogg/Opus with its header; or raw samples with
        encoding and sample_rate_hz): bytes, a path or a binary file. One result per
        utterance; .text joins them."""
        cfg = self._asr_config(model, language, encoding, sample_rate_hz, channels, punctuation,
                               word_offsets, max_alternatives)
        r = self._unary("Recognize", self._asr.Recognize,
                        asr.RecognizeRequest(config=cfg, audio=_audio.read_all(audio)), timeout)
        return Transcript([_result(x) for x in r.results])

    def recognize_stream(self, audio: AudioStream, *, model: Optional[str] = None,
                         language: str = "en-US", encoding: Union[Encoding, str, None] = None,
                         sample_rate_hz: int = 0, channels: int = 0, punctuation: bool = False,
                         word_offsets: bool = False, interim_results: bool = False,
                         chunk_ms: int = 100, realtime: bool = False,
                         timeout: Optional[float] = None) -> Iterator[RecognitionResult]:
        """StreamingRecognize: results as they come (interim ones too with interim_results;
        is_final tells them apart). audio: a WAV file (bytes, path or binary file) sent in
        chunk_ms pieces (at the pace of the audio with realtime), raw samples with encoding
        and sample_rate_hz, or an iterable of chunks (a microphone; a WAV's header rides in
        the first)."""
        enc = _audio.encoding_of(encoding)
        pieces = _audio.chunks(audio, enc, sample_rate_hz, channels, chunk_ms, realtime,
                               "StreamingRecognize")
        cfg = self._asr_config(model, language, enc, sample_rate_hz, channels, punctuation,
                               word_offsets, 1)
        first = asr.StreamingRecognizeRequest(streaming_config=asr.StreamingRecognitionConfig(
            config=cfg, interim_results=interim_results))

        def requests():
            yield first
            for c in pieces:
                yield asr.StreamingRecognizeRequest(audio_content=c)

        def convert(resp):
            return [_result(r, r.is_final, r.stability) for r in resp.results]

        return self._stream("StreamingRecognize", self._asr.StreamingRecognize, requests(),
                            timeout, convert)

    # ------------------------------------------------------------------ speech synthesis

    @staticmethod
    def _tts_request(text, voice, language, sample_rate_hz, encoding):
        enc = _audio.encoding_of(encoding)
        return tts.SynthesizeSpeechRequest(
            text=text, voice_name=voice or "", language_code=language or "en-US",
            sample_rate_hz=sample_rate_hz,
            encoding=int(enc if enc != Encoding.AUTO else Encoding.LINEAR_PCM))

    def synthesize(self, text: str, *, voice: Optional[str] = None, language: str = "en-US",
                   sample_rate_hz: int = 22050,
                   encoding: Union[Encoding, str, None] = Encoding.LINEAR_PCM,
                   timeout: Optional[float] = None) -> Audio:
        """Speech for text in one call: Audio (raw samples; .write_wav(path), .duration_s)."""
        rq = self._tts_request(text, voice, language, sample_rate_hz, encoding)
        r = self._unary("Synthesize", self._tts.Synthesize, rq, timeout)
        return Audio(r.audio, sample_rate_hz, Encoding(rq.encoding))

    def synthesize_stream(self, text: Union[str, Iterable[str]], *, voice: Optional[str] = None,
                          language: str = "en-US", sample_rate_hz: int = 22050,
                          encoding: Union[Encoding, str, None] = Encoding.LINEAR_PCM,
                          timeout: Optional[float] = None) -> Iterator[bytes]:
        """SynthesizeOnline: the audio chunk by chunk as the voice makes it (raw samples as
        encoding says). text: one text, or an iterable of texts sent as requests on one call."""
        texts = [text] if isinstance(text, str) else text
        self._tts_request("", voice, language, sample_rate_hz, encoding)  # checks encoding now
        requests = (self._tts_request(t, voice, language, sample_rate_hz, encoding) for t in texts)

        def convert(resp):
            return [resp.audio] if resp.audio else []

        return self._stream("SynthesizeOnline", self._tts.SynthesizeOnline, requests, timeout,
                            convert)

    # ------------------------------------------------------------------ language understanding

    def analyze_intent(self, query: str, *, domain: Optional[str] = None,
                       timeout: Optional[float] = None) -> Intent:
        """Intent and slots of query (domain: the intent model; None = the server's)."""
        rq = nlp.AnalyzeIntentRequest(query=query,
                                      options=nlp.AnalyzeIntentOptions(domain=domain or ""))
        r = self._unary("AnalyzeIntent", self._nlp.AnalyzeIntent, rq, timeout)
        slots = []
        for s in r.slots:
            label, score, start, end = _token(s)
            slots.append(Slot(label, s.token, score, start, end))
        dom = r.domain.class_name if r.HasField("domain") and r.domain.class_name else r.domain_str
        return Intent(r.intent.class_name, r.intent.score, dom, slots)

    def classify_tokens(self, text: str, *, model: Optional[str] = None,
                        timeout: Optional[float] = None) -> List[Entity]:
        """Every word of text with its best tag (the named-entity model unless model says)."""
        rq = nlp.TokenClassRequest(text=[text], model=nlp.NLPModelParams(model_name=model or ""))
        return _entities(self._unary("ClassifyTokens", self._nlp.ClassifyTokens, rq, timeout))

    def analyze_entities(self, text: str, *, timeout: Optional[float] = None) -> List[Entity]:
        """Named-entity spans of text (PER, LOC, ORG, MISC)."""
        rq = nlp.AnalyzeEntitiesRequest(query=text)
        return _entities(self._unary("AnalyzeEntities", self._nlp.AnalyzeEntities, rq, timeout))

    def punctuate(self, text: str, *, model: Optional[str] = None,
                  timeout: Optional[float] = None) -> str:
        """text with case and punctuation restored."""
        rq = nlp.TextTransformRequest(text=[text])
        if model:
            rq.model.model_name = model
        r = self._unary("PunctuateText", self._nlp.PunctuateText, rq, timeout)
        if len(r.text) != 1:
            raise ValueError("PunctuateText: %d texts in the answer, not 1" % len(r.text))
        return r.text[0]

    # ------------------------------------------------------------------ question answering

    def natural_query(self, question: str, *, context: Optional[str] = None, top_n: int = 1,
                      timeout: Optional[float] = None) -> List[Answer]:
        """Answers to question, best first: from context (a text), or from the server's
        knowledge base when context is None."""
        rq = nlp.NaturalQueryRequest(query=question, context=context or "", top_n=top_n)
        r = self._unary("NaturalQuery", self._nlp.NaturalQuery, rq, timeout)
        return [Answer(x.answer, x.score) for x in r.results]

    def ask(self, question: str, *, context: Optional[str] = None,
            timeout: Optional[float] = None) -> Answer:
        """The best answer to question (Answer("", 0.0) when there is none)."""
        answers = self.natural_query(question, context=context, top_n=1, timeout=timeout)
        return answers[0] if answers else Answer("", 0.0)

    # ------------------------------------------------------------------ dialog

    def conversation(self, *, session_id: Optional[str] = None, user_id: Optional[str] = None,
                     dialog: Optional[str] = None, context_id: Optional[str] = None,
                     include_nlu: bool = True, interim_results: bool = False,
                     audio_in: bool = False, input_encoding: Union[Encoding, str, None] = None,
                     input_sample_rate_hz: int = 0, server_endpointing: bool = False,
                     audio_out: bool = False, output_sample_rate_hz: int = 0,
                     voice: Optional[str] = None, pipeline: Optional[str] = None,
                     timeout: Optional[float] = None) -> Conversation:
        """A Converse stream with the dialog manager: say(text) and say_audio(wav) run one
        turn each and return its Turn. Use it as a context manager. session_id None = a new
        session (its id: .session_id after the first turn); user_id is ignored when the
        gateway knows the caller from the API key. audio_in: turns may be spoken (a WAV
        stream unless input_encoding says otherwise); audio_out: replies come as audio too."""
        cfg = converse_config(session_id, user_id, dialog, context_id, include_nlu,
                              interim_results, audio_in, input_encoding, input_sample_rate_hz,
                              server_endpointing, audio_out, output_sample_rate_hz, voice,
                              pipeline)
        call_timeout = timeout if timeout is not None else None
        return Conversation(self._dialog.Converse, cfg, self._md, call_timeout)

    def converse(self, text: Optional[str] = None, *, audio: Optional[AudioSource] = None,
                 session_id: Optional[str] = None, user_id: Optional[str] = None,
                 timeout: Optional[float] = None, **options) -> Turn:
        """One turn on its own Converse call: typed (text) or spoken push-to-talk (audio, a
        WAV). options as for conversation(); a spoken turn implies audio_in."""
        if (text is None) == (audio is None):
            raise ValueError("Converse: give text or audio, one of them")
        if audio is not None:
            options.setdefault("audio_in", True)
        with self.conversation(session_id=session_id, user_id=user_id,
                               timeout=self._timeout(timeout), **options) as conv:
            return conv.say(text) if text is not None else conv.say_audio(audio)
