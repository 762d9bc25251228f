"""Benchmark the upstream Parler-TTS streamer with the guide's settings against ours, on the same codes.

Runs on the CPU with the tiny random-weight Parler-TTS and the real DAC codec, for answers of about 5 s and 10 s:

    python bench/bench_streamer.py            # about 3 minutes on 2 CPU cores
    python bench/bench_streamer.py --quick    # the 5 s answer only

It prints a table, then as its last line one JSON object: {"audio_s": ..., "upstream": {...}, "ours": {...}}.
"""

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path
from threading import Event, Thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pydub import AudioSegment  # noqa: E402
from results import save  # noqa: E402
from transformers import set_seed  # noqa: E402
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList  # noqa: E402

from audio_utils import as_streamed, to_wav  # noqa: E402
from parler import TINY_SUPPRESSED_IDS, char_tokenizer, parler_inputs, parler_tts, tiny_parler_model  # noqa: E402
from streamer import ParlerTTSStreamer  # noqa: E402

SEED = 42
GUIDE_PLAY_STEPS = int(86 * 2.0)  # the guide: play_steps_in_s = 2.0
METRICS = ("decode_work_ratio", "decoded_frames_ratio", "ttfa_s", "rtf", "seam_snr_db", "seam_gap_ms", "chunks")


class DecodeTimer:
    """Wraps `audio_encoder.decode` to count the CPU seconds and codec frames spent decoding.

    CPU seconds (of this process) are work done: unlike wall-clock seconds, other jobs on the machine do not add to
    them. While the generate thread decodes, the rest of this process waits.
    """

    def __init__(self, audio_encoder):
        self.decode = audio_encoder.decode
        audio_encoder.decode = self
        self.reset()

    def reset(self) -> None:
        self.seconds = 0.0
        self.frames = 0
        self.last_codes = None

    def __call__(self, audio_codes, **kwargs):
        start = time.process_time()
        output = self.decode(audio_codes=audio_codes, **kwargs)
        self.seconds += time.process_time() - start
        self.frames += audio_codes.shape[-1]
        self.last_codes = audio_codes.reshape(-1, audio_codes.shape[-1])
        return output


def guide_numpy_to_mp3(audio_array: np.ndarray, sampling_rate: int) -> bytes:
    """The guide's `numpy_to_mp3`, as it is: every chunk is normalised by its own peak."""
    if np.issubdtype(audio_array.dtype, np.floating):
        max_val = np.max(np.abs(audio_array))
        audio_array = (audio_array / max_val) * 32767
        audio_array = audio_array.astype(np.int16)
    segment = AudioSegment(
        audio_array.tobytes(), frame_rate=sampling_rate, sample_width=audio_array.dtype.itemsize, channels=1
    )
    buffer = io.BytesIO()
    segment.export(buffer, format="mp3", bitrate="320k")
    return buffer.getvalue()


def guide_browser_bytes(chunks: list[np.ndarray], sampling_rate: int) -> bytes:
    """What the player gets on the guide's path: an MP3 per chunk, each decoded into gradio's AAC stream."""
    return as_streamed(guide_numpy_to_mp3(chunk, sampling_rate) for chunk in chunks)


def our_browser_bytes(chunks: list[np.ndarray], sampling_rate: int) -> bytes:
    """What the player gets on our path: WAV chunks, one AAC stream."""
    return as_streamed(to_wav(chunk, sampling_rate) for chunk in chunks)


def ffmpeg_decode(data: bytes, sampling_rate: int) -> np.ndarray:
    command = ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", str(sampling_rate), "pipe:1"]
    return np.frombuffer(subprocess.run(command, input=data, capture_output=True, check=True).stdout, np.float32)


def lag_at(source: np.ndarray, heard: np.ndarray, start: int, stop: int, guess: int, search: int = 4410) -> int:
    """Where source[start:stop] lies in what is heard, relative to where it lies in the source (samples)."""
    reference = source[start:stop]
    low = max(0, start + guess - search)
    window = heard[low : stop + guess + search]
    return low + int(np.argmax(np.correlate(window, reference, mode="valid"))) - start


def seam_gaps_ms(source: np.ndarray, heard: np.ndarray, lengths: list[int], sampling_rate: int) -> list[float]:
    """Audio added (or lost) at each seam: the change of lag across it, found by cross-correlation."""
    gaps, guess = [], 0
    for boundary, before, after in zip(np.cumsum(lengths)[:-1], lengths[:-1], lengths[1:], strict=True):
        width = min(2048, before, after)
        lag_before = lag_at(source, heard, boundary - width, boundary, guess)
        lag_after = lag_at(source, heard, boundary, boundary + width, lag_before)
        gaps.append(1000 * (lag_after - lag_before) / sampling_rate)
        guess = lag_after
    return gaps


def snr_db(reference: np.ndarray, test: np.ndarray) -> float | None:
    """Signal-to-error ratio of the test against the reference; None when their lengths differ."""
    if len(reference) != len(test):
        return None
    error = max(np.sum((reference.astype(np.float64) - test) ** 2), 1e-30)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / error))


class StopWhenSet(StoppingCriteria):
    """Stops `generate` at the next step once the event is set."""

    def __init__(self, event: Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


def stream(model, make_streamer, generate_kwargs: dict, timer: DecodeTimer, first_chunk_only: bool = False):
    """Generate with a new streamer and collect its chunks, or stop generating after the first one.

    Returns [streamer, chunks, seconds to the first chunk, seconds until generate returned, (CPU seconds, frames)
    decoded while streaming]. `generate` decodes the whole answer once more after the stream ended (ours skips
    that): that counts in the seconds until it returned, not in the decoding while streaming.
    """
    streamer = make_streamer()
    stop = Event()
    kwargs = dict(generate_kwargs, stopping_criteria=StoppingCriteriaList([StopWhenSet(stop)]))
    timer.reset()
    set_seed(SEED)
    start = time.perf_counter()
    if isinstance(streamer, ParlerTTSStreamer):
        thread = streamer.start(model, **kwargs)
    else:
        thread = Thread(target=model.generate, kwargs=dict(kwargs, streamer=streamer), daemon=True)
        thread.start()
    chunks, ttfa = [], None
    for chunk in streamer:
        ttfa = ttfa if ttfa is not None else time.perf_counter() - start
        chunks.append(chunk)
        if first_chunk_only:
            stop.set()
    decoded = (timer.seconds, timer.frames)
    thread.join()
    return [streamer, chunks, ttfa, time.perf_counter() - start, decoded]


def first_audio_s(model, make_streamer, generate_kwargs: dict, timer: DecodeTimer, first_run_s: float) -> float:
    """The shortest time to the first chunk over the full run and two more runs that stop after the first chunk."""
    more = [stream(model, make_streamer, generate_kwargs, timer, first_chunk_only=True)[2] for _ in range(2)]
    return min(first_run_s, *more)


def with_marker(chunks: list[np.ndarray]) -> list[np.ndarray]:
    """The chunks plus a seeded white-noise marker, cut at the same seams.

    The random-weight model speaks an almost constant hum, on which cross-correlation cannot find a lag;
    the marker makes the lag measurable. Both sides get the same marker.
    """
    lengths = [len(chunk) for chunk in chunks]
    marker = 0.1 * np.random.default_rng(SEED).standard_normal(sum(lengths)).astype(np.float32)
    return np.split(np.concatenate(chunks) + marker, np.cumsum(lengths)[:-1])


def measure_side(run, reference, one_decode_s, frames, rate, to_browser) -> dict:
    """The metrics of one streamer's run."""
    _, chunks, ttfa, wall, decoded = run
    source = np.concatenate(chunks)
    lengths = [len(chunk) for chunk in chunks]
    marked = with_marker(chunks)
    gaps = seam_gaps_ms(np.concatenate(marked), ffmpeg_decode(to_browser(marked, rate), rate), lengths, rate)
    audio_s = len(reference) / rate
    snr = snr_db(reference, source)
    return {
        "decode_work_ratio": round(decoded[0] / one_decode_s, 3),
        "decoded_frames_ratio": round(decoded[1] / frames, 3),
        "ttfa_s": round(ttfa, 3),
        "rtf": round(wall / audio_s, 3),
        "seam_snr_db": None if snr is None else round(snr, 1),
        "seam_gap_ms": round(float(np.mean(np.abs(gaps))) if gaps else 0.0, 2),
        "chunks": len(chunks),
        "chunk_s": [round(n / rate, 2) for n in lengths],
        "decode_s": round(decoded[0], 2),
    }


def run_answer(model, tokenizer, timer: DecodeTimer, audio_s: float, first_chunk_s, chunk_s) -> dict:
    """Stream one answer of about `audio_s` seconds with both streamers, from the same seed, and measure both."""
    num_codebooks = model.decoder.num_codebooks
    frame_rate = model.audio_encoder.config.frame_rate
    rate = model.audio_encoder.config.sampling_rate
    steps = round(audio_s * frame_rate) + num_codebooks - 1  # the last 8 steps only complete earlier frames
    generate_kwargs = dict(
        **parler_inputs(tokenizer, "A calm voice.", "Outlook good, but ask again tomorrow."),
        do_sample=True,
        suppress_tokens=TINY_SUPPRESSED_IDS,
        min_new_tokens=steps,
        max_new_tokens=steps,
    )

    our_kwargs = {}
    if chunk_s is not None:
        our_kwargs["play_steps"] = round(chunk_s * frame_rate)
    if first_chunk_s is not None:
        our_kwargs["first_play_steps"] = round(first_chunk_s * frame_rate)
    sides = {
        "upstream": (
            lambda: parler_tts().ParlerTTSStreamer(model, play_steps=GUIDE_PLAY_STEPS, timeout=600),
            guide_browser_bytes,
        ),
        "ours": (lambda: ParlerTTSStreamer(model, **our_kwargs), our_browser_bytes),
    }
    runs = {}
    for name, (make_streamer, _) in sides.items():
        runs[name] = stream(model, make_streamer, generate_kwargs, timer)
        if name == "upstream":
            upstream_codes = timer.last_codes  # generate's own decode of all codes, after the stream
    ours = runs["ours"][0]
    codes = torch.stack(ours.frames, dim=1)
    if not torch.equal(codes, upstream_codes):
        raise RuntimeError("the two streamers were given different codes; the comparison would be meaningless")
    for name, (make_streamer, _) in sides.items():
        runs[name][2] = first_audio_s(model, make_streamer, generate_kwargs, timer, runs[name][2])

    timer.reset()
    reference = ours.decode(codes)
    one_decode_s = timer.seconds

    results = {"audio_s": round(len(reference) / rate, 2), "one_decode_s": round(one_decode_s, 2)}
    for name, (_, to_browser) in sides.items():
        results[name] = measure_side(runs[name], reference, one_decode_s, codes.shape[1], rate, to_browser)
    results["ours"]["play_steps"] = ours.play_steps
    results["ours"]["first_play_steps"] = ours.first_play_steps
    results["upstream"]["play_steps"] = GUIDE_PLAY_STEPS
    return results


def print_table(results: dict) -> None:
    print(f"\n{results['audio_s']} s of audio (one decode of all codes: {results['one_decode_s']} s)")
    print(f"{'metric':<22}{'upstream (guide)':>18}{'ours':>12}")
    for metric in METRICS:
        print(f"{metric:<22}{results['upstream'][metric]:>18}{results['ours'][metric]:>12}")
    for side in ("upstream", "ours"):
        print(f"{side} chunks (s): {results[side]['chunk_s']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 5 s answer (under 90 s)")
    parser.add_argument("--first-chunk-s", type=float, help="our first chunk, seconds (default: the streamer's)")
    parser.add_argument("--chunk-s", type=float, help="our later chunks, seconds (default: the streamer's)")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    model = tiny_parler_model()
    timer = DecodeTimer(model.audio_encoder)
    tokenizer = char_tokenizer()
    lengths = (5.0,) if args.quick else (5.0, 10.0)
    runs = [run_answer(model, tokenizer, timer, seconds, args.first_chunk_s, args.chunk_s) for seconds in lengths]
    for results in runs:
        print_table(results)
    summary = {key: runs[-1][key] for key in ("audio_s", "upstream", "ours")}
    if len(runs) > 1:
        summary["short"] = {key: runs[0][key] for key in ("audio_s", "upstream", "ours")}
    save("streamer", summary)


if __name__ == "__main__":
    main()
