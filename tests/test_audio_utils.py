"""What reaches the listener: one gain for the whole answer, safe silence, and seams that add nothing."""

import asyncio
import subprocess

import numpy as np
from conftest import decoded_seconds
from gradio.components.audio import Audio

from audio_utils import (
    AAC_FRAME,
    TIMESTAMP_OWNER,
    AacStream,
    adts_duration,
    id3_length,
    is_adts,
    numpy_to_mp3,
    to_int16,
)
from patches import StreamingAudio

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
    stream = AacStream(RATE)
    assert stream.encode(np.zeros(0, np.float32)) == b""
    data = stream.encode(np.zeros(RATE, np.float32)) + stream.close()
    assert not np.any(np.isnan(decode(data)))


def test_every_chunk_gets_the_same_gain():
    quiet, loud = 0.01 * noise(0.5, seed=1), 0.5 * np.sin(np.arange(RATE // 2, dtype=np.float32))
    assert np.array_equal(np.concatenate([to_int16(quiet), to_int16(loud)]), to_int16(np.concatenate([quiet, loud])))
    assert np.abs(to_int16(quiet)).max() < 0.1 * 32767


def test_aac_stream_adds_only_the_encoder_priming():
    source = noise(3.0)
    lengths = [11264, 88064, 100, 0, 30000, len(source) - 129428]
    stream = AacStream(RATE)
    data = b"".join(stream.encode(chunk) for chunk in cut(source, lengths)) + stream.close()
    heard = decode(data)
    assert len(source) + AAC_FRAME <= len(heard) < len(source) + 3 * AAC_FRAME
    assert abs(adts_duration(data) - len(heard) / RATE) < 1e-9


def test_aac_stream_seams_add_no_gap_unlike_the_guides_per_chunk_mp3s():
    source = noise(6.0)
    lengths = [int(0.25 * RATE), 2 * RATE, 2 * RATE, len(source) - int(4.25 * RATE)]
    stream = AacStream(RATE)
    ours = b"".join(stream.encode(chunk) for chunk in cut(source, lengths)) + stream.close()
    assert set(seam_lags(source, decode(ours), lengths)) == {AAC_FRAME}

    guide = b"".join(Audio._convert_to_adts(numpy_to_mp3(chunk, RATE))[0] for chunk in cut(source, lengths))
    guide_lags = seam_lags(source, decode(guide), lengths)
    assert all(after - before >= 0.02 * RATE for before, after in zip(guide_lags, guide_lags[1:], strict=False))


def test_streaming_audio_passes_adts_through_and_still_converts_mp3():
    output = StreamingAudio(streaming=True)
    stream = AacStream(RATE)
    adts = stream.encode(noise(1.0)) + stream.close()
    chunk, _ = asyncio.run(output.stream_output(adts, "stream", first_chunk=True))
    assert chunk["data"] == adts
    assert chunk["duration"] == adts_duration(adts)

    chunk, _ = asyncio.run(output.stream_output(numpy_to_mp3(noise(1.0), RATE), "stream", first_chunk=True))
    assert chunk["data"][:2] in (b"\xff\xf1", b"\xff\xf9")
    assert abs(decoded_seconds(chunk["data"]) - 1.0) < 0.1


def test_adts_duration_matches_the_decoded_length():
    stream = AacStream(RATE)
    ours = stream.encode(noise(2.0)) + stream.close()
    gradios, _ = Audio._convert_to_adts(numpy_to_mp3(noise(2.0), RATE))
    for data in (ours, gradios):
        assert abs(adts_duration(data) - len(decode(data)) / RATE) < 1e-6


def probed_seconds(data: bytes) -> float:
    """The duration ffprobe finds by reading every packet of an ADTS stream."""
    command = ["ffprobe", "-v", "error", "-f", "aac", "-show_entries", "packet=duration_time", "-of", "csv=p=0", "-"]
    lines = subprocess.run(command, input=data, capture_output=True, check=True).stdout.decode().split()
    return sum(float(line) for line in lines)


def test_each_segment_starts_with_its_timestamp_for_native_hls():
    source = noise(3.0)
    stream = AacStream(RATE)
    segments = [stream.encode(chunk) for chunk in cut(source, [int(0.3 * RATE)] * 9 + [len(source) - int(2.7 * RATE)])]
    segments = [segment for segment in [*segments, stream.close()] if segment]
    before_s = 0.0
    for segment in segments:
        tag = segment[: id3_length(segment)]
        assert tag.startswith(b"ID3\x04") and TIMESTAMP_OWNER in tag  # RFC 8216 section 3.4: a PRIV frame, 8 bytes
        timestamp = int.from_bytes(tag[-8:], "big")
        assert timestamp == round(before_s * 90000) and timestamp < 2**33
        assert is_adts(segment) and adts_duration(segment) == adts_duration(segment[len(tag) :])
        before_s += adts_duration(segment)
    joined = b"".join(segments)  # as the player joins them
    assert abs(len(decode(joined)) / RATE - adts_duration(joined)) < 1e-6
    assert abs(probed_seconds(joined) - adts_duration(joined)) < 0.001  # ffprobe rounds each packet to 1 µs
    assert len(source) + AAC_FRAME <= len(decode(joined)) < len(source) + 3 * AAC_FRAME
    assert not is_adts(numpy_to_mp3(noise(0.5), RATE))  # an MP3 with its own ID3 tag is still converted
