"""Turn generated audio into bytes a browser can play, without clicks or gaps at chunk seams."""

import io
import time

import av
import numpy as np
from pydub import AudioSegment

AAC_FRAME = 1024
FIRST_SEGMENT_S = 0.2  # Chromium does not start on a first segment of 0.186 s; it did on 0.209 s every time
PLAYER_START_S = 0.3  # the page takes up to this long from the first segment to the first sound
TIMESTAMP_OWNER = b"com.apple.streaming.transportStreamTimestamp\x00"
ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Apply one gain rule to every chunk: floats are clipped to [-1, 1] and scaled; int16 passes through.

    No per-chunk peak normalisation, so loudness never jumps between chunks and silence stays silent.
    """
    audio = np.asarray(audio).reshape(-1)
    if audio.dtype == np.int16:
        return audio
    audio = np.nan_to_num(audio.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def numpy_to_mp3(audio: np.ndarray, sampling_rate: int) -> bytes:
    """Encode mono audio (int16, or float in [-1, 1]) as a 320 kbit/s MP3."""
    segment = AudioSegment(to_int16(audio).tobytes(), frame_rate=sampling_rate, sample_width=2, channels=1)
    buffer = io.BytesIO()
    segment.export(buffer, format="mp3", bitrate="320k")
    return buffer.getvalue()


def syncsafe(number: int) -> bytes:
    """An ID3v2 size: four bytes of seven bits each."""
    return bytes((number >> shift) & 0x7F for shift in (21, 14, 7, 0))


def timestamp_tag(seconds: float) -> bytes:
    """The ID3v2.4 tag that starts an HLS packed-audio segment (RFC 8216 section 3.4): a PRIV frame holding the
    33-bit MPEG-2 timestamp (90 kHz) of the segment's first sample. Native HLS players (Safari) need it."""
    stamp = TIMESTAMP_OWNER + (round(seconds * 90000) % 2**33).to_bytes(8, "big")
    frame = b"PRIV" + syncsafe(len(stamp)) + b"\x00\x00" + stamp
    return b"ID3\x04\x00\x00" + syncsafe(len(frame)) + frame


def id3_length(data: bytes, offset: int = 0) -> int:
    """The length of the ID3v2 tag at `offset` (header included); 0 if none starts there."""
    if data[offset : offset + 3] != b"ID3" or offset + 10 > len(data):
        return 0
    size = data[offset + 6 : offset + 10]
    return 10 + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])


def is_adts(data: bytes) -> bool:
    """Whether `data` is ADTS frames (after an ID3 tag, if any), not, say, an MP3."""
    return data[id3_length(data) :][:2] in (b"\xff\xf1", b"\xff\xf9")


def adts_duration(data: bytes) -> float:
    """Seconds of audio in a run of ADTS frames, read from their headers; ID3 tags between them are skipped."""
    frames, offset, rate = 0, 0, 44100
    while offset + 7 <= len(data):
        if tag := id3_length(data, offset):
            offset += tag
            continue
        rate = ADTS_RATES[(data[offset + 2] >> 2) & 0x0F]
        offset += (data[offset + 3] & 0x03) << 11 | data[offset + 4] << 3 | data[offset + 5] >> 5
        frames += 1
    return frames * AAC_FRAME / rate


class Segments:
    """When encoded audio goes to the player: at once, except where holding it back spares the listener a break.

    - The first segment is at least `first_s` long: Chromium does not start playing on a shorter one.
    - While the voice keeps ahead of real time, or the player still has audio to play, every frame goes at once.
    - When the voice is slower than real time and the player has run dry (it is already silent), the audio is held
      until there is twice as much as it played since its last pause: the listener hears a few longer pauses, each
      twice as far from the last, instead of one at every chunk. The total silence is the same: the end goes at once.
    """

    def __init__(self, first_s: float = FIRST_SEGMENT_S, clock=time.monotonic):
        self.first_s = first_s
        self.clock = clock
        self.started = clock()
        self.held, self.held_s = b"", 0.0
        self.sent_s = self.run_s = 0.0  # audio sent in all, and since the player last ran dry
        self.dry_at = 0.0  # when the player will have played everything sent, by the clock (at the latest)

    def add(self, data: bytes) -> bytes:
        """Take newly encoded ADTS frames; return the frames to send now (maybe none)."""
        self.held += data
        self.held_s += adts_duration(data)
        if not self.held:
            return b""
        now = self.clock()
        if not self.sent_s:
            return self._send(now) if self.held_s >= self.first_s else b""
        ahead = (self.sent_s + self.held_s) / max(now - self.started, 1e-6) >= 1.0
        if ahead or now < self.dry_at or self.held_s >= 2 * self.run_s:
            return self._send(now)
        return b""

    def flush(self) -> bytes:
        """The frames still held: the end of the answer goes at once."""
        return self._send(self.clock()) if self.held else b""

    def _send(self, now: float) -> bytes:
        data, dry = self.held, now >= self.dry_at
        self.run_s = self.held_s if dry else self.run_s + self.held_s
        self.dry_at = max(now + (0.0 if self.sent_s else PLAYER_START_S), self.dry_at) + self.held_s
        self.sent_s += self.held_s
        self.held, self.held_s = b"", 0.0
        return data


class AacStream:
    """One AAC encoder for a whole answer: its chunks join into one continuous stream, so seams add nothing.

    PyAV's ADTS muxer frames the encoder's packets. `encode` returns the ADTS frames to send now (see `Segments`);
    `close` flushes the rest. Each non-empty return is one HLS segment, headed by its start time (`timestamp_tag`:
    the seconds of audio returned before it), as native HLS players want; hls.js and ffmpeg read it too.
    """

    def __init__(self, sampling_rate: int, bitrate: int = 128_000, segments: Segments | None = None):
        self.sampling_rate = sampling_rate
        self.segments = segments or Segments()
        self.muxed = _Sink()
        self.container = av.open(self.muxed, "w", format="adts")
        self.stream = self.container.add_stream("aac", rate=sampling_rate, layout="mono")
        self.stream.bit_rate = bitrate
        self.pending = np.zeros(0, dtype=np.float32)
        self.samples = 0
        self.sent_s = 0.0

    def encode(self, audio: np.ndarray) -> bytes:
        """Encode a chunk (int16, or float in [-1, 1]); whole AAC frames are encoded now, the rest waits."""
        self.pending = np.concatenate([self.pending, to_int16(audio).astype(np.float32) / 32767])
        whole = len(self.pending) // AAC_FRAME * AAC_FRAME
        ready, self.pending = self.pending[:whole], self.pending[whole:]
        for start in range(0, whole, AAC_FRAME):
            self._encode_frame(ready[start : start + AAC_FRAME])
        return self._stamped(self.segments.add(self.muxed.take()))

    def close(self) -> bytes:
        """Encode what is left, flush the encoder, and return everything not sent yet."""
        if len(self.pending):
            self._encode_frame(self.pending)
        self.pending = self.pending[:0]
        self.container.mux(self.stream.encode(None))
        self.container.close()
        return self._stamped(self.segments.add(self.muxed.take()) + self.segments.flush())

    def _stamped(self, segment: bytes) -> bytes:
        """A segment headed by its start time; nothing for no audio."""
        if not segment:
            return b""
        start_s, self.sent_s = self.sent_s, self.sent_s + adts_duration(segment)
        return timestamp_tag(start_s) + segment

    def _encode_frame(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = self.sampling_rate
        frame.pts = self.samples
        self.samples += len(samples)
        self.container.mux(self.stream.encode(frame))


class _Sink:
    """Where the muxer writes: the bytes written since they were last taken."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data
