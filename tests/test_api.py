"""The /ask and /ask_aloud endpoints: a typed question or a recording in, the question heard (for a recording), the
answer text and the whole spoken answer as an MP3 file out."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TOKEN, decoded_seconds, words, write_speech, write_wav
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from test_offline import serving

from oracle import CLASSIC_ANSWERS
from settings import LOCAL_ASR, Settings
from voices import EspeakVoice

ROOT = Path(__file__).resolve().parents[1]


def readme_example(endpoint: str = "/ask") -> str:
    """The three-line gradio_client example for `endpoint`, exactly as the README's API section gives it."""
    api_section = (ROOT / "README.md").read_text().split("## API", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"```python\n(.*?)```", api_section, re.DOTALL)
    return next(example for example in examples if f'api_name="{endpoint}"' in example)


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


def test_readme_ask_aloud_example_works(espeak_app, piper_voice, tmp_path, monkeypatch):
    example = readme_example("/ask_aloud")
    assert len([line for line in example.splitlines() if line]) == 3
    monkeypatch.chdir(tmp_path)
    write_speech(tmp_path / "question.wav", piper_voice, "Should I get a dog?")
    names = {}
    exec(example.replace("http://127.0.0.1:7860/", espeak_app), names)
    assert names["heard"] == "Should I get a dog?"
    assert names["answer"] in CLASSIC_ANSWERS
    assert decoded_seconds(names["audio_path"]) > 0.5


def test_ask_and_ask_aloud_are_the_documented_endpoints(espeak_app):
    endpoints = Client(espeak_app, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask", "/ask_aloud"]
    assert [p["parameter_name"] for p in endpoints["/ask"]["parameters"]] == ["question"]
    assert [p["parameter_name"] for p in endpoints["/ask_aloud"]["parameters"]] == ["recording"]


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


def test_ask_aloud_an_llm_with_local_ears(online_settings, inference_server, piper_voice, tmp_path):
    """A question spoken by Piper, heard on this machine, answered by the LLM: the words heard, an MP3 that decodes."""
    question = write_speech(tmp_path / "question.wav", piper_voice, "Will my train be late tomorrow?", silence_s=0.5)
    with serving(replace(online_settings, asr_model=LOCAL_ASR), EspeakVoice()) as url:
        heard, answer, audio_path = Client(url, verbose=False).predict(handle_file(question), api_name="/ask_aloud")
    assert words(heard) == ["will", "my", "train", "be", "late", "tomorrow"]
    assert answer == f"A dog is ready for you, but are you ready for {heard}"
    assert decoded_seconds(audio_path) > 1
    assert not inference_server.asr_requests()
    assert [chat["messages"][1]["content"] for chat in inference_server.chat_requests()] == [
        f"Magic 8 Ball please answer this question -  {heard}"
    ]


def not_audio(path: Path) -> Path:
    path.write_text("Dear diary, today I asked the 8 ball.")
    return path


@pytest.mark.parametrize(
    "make_file, expected",
    [
        (lambda tmp: not_audio(tmp / "notes.wav"), "could not be read as audio"),
        (lambda tmp: write_wav(tmp / "tone.wav", 1.0), "No words could be made out"),
    ],
    ids=["not-audio", "no-words"],
)
def test_ask_aloud_explains_a_recording_it_cannot_hear(espeak_app, tmp_path, make_file, expected):
    with pytest.raises(AppError, match=expected):
        Client(espeak_app, verbose=False).predict(handle_file(make_file(tmp_path)), api_name="/ask_aloud")
