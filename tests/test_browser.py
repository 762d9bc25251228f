"""The app as a person uses it: a real browser asks aloud or in writing, sees the answer and hears it play.

Headless Chromium (Debian's), a fake microphone playing a question spoken by espeak-ng, the app on 127.0.0.1 with
the loopback Inference API and the tiny random-weight voice; and, as the app starts with no token, a question spoken
by Piper heard by the local Whisper. Screenshots land in tests/artifacts/.
"""

import json
from pathlib import Path

import pytest
from browser import AS_ON_AN_IPHONE, ASK_ON_ITS_OWN, LAPTOP, PHONE, AppPage, launch_chromium, skipped, speak_question
from conftest import serving, words, write_speech
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

import app
from hear import LocalEars
from oracle import CLASSIC_ANSWERS
from parler import tiny_random_voice
from settings import Settings
from voices import EspeakVoice

ARTIFACTS = Path(__file__).parent / "artifacts"
ANSWER_TIMEOUT_S = 60  # the tiny voice on a 2-core CI machine speaks slower than real time


@pytest.fixture(scope="module")
def tiny_voice(request):
    """The voice `served_app` speaks with: the tiny random-weight voice with 2 s answers (long enough to watch the
    player get past 0.5 s), slower than real time on a CPU; or, with the parameter "espeak", espeak-ng with the
    app's chunk lengths, faster than real time."""
    if getattr(request, "param", None) == "espeak":
        return EspeakVoice(first_chunk_s=Settings.first_chunk_s, chunk_s=Settings.chunk_s)
    return tiny_random_voice(description="A calm voice.", first_chunk_s=0.25, chunk_s=0.5, max_speech_s=2.0)


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for the module: its sync API cannot run twice at once."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(tmp_path_factory, playwright):
    question = speak_question(tmp_path_factory.mktemp("microphone") / "question.wav", "Should I get a dog?")
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
    assert not skipped(app.audio_log()), f"the player skipped audio: {app.audio_log()}"
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
    assert app.taps_offered() == 0, "the page asked for a tap although the answer could play"
    log = app.audio_log()
    looked = [e for e in log if e["type"] == "seeking" and e["time"] == 0]  # hls.PLAYER_NUDGE, when it opened
    assert looked and looked[0]["t"] < next(e["t"] for e in log if e["type"] == "playing"), log


@pytest.fixture(scope="module")
def piper_microphone_browser(tmp_path_factory, playwright, piper_voice):
    """Chromium whose fake microphone plays a question spoken by Piper, then two seconds of silence, in a loop."""
    question = tmp_path_factory.mktemp("piper-microphone") / "question.wav"
    browser = launch_chromium(playwright, write_speech(question, piper_voice, "Should I get a dog?", silence_s=2.0))
    yield browser
    browser.close()


@pytest.fixture
def toy_app(piper_voice):
    """The app as it starts with no token and no GPU: Whisper tiny.en on this machine hears, the classic toy answers,
    Piper speaks; a spoken question is sent with Stop (hands-free: tests/test_hands_free.py)."""
    with serving(Settings(turn_pause_s=0), piper_voice) as url:
        assert isinstance(app.ball.ears, LocalEars)
        yield url


@pytest.mark.parametrize("viewport, name", [(LAPTOP, "laptop"), (PHONE, "phone")])
def test_question_spoken_by_piper_is_heard_shown_and_answered_aloud(piper_microphone_browser, toy_app, viewport, name):
    context = piper_microphone_browser.new_context(viewport=viewport)
    try:
        app_page = AppPage(context.new_page(), toy_app)
        app_page.ask_aloud(seconds=2)
        heard = app_page.page.locator(".heard")
        expect(heard).to_contain_text("You asked:", timeout=ANSWER_TIMEOUT_S * 1000)
        assert "should i get a dog" in " ".join(words(heard.inner_text()))
        expect(app_page.answer).not_to_have_value("", timeout=ANSWER_TIMEOUT_S * 1000)
        answer = app_page.answer.input_value()
        assert answer in CLASSIC_ANSWERS
        window = app_page.page.locator(".ball .answer")
        expect(window).to_have_text(answer, timeout=10_000)  # as text in the ball, shown uppercase by its style
        app_page.wait_until_played_to_the_end(timeout_s=ANSWER_TIMEOUT_S)
        ARTIFACTS.mkdir(exist_ok=True)
        app_page.page.screenshot(path=ARTIFACTS / f"heard-by-local-ears-{name}.png", full_page=True)
        assert app_page.overflow_px() <= 0, "the page is wider than the window"
        ball = window.bounding_box()
        assert ball["width"] <= viewport["width"] and app_page.width_px(app_page.answer_box) >= 300
    finally:
        context.close()


@pytest.mark.parametrize("tiny_voice", ["espeak"], indirect=True)
def test_a_voice_faster_than_real_time_plays_without_a_break(open_app):
    app = open_app(LAPTOP)
    app.ask_in_writing("Is today my lucky day?")
    assert_answered_aloud(
        app, "A dog is ready for you, but are you ready for Is today my lucky day?", "typed-question-espeak.png"
    )
    log = app.audio_log()
    assert not [e for e in log if e["type"] == "seeking" and e["time"] > e["from"] + 0.01], "the player skipped audio"
    events = [e["type"] for e in log if e["type"] != "click"]
    once_playing = events[events.index("sounding") :]
    assert "waiting" not in once_playing, f"the player stopped to wait for audio: {events}"
    assert once_playing[-1] == "ended"


def answers_heard(log: list[dict]) -> list[list[str]]:
    """What the player did after each click, as a list of event types per question."""
    answers = []
    for event in log:
        if event["type"] == "click":
            answers.append([])
        elif answers:
            answers[-1].append(event["type"])
    return answers


@pytest.mark.parametrize("tiny_voice", ["espeak"], indirect=True)
def test_every_answer_in_a_page_is_played(open_app):
    """A person asks one question after another in the same page: each answer is heard, to its end."""
    app = open_app(LAPTOP)
    questions = ["Will it rain tomorrow?", "Is today my lucky day?"]
    for asked, question in enumerate(questions, start=1):
        app.ask_in_writing(question)
        expect(app.answer).to_have_value(
            f"A dog is ready for you, but are you ready for {question}", timeout=ANSWER_TIMEOUT_S * 1000
        )
        try:
            app.wait_until_answers_ended(asked, timeout_s=ANSWER_TIMEOUT_S)
        except PlaywrightTimeoutError:
            pytest.fail(f"answer {asked} was not played to its end; the player did: {answers_heard(app.audio_log())}")
    log = app.audio_log()
    heard = answers_heard(log)
    assert len(heard) == len(questions), log
    for events in heard:
        assert "sounding" in events and events[-1] == "ended", f"an answer was not played to its end: {heard}"
    assert not skipped(log), f"the player skipped audio: {log}"
    playlists = {url.split("?")[0] for url in app.fetched_ending("/playlist.m3u8")}
    assert len(playlists) == len(questions), f"the player asked for these answers' playlists: {playlists}"


def test_record_shows_on_a_phone_without_scrolling(open_app):
    """The voice is the main way in: on a 390 x 844 screen, Record is within the first screenful."""
    app = open_app(PHONE)
    expect(app.page.get_by_text("Heard by", exact=False)).to_be_visible(timeout=30_000)  # the page is complete
    record = app.page.get_by_role("button", name="Record")
    expect(record).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    app.page.screenshot(path=ARTIFACTS / "first-screen-phone.png")
    box = record.bounding_box()
    assert box["y"] + box["height"] <= PHONE["height"], f"Record is at {box['y']:.0f} px, below the first screen"


@pytest.mark.parametrize("tiny_voice", ["espeak"], indirect=True)
def test_the_answer_plays_where_there_is_no_media_source(browser, served_app, inference_server):
    """As on an iPhone (iOS 17.1 and later): `ManagedMediaSource` and no `window.MediaSource`."""
    inference_server.delay_s = 1.0
    context = browser.new_context(viewport=LAPTOP)
    try:
        context.add_init_script(AS_ON_AN_IPHONE)
        app = AppPage(context.new_page(), served_app)
        app.ask_in_writing("Will it rain tomorrow?")
        assert_answered_aloud(
            app, "A dog is ready for you, but are you ready for Will it rain tomorrow?", "typed-question-iphone.png"
        )
        assert app.page.evaluate("typeof window.MediaSource") == "undefined"
    finally:
        context.close()


@pytest.fixture
def browser_that_needs_a_tap(tmp_path, playwright):
    """Chromium that plays sound only in a page the person has tapped or typed in, as Safari on an iPhone does."""
    question = speak_question(tmp_path / "question.wav", "Should I get a dog?")
    browser = launch_chromium(playwright, question, "--autoplay-policy=document-user-activation-required")
    yield browser
    browser.close()


@pytest.mark.parametrize("tiny_voice", ["espeak"], indirect=True)
def test_an_answer_the_browser_refuses_to_play_is_heard_with_one_tap(browser_that_needs_a_tap, served_app):
    """The page asks by itself, with no gesture, so the browser refuses to play the answer; the page offers one
    "Tap to hear the answer" button, and a tap where it shows plays the whole answer from its start.

    Nothing asks the page anything before the tap: a script run by Playwright counts as a gesture in Chromium."""
    context = browser_that_needs_a_tap.new_context(viewport=PHONE)
    try:
        context.add_init_script(ASK_ON_ITS_OWN % json.dumps("Will it rain tomorrow?"))
        page = context.new_page()
        app = AppPage(page, served_app)
        offered = page.wait_for_event(
            "console", lambda message: message.text.startswith("tap to hear offered"), timeout=ANSWER_TIMEOUT_S * 1000
        )
        x, y = (float(number) for number in offered.text.split(" at ")[1].split(","))
        page.mouse.click(x, y)
        app.wait_until_played_to_the_end(timeout_s=ANSWER_TIMEOUT_S)
        expect(app.answer).to_have_value("A dog is ready for you, but are you ready for Will it rain tomorrow?")
        log = app.audio_log()
        tap = [e for e in log if e["type"] == "click"][-1]
        events = [e for e in log if e["type"] not in ("click", "seeking")]  # seeking at 0: hls.PLAYER_NUDGE
        assert events[0]["type"] == "play" and events[0]["t"] > tap["t"], f"played before the tap: {log}"
        assert next(e for e in events if e["type"] == "sounding")["from"] == 0, f"not played from the start: {log}"
        assert [e["type"] for e in events if e["type"] in ("sounding", "ended")] == ["sounding", "ended"], events
        assert not skipped(log), f"the player skipped audio: {log}"
        assert app.taps_offered() == 1
        expect(page.get_by_role("button", name="Tap to hear the answer")).to_have_count(0)
    finally:
        context.close()
