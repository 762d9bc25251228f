"""The app in WebKit, Safari's engine (WebKitGTK's MiniBrowser under Xvfb, driven through WebKitWebDriver): a typed
answer heard to its end, also as on an iPhone (no `MediaSource`, only `ManagedMediaSource`), the microphone, and the
"Tap to hear the answer" button when play is refused.

espeak-ng speaks (faster than real time), the loopback Inference API hears and answers. What only a real iPhone can
tell: docs/browsers.md.
"""

import json

import pytest
from browser import AS_ON_AN_IPHONE, ASK_ON_ITS_OWN, skipped, speak_question
from conftest import serving
from webkit import (
    LISTENING_HEAD,
    NEEDS_A_TAP,
    REFUSES_WITHOUT_A_TAP,
    WebKitPage,
    launch_webkit,
    speaking_microphone,
    virtual_display,
)

from settings import Settings
from voices import EspeakVoice

ANSWER_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def display():
    with virtual_display() as name:
        yield name


@pytest.fixture
def webkit(display):
    """MiniBrowser that plays sound only after a tap, as Safari does."""
    driver = launch_webkit(display, NEEDS_A_TAP)
    yield driver
    driver.quit()


@pytest.fixture
def served(online_settings, inference_server):
    """Serves the app (espeak-ng speaking, Inference API calls taking a second) with `head` in its page."""
    inference_server.delay_s = 1.0
    voice = EspeakVoice(first_chunk_s=Settings.first_chunk_s, chunk_s=Settings.chunk_s)

    def served(head: str):
        return serving(online_settings, voice, head=head)

    return served


def assert_heard_to_the_end(page: WebKitPage, answer: str) -> None:
    page.wait_until_answers_ended(1, timeout_s=ANSWER_TIMEOUT_S)
    assert page.answer() == answer
    events = [e["type"] for e in page.audio_log()]
    assert "sounding" in events and events[-1] == "ended", events
    assert page.taps_offered() == 0, "the page asked for a tap although the answer could play"


@pytest.mark.parametrize("iphone", [False, True], ids=["with-MediaSource", "as-on-an-iPhone"])
def test_typed_question_is_answered_aloud_in_webkit(webkit, served, iphone):
    with served(LISTENING_HEAD + (f"<script>{AS_ON_AN_IPHONE}</script>" if iphone else "")) as url:
        page = WebKitPage(webkit, url)
        assert webkit.execute_script("return typeof window.MediaSource") == ("undefined" if iphone else "function")
        page.ask_in_writing("Will it rain tomorrow?")
        assert_heard_to_the_end(page, "A dog is ready for you, but are you ready for Will it rain tomorrow?")


def test_microphone_records_in_webkit(webkit, served, inference_server, tmp_path):
    question = speak_question(tmp_path / "question.wav", "Should I get a dog?")
    with served(LISTENING_HEAD + speaking_microphone(question)) as url:
        page = WebKitPage(webkit, url)
        page.ask_aloud(seconds=2)
        assert_heard_to_the_end(page, "A dog is ready for you, but are you ready for Should I get a dog?")
    (asr,) = inference_server.asr_requests()
    assert asr["size"] > 10_000, "the recording that reached speech recognition is (nearly) empty"


def test_an_answer_webkit_refuses_to_play_is_heard_with_one_tap(webkit, served):
    """The page asks by itself and play() is refused (NotAllowedError, simulated: WebKitGTK 2.50 played anyway); one
    tap on the one "Tap to hear the answer" button plays the whole answer from its start, and the button goes."""
    ask = f"<script>{{{ASK_ON_ITS_OWN % json.dumps('Will it rain tomorrow?')}}}</script>"
    with served(LISTENING_HEAD + REFUSES_WITHOUT_A_TAP + ask) as url:
        page = WebKitPage(webkit, url)
        page.tap_to_hear()
        page.wait_until_answers_ended(1, timeout_s=ANSWER_TIMEOUT_S)
        assert page.answer() == "A dog is ready for you, but are you ready for Will it rain tomorrow?"
        log = page.audio_log()
        tap = [e for e in log if e["type"] == "click"][-1]
        events = [e for e in log if e["type"] not in ("click", "seeking")]  # seeking at 0: hls.PLAYER_NUDGE
        assert events[0]["type"] == "play" and events[0]["t"] > tap["t"], f"played before the tap: {log}"
        assert events[0]["time"] == 0, f"not played from the start: {log}"
        # WebKit buffers an answer from 0.046 s (one AAC frame in) and hls.js steps over that hole to 0.1 s, tap or
        # no tap (docs/browsers.md): that step is the only jump allowed.
        assert next(e for e in events if e["type"] == "sounding")["from"] <= 0.101, f"not from the start: {log}"
        assert [e["type"] for e in events if e["type"] in ("sounding", "ended")] == ["sounding", "ended"], events
        jumps = [jump for jump in skipped(log) if not (jump["from"] == 0 and jump["time"] <= 0.101)]
        assert not jumps, f"the player skipped audio: {log}"
        assert page.taps_offered() == 1
        assert not webkit.execute_script("return document.querySelector('button.tap-to-hear')"), "the button stayed"
