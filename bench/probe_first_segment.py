"""Which first segment does Chromium start playing on? A streamed tone: a first segment of N AAC frames, the rest 2 s
later, served with `patches.install()` (gradio's encoder then hands each chunk's completed frames to the player);
headless Chromium clicks and listens.

    python bench/probe_first_segment.py --tries 6     # about 3 minutes

It prints one JSON line per try: whether the first sound came before the second segment existed, and audio skipped.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from browser import LISTEN_SCRIPT, launch_chromium, speak_question  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from audio_utils import to_wav  # noqa: E402
from patches import install  # noqa: E402

CASES = {22050: [4, 5], 44100: [8, 9, 10]}  # sampling rate: first segments to try, in AAC frames
SECOND_AFTER_S = 2.0
tone_case = {"rate": 22050, "frames": 4}


def speak():
    """A 3 s tone: its first `frames` AAC frames, then the rest 2 s later (the encoder holds one frame back)."""
    rate, first = tone_case["rate"], tone_case["frames"]
    tone = (0.3 * np.sin(2 * np.pi * 330 * np.arange(3 * rate) / rate)).astype(np.float32)
    yield to_wav(tone[: (first + 1) * 1024], rate)
    time.sleep(SECOND_AFTER_S)
    yield to_wav(tone[(first + 1) * 1024 :], rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=6)
    args = parser.parse_args()
    with gr.Blocks() as demo:
        audio = gr.Audio(label="Tone", streaming=True, autoplay=True)
        gr.Button("Play the tone").click(speak, None, audio)
    install()
    _, url, _ = demo.queue().launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, speak_question(Path("/tmp/probe-question.wav"), "Hello"))
        for rate, counts in CASES.items():
            for frames in counts:
                for _ in range(args.tries):
                    tone_case.update(rate=rate, frames=frames)
                    context = browser.new_context()
                    page = context.new_page()
                    page.add_init_script(LISTEN_SCRIPT)
                    page.goto(url)
                    page.get_by_role("button", name="Play the tone", exact=True).click()
                    page.wait_for_function("window.audioLog.some(e => e.type === 'ended')", timeout=30_000)
                    log = page.evaluate("window.audioLog")
                    context.close()
                    play = next(e for e in log if e["type"] == "play")
                    sound = next(e for e in log if e["type"] == "sounding")
                    skipped = sum(max(0.0, e["time"] - e["from"]) for e in log if e["type"] == "seeking")
                    started = sound["t"] - play["t"] < SECOND_AFTER_S * 1000 * 0.75
                    segment_s = round(frames * 1024 / rate, 3)
                    print(json.dumps(dict(rate=rate, segment_s=segment_s, started_on_it=started, skipped_s=skipped)))
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
