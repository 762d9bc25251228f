"""The app in WebKit, Safari's engine (WebKitGTK's MiniBrowser under Xvfb, driven through WebKitWebDriver): a typed
answer heard to its end, also as on an iPhone (no `MediaSource`, only `ManagedMediaSource`), and the microphone.

espeak-ng speaks (faster than real time), the loopback Inference API hears and answers. What only a real iPhone can
tell: docs/browsers.md.
"""

import pytest
from browser import AS_ON_AN_IPHONE, speak_question
from conftest import serving
from webkit import LISTENING_HEAD, NEEDS_A_TAP, WebKitPage, launch_webkit, speaking_microphone, virtual_display

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
