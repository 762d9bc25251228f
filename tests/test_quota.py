"""A public Space: a signed-in visitor asks on their own token; the others on the owner's, within the owner's limits.

Real HTTP throughout: the app served on 127.0.0.1, gradio_client (a visitor is told apart by the X-Forwarded-For
header, as the Spaces proxy sends it), gradio's own mocked sign-in, and the loopback Inference API reached through the
real InferenceClient. The quota's clock is the test's, so a minute or a day passes at once.
"""

import asyncio
import logging
from contextlib import contextmanager
from dataclasses import replace

import gradio as gr
import httpx
import pytest
from conftest import TOKEN, words, write_speech, write_wav
from conftest import serving as served
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from hub_server import HubServer, forget_what_the_hub_said, point_huggingface_hub_at
from test_mcp import list_and_call

import app
from oracle import CLASSIC_ANSWERS
from quota import DAY_S, MAX_VISITORS, MINUTE_S, Quota

VISITOR_TOKEN = "hf_visitor_secret_token_do_not_leak"  # the token of whoever is logged in on the machine
HUGE = "Will it rain? " * 7000  # 98,000 characters; 97,999 without the last space


def llm_answer(question: str) -> str:
    return f"A dog is ready for you, but are you ready for {question}"


class Clock:
    """A clock the test moves: seconds since the epoch."""

    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(caplog, capfd):
    """The test fails if the owner's or the visitor's token is in what was logged or printed."""
    caplog.set_level(logging.INFO)
    yield
    out, err = capfd.readouterr()
    for token in (TOKEN, VISITOR_TOKEN):
        assert token not in caplog.text + out + err


@pytest.fixture
def hub(monkeypatch):
    """The loopback Hub, where gradio's mocked sign-in asks whose HF_TOKEN this machine has (the visitor's)."""
    server = HubServer().start()
    point_huggingface_hub_at(server, monkeypatch)
    monkeypatch.setenv("HF_TOKEN", VISITOR_TOKEN)
    monkeypatch.delenv("SYSTEM", raising=False)  # not on a Space: gradio mocks the sign-in
    yield server
    server.stop()
    forget_what_the_hub_said()


@pytest.fixture
def public(online_settings):
    """What an owner leaves public: their token, the loopback Inference API, no voice, 3 questions a minute."""
    return replace(online_settings, voice="none", questions_per_minute=3, owner_calls_per_day=100)


@contextmanager
def serving(settings, clock: Clock, mcp: bool = False):
    """The app served from `settings` as `python app.py` serves it, its quota on the test's clock."""
    with served(replace(settings, mcp=mcp)) as url:
        app.ball.quota.clock = clock
        try:
            yield url
        finally:
            app.start(replace(settings, sign_in=False))  # the next test's app does not offer sign-in


def visitor(url: str, address: str) -> Client:
    """A visitor who is not signed in, from `address` as the Spaces proxy reports it."""
    return Client(url, verbose=False, download_files=False, headers={"X-Forwarded-For": address})


def signed_in(url: str) -> Client:
    """A visitor who pressed Sign in with Hugging Face: gradio's mocked sign-in, its session cookie kept."""
    with httpx.Client(base_url=url) as browser:
        to_callback = browser.get("login/huggingface")
        assert to_callback.status_code in (302, 307)
        back_to_page = browser.get(to_callback.headers["location"])
    session = back_to_page.headers["set-cookie"].split(";", 1)[0]  # Secure: httpx keeps it for https only
    return Client(url, verbose=False, download_files=False, headers={"Cookie": session})


def ask(client: Client, question: str) -> str:
    return client.predict(question, api_name="/ask")[0]


def is_offline(answer: str, why: str, sign_in: bool = False) -> bool:
    """Whether the classic toy answered, with the line that says why (and how to sign in, where the page offers it)."""
    toy, _, line = answer.partition("\n\n")
    return toy in CLASSIC_ANSWERS and why in line and ("Sign in with Hugging Face" in line) == sign_in


def test_a_signed_in_visitor_asks_on_their_own_token(hub, inference_server, public, log, tmp_path):
    with serving(replace(public, sign_in=True), Clock()) as url:
        assert app.login.visible
        visitor_client = signed_in(url)
        assert ask(visitor_client, "Should I get a dog?") == llm_answer("Should I get a dog?")
        heard, answer, _ = visitor_client.predict(
            handle_file(str(write_wav(tmp_path / "q.wav", 1.5))), api_name="/ask_aloud"
        )
        assert answer == llm_answer(heard)
        page = visitor_client.predict(handle_file(str(write_wav(tmp_path / "q.wav", 1.5))), api_name="/respond_aloud")
        assert page[0] == llm_answer("Should I get a dog?")
        assert inference_server.tokens() == [VISITOR_TOKEN] * 5  # /ask, then /ask_aloud and the page: hear, answer
        assert ask(visitor(url, "203.0.113.9"), "Will it rain?") == llm_answer("Will it rain?")
    assert inference_server.tokens()[-1] == TOKEN  # a visitor who is not signed in: the owner's
    profile = gr.OAuthProfile({"name": "A Visitor", "preferred_username": "visitor", "profile": "", "picture": ""})
    assert "Signed in as visitor: your questions are paid from your own Inference quota." in app.describe_backends(
        profile
    )


def test_one_visitor_asking_30_times_a_minute_gets_the_limit_and_then_the_toy(inference_server, public, log):
    clock = Clock()
    with serving(public, clock) as url:
        first, second = visitor(url, "203.0.113.1"), visitor(url, "198.51.100.2")
        answers = [ask(first, f"Question number {n}?") for n in range(15)]
        assert ask(second, "Am I served?") == llm_answer("Am I served?")
        answers += [ask(first, f"Question number {n}?") for n in range(15, 30)]
        page = first.predict("Is this the page?", api_name="/respond_typed")
        clock.now += MINUTE_S
        after_a_minute = ask(first, "And now?")

    paid = [answer for n, answer in enumerate(answers) if answer == llm_answer(f"Question number {n}?")]
    assert len(paid) == 3
    assert all(is_offline(answer, "3 questions a minute") for answer in answers[3:])
    assert page[0] in CLASSIC_ANSWERS and "3 questions a minute" in page[2]  # the line under the ball
    assert after_a_minute == llm_answer("And now?")
    assert len(inference_server.chat_requests()) == 3 + 1 + 1
    assert set(inference_server.tokens()) == {TOKEN}


def test_past_the_days_limit_no_anonymous_question_reaches_the_llm_and_signed_in_ones_do(
    hub, inference_server, public, log, piper_voice, tmp_path
):
    clock = Clock()
    spoken = write_speech(tmp_path / "question.wav", piper_voice, "Should I get a dog?", silence_s=0.5)
    with serving(replace(public, sign_in=True, questions_per_minute=10, owner_calls_per_day=2), clock) as url:
        first, second = visitor(url, "203.0.113.1"), visitor(url, "198.51.100.2")
        assert ask(first, "One?") == llm_answer("One?")
        assert ask(second, "Two?") == llm_answer("Two?")
        past_the_limit = [ask(first, "Three?"), ask(second, "Four?"), ask(visitor(url, "192.0.2.3"), "Five?")]
        heard, answer, _ = second.predict(handle_file(str(spoken)), api_name="/ask_aloud")
        page = first.predict(handle_file(str(spoken)), api_name="/respond_aloud")
        assert len(inference_server.requests) == 2  # nothing past the limit reached the Inference API
        assert ask(signed_in(url), "Six?") == llm_answer("Six?")
        clock.now += DAY_S
        assert ask(first, "Seven?") == llm_answer("Seven?")

    assert all(is_offline(answer, "spent what its owner allows", sign_in=True) for answer in [*past_the_limit, answer])
    assert words(heard) == ["should", "i", "get", "a", "dog"]  # heard on this machine, offline
    assert page[0] in CLASSIC_ANSWERS and "You asked" in page[2] and "spent what its owner allows" in page[2]
    assert inference_server.tokens() == [TOKEN, TOKEN, VISITOR_TOKEN, TOKEN]
    assert not inference_server.asr_requests()


def test_a_100_kb_question_never_reaches_the_llm(inference_server, public, log):
    with serving(public, Clock()) as url:
        client = visitor(url, "203.0.113.1")
        for endpoint in ("/ask", "/respond_typed"):
            with pytest.raises(AppError, match="Your question is 97,999 characters long: the Magic 8 Ball takes"):
                client.predict(HUGE, api_name=endpoint)
        assert ask(client, "Short?") == llm_answer("Short?")  # refused questions are not counted
    assert [chat["messages"][1]["content"] for chat in inference_server.chat_requests()] == [
        "Magic 8 Ball please answer this question -  Short?"
    ]
    assert inference_server.longest_prompt() < 1_000


def test_the_mcp_tool_obeys_the_same_bound_and_limit(inference_server, public, log):
    with serving(replace(public, questions_per_minute=1, mcp=True), Clock(), mcp=True) as url:
        tool = f"{url}gradio_api/mcp/"
        _, huge = asyncio.run(list_and_call(tool, HUGE))
        _, first = asyncio.run(list_and_call(tool, "Will it rain?"))
        _, second = asyncio.run(list_and_call(tool, "Will it snow?"))
    assert huge.isError and "Your question is 97,999 characters long" in huge.content[0].text
    assert first.content[0].text == llm_answer("Will it rain?")
    assert is_offline(second.content[0].text, "1 question a minute")
    assert len(inference_server.chat_requests()) == 1


def test_the_quota_forgets_quiet_visitors_and_keeps_a_bounded_memory():
    clock = Clock()
    quota = Quota(questions_per_minute=2, calls_per_day=MAX_VISITORS * 3, clock=clock)
    assert quota.refusal("a", calls=2) is None and quota.refusal("a", calls=2) is None
    assert "2 questions a minute" in quota.refusal("a", calls=2)
    clock.now += MINUTE_S / 2
    assert "Or ask again in 30 s." in quota.refusal("a", calls=1)
    for n in range(MAX_VISITORS + 50):
        assert quota.refusal(f"visitor {n}", calls=1) is None
    assert len(quota.asked) == MAX_VISITORS
    clock.now += MINUTE_S
    assert quota.refusal("a", calls=1) is None
    assert list(quota.asked) == ["a"]  # everyone quiet for a minute is forgotten


def test_a_signed_in_visitor_whose_token_is_refused_is_told_to_sign_in_again(hub, inference_server, public, log):
    with serving(replace(public, sign_in=True), Clock()) as url:
        visitor_client = signed_in(url)
        inference_server.chat_faults = [(401, '{"error": "Invalid credentials in Authorization header"}')]
        with pytest.raises(AppError) as refused:
            ask(visitor_client, "Should I get a dog?")
        assert "refused your Hugging Face sign-in (error 401)" in str(refused.value)
        assert "HF_TOKEN" not in str(refused.value)
        inference_server.chat_faults = [(402, '{"error": "You have exceeded your monthly included credits."}')]
        with pytest.raises(AppError, match="your account has used up its Inference Providers credits"):
            ask(visitor_client, "Should I get a dog?")
        assert ask(visitor_client, "Should I get a dog?") == llm_answer("Should I get a dog?")
