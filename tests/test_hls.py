"""The playlist our HLS route serves: the real target duration, a reload that waits for the next segment, the end."""

import asyncio
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import gradio as gr
import httpx
import numpy as np
import pytest
from conftest import decoded_seconds
from gradio.audio_stream_encoder import AacStreamEncoder
from gradio_client import Client

import hls
import patches
from audio_utils import Segments, to_wav

RATE = 22050


def tone(seconds: float) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 330 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


@pytest.fixture
def paced_stream():
    """A served app whose answer is one stream, each chunk yielded only when the test says so."""
    go = [threading.Event() for _ in range(2)]

    def speak():
        yield to_wav(tone(0.5), RATE)
        go[0].wait(10)
        yield to_wav(tone(1.5), RATE)
        go[1].wait(10)

    with served_stream(speak) as url:
        yield url, go
        for event in go:
            event.set()


@contextmanager
def served_stream(speak):
    """A served app that streams what `speak` yields; the stream's playlist address, once the page has it."""
    with gr.Blocks() as demo:
        audio = gr.Audio(streaming=True)
        gr.Button().click(speak, None, audio, api_name="speak")
    patches.install()
    _, url, _ = demo.queue().launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        job = Client(url, verbose=False, download_files=False).submit(api_name="/speak")
        while not job.outputs():
            job.status()
            time.sleep(0.05)
        yield job.outputs()[0]["url"]
        job.result()
    finally:
        demo.close()


def tags(playlist: str) -> dict[str, str]:
    return dict(line.partition(":")[::2] for line in playlist.splitlines() if line.startswith("#"))


def segments(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def test_playlist_declares_its_real_target_duration_and_blocking_reload(paced_stream):
    url, _ = paced_stream
    playlist = httpx.get(url).text
    assert len(segments(playlist)) == 1
    assert tags(playlist)["#EXT-X-TARGETDURATION"] == "1"
    assert tags(playlist)["#EXT-X-SERVER-CONTROL"] == "CAN-BLOCK-RELOAD=YES"
    assert "#EXT-X-ENDLIST" not in playlist


def test_reload_waits_for_the_next_segment_then_for_the_end(paced_stream):
    url, go = paced_stream
    sequence = int(tags(httpx.get(url).text)["#EXT-X-MEDIA-SEQUENCE"])
    with ThreadPoolExecutor() as pool:
        reload = pool.submit(httpx.get, url, params={"_HLS_msn": sequence + 1}, timeout=20)
        time.sleep(0.5)
        assert not reload.done(), "the reload was answered before the next segment existed"
        go[0].set()
        playlist = reload.result().text
        assert len(segments(playlist)) == 2
        assert tags(playlist)["#EXT-X-TARGETDURATION"] == "2"
        assert "#EXT-X-ENDLIST" not in playlist

        last = pool.submit(httpx.get, url, params={"_HLS_msn": sequence + 2}, timeout=20)
        go[1].set()
        playlist = last.result().text
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
    audio = b"".join(httpx.get(httpx.URL(url).join(name)).content for name in segments(playlist))
    assert len(audio) > 1000


def test_the_first_load_of_a_stream_waits_for_its_first_segment():
    """The page gets the stream's address before the voice has spoken: hls.js's first load is answered with the
    first segment, not with an empty playlist (which hls.js takes for an error)."""
    go = threading.Event()

    def speak():
        yield None
        go.wait(10)
        yield to_wav(tone(0.5), RATE)

    with served_stream(speak) as url, ThreadPoolExecutor() as pool:
        first_load = pool.submit(httpx.get, url, timeout=20)
        time.sleep(0.5)
        assert not first_load.done(), "the first load was answered before the first segment existed"
        go.set()
        assert len(segments(first_load.result().text)) == 1


def test_a_plain_reload_answers_at_once(paced_stream):
    url, _ = paced_stream
    assert httpx.get(url, timeout=5).status_code == 200


def test_segments_hold_a_first_segment_too_short_to_start_the_player():
    held = Segments(RATE, first_s=0.2)
    assert not len(held.add(tone(0.1)))
    assert len(held.add(tone(0.2))) == len(tone(0.1)) + len(tone(0.2))
    assert not len(held.flush())


def test_a_slow_voice_pauses_a_few_times_not_at_every_chunk():
    """A voice at a third of real time, in 0.5 s chunks: a player given every chunk at once would pause 11 times."""
    now = [0.0]
    held = Segments(RATE, first_s=0.2, clock=lambda: now[0])
    pauses, played_until, heard = -1, 0.0, 0.0  # the first piece starts playback: not a pause
    for chunk in range(13):
        now[0] += 1.5 if chunk < 12 else 0.1
        audio = held.add(tone(0.5)) if chunk < 12 else held.flush()
        if len(audio):
            pauses += now[0] > played_until
            played_until = max(now[0], played_until) + len(audio) / RATE
            heard += len(audio) / RATE
    assert pauses <= 3
    assert heard == pytest.approx(6.0, abs=0.1)


def test_a_voice_faster_than_real_time_sends_every_chunk_at_once():
    now = [0.0]
    held = Segments(RATE, first_s=0.2, clock=lambda: now[0])
    for _ in range(6):
        now[0] += 0.3
        assert len(held.add(tone(0.5)))


def streamed_segments(chunks: list[np.ndarray]) -> list[dict]:
    """The segments gradio's audio output (patched) makes of an answer streamed in `chunks`, the flush's last."""
    patches.install()
    player = gr.Audio(streaming=True)

    async def stream() -> list[dict]:
        wavs = [to_wav(chunk, RATE) for chunk in chunks]
        segments = [(await player.stream_output(wav, "a", first_chunk=i == 0))[0] for i, wav in enumerate(wavs)]
        return [segment for segment in [*segments, await player.flush_stream_output("a")] if segment]

    return asyncio.run(stream())


def test_no_segment_is_a_single_frame_which_stalls_webkit():
    """A chunk that completes one AAC frame gives it to the next segment (here the flush's): WebKit's player stalled
    on a segment of one frame, short of the answer's end (docs/browsers.md)."""
    patches.install()
    encoder = AacStreamEncoder(RATE, 1)
    takes = []
    for seconds in (0.3, 0.06):  # 5 frames, then 1
        encoder.feed((tone(seconds) * 32767).astype(np.int16).tobytes())
        time.sleep(0.3)  # the frame is out of ffmpeg
        takes.append(encoder.take())
    takes.append(encoder.flush())
    assert [len(frames) for frames in takes] == [5, 0, 1 + 3]  # without: [5, 1, 3]


def test_each_segment_starts_with_its_timestamp_for_native_hls():
    """RFC 8216 section 3.4: a packed-audio segment starts with the 90 kHz timestamp of its first sample (an ID3 PRIV
    frame), which Safari's own HLS player needs; ffmpeg (and hls.js) read the audio past it."""
    segments, before_s = streamed_segments(np.array_split(tone(3.0), 10)), 0.0
    assert len(segments) >= 5
    for segment in segments:
        tag = segment["data"][: len(hls.timestamp_tag(0))]
        assert tag.startswith(b"ID3\x04") and hls.TIMESTAMP_OWNER in tag
        assert int.from_bytes(tag[-8:], "big") == round(before_s * 90000)
        before_s += segment["duration"]
    assert decoded_seconds(b"".join(segment["data"] for segment in segments), "aac") == pytest.approx(
        before_s, abs=1e-3
    )


def ffmpeg_children() -> int:
    """The ffmpeg processes this test process started that are still running."""
    found = subprocess.run(["ps", "--ppid", str(os.getpid()), "-o", "comm="], capture_output=True, text=True).stdout
    return found.split().count("ffmpeg")


def test_the_encoder_started_ahead_is_one_per_sampling_rate():
    """Serving the app again (as the tests do) reuses the encoder waiting for the next answer: no process piles up."""
    patches.start_encoder(RATE)
    running = ffmpeg_children()
    for _ in range(3):
        patches.start_encoder(RATE)
    assert ffmpeg_children() == running
