"""The /ask endpoint: question text in, answer text and the whole spoken answer as an MP3 file out."""

import re
from pathlib import Path

import pytest
from conftest import TOKEN, decoded_seconds
from gradio_client import Client
from gradio_client.exceptions import AppError
from test_offline import serving

from oracle import CLASSIC_ANSWERS
from settings import Settings
from voices import EspeakVoice

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    """The three-line gradio_client example, exactly as the README gives it (or the section waiting to join it)."""
    readme = (ROOT / "README.md").read_text()
    if 'api_name="/ask"' not in readme:
        readme = (ROOT / "README_SECTION.md").read_text()
    api_section = readme.split("## API", 1)[1]
    return re.search(r"```python\n(.*?)```", api_section, re.DOTALL).group(1)


@pytest.fixture
def espeak_app():
    with serving(Settings(), EspeakVoice()) as url:
        yield url


def test_readme_example_works(espeak_app):
    example = readme_example()
    assert len([line for line in example.splitlines() if line]) == 3
    names = {}
    exec(example.replace("http://127.0.0.1:7860/", espeak_app), names)
    assert names["answer"] in CLASSIC_ANSWERS
    assert names["audio_path"].endswith(".mp3")
    assert decoded_seconds(names["audio_path"]) > 0.5


def test_ask_is_the_one_documented_endpoint(espeak_app):
    endpoints = Client(espeak_app, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask"]
    assert [p["parameter_name"] for p in endpoints["/ask"]["parameters"]] == ["question"]


def test_empty_question_is_refused(espeak_app):
    with pytest.raises(AppError, match="Type a question first"):
        Client(espeak_app, verbose=False).predict("", api_name="/ask")


def test_ask_with_the_tiny_random_voice(tiny_voice):
    """The tiny Parler-TTS speaks (noise) for at most 1.5 s; /ask returns all of it as one file."""
    with serving(Settings(), tiny_voice) as url:
        answer, audio_path = Client(url, verbose=False).predict("Will it rain tomorrow?", api_name="/ask")
    assert answer in CLASSIC_ANSWERS
    assert 0.1 < decoded_seconds(audio_path) < 1.6


def test_ask_an_llm_and_hear_its_faults_explained(online_settings, inference_server):
    """With a token, /ask sends the typed question to the LLM (no speech recognition); its faults are explained."""
    with serving(online_settings, EspeakVoice()) as url:
        client = Client(url, verbose=False)
        answer, audio_path = client.predict("Will it rain tomorrow?", api_name="/ask")
        inference_server.faults = [(401, '{"error": "Invalid credentials"}')]
        with pytest.raises(AppError, match="set a valid HF_TOKEN") as raised:
            client.predict("Will it rain tomorrow?", api_name="/ask")
    assert answer == "A dog is ready for you, but are you ready for Will it rain tomorrow?"
    assert decoded_seconds(audio_path) > 1
    assert not inference_server.asr_requests()
    assert TOKEN not in str(raised.value)
