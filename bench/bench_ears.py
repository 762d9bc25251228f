"""Benchmark the local ears' encoder window: today's 30 s against windows fitted to the question, side by side.

    python bench/bench_ears.py            # about 5 minutes on 2 shared CPU cores
    python bench/bench_ears.py --runs 3   # fewer timed runs

The same questions, spoken by Piper once and heard by every variant (Whisper tiny.en, faster-whisper int8, 1 thread):
- "30 s": faster-whisper's `transcribe` (beam 2, VAD filter), which pads every input to 30 s (what LocalEars did);
- "30 s, chunk_length=10": the same with faster-whisper's `chunk_length=10` (it still pads to 30 s);
- "window >= N s": `LocalEars` with `min_window_s=N` (the speech plus 1 s, at least N s); "fit" is N = 0.
Two sets: "clean" (Piper without its noise, as the tests speak) and "noisy" (Piper's own noise, 0.5 s of room tone
before and 1 s after). Seconds per question: median of interleaved runs, then median over the questions. Word errors:
edit distance in words against the question's text. Then the words each variant hears in 5 s of silence and noise.

A table, then as the last line one JSON object (also in bench/results/ears.json).
"""

import argparse
import io
import os
import statistics
import sys
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from bench_voices import edit_distance, words  # noqa: E402
from results import save  # noqa: E402

from hear import ASR_SAMPLING_RATE, LocalEars, to_wav  # noqa: E402
from voices import PiperVoice  # noqa: E402

QUESTIONS = (
    "Will it rain tomorrow?",
    "Should I get a dog?",
    "Is today my lucky day?",
    "Will I pass my exam next week?",
    "Should I learn to play the piano?",
    "Will my team win the match on Sunday?",
    "Can I finish the marathon in under four hours?",
    "Does she like me?",
    "Should I move to a new city?",
    "Will I find my lost keys?",
    "Is it a good idea to buy a new car this year?",
    "Will the weather be nice for the picnic on Saturday afternoon?",
    "Should I tell my best friend the truth about what happened at the party last weekend, even if it makes her "
    "angry with me?",
    "If I start saving a little money every month from now on, will I be able to travel around the world before "
    "I turn forty?",
)
WINDOWS = {"window >= 10 s": 10.0, "window >= 5 s": 5.0, "fit (speech + 1 s)": 0.0}


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    """A 16 kHz mono 16-bit WAV, as `load_question` makes a recording."""
    return to_wav(np.interp(np.arange(0, len(audio), rate / ASR_SAMPLING_RATE), np.arange(len(audio)), audio))


def spoken_questions(noisy: bool) -> list[bytes]:
    """Each question spoken by Piper: without its noise (clean), or with it and room tone around it (noisy)."""
    voice = PiperVoice()
    if not noisy:
        voice.synthesis.noise_scale = voice.synthesis.noise_w_scale = 0.0
    rate, rng = voice.sampling_rate, np.random.default_rng(0)
    recordings = []
    for question in QUESTIONS:
        speech = np.concatenate(list(voice.speak(question)))
        if noisy:
            speech = np.concatenate([np.zeros(rate // 2), speech, np.zeros(rate)])
            speech = speech + 0.01 * rng.standard_normal(len(speech))
        recordings.append(wav_bytes(speech, rate))
    return recordings


def variants(ears: LocalEars) -> dict:
    """Each variant: a function from a WAV to the words heard."""

    def faster_whisper(chunk_length=None):
        def transcribe(wav: bytes) -> str:
            with wave.open(io.BytesIO(wav), "rb") as reader:
                samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
            audio = samples.astype(np.float32) / 32768
            kwargs = {"chunk_length": chunk_length} if chunk_length else {}
            segments, _ = ears.model.transcribe(audio, language="en", beam_size=2, vad_filter=True, **kwargs)
            return "".join(segment.text for segment in segments)

        return transcribe

    def windowed(min_window_s: float):
        def transcribe(wav: bytes) -> str:
            ears.min_window_s = min_window_s
            return ears.transcribe(wav)

        return transcribe

    return {
        "30 s (today)": faster_whisper(),
        "30 s, chunk_length=10": faster_whisper(chunk_length=10),
        **{name: windowed(seconds) for name, seconds in WINDOWS.items()},
    }


def measure(hearers: dict, recordings: list[bytes], runs: int) -> dict:
    """Per variant: median seconds per question (interleaved runs) and what it heard in each."""
    seconds = {name: [[] for _ in recordings] for name in hearers}
    heard = {name: [""] * len(recordings) for name in hearers}
    names = list(hearers)
    for run in range(runs):
        for i, wav in enumerate(recordings):
            for name in names[run % len(names) :] + names[: run % len(names)]:  # rotate who goes first
                start = time.perf_counter()
                heard[name][i] = hearers[name](wav)
                seconds[name][i].append(time.perf_counter() - start)
    total = sum(len(words(question)) for question in QUESTIONS)
    errors = {
        name: [edit_distance(words(q), words(h)) for q, h in zip(QUESTIONS, heard[name], strict=True)]
        for name in hearers
    }
    return {
        name: {
            "median_s": statistics.median(statistics.median(times) for times in seconds[name]),
            "per_question_s": [statistics.median(times) for times in seconds[name]],
            "word_errors": errors[name],
            "wer": sum(errors[name]) / total,
            "heard": heard[name],
        }
        for name in hearers
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per question and variant")
    args = parser.parse_args()
    load_before = os.getloadavg()
    ears = LocalEars(threads=1)
    hearers = variants(ears)
    sets = {"clean": spoken_questions(noisy=False), "noisy": spoken_questions(noisy=True)}
    lengths = [(len(wav) - 44) / 2 / ASR_SAMPLING_RATE for wav in sets["clean"]]  # 44: the WAV header
    results = {name: measure(hearers, recordings, args.runs) for name, recordings in sets.items()}
    rng = np.random.default_rng(1)
    quiet = {
        "silence": np.zeros(5 * ASR_SAMPLING_RATE),
        "room tone": 0.01 * rng.standard_normal(5 * ASR_SAMPLING_RATE),
        "loud noise": 0.3 * rng.standard_normal(5 * ASR_SAMPLING_RATE),
    }
    no_words = {name: {what: hear(to_wav(audio)) for what, audio in quiet.items()} for name, hear in hearers.items()}
    load_after = os.getloadavg()

    baseline = results["clean"]["30 s (today)"]["median_s"]
    print(f"{len(QUESTIONS)} questions, {min(lengths):.1f} to {max(lengths):.1f} s spoken; {args.runs} runs, 1 thread")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    header = f"{'variant':24} {'clean s':>8} {'vs today':>8} {'noisy s':>8} {'WER clean':>10} {'WER noisy':>10}"
    print(header + "  words in silence / room tone / loud noise")
    for name in hearers:
        clean, noisy = results["clean"][name], results["noisy"][name]
        heard_quiet = " / ".join(repr(text.strip()) for text in no_words[name].values())
        print(
            f"{name:24} {clean['median_s']:8.3f} {clean['median_s'] / baseline:8.2f} {noisy['median_s']:8.3f} "
            f"{clean['wer']:10.1%} {noisy['wer']:10.1%}  {heard_quiet}"
        )
    print("\nper question (clean): seconds / word errors")
    print(f"{'spoken s':>8}  " + "  ".join(f"{name[:18]:>18}" for name in hearers))
    for i, length in enumerate(lengths):
        cells = (
            f"{results['clean'][n]['per_question_s'][i]:.3f} / {results['clean'][n]['word_errors'][i]}" for n in hearers
        )
        print(f"{length:8.1f}  " + "  ".join(f"{cell:>18}" for cell in cells))
    for set_name, by_variant in results.items():
        for name, result in by_variant.items():
            for question, heard, errors in zip(QUESTIONS, result["heard"], result["word_errors"], strict=True):
                if errors:
                    print(f"{set_name:5} {name:24} {question!r} -> {heard.strip()!r}")
    save(
        "ears",
        {
            "runs": args.runs,
            "threads": 1,
            "load_average_1min": {"before": load_before[0], "after": load_after[0]},
            "questions": list(QUESTIONS),
            "spoken_s": lengths,
            "results": results,
            "silence_and_noise": no_words,
        },
    )


if __name__ == "__main__":
    main()
