"""The whole chain of the guide, driven through Gradio: question in, answer text and streamed audio out."""

import subprocess
import sys
from pathlib import Path

import gradio as gr
import httpx
import pytest
from conftest import TOKEN, decoded_seconds, write_wav
from gradio_client import Client, handle_file

import app
from audio_utils import wav_seconds
from oracle import SYSTEM_PROMPT

ROOT = Path(__file__).resolve().parents[1]


def fetch_stream(playlist_url: str) -> list[bytes]:
    """The segments of an HLS playlist, fetched as the browser's player does."""
    playlist = httpx.get(playlist_url).text
    base = playlist_url.rsplit("/", 1)[0]
    names = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    return [httpx.get(f"{base}/{name}").content for name in names]


def test_importing_app_loads_no_model():
    code = "import sys, app; print(app.ball.voice, 'parler_tts' in sys.modules, type(app.demo).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.split() == ["None", "False", "Blocks"]


def test_spoken_question_gets_spoken_answer_through_gradio(served_app, inference_server, tiny_voice, tmp_path):
    inference_server.transcripts[1.2] = "Will I find my keys?"
    client = Client(served_app, verbose=False, download_files=False)

    outputs = list(client.submit(handle_file(str(write_wav(tmp_path / "q.wav", 1.2))), api_name="/respond_aloud"))
    assert all(heard == '<p class="heard">You asked: <q>Will I find my keys?</q></p>' for _, _, heard, _ in outputs)
    # the player opens first; the answer shows in its box and in the ball with its audio (a chunk held back shows
    # nothing new)
    assert outputs[0][0] == gr.skip() and outputs[0][1] and outputs[0][3]["__type__"] == "update"
    expected = "A dog is ready for you, but are you ready for Will I find my keys?"
    shown = [output for output in outputs[1:] if output[0] != gr.skip()]
    assert shown and all(text == expected for text, _, _, _ in shown)
    assert all(f">{expected}</p>" in ball for _, _, _, ball in shown)

    segments = fetch_stream(outputs[-1][1]["url"])
    assert len(segments) >= 3
    spoken = len(tiny_voice.last_streamer.frames) * 512 / 44100
    assert spoken == pytest.approx(1.5, abs=0.05)
    assert decoded_seconds(b"".join(segments)) == pytest.approx(spoken, abs=0.05)


def test_answer_request_follows_the_guide(served_app, inference_server, tmp_path):
    client = Client(served_app, verbose=False, download_files=False)
    client.predict(handle_file(str(write_wav(tmp_path / "q.wav", 1.0))), api_name="/respond_aloud")

    asr, chat = inference_server.asr_requests()[-1], inference_server.chat_requests()[-1]
    assert asr["path"] == "/asr" and asr["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert chat["max_tokens"] == 64 and 1 <= chat["seed"] <= 5000
    assert chat["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert chat["messages"][1]["content"] == "Magic 8 Ball please answer this question -  Should I get a dog?"


def test_read_response_streams_chunks_that_each_decode(online_settings, tiny_voice):
    app.start(online_settings, tiny_voice)
    opening, *spoken = app.read_response("Outlook good.")
    chunks = [(text, data) for text, data in spoken if data]

    assert opening == (gr.skip(), None)  # the player's stream opens before the first chunk is spoken
    assert len(chunks) >= 3
    assert all(text == "Outlook good." for text, _ in chunks)
    for _, data in chunks:
        assert decoded_seconds(data) == pytest.approx(wav_seconds(data), abs=0.001)
    spoken = len(tiny_voice.last_streamer.frames) * 512 / 44100
    assert sum(wav_seconds(data) for _, data in chunks) == pytest.approx(spoken, abs=1 / 44100)


def test_generate_response_strips_magic_8_ball_and_colons(online_settings, inference_server, tiny_voice, tmp_path):
    inference_server.answer_for = lambda question: "Magic 8 Ball: Curiosity: it killed the cat."
    app.start(online_settings, tiny_voice)
    answer, _ = app.hear_and_answer(str(write_wav(tmp_path / "q.wav", 1.0)))
    assert answer == "Curiosity it killed the cat."
