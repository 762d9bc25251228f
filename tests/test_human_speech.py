"""The hands-free turn rule on real people's speech (tests/data/human: test assets of speech packages, SOURCES.md),
heard chunk by chunk as the page streams the microphone, with the real Silero VAD, Smart Turn and Whisper tiny.en."""

from pathlib import Path

import av
import numpy as np
import pytest
from test_turns import RATE, listener_for, resampled, silence_heard, transcriptions  # noqa: F401

from endpoint import HEARD_SILENCE_S, load_smart_turn
from settings import Settings
from turns import RATE as EARS_RATE
from turns import speech_spans

HUMAN = Path(__file__).parent / "data" / "human"


def recording(name: str, silence_s: float = 2.5) -> tuple[np.ndarray, int]:
    """16 kHz float samples of a recording; and the sample where its speech ends (as Silero hears it)."""
    with av.open(str(HUMAN / f"{name}.flac")) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=EARS_RATE)
        frames = [f for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    speech = np.concatenate([f.to_ndarray()[0] for f in frames])
    return np.pad(speech, (0, int(silence_s * EARS_RATE))), speech_spans(speech)[-1]["end"]


def as_the_page_sends(samples: np.ndarray) -> np.ndarray:
    """16 kHz float samples as 48 kHz int16, as the page's microphone sends them."""
    return (np.clip(resampled(samples, EARS_RATE, RATE), -1, 1) * 32767).astype(np.int16)


def test_smart_turn_tells_a_pause_in_mid_sentence_from_the_end_of_a_sentence():
    """Kennedy: "… ask not … what your country can do for you … ask what you can do for your country.": pauses of 1 s
    and 0.55 s inside the sentence sound unfinished (Piper's phrases sound finished: the words decide for them)."""
    speech, _ = recording("jfk", silence_s=0)
    smart_turn, silence = load_smart_turn(), np.zeros(int(HEARD_SILENCE_S * EARS_RATE), np.float32)
    ends = {round(span["end"] / EARS_RATE, 1): span["end"] for span in speech_spans(speech)}
    complete = {at: smart_turn.complete(np.concatenate([speech[:end], silence])) for at, end in ends.items()}
    after = {"not": complete[4.4], "for you": complete[7.6], "your country": complete[10.5]}
    assert after["not"] < Settings.turn_complete_p and after["for you"] < Settings.turn_complete_p, after
    assert after["your country"] >= Settings.turn_complete_p, after


@pytest.mark.parametrize("name", ["goforward", "something", "arctic_a0007", "austen_0920"])
def test_a_person_who_has_finished_is_answered_after_a_short_pause(transcriptions, name):  # noqa: F811
    """Finished sentences, among them one ending "… more respectable than he was." (a verb left out, which read
    unfinished and waited 2 s)."""
    samples, end = recording(name)
    silence_s = silence_heard(listener_for(transcriptions), as_the_page_sends(samples), end * RATE // EARS_RATE)
    assert silence_s is not None and silence_s < Settings.turn_unsure_pause_s, f"ended {silence_s} s after speech"
