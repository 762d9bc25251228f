"""The app as a person uses it: a real browser asks aloud or in writing, sees the answer and hears it play.

Headless Chromium (Debian's), a fake microphone playing a question spoken by espeak-ng, the app on 127.0.0.1 with
the loopback Inference API and the tiny random-weight voice. Screenshots land in tests/artifacts/.
"""

from pathlib import Path

import pytest
from browser import LAPTOP, PHONE, AppPage, launch_chromium, speak_question
from playwright.sync_api import expect, sync_playwright

from parler import tiny_random_voice

ARTIFACTS = Path(__file__).parent / "artifacts"
ANSWER_TIMEOUT_S = 60  # the tiny voice on a 2-core CI machine speaks slower than real time


@pytest.fixture(scope="module")
def tiny_voice():
    """The tiny random-weight voice with 2 s answers: long enough to watch the player get past 0.5 s."""
    return tiny_random_voice(description="A calm voice.", first_chunk_s=0.25, chunk_s=0.5, max_speech_s=2.0)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    question = speak_question(tmp_path_factory.mktemp("microphone") / "question.wav", "Should I get a dog?")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, question)
        yield browser
        browser.close()


@pytest.fixture
def open_app(browser, served_app, inference_server):
    """Open the app in a fresh browser window of a given size; Inference API calls take a second, as they do."""
    inference_server.delay_s = 1.0
    contexts = []

    def open_app(viewport: dict) -> AppPage:
        contexts.append(browser.new_context(viewport=viewport))
        return AppPage(contexts[-1].new_page(), served_app)

    yield open_app
    for context in contexts:
        context.close()


def assert_answered_aloud(app: AppPage, answer: str, screenshot: str) -> None:
    """What a person sees and hears: progress, the answer text, the Spoken Answer playing through to its end."""
    expect(app.progress.first).to_contain_text("processing", timeout=10_000)
    expect(app.answer).to_have_value(answer, timeout=ANSWER_TIMEOUT_S * 1000)
    app.wait_until_played_past(0.5, timeout_s=ANSWER_TIMEOUT_S)
    assert app.fetched_ending("/playlist.m3u8")
    assert app.fetched_ending(".aac")
    app.wait_until_played_to_the_end(timeout_s=ANSWER_TIMEOUT_S)
    ARTIFACTS.mkdir(exist_ok=True)
    app.page.screenshot(path=ARTIFACTS / screenshot, full_page=True)
    assert app.overflow_px() <= 0, "the page is wider than the window"
    assert app.width_px(app.player) >= 300, "the Spoken Answer player is squeezed"
    assert app.width_px(app.answer_box) >= 300, "the Answer box is squeezed"


@pytest.mark.parametrize("viewport, name", [(LAPTOP, "laptop"), (PHONE, "phone")])
def test_spoken_question_is_answered_aloud(open_app, inference_server, viewport, name):
    app = open_app(viewport)
    app.ask_aloud(seconds=2)
    assert_answered_aloud(
        app, "A dog is ready for you, but are you ready for Should I get a dog?", f"spoken-question-{name}.png"
    )
    (asr,) = inference_server.asr_requests()
    assert asr["size"] > 10_000, "the recording that reached speech recognition is (nearly) empty"


def test_typed_question_is_answered_aloud(open_app, inference_server):
    app = open_app(LAPTOP)
    app.ask_in_writing("Will it rain tomorrow?")
    assert_answered_aloud(
        app, "A dog is ready for you, but are you ready for Will it rain tomorrow?", "typed-question-laptop.png"
    )
    assert not inference_server.asr_requests()
