"""What reaches the listener: one gain for the whole answer, safe silence, and seams that add nothing."""

import subprocess

import numpy as np
import pytest
from conftest import decoded_seconds

from audio_utils import as_streamed, numpy_to_mp3, to_int16, to_wav, wav_seconds

RATE = 44100


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def decode(data: bytes) -> np.ndarray:
    """Decode audio bytes with ffmpeg, as a browser would, to float32 mono samples."""
    command = ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", str(RATE), "pipe:1"]
    return np.frombuffer(subprocess.run(command, input=data, capture_output=True, check=True).stdout, np.float32)


def lag(source: np.ndarray, heard: np.ndarray, start: int, width: int = 2048, search: int = 8192) -> int:
    """How many samples later source[start:start + width] is heard than it lies in the source."""
    window = heard[start : start + width + search]
    return int(np.argmax(np.correlate(window, source[start : start + width], mode="valid")))


def seam_lags(source: np.ndarray, heard: np.ndarray, lengths: list[int]) -> list[int]:
    """The lag just before the first seam, then just after each seam."""
    seams = np.cumsum(lengths)[:-1]
    return [lag(source, heard, seams[0] - 2048)] + [lag(source, heard, seam) for seam in seams]


def cut(audio: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    return np.split(audio, np.cumsum(lengths)[:-1])


def test_mp3_of_int16_and_float_audio_lasts_as_long_as_the_audio():
    tone = np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE).astype(np.float32) * 0.5
    for audio in (tone, to_int16(tone)):
        assert abs(decoded_seconds(numpy_to_mp3(audio, RATE)) - 1.0) < 0.06


def test_silence_and_empty_chunks_are_safe():
    assert not np.any(to_int16(np.zeros(1000, np.float32)))
    assert to_int16(np.array([np.nan], np.float32)).tolist() == [0]
    assert len(to_int16(np.zeros(0, np.float32))) == 0
    assert abs(decoded_seconds(numpy_to_mp3(np.zeros(RATE, np.float32), RATE)) - 1.0) < 0.06
    numpy_to_mp3(np.zeros(0, np.float32), RATE)
    assert wav_seconds(to_wav(np.zeros(0, np.float32), RATE)) == 0
    heard = decode(as_streamed([to_wav(np.zeros(0, np.float32), RATE), to_wav(np.zeros(RATE, np.float32), RATE)]))
    assert len(heard) >= RATE and not np.any(np.isnan(heard))


def test_every_chunk_gets_the_same_gain():
    quiet, loud = 0.01 * noise(0.5, seed=1), 0.5 * np.sin(np.arange(RATE // 2, dtype=np.float32))
    assert np.array_equal(np.concatenate([to_int16(quiet), to_int16(loud)]), to_int16(np.concatenate([quiet, loud])))
    assert np.abs(to_int16(quiet)).max() < 0.1 * 32767


def test_an_answer_streamed_in_chunks_adds_only_the_encoders_priming():
    source = noise(3.0)
    lengths = [11264, 88064, 100, 0, 30000, len(source) - 129428]
    chunks = [to_wav(chunk, RATE) for chunk in cut(source, lengths)]
    assert sum(wav_seconds(chunk) for chunk in chunks) == pytest.approx(len(source) / RATE)
    heard = decode(as_streamed(chunks))
    assert len(source) <= len(heard) < len(source) + 3 * 1024


def test_its_seams_add_no_gap_unlike_the_guides_per_chunk_mp3s():
    source = noise(6.0)
    lengths = [int(0.25 * RATE), 2 * RATE, 2 * RATE, len(source) - int(4.25 * RATE)]
    ours = decode(as_streamed([to_wav(chunk, RATE) for chunk in cut(source, lengths)]))
    assert len(set(seam_lags(source, ours, lengths))) == 1

    guide = decode(as_streamed([numpy_to_mp3(chunk, RATE) for chunk in cut(source, lengths)]))
    guide_lags = seam_lags(source, guide, lengths)
    assert guide_lags[-1] - guide_lags[0] >= 0.02 * RATE  # each MP3 adds its padding: 12.5 ms at most seams
