"""The Inference API as a Space calls it: default model ids, a token, the Hub's provider mapping and the router.

huggingface_hub 0.36.2 runs for real against `HubServer` on 127.0.0.1 (see tests/hub_server.py): it asks the Hub
for the model's providers, picks one (hf-inference for speech recognition, "auto" for the LLM) and posts to that
provider's route on the router.
"""

import logging
import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from conftest import TOKEN, serving, write_wav
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from hub_server import MISTRAL, WHISPER, HubServer, forget_what_the_hub_said, point_huggingface_hub_at
from huggingface_hub import InferenceClient, constants

import app
from errors import UserError
from hear import LocalEars
from oracle import CLASSIC_ANSWERS, LLMOracle
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SPACE = Settings(hf_token=TOKEN, voice="none")  # what a Space runs: the default model ids and providers, a token
ANSWER = "A dog is ready for you, but are you ready for Should I get a dog?"


@pytest.fixture
def hub(monkeypatch):
    server = HubServer().start()
    point_huggingface_hub_at(server, monkeypatch)
    yield server
    server.stop()
    forget_what_the_hub_said()


@pytest.fixture
def log(caplog):
    """What the app logged; the test fails if the token is in it."""
    caplog.set_level(logging.INFO)
    yield lambda: "\n".join(record.getMessage() for record in caplog.get_records("call"))
    assert TOKEN not in caplog.text


@contextmanager
def client_of(settings: Settings):
    """A client of the app served from `settings`."""
    with serving(settings) as url:
        yield Client(url, verbose=False, download_files=False)


def ask_aloud(client: Client, wav: Path) -> str:
    """Record a question and hear the answer, as the page's event does; the answer's text."""
    return client.predict(handle_file(str(wav)), api_name="/respond_aloud")[0]


def error_of(question_wav: Path | None = None) -> str:
    """The message the page shows when answering fails: for a spoken question, or a typed one."""
    with pytest.raises(gr.Error) as raised:
        if question_wav:
            app.hear_and_answer(str(question_wav))
        else:
            app.answer_text("Should I get a dog?")
    message = str(raised.value.message)
    assert TOKEN not in message and "Traceback" not in message
    return message


def test_a_space_hears_through_hf_inference_and_answers_through_the_llms_first_provider(hub, log, tmp_path):
    with client_of(SPACE) as client:
        assert ask_aloud(client, write_wav(tmp_path / "question.wav", 1.5)) == ANSWER

    assert [r["path"] for r in hub.requests] == [f"/hf-inference/models/{WHISPER}", "/v1/chat/completions"]
    assert all(r["headers"]["authorization"] == f"Bearer {TOKEN}" for r in hub.requests)
    (chat,) = hub.chat_requests()
    assert chat["model"] == MISTRAL and chat["max_tokens"] == 64  # the router chooses the provider ("auto")
    assert not any("expand" in path for path in hub.hub_requests)  # nobody asked the Hub for a mapping


def test_each_task_takes_its_own_provider(hub, log, tmp_path):
    app.start(replace(SPACE, asr_provider="fal-ai", llm_provider="novita"))
    assert app.hear_and_answer(str(write_wav(tmp_path / "question.wav", 1.5)))[0] == ANSWER
    asr, chat = hub.requests
    assert asr["path"] == "/fal-ai/fal-ai/whisper"
    assert chat["path"] == "/novita/v3/openai/chat/completions"
    assert chat["json"]["model"] == "mistralai/mistral-7b-instruct"  # novita's own id for the model


def test_auto_for_speech_recognition_picks_a_provider_that_cannot_and_says_which_setting_to_change(hub, log, tmp_path):
    app.start(replace(SPACE, asr_provider="auto"))
    message = error_of(write_wav(tmp_path / "question.wav", 1.5))
    assert message == (
        "The together provider, chosen by auto, the first in the account's order, cannot do speech recognition in "
        "this app. The owner of this app should set --asr-provider (MAGIC8_ASR_PROVIDER) to deepinfra, fal-ai, "
        "hf-inference or replicate."
    )
    assert message in log()
    assert hub.requests == []


def test_a_model_no_provider_serves_names_the_model_and_the_setting(hub, log):
    hub.models[MISTRAL]["inferenceProviderMapping"] = {}  # the router answers 400
    app.start(SPACE)
    message = error_of()
    assert message.startswith(f"No Inference Provider serves {MISTRAL} for the app's Hugging Face account.")
    assert "--llm-model (MAGIC8_LLM_MODEL)" in message and "https://hf.co/settings/inference-providers" in message
    assert message in log()


def test_a_provider_that_does_not_serve_the_model_names_both_settings(hub, log):
    del hub.models[MISTRAL]["inferenceProviderMapping"]["novita"]
    app.start(replace(SPACE, llm_provider="novita"))
    message = error_of()
    assert message.startswith(f"The novita provider does not serve {MISTRAL} for the app's Hugging Face account.")
    assert "--llm-model (MAGIC8_LLM_MODEL)" in message and "--llm-provider (MAGIC8_LLM_PROVIDER)" in message


def test_hf_inference_no_longer_serving_the_chat_model_is_explained(hub, log):
    app.start(replace(SPACE, llm_provider="hf-inference"))
    message = error_of()
    assert message.startswith(f"The hf-inference provider does not serve {MISTRAL} (error 404).")
    assert "--llm-provider (MAGIC8_LLM_PROVIDER)" in message
    assert hub.requests[-1]["path"] == f"/hf-inference/models/{MISTRAL}/v1/chat/completions"


def test_a_model_the_hub_does_not_know_is_named(hub, log, tmp_path):
    app.start(replace(SPACE, asr_model="openai/whisper-huge-v9"))
    message = error_of(write_wav(tmp_path / "question.wav", 1.5))
    assert message == (
        "The speech recognition model openai/whisper-huge-v9 was not found on the Hugging Face Hub. "
        "The owner of this app should check --asr-model (MAGIC8_ASR_MODEL)."
    )


def test_credits_used_up_402_is_explained_on_the_page(hub, log):
    hub.chat_faults = [(402, '{"error": "You have exceeded your monthly included credits for Inference Providers."}')]
    with client_of(SPACE) as client:
        with pytest.raises(AppError) as raised:
            client.predict("Should I get a dog?", api_name="/respond_typed")
    message = str(raised.value)
    assert "The language model service refused the call (error 402)" in message
    assert "used up its Inference Providers credits" in message and "https://hf.co/settings/billing" in message
    assert TOKEN not in message
    assert "error 402" in log()
    assert len(hub.chat_requests()) == 1  # not retried: waiting does not bring credits back


@pytest.fixture
def hub_offline(monkeypatch):
    """HF_HUB_OFFLINE=1, as huggingface_hub sees it once imported: it refuses every request (it checks at each one)."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_hf_hub_offline_with_a_remote_llm_is_said_on_the_page_and_the_toy_answers(hub_offline, log, inference_server):
    app.start(replace(SPACE, llm_model=f"{inference_server.url}/llm"))
    page = app.describe_backends()
    assert "HF_HUB_OFFLINE is set, so huggingface_hub refuses every Inference API call (even to a local server)" in page
    assert "Unset HF_HUB_OFFLINE" in page and "HF_HUB_OFFLINE is set" in log()
    assert app.answer_text("Will it rain?") in CLASSIC_ANSWERS
    assert inference_server.requests == []


def test_hf_hub_offline_with_remote_speech_recognition_hears_on_this_machine(hub_offline, log):
    app.start(SPACE)
    assert isinstance(app.ball.ears, LocalEars)
    note = f"HF_HUB_OFFLINE is set, so Whisper tiny.en on this machine hears instead of {WHISPER}."
    assert note in app.describe_backends() and note in log()


def test_hf_hub_offline_refusing_a_call_is_explained(hub_offline, log, inference_server):
    oracle = LLMOracle(InferenceClient(token=TOKEN), f"{inference_server.url}/llm")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set, so huggingface_hub refuses to call the language model"):
        oracle.answer("Will it rain?")


def test_hf_hub_offline_is_said_at_start_up_in_the_console():
    with socket.create_server(("127.0.0.1", 0)) as taken:  # a port in use: the app says what it uses, then stops
        port = str(taken.getsockname()[1])
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
        command = [sys.executable, "app.py", "--voice=none", "--host=127.0.0.1", f"--port={port}"]
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "HF_HUB_OFFLINE is set, so huggingface_hub refuses every Inference API call" in result.stdout
    assert f"the classic toy answers instead of {MISTRAL}" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
