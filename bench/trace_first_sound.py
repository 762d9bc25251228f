"""Where the time goes between the click and the first sound: one configuration of `bench_browser.py`, with the
page's network requests (Chromium's DevTools protocol) beside the server's segments and the player's events.

    python bench/trace_first_sound.py                          # ours, espeak-ng instant, 5 answers
    python bench/trace_first_sound.py --config ours-paced --answers 3 --verbose

Per answer, milliseconds after the click: the question reaching the oracle, the first segment on the server, the
page getting its event stream, hls.js attaching the player (its MediaSource) and asking for the playlist, the server
answering and the page getting it, the MediaSource opening, asking for the first segment and getting it, the first
append to the player's buffer, `playing`, and the first sound; and how many of the milliseconds before the first
sound the page's main thread was busy (Chromium's sampling profiler). The first answer (a fresh process loading its
code) is not counted. With --verbose, every request and media event of each answer.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_browser import CONFIGS, ENDED, QUESTIONS, READ_THE_PAGE_MS, free_port, wait_for_server  # noqa: E402
from browser import AppPage, launch_chromium, speak_question  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

MILESTONES = {  # name: what marks it in the trace
    "answer asked": lambda what: what == "server answer asked",
    "segment on server": lambda what: what.startswith("server segment"),
    "event stream got": lambda what: what == "response data",
    "player attached": lambda what: what == "media source created",
    "playlist asked": lambda what: what.startswith("request playlist"),
    "playlist answered": lambda what: what == "server playlist answered",
    "playlist got": lambda what: what.startswith("response playlist"),
    "media source open": lambda what: what == "media source open",
    "segment asked": lambda what: what.startswith("request segment"),
    "segment got": lambda what: what.startswith("response segment"),
    "first append": lambda what: what == "media append",
    "playing": lambda what: what == "player playing",
    "first sound": lambda what: what == "player sounding",
}
# When hls.js gives the <audio> its MediaSource (the player attached), when that opens, and each append to it. A block
# of its own: the page's player nudge (`hls.PLAYER_NUDGE`) wraps the same function.
MEDIA_SOURCE_SCRIPT = """{
  window.mediaLog = [];
  const noteMedia = (type) => window.mediaLog.push({type, t: performance.now()});
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (source) => {
    if (source instanceof MediaSource) {
      noteMedia("media source created");
      source.addEventListener("sourceopen", () => noteMedia("media source open"), {once: true});
    }
    return createObjectURL(source);
  };
  const appendBuffer = SourceBuffer.prototype.appendBuffer;
  SourceBuffer.prototype.appendBuffer = function (data) {
    noteMedia("media append");
    return appendBuffer.call(this, data);
  };
}"""


def kind_of(url: str) -> str:
    path = url.split("?")[0]
    return "playlist" if path.endswith(".m3u8") else "segment" if path.endswith(".aac") else path.rsplit("/", 1)[-1]


def busy_ms(profile: dict, start_ms: float, end_ms: float) -> float:
    """Milliseconds between `start_ms` and `end_ms` (the profile's clock) that the main thread was not idle."""
    idle = {node["id"] for node in profile["nodes"] if node["callFrame"]["functionName"] == "(idle)"}
    busy, t_us = 0.0, profile["startTime"]
    for node, delta_us in zip(profile["samples"], profile["timeDeltas"], strict=True):
        t_us += delta_us
        busy += delta_us / 1000 if node not in idle and start_ms < t_us / 1000 <= end_ms else 0
    return busy


def trace_answer(browser, url: str, question: str, segments_log: Path) -> list[tuple[float, str]]:
    """One typed question in a fresh window: (ms after the click, what happened), in order; last, the main thread's
    busy milliseconds from the click to the first sound."""
    segments_log.write_text("")
    context = browser.new_context()
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("Network.enable")
    network, names, wall_offset = [], {}, []

    def sent(event):
        wall_offset[:] = wall_offset or [event["wallTime"] * 1000 - event["timestamp"] * 1000]
        names[event["requestId"]] = kind_of(event["request"]["url"])
        network.append((event["timestamp"], f"request {names[event['requestId']]}"))

    devtools.on("Network.requestWillBeSent", sent)
    devtools.on(
        "Network.responseReceived",
        lambda event: network.append((event["timestamp"], f"response {names.get(event['requestId'], '?')}")),
    )
    page.add_init_script(MEDIA_SOURCE_SCRIPT)
    app_page = AppPage(page, url)
    page.wait_for_timeout(READ_THE_PAGE_MS)
    network.clear()
    devtools.send("Profiler.enable")
    devtools.send("Profiler.setSamplingInterval", {"interval": 500})  # microseconds
    devtools.send("Profiler.start")
    app_page.ask_in_writing(question)
    page.wait_for_function(ENDED, timeout=180_000, polling=100)
    profile = devtools.send("Profiler.stop")["profile"]
    origin = page.evaluate("performance.timeOrigin")
    log = app_page.audio_log() + page.evaluate("window.mediaLog")
    context.close()
    click = origin + next(e["t"] for e in log if e["type"] == "click")
    trace = [
        (origin + e["t"] - click, e["type"] if e["type"].startswith("media") else f"player {e['type']}")
        for e in log
        if e["type"] != "click"
    ]
    trace += [(seconds * 1000 + wall_offset[0] - click, what) for seconds, what in network]
    trace += [
        (entry["t_ms"] - click, f"server {entry['what']}" if "what" in entry else f"server segment {entry['s']:.3f} s")
        for entry in map(json.loads, segments_log.read_text().splitlines())
    ]
    sound = next(t for t, what in trace if what == "player sounding")
    return sorted(trace) + [(busy_ms(profile, click - wall_offset[0], click + sound - wall_offset[0]), "busy")]


def milestones(trace: list[tuple[float, str]]) -> dict[str, float]:
    found = {
        name: next((t for t, what in trace if t >= 0 and marks(what)), float("nan"))
        for name, marks in MILESTONES.items()
    }
    return found | {"main thread busy": trace[-1][0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=list(CONFIGS), default="ours-instant")
    parser.add_argument("--answers", type=int, default=5)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        workdir, port = Path(folder), free_port()
        segments_log = workdir / "segments.jsonl"
        with open(workdir / "app.log", "w") as app_log:
            server = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "bench_browser.py"), "--serve", args.config, "--port", str(port)]
                + ["--segments-log", str(segments_log)],
                stdout=app_log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}/"
        browser = launch_chromium(playwright, speak_question(workdir / "question.wav", "Will it rain?"))
        rows = []
        try:
            wait_for_server(url, server)
            for i in range(args.answers + 1):
                trace = trace_answer(browser, url, QUESTIONS[i % len(QUESTIONS)], segments_log)
                if i == 0:
                    continue
                rows.append(milestones(trace))
                if args.verbose:
                    print(f"answer {i}:", *(f"{t:8.1f}  {what}" for t, what in trace[:-1] if t > 0), sep="\n")
        finally:
            browser.close()
            server.terminate()
            server.wait(timeout=30)

    print(f"{CONFIGS[args.config][3]}: ms after the click, median of {len(rows)} answers (max in brackets)")
    for name in rows[0]:
        values = [row[name] for row in rows]
        print(f"{name:>18}: {statistics.median(values):6.0f} ({max(values):.0f})")


if __name__ == "__main__":
    main()
