"""The end of a spoken turn, as `turns.Listener` hears it chunk by chunk (as the page streams the microphone), with
the real Silero VAD and the local Whisper tiny.en."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import words

from hear import LocalEars, to_wav
from settings import Settings
from turns import RATE as EARS_RATE
from turns import Listener, Transcriptions, transcript
from voices import Rehearsed

RATE, CHUNK = 48_000, 12_000  # what the page sends: 0.25 s chunks of 48 kHz audio


@pytest.fixture(scope="module")
def transcriptions() -> Transcriptions:
    return Transcriptions(LocalEars(), at_once=1)


def said(voice, text: str) -> np.ndarray:
    """`text` spoken by `voice`, without the silence Piper puts before and after it."""
    speech = np.concatenate(list(voice.speak(text)))
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    return speech[loud[0] : loud[-1] + 1]


def resampled(samples: np.ndarray, rate: int, to: int = EARS_RATE) -> np.ndarray:
    """Float samples at `rate`, resampled to `to` Hz (PyAV)."""
    import av

    frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=to)
    return np.concatenate([f.to_ndarray()[0] for f in [*resampler.resample(frame), *resampler.resample(None)]])


def spoken(voice, *parts) -> np.ndarray:
    """48 kHz int16 samples of `parts`: texts spoken by `voice`, and numbers (seconds of silence)."""
    pieces = [
        said(voice, part) if isinstance(part, str) else np.zeros(round(part * voice.sampling_rate)) for part in parts
    ]
    samples = resampled(np.concatenate(pieces), voice.sampling_rate, to=RATE)
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
    assert words(transcript(turn, transcriptions).words) == ["should", "i", "get", "a", "dog"]


def test_a_short_pause_inside_a_question_does_not_end_it(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=Settings().turn_pause_s, max_question_s=30, speculate=True)
    phases = hear_all(listener, spoken(piper_voice, 0.5, "Should I get", 0.3, "a dog?", 1.5))
    assert phases == ["waiting", "speaking", "ended"]
    assert words(transcript(listener.take_turn(), transcriptions).words) == ["should", "i", "get", "a", "dog"]


def test_the_answer_is_asked_for_at_the_first_pause_and_waits_for_the_whole_question(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=Settings().turn_pause_s, max_question_s=30, speculate=True)
    samples, waiting = spoken(piper_voice, 0.5, "Should I get", 0.3, "a dog?", 1.5), None
    with ThreadPoolExecutor(1) as event:
        for start in range(0, len(samples), CHUNK):
            phase = listener.hear(RATE, samples[start : start + CHUNK])
            if listener.asked and waiting is None:
                assert phase == "speaking", "asked for before the question ended"
                waiting = event.submit(listener.wait_for_turn, 10)
        turn = waiting.result(timeout=10)
    assert listener.asked == 1, "one answer per question"
    assert words(transcript(turn, transcriptions).words) == ["should", "i", "get", "a", "dog"]


def test_stop_hands_the_question_to_the_answer_asked_for(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=Settings().turn_pause_s, max_question_s=30, speculate=True)
    hear_all(listener, spoken(piper_voice, 0.5, "Should I get", 0.25))
    assert listener.asked == 1
    with ThreadPoolExecutor(1) as event:
        waiting = event.submit(listener.wait_for_turn, 10)
        while not listener.waiting:
            time.sleep(0.01)
        assert listener.stop() is None, "the answer's event that waits answers it"
        assert words(transcript(waiting.result(timeout=2), transcriptions).words) == ["should", "i", "get"]
    assert listener.stop() is None and listener.wait_for_turn(0.1) is None, "nothing more was said"


def test_the_answer_is_prepared_from_the_whole_question_while_the_pause_is_confirmed(piper_voice, transcriptions):
    prepared = []
    listener = Listener(transcriptions, 0.5, 30, speculate=True, prepare=lambda words: prepared.append(words) or "Yes.")
    hear_all(listener, spoken(piper_voice, 0.5, "Should I get", 0.3, "a dog?", 1.5))
    heard = transcript(listener.take_turn(), transcriptions)
    assert words(heard.words) == ["should", "i", "get", "a", "dog"] and heard.answer == "Yes."
    assert words(prepared[-1]) == ["should", "i", "get", "a", "dog"], "the last answer prepared is to the question"


def test_no_answer_is_prepared_ahead_while_other_questions_wait_for_a_core(piper_voice):
    transcriptions = Transcriptions(LocalEars(), at_once=1)
    question = spoken(piper_voice, 0.3, "Should I get a dog?", 0.3).astype(np.float32) / 32768
    question = resampled(question, RATE)
    first, *_, last = [transcriptions.start(question, prepare=lambda words: "Yes.") for _ in range(3)]
    assert words(first.result().words) == ["should", "i", "get", "a", "dog"]
    assert first.result().answer is None, "two questions waited behind it"
    assert last.result().answer == "Yes.", "nobody waited behind the last one"


def test_an_answer_spoken_ahead_plays_from_memory_once_and_says_its_words(piper_voice, transcriptions):
    voice = Rehearsed(piper_voice, keep=2)
    voice.rehearse("It is certain.")
    ahead = np.concatenate(list(voice.speak("It is certain.")))
    assert "It is certain." not in voice.spoken, "played once, then forgotten"
    assert np.array_equal(ahead, np.concatenate(list(voice.speak("It is certain.")))), "as the voice says it"
    heard = transcriptions.ears.transcribe(to_wav(resampled(ahead, voice.sampling_rate)))
    assert words(heard) == ["it", "is", "certain"]
    for text in ["Yes.", "No.", "Maybe."]:
        voice.rehearse(text)
    assert list(voice.spoken) == ["No.", "Maybe."], "only the last few are kept"


def test_a_question_longer_than_the_limit_ends_there(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=0.5, max_question_s=1.5, speculate=False)
    question = "Will it rain tomorrow, and the day after, and the day after that one?"
    assert hear_all(listener, spoken(piper_voice, 0.2, question)) == ["waiting", "speaking", "too long"]
    turn = listener.take_turn()
    assert turn.too_long and len(turn.audio) <= 1.5 * 16000


def test_stop_takes_the_question_as_it_is(piper_voice, transcriptions):
    listener = Listener(transcriptions, pause_s=0, max_question_s=30, speculate=True)
    assert hear_all(listener, spoken(piper_voice, 0.5, "Is today my lucky day?", 1.0)) == ["waiting", "speaking"]
    assert words(transcript(listener.stop(), transcriptions).words) == ["is", "today", "my", "lucky", "day"]
    assert listener.stop() is None, "nothing more was said"
