"""Parler-TTS still says the same after a transformers upgrade: a checkpoint written by transformers 4.46.1 loads with
`from_pretrained`, as the real weights load on a Space, and speaks the audio it spoke then."""

import numpy as np
from parler_reference import REFERENCE, speak, with_seeded_codec

from parler import parler_tts


def test_a_checkpoint_written_by_transformers_4_speaks_the_same_audio_today():
    model = with_seeded_codec(parler_tts().ParlerTTSForConditionalGeneration.from_pretrained(REFERENCE).eval())
    spoken, expected = speak(model), np.load(REFERENCE / "audio.npz")
    assert len(expected["whole"]) > 20_000  # about 0.7 s at 44.1 kHz
    for how in ("whole", "streamed"):
        np.testing.assert_array_equal(spoken[how], expected[how], err_msg=f"{how}: the voice changed")
