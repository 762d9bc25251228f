"""The hibari voice: it loads with no network, Whisper hears every classic answer as written, its chunks join
without a seam; `auto` falls back to Piper, saying why, when it cannot load."""

import importlib.util
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import words

import app
from hear import LocalEars, load_question, to_wav
from oracle import CLASSIC_ANSWERS
from parler import gpu_present
from settings import Settings
from voices import HibariVoice, Rehearsed, no_as_a_word, with_short_lead


@pytest.fixture(scope="module")
def hibari() -> HibariVoice:
    return HibariVoice()


@pytest.fixture(scope="module")
def ears() -> LocalEars:
    return LocalEars()


def refuse(*args, **kwargs):
    raise OSError("this test has no network")


def test_hibari_loads_and_speaks_with_no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path))  # an empty cache of downloaded voices
    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    chunks = list(HibariVoice().speak("It is certain."))
    assert 0.5 < sum(len(chunk) for chunk in chunks) / 24000 < 3


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("My reply is no.", "My reply is no ."),
        ("No, my sources say no. Ask again.", "No, my sources say no . Ask again."),
        ("Let me know.", "Let me know."),
        ("It is no. 5 on the list.", "It is no. 5 on the list."),  # the abbreviation, before a number
    ],
)
def test_a_no_before_no_number_is_the_word_no(text, spoken):
    assert no_as_a_word(text) == spoken


@pytest.mark.parametrize("answer", CLASSIC_ANSWERS)
def test_whisper_hears_each_classic_answer_as_written(hibari, ears, tmp_path, answer):
    """Spoken by hibari, heard through `load_question` as the app hears a recording ("no", not "number"). Whisper's
    spelling of a compound is not what a listener hears: "Out look" is "Outlook"."""
    recording = tmp_path / "answer.wav"
    recording.write_bytes(to_wav(np.concatenate(list(hibari.speak(answer))), hibari.sampling_rate))
    heard = ears.transcribe(load_question(str(recording), 30.0))
    assert "".join(words(heard)) == "".join(words(answer)), heard


def test_chunks_join_without_a_seam(hibari):
    """Cut into 50 ms chunks, the answer is each of its sentences as hibari speaks it, sample for sample: no chunk
    overlaps the next or drops a sample, and every chunk has the same gain."""
    text = "Signs point to yes, but the stars advise patience. Ask again tomorrow."
    voice = HibariVoice(first_chunk_s=0.1, chunk_s=0.05)
    chunks = list(voice.speak(text))
    sentences = [np.clip(voice.gain * audio, -1, 1) for audio in hibari.engine.stream(text, seed=voice.seed)]
    sentences[0] = with_short_lead(sentences[0], voice.sampling_rate)  # the answer starts 0.1 s before its first word
    assert len(sentences) == 2 and all(len(chunk) <= 0.05 * voice.sampling_rate for chunk in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), np.concatenate(sentences))


def test_the_first_chunk_is_the_first_sentence_and_speech_stops_at_the_longest_answer(hibari):
    """Not its first clause: spoken alone, a clause ends in silence, and the comma's pause would last 0.7 s."""
    voice = HibariVoice(chunk_s=10.0)
    first = next(iter(voice.speak("Signs point to yes, but the stars advise patience. Ask again.")))
    sentence = next(hibari.engine.stream("Signs point to yes, but the stars advise patience.", seed=voice.seed))
    assert len(first) == len(with_short_lead(np.clip(voice.gain * sentence, -1, 1), voice.sampling_rate))
    assert np.abs(first[: round(0.09 * voice.sampling_rate)]).max() < 0.01  # 0.1 s of silence, then the first word
    assert np.abs(first[round(0.11 * voice.sampling_rate) : round(0.3 * voice.sampling_rate)]).max() > 0.05
    voice = HibariVoice(max_speech_s=0.6)
    assert sum(len(chunk) for chunk in voice.speak("Concentrate and ask again. The answer is hazy.")) == round(
        0.6 * 24000
    )


def test_hands_free_the_answer_is_spoken_ahead_and_played_as_hibari_says_it():
    app.start(Settings(voice="hibari", offline=True, max_speech_s=3.0))
    voice = app.ball.voice
    assert isinstance(voice, Rehearsed) and voice.name == "hibari" and voice.sampling_rate == 24000
    assert "spoken by the hibari voice" in app.describe_backends()
    voice.rehearse("My reply is no.")
    assert "My reply is no." in voice.spoken
    ahead = np.concatenate(list(voice.speak("My reply is no.")))
    assert np.array_equal(ahead, np.concatenate(list(voice.speak("My reply is no.")))), "as hibari says it"


def forget_hibari() -> None:
    for name in [name for name in sys.modules if name == "hibari" or name.startswith("hibari.")]:
        del sys.modules[name]


@pytest.fixture
def broken_hibari(tmp_path, monkeypatch):
    """hibari-tts as installed, but its voice's model file damaged: a copy of the package, imported first."""
    copy = tmp_path / "packages" / "hibari"
    shutil.copytree(Path(importlib.util.find_spec("hibari").origin).parent, copy)
    (copy / "assets" / "hibari.onnx").write_bytes(b"not an onnx model")
    monkeypatch.syspath_prepend(str(copy.parent))
    forget_hibari()
    yield
    forget_hibari()


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_auto_falls_back_to_piper_and_says_why_when_hibari_cannot_load(broken_hibari):
    app.start(Settings(voice="auto", offline=True))
    assert app.ball.voice.name == "piper"
    assert "hibari could not be loaded (InvalidProtobuf)" in app.describe_backends()
    assert "so Piper speaks" in app.describe_backends()
