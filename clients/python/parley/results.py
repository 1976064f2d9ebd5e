"""Results of the Parley SDK's calls: plain dataclasses, no protobuf types."""
import enum
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional


class Encoding(enum.IntEnum):
    """Audio encodings (nvidia.riva.AudioEncoding)."""
    AUTO = 0        # recognition: a file with a header (WAV, FLAC, Ogg) the server reads
    LINEAR_PCM = 1  # 16-bit signed little-endian samples
    FLAC = 2
    MULAW = 3
    OGGOPUS = 4
    ALAW = 20


@dataclass
class Word:
    word: str
    start_ms: int
    end_ms: int
    confidence: float


@dataclass
class RecognitionResult:
    """One utterance: its best alternative (or the utterance being spoken, while streaming)."""
    transcript: str
    confidence: float = 0.0
    is_final: bool = True          # streaming: False for an interim result
    stability: float = 0.0         # interim results: 0..1
    audio_processed_s: float = 0.0
    channel: int = 0
    words: List[Word] = field(default_factory=list)
    alternatives: List[str] = field(default_factory=list)  # every alternative's transcript


@dataclass
class Transcript:
    """What Recognize heard: one result per utterance."""
    results: List[RecognitionResult]

    @property
    def text(self) -> str:
        """The transcripts of all utterances, joined by a space."""
        return " ".join(r.transcript.strip() for r in self.results if r.transcript.strip())


@dataclass
class Audio:
    """Synthesized speech: raw samples as encoding says (no header), or Ogg pages."""
    data: bytes
    sample_rate_hz: int
    encoding: Encoding = Encoding.LINEAR_PCM

    @property
    def duration_s(self) -> float:
        width = {Encoding.LINEAR_PCM: 2, Encoding.MULAW: 1, Encoding.ALAW: 1}.get(self.encoding)
        return len(self.data) / width / self.sample_rate_hz if width else 0.0

    def wav_bytes(self) -> bytes:
        """The audio as a WAV file (LINEAR_PCM, MULAW, ALAW); Ogg/Opus is returned as it is."""
        if self.encoding == Encoding.OGGOPUS:
            return self.data
        fmt, bits = {Encoding.MULAW: (7, 8), Encoding.ALAW: (6, 8)}.get(self.encoding, (1, 16))
        head = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(self.data), b"WAVE", b"fmt ",
                           16, fmt, 1, self.sample_rate_hz, self.sample_rate_hz * bits // 8,
                           bits // 8, bits, b"data", len(self.data))
        return head + self.data

    def write_wav(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.wav_bytes())


@dataclass
class Slot:
    name: str      # slot label ("city")
    value: str     # the words that fill it ("boston")
    score: float = 0.0
    start: int = 0  # character offsets in the query: [start, end)
    end: int = 0
    source: str = ""  # dialog only: nlu, entity, answer, action


@dataclass
class Intent:
    """AnalyzeIntent's answer."""
    intent: str    # "" when no intent was recognized
    score: float
    domain: str
    slots: List[Slot] = field(default_factory=list)


@dataclass
class Entity:
    """A token with its best tag (ClassifyTokens) or an entity span (AnalyzeEntities)."""
    text: str
    label: str
    score: float
    start: int
    end: int


@dataclass
class Answer:
    answer: str    # "" = no answer
    score: float


class EventType(enum.IntEnum):
    """parley.dialog.v1.EventType."""
    UNSPECIFIED = 0
    SESSION_CREATED = 1
    SESSION_ENDED = 2
    CONTEXT_CREATED = 3
    CONTEXT_SWITCHED = 4
    CONTEXT_CLOSED = 5
    SPEECH_STARTED = 6
    END_OF_UTTERANCE = 7
    SLOT_SET = 8
    ACTION_STARTED = 9
    ACTION_FINISHED = 10
    TURN_COMPLETE = 11
    ERROR = 12
    REPLY_AUDIO_DONE = 13
    REPLY_INTERRUPTED = 14
    NO_SPEECH = 15  # END_OF_UTTERANCE over audio without words: TURN_COMPLETE follows


@dataclass
class Event:
    type: EventType
    detail: str = ""
    attributes: Dict[str, str] = field(default_factory=dict)


@dataclass
class NluResult:
    """How the dialog understood the user's utterance."""
    text: str
    intent: str
    score: float
    slots: List[Slot] = field(default_factory=list)
    domain: str = ""


@dataclass
class Message:
    """One message of a Converse call; kind is transcript, nlu, bot_text, bot_audio or event,
    and the field of that name holds it."""
    kind: str
    session_id: str
    context_id: str
    turn: int
    transcript: Optional[RecognitionResult] = None
    nlu: Optional[NluResult] = None
    bot_text: Optional[str] = None
    response_name: str = ""
    expects_input: bool = False
    bot_audio: Optional[bytes] = None
    sample_rate_hz: int = 0
    is_last: bool = False
    event: Optional[Event] = None


@dataclass
class Turn:
    """Everything one user turn brought back, in order (messages), and digests of it."""
    messages: List[Message] = field(default_factory=list)

    @property
    def session_id(self) -> str:
        return next((m.session_id for m in self.messages if m.session_id), "")

    @property
    def context_id(self) -> str:
        return next((m.context_id for m in reversed(self.messages) if m.context_id), "")

    @property
    def transcript(self) -> str:
        """The user's final transcript (spoken turns), "" for typed ones."""
        t = [m.transcript.transcript for m in self.messages
             if m.transcript is not None and m.transcript.is_final]
        return " ".join(t)

    @property
    def nlu(self) -> Optional[NluResult]:
        return next((m.nlu for m in self.messages if m.nlu is not None), None)

    @property
    def replies(self) -> List[str]:
        return [m.bot_text for m in self.messages if m.bot_text is not None]

    @property
    def text(self) -> str:
        """The bot's reply texts joined by a space."""
        return " ".join(self.replies)

    @property
    def expects_input(self) -> bool:
        return any(m.expects_input for m in self.messages if m.bot_text is not None)

    @property
    def no_speech(self) -> bool:
        """END_OF_UTTERANCE ended an utterance without words (EVENT_NO_SPEECH): no turn ran."""
        return any(m.event is not None and m.event.type == EventType.NO_SPEECH
                   for m in self.messages)

    @property
    def audio(self) -> bytes:
        """The reply audio (when the conversation asked for it), all chunks together."""
        return b"".join(m.bot_audio for m in self.messages if m.bot_audio)

    @property
    def events(self) -> List[Event]:
        return [m.event for m in self.messages if m.event is not None]

    @property
    def complete(self) -> bool:
        return any(e.type == EventType.TURN_COMPLETE for e in self.events)
