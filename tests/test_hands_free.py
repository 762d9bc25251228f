"""Hands-free, as a person uses it: press Record once, ask, and hear the answer when you stop talking.

Headless Chromium's fake microphone plays a WAV once (`%noloop`): questions spoken by Piper with silences between
them, or only noise, or only silence. The app starts as it does with no token: Whisper tiny.en on this machine hears,
the classic toy answers, Piper speaks.
"""

import re
import wave
from pathlib import Path

import numpy as np
import pytest
from browser import AppPage, launch_chromium
from conftest import serving, words, write_samples, write_speech
from playwright.sync_api import expect, sync_playwright

from oracle import CLASSIC_ANSWERS
from settings import Settings

TIMEOUT_MS = 60_000  # Whisper and Piper on a busy 2-core machine
ANSWER_PLAYS_S = 8.0  # silence after a question: time for its answer to be heard, and played, before the next
FIRST_WORD_S = 1.0  # a person starts talking a moment after pressing Record (the first chunks can be lost before)
# Every text the status line under the microphone showed, in order.
STATUS_SCRIPT = """
window.statusLog = [];
setInterval(() => {
  const text = document.querySelector(".listening .prose")?.innerText.trim();
  if (text && text !== window.statusLog.at(-1)) window.statusLog.push(text);
}, 20);
"""


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def hands_free_app(piper_voice):
    """The app as it starts with no token, hands-free, with a pause of 0.8 s: on a busy CI machine Chromium's fake
    microphone now and then goes silent for half a second inside a question."""
    with serving(Settings(turn_pause_s=0.8), piper_voice) as url:
        yield url


@pytest.fixture
def press_stop_app(piper_voice):
    """The app with hands-free off (`--turn-pause-s 0`): only Stop sends the question."""
    with serving(Settings(turn_pause_s=0), piper_voice) as url:
        yield url


def microphone(path: Path, voice, questions: list[str], silence_s: float) -> Path:
    """What the microphone plays: a moment of silence, then each question spoken by Piper followed by silence."""
    pieces = [np.zeros(round(FIRST_WORD_S * voice.sampling_rate))]
    for question in questions:
        speech = write_speech(path, voice, question, silence_s=silence_s)
        with wave.open(str(speech)) as reader:
            pieces.append(np.frombuffer(reader.readframes(reader.getnframes()), np.int16) / 32768)
    return write_samples(path, np.concatenate(pieces), voice.sampling_rate)


def open_page(playwright, url: str, microphone: Path):
    """A fresh Chromium whose microphone plays `microphone` once, on the app's page."""
    browser = launch_chromium(playwright, f"{microphone}%noloop")
    context = browser.new_context()
    context.add_init_script(STATUS_SCRIPT)
    return browser, AppPage(context.new_page(), url)


def assert_answered(page: AppPage, question: str, aloud: bool = True) -> None:
    """The page shows the question as heard, then an answer of the toy's in its box and in the ball; `aloud`: the
    page plays it to its end."""
    said = re.compile(r"^\W*" + r"\W+".join(words(question)) + r"\W*$", re.IGNORECASE)  # the words, however written
    expect(page.page.locator(".heard q")).to_have_text(said, timeout=TIMEOUT_MS)
    window = page.page.locator(".ball .answer")
    expect(window).not_to_have_text("", timeout=TIMEOUT_MS)
    assert window.inner_text().lower() in [answer.lower() for answer in CLASSIC_ANSWERS]
    assert page.answer.input_value() == window.text_content()
    if aloud:
        page.wait_until_played_to_the_end(timeout_s=TIMEOUT_MS / 1000)


def test_questions_are_answered_without_a_stop_click(playwright, hands_free_app, piper_voice, tmp_path):
    questions = ["Should I get a dog?", "Will it rain tomorrow?"]
    plays = microphone(tmp_path / "questions.wav", piper_voice, questions, silence_s=ANSWER_PLAYS_S)
    browser, page = open_page(playwright, hands_free_app, plays)
    try:
        page.record()
        assert_answered(page, "Should I get a dog?")
        assert_answered(page, "Will it rain tomorrow?", aloud=False)
        page.wait_until_answers_ended(2, timeout_s=TIMEOUT_MS / 1000)  # the second answer is played to its end too
        listening_again = "window.statusLog.filter(s => s.startsWith('🔊')).length === 2 && "
        listening_again += "window.statusLog.at(-1).startsWith('🎙️ Listening')"
        page.page.wait_for_function(listening_again, timeout=TIMEOUT_MS)
        clicks = [e for e in page.audio_log() if e["type"] == "click"]
        assert len(clicks) == 1, "only Record was pressed"
        assert page.page.get_by_role("button", name="Stop").is_visible(), "it still listens"
        statuses = page.page.evaluate("window.statusLog")
        told = [s.split(":")[0] for s in statuses]
        heard_end = "✋ Heard the end of your question"
        assert told.count(heard_end) == 2, statuses
        assert told.index("🎙️ Listening") < told.index(heard_end) < told.index("🔊 Answering"), statuses
        assert told[-1].startswith("🎙️ Listening"), f"it listens again after the answer: {statuses}"
    finally:
        browser.close()


def test_pressing_stop_answers(playwright, press_stop_app, piper_voice, tmp_path):
    plays = microphone(tmp_path / "q.wav", piper_voice, ["Is today my lucky day?"], silence_s=4.0)
    browser, page = open_page(playwright, press_stop_app, plays)
    try:
        page.record()
        page.page.wait_for_timeout(3000)
        assert not page.page.locator(".heard q").count(), "with hands-free off, only Stop sends the question"
        page.page.get_by_role("button", name="Stop").click()
        assert_answered(page, "Is today my lucky day?")
        assert words(page.page.locator(".heard q").inner_text()) == ["is", "today", "my", "lucky", "day"]
    finally:
        browser.close()


def test_stop_during_the_pause_answers_once(playwright, piper_voice, tmp_path):
    plays = microphone(tmp_path / "q.wav", piper_voice, ["Will I pass my exam?"], silence_s=6.0)
    with serving(Settings(turn_pause_s=3.0), piper_voice) as url:  # Stop comes while the answer's event waits
        browser, page = open_page(playwright, url, plays)
        try:
            page.record()
            page.page.wait_for_timeout(FIRST_WORD_S * 1000 + 2500)  # the question, and a moment of its pause
            page.page.get_by_role("button", name="Stop").click()
            assert_answered(page, "Will I pass my exam?")
            page.page.wait_for_timeout(1000)
            assert len([e for e in page.audio_log() if e["type"] == "ended"]) == 1, "one answer"
            assert not page.page.get_by_test_id("toast-body").count(), "no message"
        finally:
            browser.close()


def test_stop_pressed_while_the_answer_plays_only_stops_listening(playwright, piper_voice, tmp_path):
    """People press Stop a moment after they finish: the answer already playing plays on, once, to its end."""
    plays = microphone(tmp_path / "q.wav", piper_voice, ["Is today my lucky day?"], silence_s=ANSWER_PLAYS_S)
    with serving(Settings(), piper_voice) as url:
        browser, page = open_page(playwright, url, plays)
        try:
            page.record()
            page.page.wait_for_function("window.audioLog.some(e => e.type === 'sounding')", timeout=TIMEOUT_MS)
            page.page.get_by_role("button", name="Stop").click()
            assert_answered(page, "Is today my lucky day?")
            page.page.wait_for_timeout(1000)
            events = [e["type"] for e in page.audio_log()]
            assert events.count("sounding") == 1 and events.count("ended") == 1, f"one answer, to its end: {events}"
            assert not page.page.get_by_test_id("toast-body").count(), "no message"
        finally:
            browser.close()


@pytest.mark.parametrize("failure", ["connection", "server error"])
def test_sound_that_cannot_reach_the_app_is_told_on_the_page(playwright, hands_free_app, failure, tmp_path):
    rate = 22050
    browser, page = open_page(playwright, hands_free_app, write_samples(tmp_path / "s.wav", np.zeros(rate * 10), rate))
    try:
        page.record()
        expect(page.page.locator(".listening .prose")).to_contain_text("Listening", timeout=TIMEOUT_MS)
        if failure == "connection":
            page.page.route("**/upload*", lambda route: route.abort())
        else:
            page.page.route("**/upload*", lambda route: route.fulfill(status=500, body="Internal Server Error"))
        expect(page.page.locator(".listening .prose")).to_contain_text("did not reach me", timeout=10_000)
        told = page.page.locator(".listening .prose").inner_text()
        assert ("Connection errored out" if failure == "connection" else "HTTP 500") in told
        assert "press Stop and Record again" in told
    finally:
        browser.close()


@pytest.mark.parametrize("sound", ["noise", "silence"])
def test_noise_or_silence_gets_no_answer_and_no_error(playwright, hands_free_app, sound, tmp_path):
    rate, seconds = 22050, 10
    samples = np.zeros(rate * seconds)
    if sound == "noise":
        samples = np.random.default_rng(8).normal(0, 0.1, rate * seconds)  # a fan, a busy street: loud and steady
    browser, page = open_page(playwright, hands_free_app, write_samples(tmp_path / f"{sound}.wav", samples, rate))
    try:
        page.record()
        page.page.wait_for_timeout(seconds * 1000 + 1000)
        statuses = page.page.evaluate("window.statusLog")
        assert statuses and statuses[-1].startswith("🎙️ Listening"), f"it listened all along: {statuses}"
        assert not any(s.startswith("✋") for s in statuses), statuses
        assert page.answer.input_value() == ""
        assert not page.page.locator(".heard q").count()
        assert not page.page.get_by_test_id("toast-body").count(), "no message: nobody asked anything"
    finally:
        browser.close()
