"""Parler-TTS still says the same after a transformers upgrade: a checkpoint written by transformers 4.46.1 loads with
`from_pretrained`, as the real weights load on a Space, and speaks the codes it spoke then, decoded to the same audio
(to float rounding: run alone, sample for sample)."""

import numpy as np
from parler_reference import REFERENCE, speak, with_seeded_codec

from parler import parler_tts


def test_a_checkpoint_written_by_transformers_4_speaks_the_same_audio_today():
    model = with_seeded_codec(parler_tts().ParlerTTSForConditionalGeneration.from_pretrained(REFERENCE).eval())
    spoken, expected = speak(model), np.load(REFERENCE / "audio.npz")
    assert len(expected["whole"]) > 20_000  # about 0.7 s at 44.1 kHz
    np.testing.assert_array_equal(spoken["codes"], expected["codes"], err_msg="the model says other codes")
    for how in ("whole", "streamed"):  # the codec's sums are rounded in an order that depends on torch's threads
        np.testing.assert_allclose(spoken[how], expected[how], rtol=0, atol=1e-6, err_msg=f"{how}: the voice changed")
