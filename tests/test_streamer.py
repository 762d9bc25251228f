"""The streamer, with the tiny random-weight Parler-TTS and the real DAC codec: exact, linear, and it always ends."""

import numpy as np
import pytest
import torch
from transformers import set_seed

from parler import TINY_SUPPRESSED_IDS, char_tokenizer, parler_inputs, tiny_parler_model
from streamer import ParlerTTSStreamer

HOP = 512  # audio samples per codec frame
CONTEXT = 16
FRAMES = 120  # 1.4 s of audio
FIRST, STEADY = 11, 43


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    error = np.sum((reference.astype(np.float64) - test) ** 2)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(error, 1e-30)))


@pytest.fixture(scope="module")
def model():
    return tiny_parler_model()


def generate_kwargs(frames: int) -> dict:
    """Sampling settings that make the tiny model produce exactly `frames` codec frames."""
    return dict(
        **parler_inputs(char_tokenizer(), "A calm voice.", "Signs point to yes."),
        do_sample=True,
        suppress_tokens=TINY_SUPPRESSED_IDS,
        min_new_tokens=frames + 8,  # Parler's delay pattern: the last 8 steps only complete earlier frames
        max_new_tokens=frames + 8,
    )


class CountingDecode:
    """Stands in for `audio_encoder.decode` to count the frames each call decodes."""

    def __init__(self, audio_encoder):
        self.decode = audio_encoder.decode
        self.frames: list[int] = []

    def __call__(self, audio_codes, **kwargs):
        self.frames.append(audio_codes.shape[-1])
        return self.decode(audio_codes=audio_codes, **kwargs)


@pytest.fixture(scope="module")
def streamed(model):
    """One streamed generation: (streamer, its chunks, frames each codec call decoded, whether generate returned)."""
    counting = model.audio_encoder.decode = CountingDecode(model.audio_encoder)
    try:
        streamer = ParlerTTSStreamer(model, play_steps=STEADY, first_play_steps=FIRST, timeout=120)
        set_seed(0)
        thread = streamer.start(model, **generate_kwargs(FRAMES))
        chunks = list(streamer)
        thread.join(timeout=30)
    finally:
        del model.audio_encoder.decode
    return streamer, chunks, counting.frames, not thread.is_alive()


def test_joined_chunks_equal_one_decode_of_all_frames(streamed):
    streamer, chunks, _, _ = streamed
    whole = streamer.decode(torch.stack(streamer.frames, dim=1))
    joined = np.concatenate(chunks)
    assert len(joined) == len(whole)
    assert snr_db(whole, joined) >= 100


def test_no_sample_is_lost_or_repeated(streamed):
    streamer, chunks, _, _ = streamed
    assert len(streamer.frames) == FRAMES
    assert sum(len(chunk) for chunk in chunks) == FRAMES * HOP


def test_a_short_first_chunk_doubling_to_steady_chunks(streamed):
    _, chunks, _, _ = streamed
    lengths = [len(chunk) // HOP for chunk in chunks]
    assert all(len(chunk) % HOP == 0 for chunk in chunks)
    assert lengths[:3] == [FIRST, 2 * FIRST, STEADY]
    assert lengths[3:-1] == [STEADY] * (len(lengths) - 4)
    assert 0 < lengths[-1] < STEADY + CONTEXT


def test_decoding_grows_linearly(streamed):
    streamer, chunks, decoded, _ = streamed
    assert streamer.decoded_frames == sum(decoded)
    assert streamer.decoded_frames <= FRAMES + 2 * CONTEXT * len(chunks)


def test_stream_ends_without_decoding_the_answer_again(streamed):
    _, chunks, decoded, generate_returned = streamed
    assert generate_returned
    assert len(decoded) == len(chunks)  # generate's own decode of the whole answer is skipped


def replay(streamer: ParlerTTSStreamer, codes: torch.Tensor, bos: int = 1025, pad: int = 1024) -> None:
    """Feed codes (codebooks, frames) to the streamer as Parler's generate does: delayed columns, then end()."""
    codebooks, frames = codes.shape
    streamer.put(torch.full((codebooks, 1), bos))
    for step in range(1, frames + codebooks + 1):
        column = torch.full((codebooks,), pad)
        for k in range(codebooks):
            frame = step - 1 - k
            column[k] = bos if frame < 0 else codes[k, frame] if frame < frames else pad
        streamer.put(column)
    streamer.end()


def test_replayed_codes_stream_as_one_decode(model):
    codes = torch.randint(0, 1024, (9, 100), generator=torch.Generator().manual_seed(1))
    streamer = ParlerTTSStreamer(model, play_steps=30, first_play_steps=10)
    replay(streamer, codes)
    chunks = list(streamer)
    assert torch.equal(torch.stack(streamer.frames, dim=1), codes)
    assert [len(chunk) // HOP for chunk in chunks] == [10, 20, 30, 40]
    assert snr_db(streamer.decode(codes), np.concatenate(chunks)) >= 100


def test_more_than_one_answer_at_once_is_refused(model):
    streamer = ParlerTTSStreamer(model)
    with pytest.raises(ValueError, match="batch size 1"):
        streamer.put(torch.full((18, 1), 1025))


def test_a_generate_error_ends_the_stream_with_that_error(model):
    streamer = ParlerTTSStreamer(model, timeout=60)
    streamer.start(model, **generate_kwargs(40), not_a_generate_option=True)
    with pytest.raises(ValueError, match="not_a_generate_option"):
        list(streamer)


def test_a_failure_midway_reaches_the_listener_after_the_first_chunks(model):
    steps = 0

    def fail_after_60_steps(module, args, output):
        nonlocal steps
        steps += 1
        if steps > 60:
            raise RuntimeError("the decoder failed")

    hook = model.decoder.register_forward_hook(fail_after_60_steps)
    try:
        streamer = ParlerTTSStreamer(model, play_steps=43, first_play_steps=22, timeout=60)
        streamer.start(model, **generate_kwargs(200))
        first = next(streamer)
        with pytest.raises(RuntimeError, match="the decoder failed"):
            list(streamer)
    finally:
        hook.remove()
    assert len(first) == 22 * HOP


def test_cancel_stops_generation_early(model):
    streamer = ParlerTTSStreamer(model, timeout=60)
    thread = streamer.start(model, **generate_kwargs(2000))
    next(streamer)
    streamer.cancel()
    list(streamer)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(streamer.columns) < 500
