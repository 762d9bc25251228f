"""The end of a spoken turn, as `turns.Listener` hears it chunk by chunk (as the page streams the microphone), with
the real Silero VAD, the real Smart Turn and the local Whisper tiny.en."""

import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace

import numpy as np
import pytest
from conftest import words

import app
from endpoint import load_smart_turn
from hear import LocalEars, to_wav
from settings import Settings
from turns import RATE as EARS_RATE
from turns import Listener, Transcriptions, transcript
from voices import Rehearsed

RATE, CHUNK = 48_000, 12_000  # what the page sends: 0.25 s chunks of 48 kHz audio


@pytest.fixture(scope="module")
def transcriptions() -> Transcriptions:
    return Transcriptions(LocalEars(), at_once=1)


def listener_for(transcriptions: Transcriptions, pause_s: float = Settings.turn_pause_s, **options) -> Listener:
    """A listener as the app makes one with local ears: the default pauses (or another `pause_s`), Smart Turn."""
    ending = replace(app.turn_end(Settings()), pause_s=pause_s)
    options = {"max_question_s": 30, "speculate": True, "smart_turn": load_smart_turn(), **options}
    return Listener(transcriptions, ending, **options)


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


def hear_in_time(listener: Listener, chunk: np.ndarray) -> str:
    """Hear one chunk as the app does when the machine keeps up: what the listener started on it (a transcription, a
    judgement of the pause) is done before the next chunk comes, 0.25 s later."""
    phase = listener.hear(RATE, chunk)
    wait([look for look in (listener.guess, listener.judgement) if look is not None])
    return listener.phase if phase == "speaking" else phase


def hear_all(listener: Listener, samples: np.ndarray) -> list[str]:
    """The phases the listener went through, chunk by chunk, without repeats."""
    phases = []
    for start in range(0, len(samples), CHUNK):
        phase = hear_in_time(listener, samples[start : start + CHUNK])
        if not phases or phases[-1] != phase:
            phases.append(phase)
    return phases


def silence_heard(listener: Listener, samples: np.ndarray, last_word: int) -> float | None:
    """Seconds of the microphone after the last word (at sample `last_word`) heard when the turn ended (None: never)."""
    for start in range(0, len(samples), CHUNK):
        if hear_in_time(listener, samples[start : start + CHUNK]) == "ended":
            return (start + CHUNK - last_word) / RATE
    return None


def test_a_pause_ends_the_turn_and_its_words_are_heard(piper_voice, transcriptions):
    listener = listener_for(transcriptions, pause_s=0.5)
    assert hear_all(listener, spoken(piper_voice, 0.5, "Should I get a dog?", 1.5)) == ["waiting", "speaking", "ended"]
    turn = listener.take_turn()
    assert turn.guess is not None, "it was transcribed while the pause was confirmed"
    assert words(transcript(turn, transcriptions).words) == ["should", "i", "get", "a", "dog"]


def test_a_short_pause_inside_a_question_does_not_end_it(piper_voice, transcriptions):
    listener = listener_for(transcriptions)
    phases = hear_all(listener, spoken(piper_voice, 0.5, "Should I get", 0.3, "a dog?", 1.5))
    assert phases == ["waiting", "speaking", "ended"]
    assert words(transcript(listener.take_turn(), transcriptions).words) == ["should", "i", "get", "a", "dog"]


def test_a_thinking_pause_after_an_unfinished_phrase_does_not_end_the_question(piper_voice, transcriptions):
    listener = listener_for(transcriptions)
    phases = hear_all(listener, spoken(piper_voice, 0.5, "Should I", 0.7, "take the new job?", 2.5))
    assert phases == ["waiting", "speaking", "ended"], "one turn"
    heard = transcript(listener.take_turn(), transcriptions)
    assert words(heard.words) == ["should", "i", "take", "the", "new", "job"]


@pytest.mark.parametrize("question", ["Will it rain tomorrow?", "Is today my lucky day?", "Will I pass my exam?"])
def test_a_finished_question_ends_after_a_short_pause(piper_voice, transcriptions, question):
    speech = spoken(piper_voice, 0.5, question)
    silence_s = silence_heard(listener_for(transcriptions), spoken(piper_voice, 0.5, question, 2.5), len(speech))
    assert silence_s is not None and silence_s < Settings.turn_unsure_pause_s, (
        f"ended {silence_s} s after the last word"
    )


def test_the_whole_question_is_heard_from_its_first_sound(piper_voice, transcriptions):
    """What the listener heard of a turn, chunk by chunk, is heard as the whole recording is."""
    samples = spoken(piper_voice, 1.0, "Will it rain tomorrow?", 2.5)
    whole = transcriptions.ears.transcribe(to_wav(resampled(samples / 32768, RATE)))
    listener = listener_for(transcriptions)
    assert hear_all(listener, samples)[-1] == "ended"
    assert (
        words(transcript(listener.take_turn(), transcriptions).words)
        == words(whole)
        == ["will", "it", "rain", "tomorrow"]
    )


def test_the_answer_is_asked_for_at_the_first_pause_and_waits_for_the_whole_question(piper_voice, transcriptions):
    listener = listener_for(transcriptions)
    samples, waiting = spoken(piper_voice, 0.5, "Should I get", 0.3, "a dog?", 1.5), None
    with ThreadPoolExecutor(1) as event:
        for start in range(0, len(samples), CHUNK):
            phase = hear_in_time(listener, samples[start : start + CHUNK])
            if listener.asked and waiting is None:
                assert phase == "speaking", "asked for before the question ended"
                waiting = event.submit(listener.wait_for_turn, 10)
        turn = waiting.result(timeout=10)
    assert listener.asked == 1, "one answer per question"
    assert words(transcript(turn, transcriptions).words) == ["should", "i", "get", "a", "dog"]


def test_stop_hands_the_question_to_the_answer_asked_for(piper_voice, transcriptions):
    listener = listener_for(transcriptions)
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
    listener = listener_for(transcriptions, 0.5, prepare=lambda words: prepared.append(words) or "Yes.")
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


def test_the_end_of_a_turn_is_said_before_its_answer_even_between_two_chunks(piper_voice, transcriptions):
    """An answer made ahead can start before the next chunk asks for the status line: the person still sees that the
    end of their question was heard, then that it is answered."""
    listener = listener_for(transcriptions)
    assert hear_all(listener, spoken(piper_voice, 0.5, "Will I pass my exam?", 1.5))[-1] == "ended"
    assert listener.take_turn() is not None
    assert listener.news().startswith("✋ Heard the end of your question")
    assert listener.news().startswith("🔊 Answering")
    assert listener.news() is None


def test_smart_turn_is_not_asked_while_other_questions_wait_for_a_core(piper_voice):
    """With many listeners at once its calls would take the cores the transcriptions wait for (12 listeners: the
    transcripts came 0.3 s later): the words and the pauses decide alone then."""
    transcriptions = Transcriptions(LocalEars(), at_once=1)
    question = spoken(piper_voice, 0.5, "Will I pass my exam?", 1.0)
    waiting = [transcriptions.start(resampled(question.astype(np.float32) / 32768, RATE)) for _ in range(2)]
    busy, idle = listener_for(transcriptions), listener_for(transcriptions)
    judged_busy = [
        (busy.hear(RATE, question[i : i + CHUNK]), busy.judgement)[1] for i in range(0, len(question), CHUNK)
    ]
    wait(waiting)
    while transcriptions.queued:  # the busy listener's own transcriptions
        time.sleep(0.05)
    judged_idle = [
        (idle.hear(RATE, question[i : i + CHUNK]), idle.judgement)[1] for i in range(0, len(question), CHUNK)
    ]
    assert not any(judged_busy), "two questions waited for the one core"
    assert any(judged_idle), "nobody waited"


def test_an_answer_spoken_ahead_plays_from_memory_and_says_its_words(piper_voice, transcriptions):
    voice = Rehearsed(piper_voice, keep=2)
    voice.rehearse("It is certain.")
    ahead = list(voice.speak("It is certain."))
    assert all(a is b for a, b in zip(ahead, voice.spoken["It is certain."], strict=True)), "played from memory"
    heard = transcriptions.ears.transcribe(to_wav(resampled(np.concatenate(ahead), voice.sampling_rate)))
    assert words(heard) == ["it", "is", "certain"]
    for text in ["Yes.", "No.", "Maybe."]:
        voice.rehearse(text)
    assert list(voice.spoken) == ["No.", "Maybe."], "only the last few are kept"


def test_the_answers_learned_by_heart_are_kept_and_played_from_memory(piper_voice):
    voice = Rehearsed(piper_voice, keep=1)
    voice.learn(("Yes.", "Very doubtful."))
    voice.learn(("Ask again later.",))  # learning happens once
    voice.learning.join(timeout=30)
    assert set(voice.by_heart) == {"Yes.", "Very doubtful."}
    for text in ["No.", "Maybe.", "Yes."]:
        voice.rehearse(text)
    assert list(voice.spoken) == ["Maybe."], "an answer known by heart is not rehearsed again"
    learned = voice.by_heart["Very doubtful."]
    assert all(a is b for a, b in zip(voice.speak("Very doubtful."), learned, strict=True)), "played from memory"
    assert np.concatenate(learned).size > 0.5 * voice.sampling_rate


def test_a_question_longer_than_the_limit_ends_there(piper_voice, transcriptions):
    listener = listener_for(transcriptions, 0.5, max_question_s=1.5, speculate=False)
    question = "Will it rain tomorrow, and the day after, and the day after that one?"
    assert hear_all(listener, spoken(piper_voice, 0.2, question)) == ["waiting", "speaking", "too long"]
    turn = listener.take_turn()
    assert turn.too_long and len(turn.audio) <= 1.5 * 16000


def test_stop_takes_the_question_as_it_is(piper_voice, transcriptions):
    listener = listener_for(transcriptions, 0)
    assert hear_all(listener, spoken(piper_voice, 0.5, "Is today my lucky day?", 1.0)) == ["waiting", "speaking"]
    assert words(transcript(listener.stop(), transcriptions).words) == ["is", "today", "my", "lucky", "day"]
    assert listener.stop() is None, "nothing more was said"
