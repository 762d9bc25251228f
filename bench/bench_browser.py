"""What the listener hears in a real browser: ours beside the guide's app, in one run.

Each configuration is served on 127.0.0.1 in a process of its own (ours with `app.serve`, the guide's app with
gradio's own playlist); headless Chromium (Playwright) types a question, clicks Ask and listens, one answer at a
time, in a fresh window each:

    python bench/bench_browser.py                        # every configuration, 5 answers each, 5 to 15 minutes
    python bench/bench_browser.py --answers 3 --only ours-paced guide-paced
    python bench/bench_browser.py --answers 10 --only ours-instant player-only   # our page against the player alone
    python bench/bench_browser.py --only ours-instant ours-paced --against ../main   # beside another checkout's app

`--against` serves each `ours` configuration from another checkout too (with its own `.venv`: today's main, say), in
the same run and the same browser, question for question.

Per answer: seconds from the click to the first sound (`playing` and the position advancing); from the first segment
on the server to the first sound; silence after the first sound (`waiting` until `playing`, and how many times);
audio skipped (forward jumps of the position); the wall time from the first sound to `ended`, less the audio's length.
It prints a table of medians (max in brackets), then one JSON line: median and max per configuration.
"""

import argparse
import functools
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from results import save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

SPEED = 1.5  # the paced voice: espeak-ng held back to 1.5 times real time, standing in for Parler-TTS on a GPU
TINY_SPEECH_S = 2.0  # the tiny random-weight Parler-TTS speaks this long
LONG_ANSWER = (
    "A river that hurries to the sea forgets the hills it came from, so walk slowly, "
    "and the answer you seek will be waiting for you at the end of the road."
)
# A person reads the page before asking: the question is asked once the page has finished starting up, not in the
# middle of it. And while the answer plays, the benchmark looks at the page only every 100 ms (Playwright's default
# looks at every animation frame, which makes the page draw frames it would not draw for a person).
READ_THE_PAGE_MS = 1000
ENDED = "window.audioLog.some(e => e.type === 'ended')"
QUESTIONS = ["Will it rain tomorrow?", "Should I get a dog?", "Is today my lucky day?", "Will I pass?", "Shall I go?"]
CONFIGS = {  # name: (app, voice, answers, what it is)
    "ours-instant": ("ours", "espeak", "classic", "ours, espeak-ng instant, classic answer"),
    "ours-paced": ("ours", "paced", "classic", "ours, paced 1.5x, classic answer"),
    "guide-paced": ("guide", "paced", "classic", "guide's app, paced 1.5x, classic answer"),
    "ours-paced-long": ("ours", "paced", "long", "ours, paced 1.5x, 8 s answer"),
    "guide-paced-long": ("guide", "paced", "long", "guide's app, paced 1.5x, 8 s answer"),
    "ours-tiny-parler": ("ours", "tiny", "classic", "ours, tiny Parler-TTS (CPU, slower than real time)"),
    "guide-tiny-parler": ("guide", "tiny", "classic", "guide's app, tiny Parler-TTS (CPU)"),
    "player-only": ("player-only", "espeak", "classic", "a page with only our player, espeak-ng instant"),
    "ours-piper": ("ours", "piper", "classic", "ours, Piper (CPU), classic answer"),
    "ours-hibari": ("ours", "hibari", "classic", "ours, hibari (CPU), classic answer"),
}
# Run only when asked for (--only): ours on a page with nothing else, to tell the page's weight from the player's.
ASKED_FOR_ONLY = ["player-only", "ours-piper", "ours-hibari"]
METRICS = {  # key: column title
    "first_sound_s": "click -> first sound (s)",
    "after_segment_s": "first segment on server -> first sound (s)",
    "silence_s": "silence after first sound (s)",
    "stalls": "stalls",
    "skipped_s": "skipped (s)",
    "overrun_s": "first sound -> ended, less audio length (s)",
    "audio_s": "audio (s)",
}


class PacedVoice:
    """A voice held back to `speed` times real time: each chunk comes when a voice that fast would have made it."""

    def __init__(self, voice, speed: float = SPEED):
        self.voice, self.speed = voice, speed
        self.name, self.sampling_rate = f"{voice.name} at {speed}x real time", voice.sampling_rate

    def speak(self, text: str):
        start, made = time.monotonic(), 0.0
        for chunk in self.voice.speak(text):
            made += len(chunk) / self.sampling_rate
            time.sleep(max(0.0, start + made / self.speed - time.monotonic()))
            yield chunk


def record_segments(log_path: str) -> None:
    """Append every segment the server adds to a stream (its wall-clock time in ms) to `log_path`; in our app, also
    when a question reaches the oracle and when the playlist is asked for and answered (`what`)."""
    from gradio.route_utils import MediaStream

    def record(**entry) -> None:
        with open(log_path, "a") as log:
            log.write(json.dumps({"t_ms": time.time() * 1000, **entry}) + "\n")

    add_segment = MediaStream.add_segment

    async def add_and_record(self, data) -> None:
        await add_segment(self, data)
        if data:
            record(s=data["duration"])

    MediaStream.add_segment = add_and_record
    if "app" not in sys.modules:
        return
    app, hls = sys.modules["app"], sys.modules["hls"]
    answer_text, playlist_route = app.answer_text, hls.playlist_route

    def answer_and_record(question: str, who=None) -> str:
        record(what="answer asked")
        return answer_text(question, who)

    @functools.wraps(playlist_route)  # FastAPI reads the route's parameters from its signature
    async def route_and_record(*args, **kwargs):
        record(what="playlist asked")
        response = await playlist_route(*args, **kwargs)
        record(what="playlist answered")
        return response

    app.answer_text, hls.playlist_route = answer_and_record, route_and_record


def serve(name: str, port: int, log_path: str) -> None:
    """Serve one configuration on 127.0.0.1:`port` until killed."""
    from huggingface_hub import InferenceClient
    from inference_server import InferenceServer

    from oracle import ClassicOracle, LLMOracle
    from parler import TINY_SUPPRESSED_IDS, char_tokenizer, tiny_parler_model, tiny_random_voice
    from settings import Settings
    from voices import EspeakVoice, HibariVoice, PiperVoice

    app_name, voice_name, answers, _ = CONFIGS[name]
    defaults = Settings()
    llm = InferenceServer().start()
    llm.answer_for = lambda question: f"Magic 8 Ball: {LONG_ANSWER}"
    settings = Settings(voice="none", offline=True)
    if answers == "long":
        no_limit = dict(questions_per_minute=1_000_000, owner_calls_per_day=1_000_000)  # one client asks them all
        settings = Settings(voice="none", hf_token="hf_bench", llm_model=f"{llm.url}/llm", **no_limit)
    if app_name in ("ours", "player-only"):
        import app
        import patches

        chunks = dict(first_chunk_s=defaults.first_chunk_s, chunk_s=defaults.chunk_s)
        voice = {
            "espeak": lambda: EspeakVoice(**chunks),
            "paced": lambda: PacedVoice(EspeakVoice(**chunks)),
            "tiny": lambda: tiny_random_voice(description="A calm voice.", max_speech_s=TINY_SPEECH_S, **chunks),
            "piper": lambda: PiperVoice(**chunks),
            "hibari": lambda: HibariVoice(**chunks),
        }[voice_name]()
        record_segments(log_path)
        if app_name == "ours":
            app.serve(replace(settings, host="127.0.0.1", port=port), voice, quiet=True)
            return
        app.start(settings, voice)
        patches.install()
        demo = player_only_page()
    else:
        import guide_app

        guide_app.oracle = LLMOracle(InferenceClient(token="hf_bench"), settings.llm_model)
        if answers == "classic":
            guide_app.oracle = ClassicOracle()
        if voice_name == "paced":
            guide_app.paced_voice = PacedVoice(EspeakVoice(first_chunk_s=2.0, chunk_s=2.0))
        else:
            guide_app.model, guide_app.tokenizer = tiny_parler_model(), char_tokenizer()
            guide_app.frame_rate = guide_app.model.audio_encoder.config.frame_rate
            guide_app.max_new_tokens = round(TINY_SPEECH_S * guide_app.frame_rate) + 9
            guide_app.generate_kwargs = dict(suppress_tokens=TINY_SUPPRESSED_IDS)
        record_segments(log_path)
        demo = guide_app.block.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


def player_only_page():
    """Our app's speaking step on a page with nothing else: the Spoken Answer player, the question box and Ask."""
    import gradio as gr

    import app

    def respond(question: str):
        for _, data in app.read_response(app.answer_text(question)):
            yield data

    with gr.Blocks() as page:
        spoken = gr.Audio(label="Spoken Answer", streaming=True, autoplay=True)
        question = gr.Textbox(label="Or type your question")
        gr.Button("Ask").click(respond, question, spoken, show_progress="hidden")
    return page.queue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(log: list[dict], origin_ms: float, segments: list[dict]) -> dict:
    """The listener's figures for one answer, from the page's audio log and the server's segment log."""
    click = next(e for e in log if e["type"] == "click")
    sound = next(e for e in log if e["type"] == "sounding")
    ended = next(e for e in log if e["type"] == "ended")
    silence, stalls, waiting_since = 0.0, 0, None
    for event in (e for e in log if sound["t"] <= e["t"] <= ended["t"]):
        if event["type"] == "waiting" and waiting_since is None:
            waiting_since, stalls = event["t"], stalls + 1
        elif event["type"] in ("playing", "ended") and waiting_since is not None:
            silence, waiting_since = silence + event["t"] - waiting_since, None
    jumps = [e["time"] - e["from"] for e in log if e["type"] == "seeking"]
    return {
        "first_sound_s": (sound["t"] - click["t"]) / 1000,
        "after_segment_s": (sound["t"] - (segments[0]["t_ms"] - origin_ms)) / 1000,
        "silence_s": silence / 1000,
        "stalls": stalls,
        "skipped_s": sum(jump for jump in jumps if jump > 0.01),
        "overrun_s": (ended["t"] - sound["t"]) / 1000 - ended["time"],
        "audio_s": ended["time"],
    }


def wait_for_server(url: str, process: subprocess.Popen, timeout_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError(f"the app for this configuration did not start at {url}")


def run_config(
    name: str, answers: int, browser, workdir: Path, warmup: int = 1, checkout: Path | None = None
) -> list[dict]:
    """Serve one configuration (from `checkout`, with its own .venv, when given) and ask it `warmup` + `answers` typed
    questions, one at a time; the first `warmup` answers (a fresh process loading its code) are not counted."""
    from browser import AppPage

    port, log_path = free_port(), workdir / f"{name}.jsonl"
    serving = (
        [sys.executable, __file__]
        if checkout is None
        else [checkout / ".venv/bin/python", checkout / Path(__file__).resolve().relative_to(ROOT)]
    )
    with open(workdir / f"{name}.log", "w") as server_log:
        process = subprocess.Popen(
            [*serving, "--serve", name, "--port", str(port), "--segments-log", str(log_path)],
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    results = []
    try:
        wait_for_server(url, process)
        for i in range(warmup + answers):
            log_path.write_text("")
            context = browser.new_context()
            page = AppPage(context.new_page(), url)
            page.page.wait_for_timeout(READ_THE_PAGE_MS)
            page.ask_in_writing(QUESTIONS[i % len(QUESTIONS)])
            page.page.wait_for_function(ENDED, timeout=180_000, polling=100)
            origin_ms = page.page.evaluate("performance.timeOrigin")
            segments = [e for e in map(json.loads, log_path.read_text().splitlines()) if "s" in e]
            result = measure(page.audio_log(), origin_ms, segments)
            context.close()
            print(name, "warm-up" if i < warmup else "", json.dumps(result), file=sys.stderr)
            results += [result] if i >= warmup else []
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def summarise(results: list[dict]) -> dict:
    return {
        key: {
            "median": round(statistics.median(r[key] for r in results), 3),
            "max": round(max(r[key] for r in results), 3),
        }
        for key in METRICS
    }


def print_table(summary: dict) -> None:
    print("| configuration | " + " | ".join(METRICS.values()) + " |")
    print("|---|" + "---:|" * len(METRICS))
    for label, figures in summary.items():
        name, _, checkout = label.partition("@")
        cells = [f"{figures[key]['median']:.2f} ({figures[key]['max']:.2f})" for key in METRICS]
        print(f"| {CONFIGS[name][3]}{f' ({checkout})' if checkout else ''} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=5, help="answers per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="answers first asked of each app, not counted")
    everyday = [name for name in CONFIGS if name not in ASKED_FOR_ONLY]
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), default=everyday)
    parser.add_argument("--against", type=Path, help="another checkout whose `ours` configurations run beside these")
    parser.add_argument("--serve", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--segments-log", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.port, args.segments_log)

    from browser import launch_chromium, speak_question
    from playwright.sync_api import sync_playwright

    started, load = time.monotonic(), Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        browser = launch_chromium(playwright, speak_question(Path(workdir) / "question.wav", "Will it rain?"))
        runs = [(name, None) for name in args.only]
        if args.against:
            against = args.against.resolve()
            runs += [(name, against) for name in args.only if CONFIGS[name][0] == "ours"]
            runs.sort(key=lambda run: args.only.index(run[0]))  # each configuration beside the other checkout's
        summary = {
            name + (f"@{checkout.name}" if checkout else ""): summarise(
                run_config(name, args.answers, browser, Path(workdir), args.warmup, checkout)
            )
            for name, checkout in runs
        }
        browser.close()
    print(
        f"{args.answers} answers per configuration (after {args.warmup} not counted), "
        f"{time.monotonic() - started:.0f} s;"
        " load average at the start "
        f"{' '.join(load)}, at the end {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
    )
    print_table(summary)
    chosen = "" if args.only == everyday and not args.against else "-" + "-".join(args.only)
    save("browser" + chosen + (f"-against-{args.against.resolve().name}" if args.against else ""), summary)


if __name__ == "__main__":
    main()
