"""Where the time goes between the last word of a spoken question and the answer's first sound, hands-free.

The app is served as `bench_voice_to_voice.py` serves it (hands-free: local Whisper tiny.en, the classic toy, Piper),
with its listener, Smart Turn and gradio's segments timed in the server; Chromium's fake microphone plays each
question, and the page notes its microphone's start and the first sound. Both clocks are this machine's wall clock.

    python bench/trace_hands_free.py                 # 6 questions (after 1 not counted)
    python bench/trace_hands_free.py --questions 12 --voice hibari

Per question, seconds after the last word: the chunk that shows the final pause reaching the server (the transcript
and Smart Turn start then), Smart Turn's judgement, Whisper's words, the turn's end, the answer's first segment on the
server, and the first sound in the page; and how long each microphone chunk took from the end of its audio to the
server. Medians (max) in a table; every figure in bench/results/trace_hands_free-<time>.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

MILESTONES = {  # event: what it marks
    "pause seen": "the chunk showing the final pause reaches the server",
    "sound judged": "Smart Turn's probability",
    "words heard": "Whisper's words",
    "turn ended": "the turn ends",
    "first segment": "the answer's first segment on the server",
    "first sound": "the first sound in the page",
}
ORIGIN_SCRIPT = "window.voiceLog.origin = performance.timeOrigin;"


def serve(port: int, voice: str, log_path: Path) -> None:
    """Serve the hands-free app on `port`, writing what its listener and gradio do to `log_path` (JSON lines)."""
    import threading

    import bench_voice_to_voice
    from gradio.route_utils import MediaStream

    import endpoint
    import patches
    import turns

    log, lock, heard_s = open(log_path, "a", buffering=1), threading.Lock(), {"total": 0.0}

    def note(event: str, **figures) -> None:
        with lock:
            log.write(json.dumps({"event": event, "t": time.time(), **figures}) + "\n")

    def wrap(owner, name: str, before=None, after=None) -> None:
        original = getattr(owner, name)

        def traced(self, *args, **kwargs):
            if before:
                before(self, *args)
            result = original(self, *args, **kwargs)
            if after:
                after(self, result)
            return result

        setattr(owner, name, traced)

    def chunk_heard(listener, rate, chunk) -> None:
        heard_s["total"] = (0.0 if listener.phase == "idle" else heard_s["total"]) + len(chunk) / rate
        note("chunk", heard_s=heard_s["total"])

    wrap(turns.Listener, "hear", before=chunk_heard)
    wrap(turns.Listener, "_look_at_the_pause", before=lambda listener: note("pause seen"))
    wrap(turns.Listener, "_heard_words", before=lambda listener, guess, words: note("words heard", words=words))
    wrap(turns.Listener, "_end", before=lambda listener, *_: note("turn ended"))
    wrap(endpoint.SmartTurn, "complete", after=lambda model, p: note("sound judged", p=p))
    install = patches.install

    def install_and_trace() -> None:
        install()
        add_segment = MediaStream.add_segment

        async def segment_noted(self, data) -> None:
            note("segment")
            await add_segment(self, data)

        MediaStream.add_segment = segment_noted

    patches.install = install_and_trace
    bench_voice_to_voice.serve("hands-free-hibari" if voice == "hibari" else "hands-free", port)


def milestones(events: list[dict], last_word: float) -> dict:
    """Seconds after the last word of each milestone of the answered turn, and each chunk's delay to the server."""
    ended = next(i for i, e in enumerate(events) if e["event"] == "turn ended")
    seen = max(i for i, e in enumerate(events[:ended]) if e["event"] == "pause seen")
    found = {"pause seen": events[seen]["t"], "turn ended": events[ended]["t"]}
    for name in ("sound judged", "words heard"):
        found[name] = next((e["t"] for e in events[seen:] if e["event"] == name), None)
    found["first segment"] = next(e["t"] for e in events[ended:] if e["event"] == "segment")
    return {name: round(t - last_word, 3) for name, t in found.items() if t is not None}


def ask(playwright, url: str, wav: Path, speech_s: float) -> tuple[float, float]:
    """Ask one question aloud in a fresh Chromium: the wall-clock times of the microphone's start and the first
    sound."""
    from bench_voice_to_voice import VOICE_SCRIPT
    from browser import AppPage, launch_chromium

    browser = launch_chromium(playwright, f"{wav}%noloop")
    try:
        context = browser.new_context()
        context.add_init_script(VOICE_SCRIPT + ORIGIN_SCRIPT)
        page = AppPage(context.new_page(), url)
        page.record(streaming=True)
        page.page.wait_for_function("window.audioLog.some(e => e.type === 'sounding')", timeout=30_000)
        page.page.wait_for_timeout(3000)  # the answer plays; the listener listens again
        log = page.page.evaluate("window.voiceLog")
        sound = next(e for e in page.audio_log() if e["type"] == "sounding")
        return (log["origin"] + log["mic"]) / 1000, (log["origin"] + sound["t"]) / 1000
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--voice", choices=["piper", "hibari"], default="piper")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.voice, args.log)

    from bench_browser import free_port, wait_for_server
    from bench_voice_to_voice import QUESTIONS, question_wav
    from playwright.sync_api import sync_playwright

    from voices import PiperVoice

    voice = PiperVoice()
    voice.synthesis.noise_scale = voice.synthesis.noise_w_scale = 0.0  # the questions of bench_voice_to_voice.py
    load, rows = Path("/proc/loadavg").read_text().split()[:3], []
    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        log_path, port = Path(workdir) / "server.jsonl", free_port()
        log_path.touch()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--log", log_path, "--voice", args.voice],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for_server(url, server)
            for i in range(args.warmup + args.questions):
                text = QUESTIONS[i % len(QUESTIONS)]
                wav, speech_s = question_wav(Path(workdir) / f"q{i}.wav", voice, (text,))
                start = len(log_path.read_text().splitlines())
                mic, sound = ask(playwright, url, wav, speech_s)
                events = [json.loads(line) for line in log_path.read_text().splitlines()[start:]]
                last_word = mic + speech_s
                row = dict(milestones(events, last_word), question=text)
                row["first sound"] = round(sound - last_word, 3)
                chunks = [e for e in events if e["event"] == "chunk" and e["t"] < sound]
                row["chunk delays_s"] = [round(e["t"] - mic - e["heard_s"], 3) for e in chunks]
                print("warm-up" if i < args.warmup else "", json.dumps(row), file=sys.stderr)
                rows += [row] if i >= args.warmup else []
        finally:
            server.terminate()
            server.wait(timeout=30)
    summary = {
        name: {"median": round(statistics.median(v), 3), "max": round(max(v), 3)}
        for name in MILESTONES
        if (v := [row[name] for row in rows if name in row])
    }
    delays = [d for row in rows for d in row["chunk delays_s"]]
    summary["chunk delay"] = {"median": round(statistics.median(delays), 3), "max": round(max(delays), 3)}
    print(f"{len(rows)} questions, {args.voice}; load average at the start {' '.join(load)}")
    print("| milestone | seconds after the last word: median (max) |\n|---|---:|")
    for name, what in MILESTONES.items():
        print(f"| {what} | {summary[name]['median']:.2f} ({summary[name]['max']:.2f}) |")
    print(
        f"| (each microphone chunk: end of its audio -> server) | {summary['chunk delay']['median']:.2f} "
        f"({summary['chunk delay']['max']:.2f}) |"
    )
    out = ROOT / "bench" / "results" / f"trace_hands_free-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"load": load, "voice": args.voice, "summary": summary, "questions": rows}, indent=1))
    print(f"every figure: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
