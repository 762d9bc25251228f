"""A person at the app in WebKit, Safari's engine: Debian's WebKitGTK MiniBrowser on a virtual X display, driven by
Selenium through WebKitWebDriver, with a mock microphone.

Selenium cannot run a script before the page's own, so the page's listeners (`browser.LISTEN_SCRIPT`, and whatever a
test adds) are served in the app's head (`conftest.serving(head=...)`).
"""

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from browser import ENCODER_READY_MS, LISTEN_SCRIPT, RECORDER_SCRIPT, TAP_WATCH_SCRIPT
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from selenium.webdriver.webkitgtk.options import Options
from selenium.webdriver.webkitgtk.service import Service

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
PLAYS_ON_ITS_OWN = ["--autoplay-policy=allow"]
NEEDS_A_TAP = ["--autoplay-policy=deny", "--media-playback-requires-user-gesture=true"]
# The page's listeners, in the head: what every <audio> does, when the recorder is ready, each tap control shown.
LISTENING_HEAD = "".join(f"<script>{{{s}}}</script>" for s in (LISTEN_SCRIPT, RECORDER_SCRIPT, TAP_WATCH_SCRIPT))
# WebKit's mock microphone plays a 150 Hz hum with a short beep each second: no speech, so the app hears no question.
# This gives the page a microphone that says a question, in a loop, as Chromium's fake one does: each getUserMedia
# still asks for the mock device (so it is allowed as usual), then hands back a track that plays the question (Web
# Audio, started while the page captures). `%s`: the question's WAV, base64, as a JSON string.
SPEAKING_MICROPHONE = """
const spoken = Uint8Array.from(atob(%s), (c) => c.charCodeAt(0)).buffer;
const getUserMedia = MediaDevices.prototype.getUserMedia;
MediaDevices.prototype.getUserMedia = async function (constraints) {
  const mock = await getUserMedia.call(this, constraints);
  mock.getTracks().forEach((track) => track.stop());
  const context = new AudioContext();
  const question = context.createBufferSource();
  question.buffer = await context.decodeAudioData(spoken.slice(0));
  question.loop = true;
  const microphone = context.createMediaStreamDestination();
  question.connect(microphone);
  question.start();
  return microphone.stream;
};
"""

# WebKitGTK 2.50 let gradio's streamed player start with no gesture at all (docs/browsers.md), so this refuses as
# Safari may: an <audio>'s play() outside a user gesture (`navigator.userActivation.isActive`: a real tap, not a
# WebDriver script) is rejected with NotAllowedError and does not start, and `autoplay` (gradio sets the property) is
# ignored. Served before `tap_to_hear.SCRIPT` wraps play.
REFUSES_WITHOUT_A_TAP = """<script>{
  Object.defineProperty(HTMLMediaElement.prototype, "autoplay", {get: () => false, set: () => {}, configurable: true});
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (...args) {
    if (this instanceof HTMLAudioElement && !navigator.userActivation.isActive) {
      return Promise.reject(new DOMException("play() needs a user gesture (simulated)", "NotAllowedError"));
    }
    return play.apply(this, args);
  };
}</script>"""


def speaking_microphone(question_wav: Path) -> str:
    """The head script that makes the page's microphone say `question_wav` in a loop."""
    wav = json.dumps(base64.b64encode(question_wav.read_bytes()).decode())
    return f"<script>{{{SPEAKING_MICROPHONE % wav}}}</script>"


class WebKitOptions(Options):
    """MiniBrowser's options, less `useOverlayScrollbars`: WebKitWebDriver 2.50 refuses a session that names it."""

    def to_capabilities(self) -> dict:
        capabilities = super().to_capabilities()
        capabilities[self.KEY].pop("useOverlayScrollbars", None)
        return capabilities


@contextmanager
def virtual_display() -> Iterator[str]:
    """An X display (Xvfb) of its own for the browser; its name, e.g. ":1"."""
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield ":" + xvfb.stdout.readline().decode().strip()
    finally:
        xvfb.terminate()
        xvfb.wait()


def launch_webkit(display: str, flags: list[str]) -> webdriver.WebKitGTK:
    """MiniBrowser on `display` with a mock microphone and camera; `flags` set when it may play sound."""
    options = WebKitOptions()
    options.binary_location = MINIBROWSER
    for flag in ["--automation", "--enable-mock-capture-devices=true", *flags]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("WebKitWebDriver"), env={**os.environ, "DISPLAY": display})
    return webdriver.WebKitGTK(options=options, service=service)


class WebKitPage:
    """The Magic 8 Ball page in WebKit, as a person uses it (the page's head must hold `LISTENING_HEAD`, or
    `listen_now` adds its player log once the page is there: a page served without it)."""

    def __init__(self, driver: webdriver.WebKitGTK, url: str, listen_now: bool = False):
        self.driver = driver
        driver.get(url)
        if listen_now:
            self.wait_for("return document.readyState === 'complete'", timeout_s=30)
            driver.execute_script(LISTEN_SCRIPT)
        self.wait_for("return !!document.querySelector('textarea[placeholder]') && !!window.audioLog", timeout_s=30)

    def wait_for(self, script: str, timeout_s: float, *args):
        """Wait until `script` returns something true; what it returned."""
        return WebDriverWait(self.driver, timeout_s, poll_frequency=0.1).until(
            lambda driver: driver.execute_script(script, *args)
        )

    def button(self, name: str):
        return self.driver.find_element(By.XPATH, f"//button[normalize-space()='{name}']")

    def ask_in_writing(self, question: str) -> None:
        box = self.driver.find_element(By.XPATH, "//label[contains(., 'Or type your question')]//textarea")
        box.send_keys(question)
        self.button("Ask").click()

    def ask_aloud(self, seconds: float) -> None:
        """Press Record once the recorder is ready, speak for a while (the mock microphone), press Stop."""
        self.wait_for("return performance.now() > window.encoderStarted + arguments[0]", 30, ENCODER_READY_MS)
        self.button("Record").click()
        time.sleep(seconds)
        self.button("Stop").click()

    def answer(self) -> str:
        return self.driver.execute_script(
            "const box = [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === 'Answer');"
            "return box?.querySelector('textarea')?.value ?? '';"
        )

    def tap_to_hear(self) -> None:
        """Wait for the "Tap to hear the answer" button, then tap it (a WebDriver click: a real user gesture)."""
        self.wait_for("return window.tapsOffered > 0", timeout_s=30)
        self.driver.find_element(By.CSS_SELECTOR, "button.tap-to-hear").click()

    def taps_offered(self) -> int:
        return self.driver.execute_script("return window.tapsOffered")

    def wait_until_answers_ended(self, count: int, timeout_s: float) -> None:
        """Wait until `count` answers have played to their end in this page."""
        ended = "return window.audioLog.filter((e) => e.type === 'ended').length >= arguments[0]"
        self.wait_for(ended, timeout_s, count)

    def audio_log(self, label: str = "Spoken Answer") -> list[dict]:
        log = self.driver.execute_script("return window.audioLog")
        return [e for e in log if e["type"] == "click" or e["label"] == label]
