"""Every chunk of a streaming microphone reaches the app, in order, also while the one before is still being heard,
and the last one when Stop is pressed (patches.py): in Chromium, with a fake microphone."""

import time

import gradio as gr
import numpy as np
from browser import AppPage, launch_chromium
from conftest import write_samples
from playwright.sync_api import sync_playwright

import patches

RATE = 16000
CHUNK_EVERY_S = 0.25
HEARING_S = 0.6  # each chunk takes the handler this long: more than the time between two chunks


def test_a_slow_listener_hears_every_chunk_of_the_microphone_once_its_stream_is_open(tmp_path):
    """gradio's page sends a chunk only once its stream is open, and with `trigger_mode="multiple"` every one after
    (app.py asks for it); patches.py then keeps each until it is heard."""
    heard, opened_at = [], []

    def listen(chunk):
        if chunk is not None:
            opened_at.append(opened_at[0] if opened_at else time.monotonic())
            heard.append(len(chunk[1]) / chunk[0])
        time.sleep(HEARING_S)

    with gr.Blocks() as demo:
        microphone = gr.Audio(label="Speak your question", sources=["microphone"], streaming=True)
        microphone.stream(listen, microphone, None, stream_every=CHUNK_EVERY_S, time_limit=60, trigger_mode="multiple")
    patches.install()
    _, url, _ = demo.queue().launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(20 * RATE) / RATE)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, write_samples(tmp_path / "tone.wav", tone, RATE))
            page = AppPage(browser.new_page(), url)
            page.record()
            page.page.wait_for_timeout(5000)
            page.page.get_by_role("button", name="Stop").click()
            stopped_at = time.monotonic()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the chunks waiting when Stop was pressed are still heard
                count = len(heard)
                time.sleep(2 * HEARING_S)
                if len(heard) == count:
                    break
            browser.close()
    finally:
        demo.close()
    streamed_s = stopped_at - opened_at[0]
    assert streamed_s > 2
    assert sum(heard) >= streamed_s - 2 * CHUNK_EVERY_S, f"{sum(heard):.2f} s heard of {streamed_s:.2f} s streamed"
