"""The Piper voice: it streams clause by clause, with one gain for every chunk, within the chunk and length limits."""

import re
from dataclasses import replace

import numpy as np
import pytest
from piper import SynthesisConfig

from hear import LocalEars, to_wav
from voices import PIPER_GAIN, PiperVoice, first_clause_apart


@pytest.fixture(scope="module")
def piper() -> PiperVoice:
    return PiperVoice()


def heard(ears: LocalEars, audio: np.ndarray, rate: int) -> list[str]:
    """The words LocalEars makes out in float32 audio (resampled to 16 kHz by linear interpolation)."""
    at_16k = np.interp(np.arange(0, len(audio), rate / 16000), np.arange(len(audio)), audio)
    return re.findall(r"[a-z']+", ears.transcribe(to_wav(at_16k)).lower())


@pytest.mark.parametrize(
    "text, parts",
    [
        ("Outlook good.", ["Outlook good."]),
        (
            "A watched pot never boils, but a patient cook eats well.",
            ["A watched pot never boils,", "but a patient cook eats well."],
        ),
        ("It is certain \u2014 ask again. Later, yes.", ["It is certain \u2014", "ask again. Later, yes."]),
        ("A well-known path; take it.", ["A well-known path;", "take it."]),
        ("Ask again. Later, yes.", ["Ask again. Later, yes."]),  # only the first sentence is split
        ("   ", []),
    ],
)
def test_the_first_sentence_is_split_at_its_first_clause(text, parts):
    assert first_clause_apart(text) == parts


def test_the_first_chunk_says_the_first_clause_and_the_rest_follows(piper_voice):
    chunks = list(piper_voice.speak("Ask the stars tonight, and they will answer."))  # the same speech every run
    assert len(chunks) == 2
    ears = LocalEars()
    assert heard(ears, chunks[0], piper_voice.sampling_rate) == ["ask", "the", "stars", "tonight"]
    assert heard(ears, chunks[1], piper_voice.sampling_rate) == ["and", "they", "will", "answer"]


def test_a_two_sentence_answer_streams_as_more_than_one_chunk(piper):
    chunks = list(piper.speak("Outlook good. Ask again later."))
    assert len(chunks) == 2
    assert all(chunk.dtype == np.float32 and 0.5 < len(chunk) / piper.sampling_rate < 3 for chunk in chunks)


def test_every_chunk_has_the_same_gain_and_none_is_renormalised(piper):
    """With Piper's noise off (so it speaks the same samples twice), each chunk is the raw sentence times one gain."""
    steady = PiperVoice()
    steady.synthesis = replace(steady.synthesis, noise_scale=0.0, noise_w_scale=0.0)
    raw = SynthesisConfig(normalize_audio=False, noise_scale=0.0, noise_w_scale=0.0)
    sentences = ["Outlook good.", "Ask again later."]
    expected = [
        np.clip(PIPER_GAIN * next(steady.engine.synthesize(s, raw)).audio_float_array, -1, 1) for s in sentences
    ]
    chunks = list(steady.speak(" ".join(sentences)))
    assert len(chunks) == len(expected)
    for chunk, sentence in zip(chunks, expected, strict=True):
        np.testing.assert_allclose(chunk, sentence, atol=1e-5)
    peaks = [float(np.abs(chunk).max()) for chunk in chunks]
    assert peaks[0] != pytest.approx(peaks[1], abs=0.01)  # a quiet and a louder sentence keep their levels
    assert max(peaks) < 1  # Piper's normalisation would put every sentence at exactly full scale


def test_chunks_respect_chunk_s_and_the_first_waits_for_first_chunk_s():
    voice = PiperVoice(first_chunk_s=1.0, chunk_s=0.5)
    seconds = [len(chunk) / voice.sampling_rate for chunk in voice.speak("Yes, the stars are aligned for you tonight.")]
    assert all(s <= 0.5 + 1e-6 for s in seconds)
    assert sum(seconds) > 1.5
    voice = PiperVoice(first_chunk_s=1.0, chunk_s=4.0)
    first = next(iter(voice.speak("Yes, the stars are aligned for you tonight.")))
    assert len(first) / voice.sampling_rate >= 1.0  # "Yes," alone is shorter, so it waited for the next part


def test_speech_stops_at_the_longest_answer():
    voice = PiperVoice(max_speech_s=0.6)
    chunks = list(voice.speak("Concentrate and ask again. The answer is hazy, so try once more tomorrow."))
    assert sum(len(chunk) for chunk in chunks) == round(0.6 * voice.sampling_rate)


@pytest.mark.parametrize("text", ["", "...", "  "])
def test_nothing_to_say_yields_no_audio(piper, text):
    assert list(piper.speak(text)) == []
