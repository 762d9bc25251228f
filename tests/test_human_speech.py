"""The hands-free turn rule on real people's speech (tests/data/human: test assets of speech packages, SOURCES.md),
heard chunk by chunk as the page streams the microphone, with the real Silero VAD, Smart Turn and Whisper tiny.en."""

from pathlib import Path

import av
import numpy as np
import pytest
from test_turns import RATE, listener_for, resampled, silence_heard, transcriptions  # noqa: F401

import app
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


def test_smart_turn_hears_a_person_pausing_in_mid_sentence_as_unfinished():
    """Kennedy: "And so, my fellow Americans, ask not …", then a 1 s pause, then "… what your country can do for you":
    the words read finished, the sound does not, beyond doubt. (Heard as a turn of its own, "ask not" sounds finished
    (0.98): the rule then cuts this pause, as it does any phrase that reads and sounds finished.)"""
    speech, _ = recording("jfk", silence_s=0)
    end = next(span["end"] for span in speech_spans(speech) if 4.2 * EARS_RATE < span["end"] < 4.6 * EARS_RATE)
    heard = np.pad(speech[: end + int(HEARD_SILENCE_S * EARS_RATE) // 4], (0, int(HEARD_SILENCE_S * EARS_RATE)))
    complete = load_smart_turn().complete(heard)
    assert complete < Settings.turn_incomplete_p, complete
    assert (
        app.turn_end(Settings()).pause_for("And so my fellow Americans ask not", complete) == Settings.turn_max_pause_s
    )


@pytest.mark.parametrize("name", ["goforward", "something", "arctic_a0007", "austen_0920"])
def test_a_person_who_has_finished_is_answered_after_a_short_pause(transcriptions, name):  # noqa: F811
    """Finished sentences, among them one ending "… more respectable than he was." (a verb left out, which read
    unfinished and waited 2 s)."""
    samples, end = recording(name)
    silence_s = silence_heard(listener_for(transcriptions), as_the_page_sends(samples), end * RATE // EARS_RATE)
    assert silence_s is not None and silence_s < Settings.turn_unsure_pause_s, f"ended {silence_s} s after speech"
