"""A tiny Parler-TTS checkpoint and what it says, written once with transformers 4.46.1 (the last version parler-tts
pinned) into tests/data/parler-tiny/: `tests/test_parler_checkpoint.py` loads it on today's transformers and expects
the same audio, sample for sample. Run `python tests/parler_reference.py` to write it again.

The checkpoint holds the tiny T5 and decoder; the DAC codec's 77 M random weights are not stored but rebuilt from a
seed by the codec's own code, which does not depend on transformers.
"""

import importlib.metadata
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parler import char_tokenizer, parler_inputs, parler_tts, tiny_parler_model  # noqa: E402
from streamer import ParlerTTSStreamer  # noqa: E402

REFERENCE = Path(__file__).resolve().parent / "data" / "parler-tiny"
DESCRIPTION, TEXT = "A calm voice.", "Signs point to yes."
GREEDY = dict(do_sample=False, min_new_tokens=10, max_new_tokens=70, suppress_tokens=list(range(1025, 1088)))
CODEC = "audio_encoder."


def with_seeded_codec(model):
    """The model with the codec's random weights made from seed 0 by the codec's own constructor."""
    codec = parler_tts().dac_wrapper
    torch.manual_seed(0)
    model.audio_encoder.load_state_dict(codec.DACModel(codec.DACConfig()).state_dict())
    return model


def speak(model) -> dict[str, np.ndarray]:
    """The text spoken greedily: by `generate` in one piece, and streamed by our streamer, with the codec frames it
    decoded."""
    inputs = parler_inputs(char_tokenizer(), DESCRIPTION, TEXT)
    with torch.no_grad():
        whole = model.generate(**inputs, **GREEDY).reshape(-1).float().numpy()
    streamer = ParlerTTSStreamer(model, play_steps=20, first_play_steps=10)
    streamer.start(model, **inputs, **GREEDY).join()
    streamed = np.concatenate(list(streamer))
    return {"whole": whole, "streamed": streamed, "codes": torch.stack(streamer.frames).numpy()}


def write_reference() -> None:
    model = with_seeded_codec(tiny_parler_model())
    weights = {name: tensor for name, tensor in model.state_dict().items() if not name.startswith(CODEC)}
    model.save_pretrained(REFERENCE, state_dict=weights)
    np.savez(REFERENCE / "audio.npz", **speak(model))
    (REFERENCE / "WRITTEN_WITH").write_text(f"transformers {importlib.metadata.version('transformers')}\n")


if __name__ == "__main__":
    import parler_compat

    parler_compat.adapt = parler_compat.version_mismatch = lambda: None  # run with transformers 4.46.1: as released
    write_reference()
