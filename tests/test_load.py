"""Many users at once: sessions asking different questions at the same time each get their own answer and audio."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import pytest
from conftest import decoded_seconds, serving, write_wav
from gradio_client import Client, handle_file

import app
from audio_utils import as_streamed
from parler import tiny_random_voice

MAX_SPEECH_S = 1.0
QUESTIONS = (  # of different lengths: the random-weight voice's audio depends on how long its text is
    "Will it rain?",
    "Should I get a dog?",
    "Is pizza breakfast food?",
    "Will the bus be late today?",
    "Is my cat plotting against me?",
    "Shall we move to the coast next year?",
    "Can I finish the marathon in under four hours?",
    "Does she like the poems I have been writing for her all summer?",
)
SESSIONS = len(QUESTIONS)


@dataclass
class Session:
    answer: str
    audio: bytes
    seconds_to_first_audio: float


@pytest.fixture(scope="module")
def short_voice():
    """The tiny random-weight voice, speaking at most 1 s per answer so that eight answers stay quick."""
    return tiny_random_voice(description="A calm voice.", first_chunk_s=0.25, chunk_s=0.5, max_speech_s=MAX_SPEECH_S)


@pytest.fixture
def queued_app(online_settings, short_voice):
    """The app as `main` serves it (same queue settings), on 127.0.0.1."""
    with serving(online_settings, short_voice) as url:
        yield url


def fetch_hls(playlist_url: str) -> bytes:
    """The audio a player gets: every segment of the HLS playlist, joined."""
    playlist = httpx.get(playlist_url, timeout=60).text
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    return b"".join(httpx.get(urljoin(playlist_url, segment), timeout=60).content for segment in segments)


def ask(url: str, question_wav: str) -> Session:
    """One user: record a question, then listen to the answer as it streams."""
    client = Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": 600})
    start = time.monotonic()
    first_audio = None
    job = client.submit(handle_file(question_wav), api_name="/respond_aloud")
    for answer, *_ in job:
        if answer and first_audio is None:  # the answer shows with its first chunk of audio
            first_audio = time.monotonic() - start
    answer, audio, *_ = job.outputs()[-1]
    return Session(answer, fetch_hls(audio["url"]), first_audio)


def test_eight_sessions_at_once_each_get_their_own_answer_and_audio(queued_app, inference_server, tmp_path):
    questions = {}
    for i, question in enumerate(QUESTIONS):
        seconds = round(1.0 + i / 10, 1)  # each clip has its own length, so the loopback ASR hears its own question
        inference_server.transcripts[seconds] = question
        questions[question] = str(write_wav(tmp_path / f"q{i}.wav", seconds))
    start = time.monotonic()
    with ThreadPoolExecutor(SESSIONS) as pool:
        sessions = dict(zip(questions, pool.map(lambda wav: ask(queued_app, wav), questions.values()), strict=True))
    wall_s = time.monotonic() - start
    slowest = max(session.seconds_to_first_audio for session in sessions.values())
    print(f"\n{SESSIONS} sessions at once: wall time {wall_s:.1f} s, slowest time to first audio {slowest:.1f} s")

    for question, session in sessions.items():
        assert session.answer == f"A dog is ready for you, but are you ready for {question}"
        assert 0.1 < decoded_seconds(session.audio) <= MAX_SPEECH_S + 0.1
    assert len({session.audio for session in sessions.values()}) == SESSIONS
    question, session = next(iter(sessions.items()))
    spoken_alone = as_streamed(data for _, data in app.read_response(session.answer) if data)
    assert session.audio == spoken_alone  # its own audio: the same bytes as that answer spoken by itself
    assert len(inference_server.asr_requests()) == len(inference_server.chat_requests()) == SESSIONS
