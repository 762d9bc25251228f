"""A person at the app: headless Chromium from Debian, driven by Playwright, with a fake microphone."""

import re
import subprocess
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
# Logs what every <audio> on the page does, as a listener would notice it: each media event with the page's clock
# (ms), the playback position and the position before it ("seeking" from, to), "sounding" once the position of a player
# first advances while playing (the first sound of each answer), the label of the
# player, and every click. It looks at the positions every 5 ms only from the first "play" on, so that it adds no work
# to the page while the player is being set up.
LISTEN_SCRIPT = """
window.audioLog = [];
const last = new WeakMap();
const sounded = new WeakSet();
const labelOf = (audio) => audio.closest(".block")?.querySelector("[data-testid='block-label']")?.textContent.trim();
const note = (type, audio) => window.audioLog.push(
  {type, t: performance.now(), time: audio.currentTime, from: last.get(audio) ?? 0, label: labelOf(audio)}
);
document.addEventListener("click", () => window.audioLog.push({type: "click", t: performance.now()}), true);
for (const type of ["play", "playing", "waiting", "seeking", "ended"]) {
  document.addEventListener(type, (e) => e.target.tagName === "AUDIO" && note(type, e.target), true);
}
const watchPositions = () => {
  for (const audio of document.querySelectorAll("audio")) {
    const before = last.get(audio) ?? 0;
    if (audio.currentTime > before && !audio.paused && !audio.seeking && !sounded.has(audio)) {
      sounded.add(audio);
      note("sounding", audio);
    }
    last.set(audio, audio.currentTime);
  }
};
let watching = null;
document.addEventListener("play", () => { watching ??= setInterval(watchPositions, 5); }, true);
// gradio 6.31 plays each answer in the same <audio>: a new stream empties it, and its first sound is noted again.
document.addEventListener("emptied", (e) => { sounded.delete(e.target); last.delete(e.target); }, true);
"""
# gradio's streaming recorder loads extendable-media-recorder and its WAV encoder (two workers) after the page
# shows: a Record click before they are ready starts no recording (the page throws "c is not a constructor"). The page
# notes when the second of those workers starts.
RECORDER_SCRIPT = """
const PageWorker = window.Worker;
window.recorderWorkers = 0;
window.Worker = class extends PageWorker {
  constructor(url, options) {
    super(url, options);
    if (String(url).startsWith("blob:") && ++window.recorderWorkers === 2) window.encoderStarted = performance.now();
  }
};
"""
# Types a question and presses Ask from the page itself once the page is drawn: no user gesture, as when an answer
# comes long after the person's last tap, so a browser may refuse to play it. `%s`: the question, as a JSON string.
ASK_ON_ITS_OWN = """
const askWhenDrawn = setInterval(() => {
  const ask = [...document.querySelectorAll("button")].find((button) => button.textContent.trim() === "Ask");
  if (!ask) return;
  clearInterval(askWhenDrawn);
  setTimeout(() => {
    const label = [...document.querySelectorAll("label")].find((l) => l.textContent.includes("Or type your question"));
    const box = label.querySelector("textarea");
    box.value = %s;
    box.dispatchEvent(new Event("input", {bubbles: true}));
    ask.click();
  }, 1000);
}, 200);
"""
# Notes each "Tap to hear the answer" button the page shows (tap_to_hear.SCRIPT adds it to the body) in
# `window.tapsOffered`, and on the console with where its middle is ("tap to hear offered at x,y"): a test can wait for
# it and tap there without asking the page anything (in Chromium, a script run by Playwright counts as a user gesture,
# which lets the player start by itself).
TAP_WATCH_SCRIPT = """
window.tapsOffered = 0;
const watchTaps = () => new MutationObserver((changes) => {
  for (const change of changes) {
    for (const node of change.addedNodes) {
      if (node.tagName === "BUTTON" && node.textContent.includes("Tap to hear")) {
        window.tapsOffered++;
        const box = node.getBoundingClientRect();
        console.log(`tap to hear offered at ${box.x + box.width / 2},${box.y + box.height / 2}`);
      }
    }
  }
}).observe(document.body, {childList: true});
// gradio adds the head's scripts itself, after DOMContentLoaded: served in the head (WebKit), this watches at once.
document.body ? watchTaps() : document.addEventListener("DOMContentLoaded", watchTaps);
"""
# Removes `MediaSource` before the page's scripts run and keeps `ManagedMediaSource`, as on an iPhone (iOS 17.1 and
# later). Where the browser has no ManagedMediaSource (Chromium), its MediaSource takes that name.
AS_ON_AN_IPHONE = """
window.ManagedMediaSource ??= window.MediaSource;
delete window.MediaSource;
"""
ENCODER_READY_MS = 300  # from the worker's start to the recorder being ready, with a margin
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def speak_question(path: Path, question: str) -> Path:
    """A spoken question as a 16-bit PCM WAV, for Chromium's fake microphone to play in a loop."""
    subprocess.run(["espeak-ng", "-w", str(path), question], check=True)
    return path


def skipped(log: list[dict]) -> list[dict]:
    """Forward jumps of the playback position, less the one jump hls.js 1.5.13 makes on its own: when the player
    was stalled for over 2 s (a voice slower than real time) and audio arrives, it nudges the playhead 0.1 s."""
    jumps, waiting_since = [], None
    for event in log:
        if event["type"] == "waiting":
            waiting_since = event["t"]
        if event["type"] == "seeking" and event["time"] > event["from"] + 0.01:
            nudged = waiting_since is not None and event["t"] - waiting_since > 2000
            if not (nudged and event["time"] - event["from"] < 0.11):
                jumps.append(event)
    return jumps


def launch_chromium(playwright: Playwright, question_wav: Path, *flags: str) -> Browser:
    """Headless Chromium whose microphone hears `question_wav`, with more command-line `flags`; each launch gets a
    fresh temporary profile."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={question_wav}",
            *flags,
        ],
    )


class AppPage:
    """The Magic 8 Ball page as a person uses it, with every URL the page fetched."""

    def __init__(self, page: Page, url: str):
        self.page = page
        self.fetched: list[str] = []
        page.on("request", lambda request: self.fetched.append(request.url))
        page.add_init_script(LISTEN_SCRIPT)
        page.add_init_script(RECORDER_SCRIPT)
        page.add_init_script(TAP_WATCH_SCRIPT)
        page.goto(url)
        self.answer = page.get_by_label("Answer", exact=True)
        self.answer_box = self.block("Answer")
        self.player = self.block("Spoken Answer")
        self.progress = page.get_by_test_id("status-tracker").locator(".progress-text")

    def block(self, label: str):
        """The box a component is drawn in, found by its label."""
        names = self.page.get_by_test_id(re.compile("^block-(label|info)$"))
        return self.page.locator("div.block", has=names.filter(has_text=re.compile(rf"^\s*{label}\s*$")))

    def ask_aloud(self, seconds: float) -> None:
        """Record from the microphone for a while, then stop: stopping sends the question."""
        self.record()
        self.page.wait_for_timeout(seconds * 1000)
        self.page.get_by_role("button", name="Stop").click()

    def record(self, streaming: bool = True) -> None:
        """Press Record once the recorder is ready (a streaming one loads its encoder first)."""
        if streaming:
            self.page.wait_for_function("window.encoderStarted !== undefined", timeout=30_000)
            self.page.wait_for_function(f"performance.now() > window.encoderStarted + {ENCODER_READY_MS}")
        self.page.get_by_role("button", name="Record").click()

    def ask_in_writing(self, question: str) -> None:
        self.page.get_by_label("Or type your question").fill(question)
        self.page.get_by_role("button", name="Ask").click()

    def wait_until_played_past(self, seconds: float, timeout_s: float) -> None:
        """Wait until the Spoken Answer player's playback position passes `seconds`."""
        audio = self.player.locator("audio").element_handle(timeout=timeout_s * 1000)
        self.page.wait_for_function("([a, s]) => a.currentTime > s", arg=[audio, seconds], timeout=timeout_s * 1000)

    def wait_until_played_to_the_end(self, timeout_s: float) -> None:
        audio = self.player.locator("audio").element_handle(timeout=timeout_s * 1000)
        self.page.wait_for_function("a => a.ended", arg=audio, timeout=timeout_s * 1000)

    def wait_until_answers_ended(self, count: int, timeout_s: float) -> None:
        """Wait until `count` answers have played to their end in this page."""
        ended = "n => window.audioLog.filter((e) => e.type === 'ended').length >= n"
        self.page.wait_for_function(ended, arg=count, timeout=timeout_s * 1000)

    def audio_log(self, label: str = "Spoken Answer") -> list[dict]:
        """What the player did (see LISTEN_SCRIPT), and the clicks on the page."""
        return [e for e in self.page.evaluate("window.audioLog") if e["type"] == "click" or e["label"] == label]

    def fetched_ending(self, suffix: str) -> list[str]:
        return [url for url in self.fetched if url.split("?")[0].endswith(suffix)]

    def taps_offered(self) -> int:
        """How many "Tap to hear the answer" buttons the page has shown (see TAP_WATCH_SCRIPT)."""
        return self.page.evaluate("window.tapsOffered")

    def width_px(self, locator) -> float:
        return locator.bounding_box()["width"]

    def overflow_px(self) -> int:
        """How far the page is wider than the window: a person would have to scroll sideways this much."""
        return self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
