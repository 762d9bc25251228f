"""Shared fixtures: the tiny random-weight voice, the loopback Inference API, and the app served on 127.0.0.1."""

import re
import subprocess
import sys
import threading
import time
import wave
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference_server import InferenceServer  # noqa: E402

from parler import tiny_random_voice  # noqa: E402
from settings import Settings  # noqa: E402

TOKEN = "hf_test_secret_token_do_not_leak"
NO_LIMIT = 1_000_000


def voice_threads_end(timeout_s: float) -> bool:
    """Whether every Parler-TTS generation thread has ended within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while any(thread.name == "parler-tts-generate" for thread in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="session", autouse=True)
def no_voice_thread_at_exit():
    """Python exiting while a generation thread is inside torch aborts the process: let cancelled ones finish."""
    yield
    voice_threads_end(timeout_s=30)


@pytest.fixture(scope="session")
def tiny_voice():
    """The tiny Parler-TTS with random weights and the real DAC codec, speaking 1.5 s per answer."""
    return tiny_random_voice(description="A calm voice.", first_chunk_s=0.25, chunk_s=0.5, max_speech_s=1.5)


@pytest.fixture
def inference_server():
    server = InferenceServer().start()
    yield server
    server.stop()


@pytest.fixture
def online_settings(inference_server) -> Settings:
    """Settings that reach the loopback server through the real InferenceClient, with no quota in the way (every
    test's questions come from one address; tests/test_quota.py sets the limits it tests); spoken questions are sent
    with Stop (hands-free listening: tests/test_hands_free.py)."""
    return Settings(
        hf_token=TOKEN,
        asr_model=f"{inference_server.url}/asr",
        llm_model=f"{inference_server.url}/llm",
        voice="tiny-random",
        questions_per_minute=NO_LIMIT,
        owner_calls_per_day=NO_LIMIT,
        turn_pause_s=0,
    )


@contextmanager
def serving(settings: Settings, voice=None, head: str = ""):
    """The app built and served from `settings` (speaking with `voice`, when given) by `app.serve`, as `python app.py`
    serves it, on 127.0.0.1, with `head` before the page's own scripts; its URL."""
    import app

    url = app.serve(settings, voice, head=head, prevent_thread_lock=True, quiet=True)
    try:
        yield url
    finally:
        app.demo.close()


@pytest.fixture
def served_app(online_settings, tiny_voice):
    """The app, started with the loopback server and the tiny voice, served on 127.0.0.1."""
    with serving(online_settings, tiny_voice) as url:
        yield url


def write_wav(path: Path, seconds: float, rate: int = 16000, channels: int = 1, frequency: float = 220.0) -> Path:
    """A tone of the given length, standing in for a recorded question."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * frequency * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(samples, channels).tobytes())
    return path


@pytest.fixture(scope="session")
def piper_voice():
    """The Piper voice (en_US-joe-medium, bundled): it speaks the test questions that the local Whisper hears.

    Without Piper's noise, so a question sounds the same in every run: with it, Whisper now and then hears another
    word ("well" for "will"), and a test would fail by chance.
    """
    from voices import PiperVoice

    voice = PiperVoice()
    voice.synthesis.noise_scale = voice.synthesis.noise_w_scale = 0.0
    return voice


def write_samples(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Float samples in [-1, 1] as a 16-bit PCM mono WAV."""
    from hear import to_wav

    path.write_bytes(to_wav(samples, rate))
    return path


def write_speech(path: Path, voice, text: str, silence_s: float = 0.0) -> Path:
    """`text` spoken by `voice`, then `silence_s` of silence, as a 16-bit PCM WAV: a recorded question."""
    speech = np.concatenate([*voice.speak(text), np.zeros(round(silence_s * voice.sampling_rate), np.float32)])
    return write_samples(path, speech, voice.sampling_rate)


def words(text: str) -> list[str]:
    """The words of a transcript, lower-cased, without punctuation: what a person compares."""
    return re.findall(r"[a-z0-9']+", text.lower())


def decoded(path_or_bytes, input_format: str | None = None, rate: int = 44100) -> np.ndarray:
    """Decode audio with ffmpeg to float mono samples at `rate`; fails if it does not decode.

    Name the `input_format` ("aac" for ADTS) for runs too short for ffmpeg to recognise.
    """
    data = Path(path_or_bytes).read_bytes() if isinstance(path_or_bytes, (str, Path)) else path_or_bytes
    forced = ["-f", input_format] if input_format else []
    result = subprocess.run(
        ["ffmpeg", "-v", "error", *forced, "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", str(rate), "pipe:1"],
        input=data,
        capture_output=True,
        check=True,
    )
    return np.frombuffer(result.stdout, np.float32)


def decoded_seconds(path_or_bytes, input_format: str | None = None) -> float:
    """How long audio lasts once decoded with ffmpeg; fails if it does not decode."""
    return len(decoded(path_or_bytes, input_format)) / 44100
