"""Voice to voice in a real browser: from the last word of a spoken question to the answer's first sound.

Each configuration is served on 127.0.0.1 in a process of its own: local Whisper tiny.en hears, the classic toy
answers, Piper speaks (hibari in hands-free-hibari). For each question, headless Chromium (Playwright) starts with a
fake microphone that plays the question, spoken by Piper, then silence, once; the page presses Record, and

- main-press-stop: today's main flow (bench/main_press_stop.py), Stop pressed 0.6 s after the last word;
- press-stop: ours with hands-free off (--turn-pause-s 0), Stop pressed 0.6 s after the last word;
- hands-free: ours as it starts, nobody presses Stop; hands-free-0.5: the same with a longer pause (0.5 s, the
  default before);
- thinking: ours as it starts, questions with a 0.7 s pause to think after an unfinished phrase ("Should I ... take
  the new job?"), asked only with --only;
- stop-0.3, stop-0.6, stop-1.0, stop-1.5: ours as it starts, and the person presses Stop that long after their last
  word anyway (the answer must play once, to its end), asked only with --only.

    python bench/bench_voice_to_voice.py                 # 5 questions per configuration (after 1 not counted)
    python bench/bench_voice_to_voice.py --questions 10 --only hands-free
    python bench/bench_voice_to_voice.py --only press-stop hands-free --against ../main   # beside another checkout

`--against` serves each chosen configuration from another checkout too (with its own `.venv`: today's main, say), in
the same run, question for question.

Per answer, from the last word (the microphone's start in the page plus where the speech ends in the WAV) and, with
Stop, from the click: to "You asked" on the page, to the answer in the ball, to the first sound; and whether the words
heard are the question's, and whether the answer played once, to its end. It prints a table of medians (max in
brackets), writes every figure to bench/results/voice_to_voice-<time>.json, and prints one JSON line last.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

QUESTIONS = [
    "Should I get a dog?",
    "Will it rain tomorrow?",
    "Is today my lucky day?",
    "Will I pass my exam?",
    "Shall I go to the party tonight?",
    "Am I going to win the game?",
]
THINKING = [  # an unfinished phrase, a pause to think, the rest of the question
    ("Should I", "take the new job?"),
    ("Will my sister", "like my present?"),
    ("Is it a good idea to", "move abroad?"),
    ("Am I going to", "win the game?"),
]
THINKING_S = 0.7  # the pause inside a thinking question
# name: (the page, turn pause (s) or None for the default, Stop pressed this long after the last word (s) or None,
# the questions, the configuration the server runs (what another checkout knows it as), what it is)
CONFIGS = {
    "main-press-stop": ("main", 0.0, 0.6, "finished", "main-press-stop", "today's main, press Stop"),
    "press-stop": ("ours", 0.0, 0.6, "finished", "press-stop", "ours, press Stop"),
    "hands-free": ("ours", None, None, "finished", "hands-free", "ours, hands-free"),
    "hands-free-0.5": ("ours", 0.5, None, "finished", "hands-free-0.5", "ours, hands-free, a 0.5 s pause"),
    "thinking": ("ours", None, None, "thinking", "hands-free", "hands-free, a 0.7 s pause to think inside"),
    "hands-free-hibari": ("ours", None, None, "finished", "hands-free-hibari", "ours, hands-free, hibari speaks"),
    **{
        f"stop-{after}": ("ours", None, after, "finished", "hands-free", f"hands-free, Stop pressed {after} s late")
        for after in (0.3, 0.6, 1.0, 1.5)
    },
}
SILENCE_S = 6.0  # after the question, the microphone plays silence this long
SPEECH_DBFS = -40.0  # a 10 ms frame louder than this is speech, when finding the last word in the WAV
# What the page shows, noted with the page's clock: the microphone starting, "You asked", the answer in the ball.
VOICE_SCRIPT = """
window.voiceLog = {};
const noteOnce = (type) => { window.voiceLog[type] ??= performance.now(); };
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await getUserMedia(constraints);
  noteOnce("mic");
  return stream;
};
setInterval(() => {
  if (document.querySelector(".heard q")) noteOnce("heard");
  if (document.querySelector(".ball .answer")?.textContent.trim()) noteOnce("answer");
}, 10);
"""
METRICS = {  # key: column title
    "heard_s": "last word -> You asked (s)",
    "answer_s": "last word -> answer (s)",
    "sound_s": "last word -> first sound (s)",
    "stop_to_sound_s": "Stop click -> first sound (s)",
}
ANSWER_ENDS_S = 20  # an answer not played to its end within this long after its first sound was cut


def serve(name: str, port: int) -> None:
    """Serve one configuration on 127.0.0.1:`port` until killed."""
    import app
    import patches
    from settings import Settings

    page, pause_s = CONFIGS[name][:2]
    settings = Settings(voice="hibari" if name.endswith("hibari") else "piper", offline=True, asr_model="local")
    if pause_s is not None:
        settings = replace(settings, turn_pause_s=pause_s)
    if page != "main":
        app.serve(replace(settings, host="127.0.0.1", port=port), quiet=True)
        return
    import main_press_stop

    app.start(settings)
    patches.install()
    main_press_stop.page().queue(default_concurrency_limit=2).launch(
        server_name="127.0.0.1", server_port=port, quiet=True
    )


def question_wav(path: Path, voice, parts: tuple[str, ...]) -> tuple[Path, float]:
    """The question spoken by Piper (its parts with a pause to think between), then silence, as a WAV; and where its
    last word ends (s)."""
    from conftest import write_samples

    pause = np.zeros(round(THINKING_S * voice.sampling_rate), np.float32)
    pieces = [np.concatenate(list(voice.speak(part))) for part in parts]
    speech = np.concatenate([piece for part in pieces for piece in (part, pause)][:-1])
    write_samples(
        path,
        np.concatenate([speech, np.zeros(round(SILENCE_S * voice.sampling_rate), np.float32)]),
        voice.sampling_rate,
    )
    with wave.open(str(path)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), np.int16).astype(np.float32) / 32768
    frames = samples[: len(samples) // (rate // 100) * (rate // 100)].reshape(-1, rate // 100)
    loud = np.flatnonzero(20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9) > SPEECH_DBFS)
    return path, (loud[-1] + 1) / 100


def ask(playwright, url: str, config: str, wav: Path, speech_s: float, question: str) -> dict:
    """One question asked aloud in a fresh browser; the listener's figures."""
    from browser import AppPage, launch_chromium
    from conftest import words

    browser = launch_chromium(playwright, f"{wav}%noloop")
    try:
        context = browser.new_context()
        context.add_init_script(VOICE_SCRIPT)
        page = AppPage(context.new_page(), url)
        page.record(streaming=CONFIGS[config][0] == "ours")
        page.page.wait_for_function("window.voiceLog.mic !== undefined", timeout=10_000)
        last_word = page.page.evaluate("window.voiceLog.mic") + speech_s * 1000
        stop_after_s = CONFIGS[config][2]
        if stop_after_s is not None:
            page.page.wait_for_function(f"performance.now() > {last_word + stop_after_s * 1000}", polling=10)
            page.page.get_by_role("button", name="Stop").click()
        try:
            page.page.wait_for_function("window.audioLog.some(e => e.type === 'sounding')", timeout=30_000)
        except Exception:
            return {"answered": False, "words_right": False, "played_once": False}
        log, sound = page.page.evaluate("window.voiceLog"), next(e for e in page.audio_log() if e["type"] == "sounding")
        try:
            page.page.wait_for_function("window.audioLog.some(e => e.type === 'ended')", timeout=ANSWER_ENDS_S * 1000)
        except Exception:
            pass
        page.page.wait_for_timeout(2000)  # a second answer would start by now
        events = [e["type"] for e in page.audio_log()]
        clicks = [e["t"] for e in page.audio_log() if e["type"] == "click"]
        heard = page.page.locator(".heard q").all_inner_texts()  # none when the page showed no question
        heard = heard[0] if heard else ""
        return {
            "answered": True,
            "words_right": words(heard) == words(question),
            "played_once": events.count("sounding") == 1 and events.count("ended") == 1,
            "heard": heard,
            "heard_s": (log["heard"] - last_word) / 1000,
            "answer_s": (log["answer"] - last_word) / 1000,
            "sound_s": (sound["t"] - last_word) / 1000,
            "stop_to_sound_s": (sound["t"] - clicks[-1]) / 1000 if stop_after_s is not None else None,
        }
    finally:
        browser.close()


def run_config(
    name: str, questions: int, playwright, wavs: list, workdir: Path, warmup: int = 1, checkout: Path | None = None
) -> list[dict]:
    """Serve one configuration (from `checkout`, with its own .venv, when given) and ask it `warmup` + `questions`
    questions, one at a time."""
    import subprocess

    from bench_browser import free_port, wait_for_server

    port = free_port()
    script = Path(__file__).resolve()
    serving = (
        [sys.executable, script]
        if checkout is None
        else [checkout / ".venv/bin/python", checkout / script.relative_to(ROOT)]
    )
    with open(workdir / f"{name}.log", "w") as server_log:
        process = subprocess.Popen(
            [*serving, "--serve", CONFIGS[name][4], "--port", str(port)],
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
    url, results = f"http://127.0.0.1:{port}/", []
    try:
        wait_for_server(url, process)
        asked = wavs[CONFIGS[name][3]]
        for i in range(warmup + questions):
            text, wav, speech_s = asked[i % len(asked)]
            result = ask(playwright, url, name, wav, speech_s, text)
            print(name, "warm-up" if i < warmup else "", text, json.dumps(result), file=sys.stderr)
            results += [dict(result, question=text)] if i >= warmup else []
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def summarise(results: list[dict]) -> dict:
    answered = [r for r in results if r["answered"]]
    summary = {
        "answered": len(answered),
        "asked": len(results),
        "words_right": sum(r["words_right"] for r in results),
        "played_once": sum(r.get("played_once", False) for r in results),
    }
    for key in METRICS:
        values = [r[key] for r in answered if r.get(key) is not None]
        if values:
            summary[key] = {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
    return summary


def print_table(summary: dict) -> None:
    print("| configuration | " + " | ".join(METRICS.values()) + " | answered | words right | played once, to its end |")
    print("|---|" + "---:|" * (len(METRICS) + 3))
    for label, figures in summary.items():
        name, _, checkout = label.partition("@")
        cells = [f"{figures[k]['median']:.2f} ({figures[k]['max']:.2f})" if k in figures else "-" for k in METRICS]
        counts = [f"{figures[key]}/{figures['asked']}" for key in ("answered", "words_right", "played_once")]
        print(f"| {CONFIGS[name][5]}{f' ({checkout})' if checkout else ''} | " + " | ".join(cells + counts) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5, help="questions per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="questions first asked of each app, not counted")
    everyday = ["main-press-stop", "press-stop", "hands-free", "hands-free-0.5"]
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), default=everyday)
    parser.add_argument("--against", type=Path, help="another checkout whose configurations run beside these")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.port)

    from playwright.sync_api import sync_playwright

    from voices import PiperVoice

    started, load = time.monotonic(), Path("/proc/loadavg").read_text().split()[:3]
    voice = PiperVoice()
    voice.synthesis.noise_scale = voice.synthesis.noise_w_scale = 0.0  # the same question in every run
    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        wavs = {
            "finished": [
                (text, *question_wav(Path(workdir) / f"q{i}.wav", voice, (text,))) for i, text in enumerate(QUESTIONS)
            ],
            "thinking": [
                (" ".join(parts), *question_wav(Path(workdir) / f"t{i}.wav", voice, parts))
                for i, parts in enumerate(THINKING)
            ],
        }
        runs = [(name, None) for name in args.only]
        if args.against:
            runs += [(name, args.against.resolve()) for name in args.only]
            runs.sort(key=lambda run: args.only.index(run[0]))  # each configuration beside the other checkout's
        results = {
            name + (f"@{checkout.name}" if checkout else ""): run_config(
                name, args.questions, playwright, wavs, Path(workdir), args.warmup, checkout
            )
            for name, checkout in runs
        }
    summary = {label: summarise(answers) for label, answers in results.items()}
    end_load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"{args.questions} questions per configuration (after {args.warmup} not counted), "
        f"{time.monotonic() - started:.0f} s; load average at the start {' '.join(load)}, "
        f"at the end {' '.join(end_load)}"
    )
    print_table(summary)
    out = ROOT / "bench" / "results" / f"voice_to_voice-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"load": [load, end_load], "summary": summary, "answers": results}, indent=1))
    print(f"every figure: {out.relative_to(ROOT)}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
