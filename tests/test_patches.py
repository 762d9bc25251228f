"""The patches of gradio's and huggingface_hub's internals start only on the versions they were written for."""

import importlib.metadata

import pytest

import app
import patches
from settings import Settings


def test_the_pinned_versions_are_the_patched_ones():
    assert patches.version_mismatch() is None


def test_another_gradio_stops_the_app_with_what_to_install(monkeypatch):
    version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "6.18.0" if name == "gradio" else version(name))
    with pytest.raises(SystemExit) as stopped:
        app.main(["--voice", "none", "--asr-model", "local"])
    message = str(stopped.value)
    assert "gradio 6.18.0 is installed" in message
    assert "pip install gradio==6.31.0" in message and "patches.py" in message
    assert "huggingface_hub" not in message.split("installed")[1]


def test_start_refuses_other_versions_before_loading_anything(monkeypatch):
    version = importlib.metadata.version
    other = {"huggingface_hub": "1.2.0"}
    monkeypatch.setattr(importlib.metadata, "version", lambda name: other.get(name) or version(name))
    with pytest.raises(app.StartupError, match="huggingface_hub 1.2.0 is installed"):
        app.start(Settings(voice="none"))


def test_parler_tts_refuses_a_transformers_it_was_not_adapted_to(monkeypatch):
    version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "5.30.0" if name == "transformers" else version(name)
    )
    with pytest.raises(app.StartupError, match="transformers 5.30.0 is installed") as refused:
        app.start(Settings(voice="tiny-random", asr_model="local"))
    assert "parler_compat.py" in str(refused.value)
