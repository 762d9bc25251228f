"""Many hands-free listeners at once on this machine: does each question end its turn and get heard, and how late?

Each listener is a thread that feeds a `turns.Listener` the way the page does (chunks of 48 kHz audio every
`app.CHUNK_EVERY_S`, in real time): a moment of silence, a question spoken by Piper, then silence. All share the app's
`Transcriptions` pool, its local Whisper tiny.en and its preparing of answers ahead (the classic toy, Piper), as the app
started offline has them. No browser: the listening side only, up to the answer made (and spoken into memory) or not
ahead.

    python bench/bench_listeners.py --listeners 12

Prints, per listener count, the median and max seconds from the last word to the end of the turn and to the
transcript, how many were heard right and how many answers were ready ahead; then one JSON line.
"""

import argparse
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

RATE = 48_000  # the page's microphone
QUESTIONS = ["Should I get a dog?", "Will it rain tomorrow?", "Is today my lucky day?", "Will I pass my exam?"]


def microphone(voice, text: str, lead_s: float) -> tuple[np.ndarray, float]:
    """48 kHz int16 samples: silence, the question, 3 s of silence; and where the last word ends (s)."""
    import av

    speech = np.concatenate(list(voice.speak(text)))
    frame = av.AudioFrame.from_ndarray(speech[None, :].astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = voice.sampling_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    speech = np.concatenate([f.to_ndarray()[0] for f in [*resampler.resample(frame), *resampler.resample(None)]])
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    samples = np.concatenate([np.zeros(int(lead_s * RATE)), speech, np.zeros(3 * RATE)])
    return (samples * 32767).astype(np.int16), lead_s + (loud[-1] + 1) / RATE


def listen(listener, samples: np.ndarray, last_word_s: float, question: str, transcriptions, results: list) -> None:
    from conftest import words

    from app import CHUNK_EVERY_S  # as often as the page sends a chunk
    from turns import transcript

    start, step = time.monotonic(), int(CHUNK_EVERY_S * RATE)
    for i in range(0, len(samples), step):
        time.sleep(max(0.0, start + (i + step) / RATE - time.monotonic()))  # a chunk arrives once it was recorded
        if listener.hear(RATE, samples[i : i + step]) == "ended":
            ended = time.monotonic()
            heard = transcript(listener.take_turn(), transcriptions)
            done = time.monotonic()
            results.append(
                {
                    "turn_end_s": ended - start - last_word_s,
                    "transcript_s": done - start - last_word_s,
                    "words_right": words(heard.words) == words(question),
                    "answered_ahead": heard.answer is not None,
                }
            )
            return
    results.append({"turn_end_s": None, "transcript_s": None, "words_right": False, "answered_ahead": False})


def run(count: int, ball, prepare, voice) -> dict:
    from turns import Listener

    transcriptions, results, settings = ball.transcriptions, [], ball.settings
    threads = []
    for i in range(count):
        question = QUESTIONS[i % len(QUESTIONS)]
        samples, last_word_s = microphone(voice, question, lead_s=1.0 + random.random())
        listener = Listener(transcriptions, settings.turn_pause_s, settings.max_question_s, True, prepare)
        args = (listener, samples, last_word_s, question, transcriptions, results)
        threads.append(threading.Thread(target=listen, args=args))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    heard = [r for r in results if r["turn_end_s"] is not None]
    summary = {"listeners": count, "turns_ended": len(heard), "words_right": sum(r["words_right"] for r in results)}
    summary["answered_ahead"] = sum(r["answered_ahead"] for r in results)
    for key in ("turn_end_s", "transcript_s"):
        values = [r[key] for r in heard]
        summary[key] = {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, nargs="+", default=[1, 12])
    args = parser.parse_args()
    import app
    from settings import Settings
    from voices import PiperVoice

    load = Path("/proc/loadavg").read_text().split()[:3]
    voice = PiperVoice()
    voice.synthesis.noise_scale = voice.synthesis.noise_w_scale = 0.0
    ball = app.start(Settings(voice="piper", offline=True, asr_model="local"))
    random.seed(18)
    summaries = [run(count, ball, app.answer_ahead, voice) for count in args.listeners]
    end_load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average at the start {' '.join(load)}, at the end {' '.join(end_load)}")
    print(
        "| listeners | turns ended | words right | answers ready ahead | last word -> turn end (s) "
        "| last word -> transcript (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for s in summaries:
        cells = [f"{s[k]['median']:.2f} ({s[k]['max']:.2f})" for k in ("turn_end_s", "transcript_s")]
        counts = f"| {s['listeners']} | {s['turns_ended']} | {s['words_right']} | {s['answered_ahead']} | "
        print(counts + " | ".join(cells) + " |")
    print(json.dumps(summaries))


if __name__ == "__main__":
    main()
