"""Weeks without a restart: nothing piles up on disk or in memory, uploads are bounded, GPU time is sized to the
answer, and a listener who closes the tab frees the voice for the next one at once."""

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import httpx
import pytest
from browser import LAPTOP, AppPage, launch_chromium, speak_question
from conftest import decoded_seconds, voice_threads_end, write_wav
from gradio.route_utils import MediaStream
from gradio_client import Client
from playwright.sync_api import expect, sync_playwright

import app
import patches
from parler import tiny_random_voice
from settings import Settings

CACHE_MAX_AGE_S = 2


def files_under(folder: Path) -> set[Path]:
    return {path for path in Path(folder).rglob("*") if path.is_file()}


@pytest.fixture
def serve(online_settings):
    """Serve the app as `main` does (queue, cache cleaning, upload limit) with the given voice; yields its URL."""
    launched = []

    def serve(voice, **changes) -> str:
        settings = replace(online_settings, cache_max_age_s=CACHE_MAX_AGE_S, **changes)
        url = app.serve(settings, voice, prevent_thread_lock=True, quiet=True)
        launched.append(url)
        return url

    yield serve
    if launched:
        app.demo.close()


CREATED: list[Path] | None = None  # files this process creates while a test records them


def record_created_files(event: str, args: tuple) -> None:
    """An audit hook: note every file opened for creation (other processes share the temp folder)."""
    if CREATED is not None and event == "open" and isinstance(args[0], (str, Path)):
        mode, flags = args[1] or "", args[2] or 0
        if any(letter in mode for letter in "wxa") or flags & os.O_CREAT:
            CREATED.append(Path(args[0]))


sys.addaudithook(record_created_files)


@pytest.fixture
def created_files():
    global CREATED
    CREATED = []
    yield CREATED
    CREATED = None


def test_ask_leaves_no_file_behind_and_gradio_forgets_its_copy(serve, tiny_voice, created_files):
    client = Client(serve(tiny_voice), verbose=False, download_files=False)
    answers = [client.predict(f"Question {i}?", api_name="/ask") for i in range(2)]

    temp, cache = Path(tempfile.gettempdir()), Path(app.demo.GRADIO_CACHE)
    outside_cache = [path for path in created_files if path.is_relative_to(temp) and not path.is_relative_to(cache)]
    assert [path for path in outside_cache if path.is_file()] == []
    cached = [Path(audio["path"]) for _, audio in answers]
    assert all(path.suffix == ".mp3" and path.is_relative_to(app.demo.GRADIO_CACHE) for path in cached)
    assert decoded_seconds(httpx.get(answers[0][1]["url"]).content) > 0.5
    deadline = time.monotonic() + 10 * CACHE_MAX_AGE_S  # checked every CACHE_MAX_AGE_S / 2
    while any(path.exists() for path in cached) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(path.exists() for path in cached)


def streams(demo) -> dict:
    """Every answer gradio keeps in memory, and whether it ended."""
    return {
        (session, run): all(stream.ended for stream in kept.values())
        for session, runs in demo.pending_streams.items()
        for run, kept in runs.items()
    }


def test_streamed_answers_are_forgotten_once_old(serve, tiny_voice):
    client = Client(serve(tiny_voice), verbose=False, download_files=False)
    before = streams(app.demo)  # earlier tests' answers
    client.predict("Will it rain?", api_name="/respond_typed")
    added = streams(app.demo).keys() - before.keys()
    assert len(added) == 1
    last_change = {}
    patches.forget_old_streams(app.demo, max_age_s=60, now=0.0, last_change=last_change)
    patches.forget_old_streams(app.demo, max_age_s=60, now=30.0, last_change=last_change)
    assert added <= streams(app.demo).keys()  # young: kept for the player
    patches.forget_old_streams(app.demo, max_age_s=60, now=61.0, last_change=last_change)
    left = streams(app.demo)
    assert not added & left.keys() and all(left[key] is False for key in left), left  # unfinished ones: 10 minutes
    assert set(last_change) == set(left)


def test_an_answer_left_unfinished_is_forgotten_once_it_stops_changing():
    """A listener who closed the tab, or a voice that failed: gradio never ends that stream."""
    demo = gr.Blocks()
    left, speaking = MediaStream(), MediaStream()
    demo.pending_streams["left"][1] = {7: left}
    demo.pending_streams["speaking"][1] = {7: speaking}
    last_change, kept = {}, patches.UNFINISHED_KEPT_S
    for now in (0.0, 60.0, kept / 2, kept + 1):
        asyncio.run(speaking.add_segment({"data": b"\xff\xf1", "duration": 0.3, "extension": ".aac"}))
        patches.forget_old_streams(demo, max_age_s=60, now=now, last_change=last_change)
        assert "left" in demo.pending_streams or now > kept  # a slow voice's pause is not taken for leaving
    assert list(demo.pending_streams) == ["speaking"]
    patches.forget_old_streams(demo, max_age_s=60, now=2 * kept + 2, last_change=last_change)
    assert dict(demo.pending_streams) == {}


def upload(url: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}gradio_api/upload", files={"files": ("question.wav", data, "audio/wav")}, timeout=60)


def test_an_upload_far_bigger_than_a_question_is_refused_and_nothing_is_kept(serve, tiny_voice, tmp_path):
    url = serve(tiny_voice)
    limit = app.upload_limit_bytes(app.ball.settings)
    longest = write_wav(tmp_path / "longest.wav", app.ball.settings.max_question_s, rate=48000, channels=2)
    assert limit > 1.5 * longest.stat().st_size  # the longest question, recorded in stereo, passes easily
    assert upload(url, longest.read_bytes()).status_code == 200

    before = files_under(app.demo.GRADIO_CACHE)
    refused = upload(url, bytes(limit + 1))
    assert refused.status_code == 413
    assert refused.text == f"File size exceeded maximum allowed size of {limit} bytes."
    assert files_under(app.demo.GRADIO_CACHE) == before


def test_gpu_time_is_sized_to_the_answer():
    app.start(Settings(voice="none", max_speech_s=20.0))
    short, long = app.gpu_seconds("Yes."), app.gpu_seconds("A watched pot never boils. " * 7)
    assert short <= 15 < long
    assert app.gpu_seconds("word " * 1000) == 20 * app.GPU_S_PER_SPEECH_S + app.GPU_MARGIN_S  # the speech limit
    assert app.gpu_seconds(None) == app.GPU_MARGIN_S


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    question = speak_question(tmp_path_factory.mktemp("microphone") / "question.wav", "Should I get a dog?")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, question)
        yield browser
        browser.close()


def test_a_listener_who_closes_the_tab_frees_the_voice_for_the_next(serve, browser):
    voice = tiny_random_voice(description="A calm voice.", first_chunk_s=0.25, chunk_s=0.5, max_speech_s=8.0)
    url = serve(voice)
    chunk_frames = voice.play_steps

    first = AppPage(browser.new_context(viewport=LAPTOP).new_page(), url)
    first.page.wait_for_timeout(1000)  # a person reads the page before asking: it has finished starting up
    first.ask_in_writing("Will it rain tomorrow?")
    first.wait_until_played_past(0.5, timeout_s=60)
    leaving = voice.last_streamer
    generated_when_closed = len(leaving.frames)
    first.page.context.close()

    second = AppPage(browser.new_context(viewport=LAPTOP).new_page(), url)
    second.ask_in_writing("Should I get a dog?")
    expect(second.answer).to_have_value(
        "A dog is ready for you, but are you ready for Should I get a dog?", timeout=60_000
    )
    second.wait_until_played_past(1.0, timeout_s=60)
    assert voice.last_streamer is not leaving
    assert leaving.cancelled.is_set()
    generated = len(leaving.frames)
    assert generated < voice.max_new_tokens - voice.model.decoder.num_codebooks  # it stopped before the end
    assert generated - generated_when_closed <= 2 * chunk_frames  # within about one chunk of the tab closing
    second.page.context.close()
    assert voice_threads_end(timeout_s=30), "the voice went on generating after the last listener left"
