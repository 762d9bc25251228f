"""Every setting is a flag with an environment variable; flags win, gradio's own variables keep working."""

import subprocess
import sys
from pathlib import Path

import pytest

from settings import OPTIONS, Settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_without_flags_or_environment():
    assert parse_settings([], environ={}) == Settings()


def test_flags():
    settings = parse_settings(
        [
            "--offline",
            "--voice=espeak",
            "--llm-model=http://127.0.0.1:8080/v1",
            "--chunk-s=1.5",
            "--port=8000",
            "--host=0.0.0.0",
            "--mcp",
            "--share",
        ],
        environ={},
    )
    assert settings.offline and settings.mcp and settings.share
    assert settings.voice == "espeak"
    assert settings.llm_model == "http://127.0.0.1:8080/v1"
    assert settings.chunk_s == 1.5
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)


def test_environment_variables_and_the_token():
    environ = {
        "HF_TOKEN": "hf_abc",
        "MAGIC8_OFFLINE": "1",
        "MAGIC8_VOICE": "tiny-random",
        "MAGIC8_FIRST_CHUNK_S": "0.25",
        "MAGIC8_VOICE_DESCRIPTION": "A cheerful voice.",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": "7861",
        "MAGIC8_MCP": "yes",
    }
    settings = parse_settings([], environ=environ)
    assert settings.hf_token == "hf_abc"
    assert settings.offline and settings.mcp
    assert settings.voice == "tiny-random"
    assert settings.first_chunk_s == 0.25
    assert settings.voice_description == "A cheerful voice."
    assert (settings.host, settings.port) == ("0.0.0.0", 7861)


def test_flags_win_over_environment_variables():
    environ = {"MAGIC8_OFFLINE": "true", "MAGIC8_VOICE": "espeak", "GRADIO_SERVER_PORT": "7861"}
    settings = parse_settings(["--no-offline", "--voice=none", "--port=9000"], environ=environ)
    assert not settings.offline
    assert settings.voice == "none"
    assert settings.port == 9000


def test_false_environment_flag():
    assert not parse_settings([], environ={"MAGIC8_OFFLINE": "0"}).offline


@pytest.mark.parametrize("argv, environ", [(["--voice=robot"], {}), ([], {"MAGIC8_VOICE": "robot"})])
def test_unknown_voice_is_refused(argv, environ, capsys):
    with pytest.raises(SystemExit):
        parse_settings(argv, environ=environ)
    assert "robot" in capsys.readouterr().err


def test_help_lists_every_flag_and_its_variable():
    result = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    for name, (env, _) in OPTIONS.items():
        assert "--" + name.replace("_", "-") in result.stdout
        assert env in result.stdout
    for flag in ("--share", "--host", "--port", "--offline", "--voice", "--mcp", "--llm-model", "--chunk-s"):
        assert flag in result.stdout
