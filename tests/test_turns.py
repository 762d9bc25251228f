"""The end of a spoken turn, as `turns.Listener` hears it chunk by chunk (as the page streams the microphone), with
the real Silero VAD and the local Whisper tiny.en."""

import numpy as np
import pytest
from conftest import words

from hear import LocalEars
from turns import Listener, Transcriptions, transcript

RATE, CHUNK = 48_000, 12_000  # what the page sends: 0.25 s chunks of 48 kHz audio


@pytest.fixture(scope="module")
def transcriptions() -> Transcriptions:
    return Transcriptions(LocalEars(), at_once=1)


def said(voice, text: str) -> np.ndarray:
    """`text` spoken by `voice`, without the silence Piper puts before and after it."""
    speech = np.concatenate(list(voice.speak(text)))
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    return speech[loud[0] : loud[-1] + 1]


def spoken(voice, *parts) -> np.ndarray:
    """48 kHz int16 samples of `parts`: texts spoken by `voice`, and numbers (seconds of silence)."""
    import av

    pieces = [
        said(voice, part) if isinstance(part, str) else np.zeros(round(part * voice.sampling_rate)) for part in parts
    ]
    frame = av.AudioFrame.from_ndarray(np.concatenate(pieces).astype(np.float32)[None, :], format="flt", layout="mono")
    frame.sample_rate = voice.sampling_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    samples = np.concatenate([f.to_ndarray()[0] for f in [*resampler.resample(frame), *resampler.resample(None)]])
    return (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def hear_all(listener: Listener, samples: np.ndarray) -> list[str]:
    """The phases the listener went through, chunk by chunk, without repeats."""
    phases = []
    for start in range(0, len(samples), CHUNK):
        phase = listener.hear(RATE, samples[start : start + CHUNK])
        if not phases or phases[-1] != phase:
            phases.append(phase)
    return phases


def test_a_pause_ends_the_turn_and_its_words_are_heard(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=0.5, max_question_s=30, speculate=True)
    assert hear_all(listener, spoken(piper_voice, 0.5, "Should I get a dog?", 1.5)) == ["waiting", "speaking", "ended"]
    turn = listener.take_turn()
    assert turn.guess is not None, "it was transcribed while the pause was confirmed"
    assert words(transcript(turn, transcriptions)) == ["should", "i", "get", "a", "dog"]


def test_a_short_pause_inside_a_question_does_not_end_it(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=0.5, max_question_s=30, speculate=True)
    phases = hear_all(listener, spoken(piper_voice, 0.5, "Should I get", 0.3, "a dog?", 1.5))
    assert phases == ["waiting", "speaking", "ended"]
    assert words(transcript(listener.take_turn(), transcriptions)) == ["should", "i", "get", "a", "dog"]


def test_a_question_longer_than_the_limit_ends_there(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=0.5, max_question_s=1.5, speculate=False)
    question = "Will it rain tomorrow, and the day after, and the day after that one?"
    assert hear_all(listener, spoken(piper_voice, 0.2, question)) == ["waiting", "speaking", "too long"]
    turn = listener.take_turn()
    assert turn.too_long and len(turn.audio) <= 1.5 * 16000


def test_stop_takes_the_question_as_it_is(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=0, max_question_s=30, speculate=True)
    assert hear_all(listener, spoken(piper_voice, 0.5, "Is today my lucky day?", 1.0)) == ["waiting", "speaking"]
    assert words(transcript(listener.stop(), transcriptions)) == ["is", "today", "my", "lucky", "day"]
    assert listener.stop() is None, "nothing more was said"
