"""Many hands-free listeners at once on this machine: does each question end its turn and get heard, and how late?

Each listener is a thread that feeds a `turns.Listener` the way the page does (chunks of 48 kHz audio every
`app.CHUNK_EVERY_S`, in real time): a moment of silence, a question spoken by Piper, then silence. All share the app's
`Transcriptions` pool, its local Whisper tiny.en and its preparing of answers ahead (the classic toy, Piper), as the app
started offline has them. No browser: the listening side only, up to the answer made (and spoken into memory) or not
ahead.

    python bench/bench_listeners.py --listeners 12
    python bench/bench_listeners.py --listeners 1 1 1 1 --questions thinking --rule app fixed-0.4

`--questions thinking` asks questions with a 0.7 s pause after an unfinished phrase ("Should I ... take the new
job?"); `--rule fixed-0.4` ends every turn after 0.4 s of silence, as before Smart Turn (compared in the same run).
Prints, per rule and listener count, the median and max seconds from the last word to the end of the turn and to the
transcript, how many were heard right (a question cut at its pause is not) and how many answers were ready ahead; then
every turn's figures, and one JSON line (also in bench/results/listeners-<questions>-<listeners>-<rules>.json).
"""

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

RATE = 48_000  # the page's microphone
QUESTIONS = {
    "finished": ["Should I get a dog?", "Will it rain tomorrow?", "Is today my lucky day?", "Will I pass my exam?"],
    "thinking": [  # "…": a 0.7 s pause to think
        "Should I … take the new job?",
        "Will my sister … like my present?",
        "Is it a good idea to … move abroad?",
        "Am I going to … win the game?",
    ],
}
THINK_S = 0.7


def microphone(voice, text: str, lead_s: float) -> tuple[np.ndarray, float]:
    """48 kHz int16 samples: silence, the question (with THINK_S of silence at each "…"), 3 s of silence; and where
    the last word ends (s)."""
    from test_turns import resampled, said

    parts = [said(voice, part.strip()) for part in text.split("…")]
    pause = np.zeros(int(THINK_S * voice.sampling_rate), np.float32)
    speech = resampled(np.concatenate([p for part in parts for p in (part, pause)][:-1]), voice.sampling_rate, RATE)
    samples = np.concatenate([np.zeros(int(lead_s * RATE)), speech, np.zeros(3 * RATE)])
    return (np.clip(samples, -1, 1) * 32767).astype(np.int16), lead_s + len(speech) / RATE


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
                    "question": question,
                    "turn_end_s": ended - start - last_word_s,
                    "transcript_s": done - start - last_word_s,
                    "heard": heard.words,
                    "words_right": words(heard.words) == words(question.replace("…", "")),
                    "answered_ahead": heard.answer is not None,
                }
            )
            return
    results.append({"question": question, "turn_end_s": None, "transcript_s": None, "words_right": False})


def run(count: int, ball, prepare, voice, questions: list[str], rule: str, turns: list) -> dict:
    from app import turn_end
    from endpoint import TurnEnd
    from turns import Listener

    transcriptions, results, settings = ball.transcriptions, [], ball.settings
    ending, smart_turn = turn_end(settings), ball.smart_turn
    if rule == "fixed-0.4":
        ending, smart_turn = TurnEnd(0.4, 0.4, 0.4, 1.0), None
    threads = []
    for i in range(count):
        question = questions[(len(turns) + i) % len(questions)]
        samples, last_word_s = microphone(voice, question, lead_s=1.0 + random.random())
        listener = Listener(transcriptions, ending, settings.max_question_s, True, prepare, smart_turn)
        args = (listener, samples, last_word_s, question, transcriptions, results)
        threads.append(threading.Thread(target=listen, args=args))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    turns += [dict(r, rule=rule) for r in results]
    heard = [r for r in results if r["turn_end_s"] is not None]
    summary = {
        "rule": rule,
        "listeners": count,
        "turns_ended": len(heard),
        "words_right": sum(r["words_right"] for r in results),
    }
    summary["answered_ahead"] = sum(r["answered_ahead"] for r in results)
    for key in ("turn_end_s", "transcript_s"):
        values = [r[key] for r in heard]
        summary[key] = {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--questions", choices=list(QUESTIONS), default="finished")
    parser.add_argument("--rule", nargs="+", choices=["app", "fixed-0.4"], default=["app"])
    args = parser.parse_args()
    from results import save

    import app
    from settings import Settings
    from voices import PiperVoice

    load = Path("/proc/loadavg").read_text().split()[:3]
    voice = PiperVoice()
    voice.synthesis.noise_scale = voice.synthesis.noise_w_scale = 0.0
    ball = app.start(Settings(voice="piper", offline=True, asr_model="local"))
    random.seed(18)
    questions, turns = QUESTIONS[args.questions], []
    summaries = [
        run(count, ball, app.answer_ahead, voice, questions, rule, turns)
        for rule in args.rule
        for count in args.listeners
    ]
    end_load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average at the start {' '.join(load)}, at the end {' '.join(end_load)}")
    print(
        "| rule | listeners | turns ended | words right | answers ready ahead | last word -> turn end (s) "
        "| last word -> transcript (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in summaries:
        cells = [f"{s[k]['median']:.2f} ({s[k]['max']:.2f})" for k in ("turn_end_s", "transcript_s")]
        counts = (
            f"| {s['rule']} | {s['listeners']} | {s['turns_ended']} | {s['words_right']} | {s['answered_ahead']} | "
        )
        print(counts + " | ".join(cells) + " |")
    for turn in turns:
        end = f"{turn['turn_end_s']:.2f} s" if turn["turn_end_s"] is not None else "never"
        print(
            f"{turn['rule']:9} {turn['question']:38} turn ended {end} after the last word; heard {turn.get('heard')!r}"
        )
    name = f"listeners-{args.questions}-" + "-".join(map(str, args.listeners)) + "-" + "-".join(args.rule)
    save(name, {"load": [load, end_load], "summaries": summaries, "turns": turns})


if __name__ == "__main__":
    main()
