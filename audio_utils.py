"""Turn generated audio into what the page's player and the API take, without clicks or gaps at chunk seams.

The page's streaming `gr.Audio` takes 16-bit WAV chunks: gradio 6.31 reads them without a subprocess and encodes a
whole answer with one AAC encoder (gradio PR #13820), so seams add nothing. `Segments` decides when audio is sent.
"""

import asyncio
import io
import time
import wave
from collections.abc import Iterable

import gradio as gr
import numpy as np
from pydub import AudioSegment

FIRST_SEGMENT_S = 0.2  # Chromium does not start on a first segment of 0.186 s; it did on 0.209 s every time
PLAYER_START_S = 0.3  # the page takes up to this long from the first segment to the first sound


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


def to_wav(audio: np.ndarray, rate: int) -> bytes:
    """Mono audio (int16, or float in [-1, 1]) as a 16-bit WAV."""
    wav = io.BytesIO()
    with wave.open(wav, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(to_int16(audio).tobytes())
    return wav.getvalue()


def wav_seconds(wav: bytes) -> float:
    """How long a WAV plays."""
    with wave.open(io.BytesIO(wav), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


class Segments:
    """When an answer's audio goes to the player: at once, except where holding it back spares the listener a break.

    - The first chunk sent is at least `first_s` long: Chromium does not start playing on a shorter first segment.
    - While the voice keeps ahead of real time, or the player still has audio to play, everything goes at once.
    - When the voice is slower than real time and the player has run dry (it is already silent), the audio is held
      until there is twice as much as it played since its last pause: the listener hears a few longer pauses, each
      twice as far from the last, instead of one at every chunk. The total silence is the same: the end goes at once.
    """

    def __init__(self, sampling_rate: int, first_s: float = FIRST_SEGMENT_S, clock=time.monotonic):
        self.sampling_rate = sampling_rate
        self.first_s = first_s
        self.clock = clock
        self.started = clock()
        self.held = np.zeros(0, np.float32)
        self.sent_s = self.run_s = 0.0  # audio sent in all, and since the player last ran dry
        self.dry_at = 0.0  # when the player will have played everything sent, by the clock (at the latest)

    @property
    def held_s(self) -> float:
        return len(self.held) / self.sampling_rate

    def add(self, audio: np.ndarray) -> np.ndarray:
        """Take a chunk of the voice (int16, or float in [-1, 1]); return the audio to send now (maybe none)."""
        self.held = np.concatenate([self.held, to_int16(audio).astype(np.float32) / 32767])
        if not len(self.held):
            return self.held
        now = self.clock()
        if not self.sent_s:
            return self._send(now) if self.held_s >= self.first_s else self.held[:0]
        ahead = (self.sent_s + self.held_s) / max(now - self.started, 1e-6) >= 1.0
        if ahead or now < self.dry_at or self.held_s >= 2 * self.run_s:
            return self._send(now)
        return self.held[:0]

    def flush(self) -> np.ndarray:
        """The audio still held: the end of the answer goes at once."""
        return self._send(self.clock())

    def _send(self, now: float) -> np.ndarray:
        audio, held_s, dry = self.held, self.held_s, now >= self.dry_at
        self.run_s = held_s if dry else self.run_s + held_s
        self.dry_at = max(now + (0.0 if self.sent_s else PLAYER_START_S), self.dry_at) + held_s
        self.sent_s += held_s
        self.held = self.held[:0]
        return audio


def as_streamed(chunks: Iterable[bytes]) -> bytes:
    """What the page's streaming `gr.Audio` makes of an answer's chunks (WAV, MP3...): its AAC segments, joined as
    the player joins them. For tests and benchmarks."""
    player = gr.Audio(streaming=True)

    async def stream() -> list:
        segments = [
            (await player.stream_output(chunk, "answer", first_chunk=i == 0))[0] for i, chunk in enumerate(chunks)
        ]
        return [*segments, await player.flush_stream_output("answer")]

    return b"".join(segment["data"] for segment in asyncio.run(stream()) if segment)
