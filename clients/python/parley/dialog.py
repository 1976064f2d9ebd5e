"""parley.Conversation: a Converse stream with Parley's dialog manager (parley.dialog.v1)."""
import queue
from typing import Callable, Iterator, Optional, Tuple, Union

import grpc

from . import _audio
from ._audio import AudioStream
from ._proto.parley.dialog.v1 import dialog_pb2 as D
from .errors import from_rpc_error
from .results import (Encoding, Event, EventType, Message, NluResult, RecognitionResult, Slot,
                      Turn)


def converse_config(session_id, user_id, dialog, context_id, include_nlu, interim_results,
                    audio_in, input_encoding, input_sample_rate_hz, server_endpointing,
                    audio_out, output_sample_rate_hz, voice, pipeline) -> D.ConverseConfig:
    cfg = D.ConverseConfig(session_id=session_id or "", user_id=user_id or "",
                           dialog=dialog or "", context_id=context_id or "",
                           include_nlu=include_nlu, interim_results=interim_results,
                           pipeline=pipeline or "")
    if audio_in:
        cfg.input_audio.CopyFrom(D.AudioInputConfig(
            encoding=int(_audio.encoding_of(input_encoding)),
            sample_rate_hertz=input_sample_rate_hz, server_endpointing=server_endpointing))
    if audio_out:
        cfg.output_audio.CopyFrom(D.AudioOutputConfig(sample_rate_hz=output_sample_rate_hz,
                                                      voice_name=voice or ""))
    return cfg


def _slot(s) -> Slot:
    return Slot(s.name, s.value, s.score, s.start, s.end, s.source)


def message(r) -> Message:
    """A ConverseResponse as a Message."""
    kind = r.WhichOneof("response") or ""
    m = Message(kind, r.session_id, r.context_id, r.turn)
    if kind == "transcript":
        t = r.transcript
        m.transcript = RecognitionResult(t.text, t.confidence, t.is_final, t.stability,
                                         t.audio_processed)
    elif kind == "nlu":
        n = r.nlu
        m.nlu = NluResult(n.text, n.intent.name, n.intent.score, [_slot(s) for s in n.slots],
                          n.domain)
    elif kind == "bot_text":
        m.bot_text = r.bot_text.text
        m.response_name = r.bot_text.response_name
        m.expects_input = r.bot_text.expects_input
    elif kind == "bot_audio":
        m.bot_audio = r.bot_audio.audio
        m.sample_rate_hz = r.bot_audio.sample_rate_hz
        m.is_last = r.bot_audio.is_last
    elif kind == "event":
        e = r.event
        try:
            typ = EventType(e.type)
        except ValueError:
            typ = EventType.UNSPECIFIED
        m.event = Event(typ, e.detail, dict(e.attributes))
    return m


class Conversation:
    """One Converse call; requests go out as the methods are called, responses are read by
    the turn methods. Not thread-safe. Ends with close() (or the with block): half-closes and
    reads what is left; an error status of the call is raised as a parley.Error."""

    def __init__(self, method: Callable, config: D.ConverseConfig,
                 metadata: Tuple[Tuple[str, str], ...], timeout: Optional[float]):
        self._out: "queue.Queue[Optional[D.ConverseRequest]]" = queue.Queue()
        self._out.put(D.ConverseRequest(config=config))
        self._call = method(self._requests(), timeout=timeout, metadata=metadata)
        self._closed = False
        self.session_id: str = config.session_id
        self.context_id: str = config.context_id

    def _requests(self) -> Iterator[D.ConverseRequest]:
        while True:
            m = self._out.get()
            if m is None:
                return
            yield m

    def __enter__(self) -> "Conversation":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.cancel()
        else:
            self.close()

    # ------------------------------------------------------------------ sending

    def send_text(self, text: str) -> None:
        """A typed user utterance (read the reply with next_turn(), or use say())."""
        self._out.put(D.ConverseRequest(text=D.TextInput(text=text)))

    def send_audio(self, chunk: bytes) -> None:
        """A chunk of the user's audio (the conversation was opened with audio_in)."""
        self._out.put(D.ConverseRequest(audio_content=bytes(chunk)))

    def end_utterance(self) -> None:
        """Push-to-talk: the user stopped speaking."""
        self._out.put(D.ConverseRequest(control=D.ControlInput(
            kind=D.ControlInput.END_OF_UTTERANCE)))

    def interrupt(self) -> None:
        """Stop the bot's reply (barge-in by button)."""
        self._out.put(D.ConverseRequest(control=D.ControlInput(kind=D.ControlInput.INTERRUPT)))

    # ------------------------------------------------------------------ receiving

    def responses(self) -> Iterator[Message]:
        """Every message as it arrives, until the call ends."""
        try:
            for r in self._call:
                m = message(r)
                self._note(m)
                yield m
        except grpc.RpcError as e:
            raise from_rpc_error("Converse", e) from None

    def _note(self, m: Message) -> None:
        if m.session_id:
            self.session_id = m.session_id
        if m.context_id:
            self.context_id = m.context_id

    def next_turn(self) -> Turn:
        """The messages up to and including the next TURN_COMPLETE (or the end of the call)."""
        turn = Turn()
        for m in self.responses():
            turn.messages.append(m)
            if m.event is not None and m.event.type == EventType.TURN_COMPLETE:
                break
        return turn

    def say(self, text: str) -> Turn:
        """One typed turn: send text and return everything the turn brought back."""
        self.send_text(text)
        return self.next_turn()

    def say_audio(self, audio: AudioStream, *, chunk_ms: int = 100, realtime: bool = False,
                  encoding: Union[Encoding, str, None] = None, sample_rate_hz: int = 0) -> Turn:
        """One spoken push-to-talk turn: audio (a WAV file, or raw samples as the conversation's
        input format says, or an iterable of chunks) then END_OF_UTTERANCE."""
        for c in _audio.chunks(audio, _audio.encoding_of(encoding), sample_rate_hz, 1, chunk_ms,
                               realtime, "Converse"):
            self.send_audio(c)
        self.end_utterance()
        return self.next_turn()

    def close(self) -> None:
        """Half-close and read what is left; raises the call's error status, if any."""
        if self._closed:
            return
        self._closed = True
        self._out.put(None)
        for _ in self.responses():
            pass

    def cancel(self) -> None:
        """End the call now, without waiting for the server."""
        self._closed = True
        self._out.put(None)
        self._call.cancel()
