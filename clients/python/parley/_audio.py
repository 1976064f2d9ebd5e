"""Audio sources for the SDK's calls: bytes, a path, a binary file, or an iterable of chunks."""
import os
import struct
import time
from typing import BinaryIO, Iterable, Iterator, Optional, Union

from .results import Encoding

AudioSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]
AudioStream = Union[AudioSource, Iterable[bytes]]


def read_all(audio: AudioSource) -> bytes:
    """The bytes of a whole audio file given as bytes, a path or an open binary file."""
    if isinstance(audio, (bytes, bytearray, memoryview)):
        return bytes(audio)
    if isinstance(audio, (str, os.PathLike)):
        with open(audio, "rb") as f:
            return f.read()
    if hasattr(audio, "read"):
        data = audio.read()
        if not isinstance(data, bytes):
            raise TypeError("audio: the file must be opened in binary mode ('rb')")
        return data
    raise TypeError("audio: bytes, a path or a binary file, not %s" % type(audio).__name__)


def wav_layout(a: bytes):
    """(offset of the samples, bytes per second) of a WAV file, or None when a is not one."""
    if len(a) < 12 or a[:4] != b"RIFF" or a[8:12] != b"WAVE":
        return None
    off, rate = 12, 0
    while off + 8 <= len(a):
        tag, n = a[off:off + 4], struct.unpack_from("<I", a, off + 4)[0]
        if tag == b"fmt " and n >= 16 and off + 24 <= len(a):
            rate = struct.unpack_from("<I", a, off + 16)[0]
        if tag == b"data":
            return (off + 8, rate) if rate > 0 else None
        off += 8 + n + (n & 1)
    return None


def bytes_per_second(encoding: Encoding, sample_rate_hz: int, channels: int) -> int:
    width = 2 if encoding == Encoding.LINEAR_PCM else 1
    return sample_rate_hz * max(channels, 1) * width


def is_chunk_iterable(audio) -> bool:
    return (not isinstance(audio, (bytes, bytearray, memoryview, str, os.PathLike))
            and not hasattr(audio, "read") and hasattr(audio, "__iter__"))


def chunks(audio: AudioStream, encoding: Encoding, sample_rate_hz: int, channels: int,
           chunk_ms: int, realtime: bool, what: str) -> Iterator[bytes]:
    """audio cut into chunk_ms pieces (a WAV's header rides in the first), or the chunks of an
    iterable as they come. Raises ValueError now for raw audio without a format."""
    if chunk_ms <= 0:
        raise ValueError("%s: chunk_ms must be positive, not %d" % (what, chunk_ms))
    if is_chunk_iterable(audio):
        return (bytes(c) for c in audio)  # type: ignore[union-attr]
    data = read_all(audio)  # type: ignore[arg-type]
    layout = wav_layout(data)
    if layout:
        header, bps = layout
    elif encoding in (Encoding.LINEAR_PCM, Encoding.MULAW, Encoding.ALAW) and sample_rate_hz > 0:
        header, bps = 0, bytes_per_second(encoding, sample_rate_hz, channels)
    else:
        raise ValueError("%s: the audio is not a WAV file; raw audio needs encoding "
                         "(LINEAR_PCM, MULAW, ALAW) and sample_rate_hz" % what)
    step = max(2, int(bps * chunk_ms / 1000) & ~1)
    return _cut(data, header, step, chunk_ms / 1000.0 if realtime else 0.0)


def _cut(data: bytes, header: int, step: int, pace_s: float) -> Iterator[bytes]:
    off, start, k = 0, time.monotonic(), 0
    while off < len(data):
        n = header + step if off == 0 else step
        yield data[off:off + n]
        off += n
        k += 1
        if pace_s:
            delay = start + k * pace_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def encoding_of(e: Optional[Union[Encoding, int, str]]) -> Encoding:
    """An Encoding from an Encoding, its number or its name ("linear_pcm", "mulaw", ...)."""
    if e is None:
        return Encoding.AUTO
    if isinstance(e, str):
        try:
            return Encoding[e.upper()]
        except KeyError:
            raise ValueError("encoding: one of %s, not %r" %
                             (", ".join(x.name.lower() for x in Encoding), e)) from None
    return Encoding(e)
