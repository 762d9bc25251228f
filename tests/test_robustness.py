"""Bad input and faults: each gets a clear message, the app keeps serving, and the token never leaks."""

import logging
import os
import re
import subprocess
import sys
import threading
import time
import wave
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from conftest import TOKEN, decoded_seconds, serving, words, write_speech, write_wav
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from inference_server import refused_url
from pydub import AudioSegment

import app
from hear import InferenceEars
from oracle import CLASSIC_ANSWERS, UNCLEAR_ANSWER
from parler import tiny_random_voice
from settings import LOCAL_ASR, Settings

ROOT = Path(__file__).resolve().parents[1]
WAV_HEADER = 44


@pytest.fixture
def started(online_settings, tiny_voice, inference_server):
    """The app started with the loopback Inference API and the tiny voice; yields the loopback server."""
    app.start(online_settings, tiny_voice)
    return inference_server


@pytest.fixture(params=["inference-ears", "local-ears"])
def listening(request, online_settings, tiny_voice, inference_server):
    """The app started with either ears: the loopback Inference API's, or Whisper tiny.en on this machine (which
    never calls the loopback server); the LLM answers through the loopback server. Yields the server."""
    ears = {"inference-ears": online_settings.asr_model, "local-ears": LOCAL_ASR}[request.param]
    app.start(replace(online_settings, asr_model=ears), tiny_voice)
    return inference_server


@pytest.fixture
def leak_check(caplog, capsys):
    """After the test, nothing logged or printed holds the token."""
    caplog.set_level(logging.DEBUG)
    yield
    logged = "".join(logging.Formatter().format(record) for record in caplog.get_records("call"))
    captured = capsys.readouterr()
    assert TOKEN not in logged + captured.out + captured.err


def error_of(audio) -> str:
    """The message of the gr.Error that answering this recording raises."""
    with pytest.raises(gr.Error) as raised:
        app.hear_and_answer(str(audio) if audio else None)
    message = str(raised.value.message)
    assert TOKEN not in message and "Traceback" not in message
    return message


def answer_of(audio) -> str:
    answer, _ = app.hear_and_answer(str(audio))
    return answer


def silence(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(int(seconds * 16000), dtype=np.int16).tobytes())
    return path


# Bad input


@pytest.mark.parametrize(
    "make_file, expected",
    [
        (lambda tmp: None, "No recording came through"),
        (lambda tmp: write_wav(tmp / "short.wav", 0.1), "too short"),
        (lambda tmp: silence(tmp / "silent.wav", 2.0), "silent"),
        (lambda tmp: tmp / "notes.wav", "could not be read as audio"),
        (lambda tmp: tmp / "empty.wav", "could not be read as audio"),
        (lambda tmp: tmp / "header_only.wav", "could not be read as audio"),
    ],
    ids=["none", "short", "silence", "not-audio", "empty", "truncated-header"],
)
def test_unusable_recording_is_explained_and_never_uploaded(listening, leak_check, tmp_path, make_file, expected):
    (tmp_path / "notes.wav").write_text("Dear diary, today I asked the 8 ball.")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "header_only.wav").write_bytes(write_wav(tmp_path / "whole.wav", 1.0).read_bytes()[:20])
    assert expected in error_of(make_file(tmp_path))
    assert listening.requests == []


def test_noise_is_not_heard_as_words_by_local_ears(online_settings, tiny_voice, inference_server, tmp_path):
    """Three seconds of white noise: Whisper alone hears " You" in it; its voice activity filter hears nothing."""
    app.start(replace(online_settings, asr_model=LOCAL_ASR), tiny_voice)
    noise = np.random.default_rng(0).normal(0, 0.1, 3 * 16000).clip(-1, 1)
    with wave.open(str(tmp_path / "noise.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((noise * 32767).astype(np.int16).tobytes())
    assert "No words could be made out" in error_of(tmp_path / "noise.wav")
    assert inference_server.requests == []


def test_truncated_wav_is_answered_from_what_is_there(started, tmp_path):
    data = write_wav(tmp_path / "q.wav", 2.0).read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: WAV_HEADER + 12 * 3200])  # 1.2 s of the 2 s the header promises
    started.transcripts[1.2] = "Is the glass half full?"
    assert answer_of(tmp_path / "cut.wav") == "A dog is ready for you, but are you ready for Is the glass half full?"


@pytest.mark.parametrize("rate, channels, seconds", [(8000, 2, 1.3), (96000, 2, 1.4), (96000, 1, 1.5)])
def test_any_rate_and_channels_are_sent_as_16khz_mono(started, tmp_path, rate, channels, seconds):
    started.transcripts[seconds] = f"Question at {rate} Hz?"
    answer = answer_of(write_wav(tmp_path / "q.wav", seconds, rate=rate, channels=channels))
    assert answer.endswith(f"Question at {rate} Hz?")
    [upload] = started.asr_requests()
    assert upload["size"] == pytest.approx(WAV_HEADER + seconds * 16000 * 2, abs=64)


def test_long_recording_is_cut_to_max_question_s_with_a_warning(listening, piper_voice, tmp_path):
    """A 60 s recording at 48 kHz stereo: a question spoken by Piper, then the microphone left on."""
    recording = tmp_path / "ramble.wav"
    spoken = AudioSegment.from_file(write_speech(tmp_path / "q.wav", piper_voice, "What is the meaning of it all?"))
    (spoken + AudioSegment.silent(60_000 - len(spoken))).set_frame_rate(48000).set_channels(2).export(
        recording, format="wav"
    )
    listening.transcripts[30.0] = "What is the meaning of it all?"
    with pytest.warns(UserWarning, match="Your recording is 60 s long: only its first 30 s were heard"):
        answer = answer_of(recording)
    assert words(answer)[-7:] == ["what", "is", "the", "meaning", "of", "it", "all"]
    uploads = [upload["size"] for upload in listening.asr_requests()]
    assert len(uploads) == (1 if isinstance(app.ball.ears, InferenceEars) else 0)
    assert all(size <= WAV_HEADER + 30 * 16000 * 2 + 64 for size in uploads)  # 0.96 MB, not the 11 MB recorded


@pytest.mark.parametrize("transcript", ["", "   \n "])
def test_empty_transcript_is_explained(started, tmp_path, transcript):
    started.default_transcript = transcript
    assert "No words could be made out" in error_of(write_wav(tmp_path / "q.wav", 1.0))
    assert started.chat_requests() == []


@pytest.mark.parametrize("reply", ["", "Magic 8 Ball:", "  Magic 8 Ball :  "])
def test_empty_llm_answer_becomes_the_toys_hazy_reply(started, tmp_path, reply):
    started.answer_for = lambda question: reply
    assert answer_of(write_wav(tmp_path / "q.wav", 1.0)) == UNCLEAR_ANSWER


def test_long_llm_answer_is_cut_to_whole_sentences(started, tmp_path):
    sentence = "The river does not hurry, yet it reaches the sea."
    started.answer_for = lambda question: "Magic 8 Ball: " + " ".join([sentence] * 30)
    answer = answer_of(write_wav(tmp_path / "q.wav", 1.0))
    assert answer == " ".join([sentence] * 4)  # 4 sentences fit in 200 characters, 5 do not


def test_long_llm_answer_without_sentences_is_cut_at_a_word(started, tmp_path):
    rambling = "and then " * 100
    started.answer_for = lambda question: rambling
    answer = answer_of(write_wav(tmp_path / "q.wav", 1.0))
    assert len(answer) <= 200 and answer.endswith("...") and rambling.startswith(answer.removesuffix("...") + " ")


# Faults of the Inference API


def test_without_a_token_local_ears_hear_and_the_classic_toy_answers(
    tiny_voice, piper_voice, inference_server, tmp_path
):
    app.start(Settings(voice="tiny-random"), tiny_voice)
    answer, heard = app.hear_and_answer(str(write_speech(tmp_path / "q.wav", piper_voice, "Is it my lucky day?")))
    assert answer in CLASSIC_ANSWERS
    shown = re.sub("<[^>]+>", "", heard)
    assert shown.startswith("You asked: ") and words(shown) == ["you", "asked", "is", "it", "my", "lucky", "day"]
    assert "Heard by Whisper tiny.en on this machine" in app.describe_backends()
    assert "classic Magic 8 Ball" in app.describe_backends()
    assert inference_server.requests == []


@pytest.mark.parametrize(
    "faults, expected, attempts",
    [
        ([(401, '{"error": "Invalid credentials in Authorization header"}')], "set a valid HF_TOKEN", 1),
        ([(403, '{"error": "Forbidden"}')], "set a valid HF_TOKEN", 1),
        ([(429, '{"error": "Rate limit reached"}')], "too many requests right now", 1),
        ([(503, '{"error": "Model is currently loading"}')] * 3, "loading or unavailable (error 503)", 3),
        ([(500, '{"error": "boom"}')], "failed (error 500)", 1),
    ],
    ids=["401", "403", "429", "503-thrice", "500"],
)
def test_asr_fault_is_explained(started, leak_check, tmp_path, faults, expected, attempts):
    started.faults = list(faults)
    message = error_of(write_wav(tmp_path / "q.wav", 1.0))
    assert message.startswith("The speech recognition") and expected in message
    assert len(started.asr_requests()) == attempts
    assert started.asr_requests()[0]["headers"]["authorization"] == f"Bearer {TOKEN}"  # sent, and still not leaked


def test_model_loading_is_retried_until_it_answers(started, leak_check, tmp_path):
    started.faults = [(503, '{"error": "Model is currently loading"}')] * 2
    started.chat_faults = [(503, '{"error": "Model is currently loading"}')]
    assert answer_of(write_wav(tmp_path / "q.wav", 1.0)).startswith("A dog is ready for you")
    assert len(started.asr_requests()) == 3 and len(started.chat_requests()) == 2


def test_llm_fault_is_explained(started, leak_check, tmp_path):
    started.chat_faults = [(429, '{"error": "Rate limit reached"}')]
    message = error_of(write_wav(tmp_path / "q.wav", 1.0))
    assert message.startswith("The language model service has too many requests")


def test_timeout_is_retried_then_explained(online_settings, tiny_voice, started, leak_check, tmp_path):
    app.start(replace(online_settings, inference_timeout_s=0.3), tiny_voice)
    started.delay_s = 1.0
    assert "took too long to answer" in error_of(write_wav(tmp_path / "q.wav", 1.0))
    assert len(started.asr_requests()) == 3


def test_connection_refused_is_explained(online_settings, tiny_voice, leak_check, tmp_path):
    app.start(replace(online_settings, asr_model=f"{refused_url()}/asr"), tiny_voice)
    assert "Could not reach the speech recognition service" in error_of(write_wav(tmp_path / "q.wav", 1.0))


# The voice


def generate_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "parler-tts-generate"]


def wait_for_generate_threads_to_end(deadline_s: float = 60.0) -> None:
    start = time.monotonic()
    while generate_threads() and time.monotonic() - start < deadline_s:
        time.sleep(0.1)


def test_voice_failing_mid_answer_ends_the_request_with_a_message(started, tiny_voice, leak_check):
    steps = []

    def fail_after_first_chunk(module, args, output):
        steps.append(1)
        if len(steps) > 70:
            raise RuntimeError(f"CUDA out of memory (token {TOKEN})")

    hook = tiny_voice.model.decoder.register_forward_hook(fail_after_first_chunk)
    chunks = []
    try:
        with pytest.raises(gr.Error) as raised:
            for _, data in app.read_response("Will it rain?"):
                chunks.append(data)
    finally:
        hook.remove()
    assert raised.value.message == "The voice failed while speaking this answer. Please ask again."
    assert chunks  # the first chunk was heard before the failure
    wait_for_generate_threads_to_end()
    assert generate_threads() == []
    spoken = sum(decoded_seconds(data) for _, data in app.read_response("Will it rain?") if data)
    assert spoken > 1.0  # the next answer is spoken in full


def test_nothing_to_say_speaks_nothing(started):
    assert list(app.read_response(None)) == [(None, None)]


# Through gradio


def test_bad_input_and_faults_reach_the_browser_as_messages_and_the_app_keeps_serving(served_app, tmp_path, request):
    server = request.getfixturevalue("inference_server")
    client = Client(served_app, verbose=False, download_files=False)
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(AppError, match="could not be read as audio"):
        client.predict(handle_file(str(tmp_path / "notes.wav")), api_name="/respond_aloud")
    server.faults = [(401, '{"error": "Invalid credentials"}')]
    with pytest.raises(AppError) as raised:
        client.predict(handle_file(str(write_wav(tmp_path / "q.wav", 1.0))), api_name="/respond_aloud")
    assert "set a valid HF_TOKEN" in str(raised.value) and TOKEN not in str(raised.value)
    answer, audio, *_ = client.predict(handle_file(str(write_wav(tmp_path / "q.wav", 1.0))), api_name="/respond_aloud")
    assert answer == "A dog is ready for you, but are you ready for Should I get a dog?" and audio


def test_a_failed_question_speaks_nothing(served_app, tmp_path):
    """A question that cannot be heard ends with its message, before the player opens: nothing old is spoken."""
    client = Client(served_app, verbose=False, download_files=False)
    (tmp_path / "notes.wav").write_text("not audio")
    job = client.submit(handle_file(str(tmp_path / "notes.wav")), api_name="/respond_aloud")
    with pytest.raises(AppError, match="could not be read as audio"):
        job.result()
    assert job.outputs() == []


def test_cancelled_answer_stops_generating_within_a_chunk(online_settings, tmp_path):
    long_voice = tiny_random_voice(description="A calm voice.", first_chunk_s=0.25, chunk_s=0.5, max_speech_s=10.0)
    with serving(online_settings, long_voice) as url:
        # /cancel returns once the current chunk is done: allow for a slow, shared CPU
        client = Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": 120})
        job = client.submit(handle_file(str(write_wav(tmp_path / "q.wav", 1.0))), api_name="/respond_aloud")
        start = time.monotonic()
        while not any(answer for answer, *_ in job.outputs()) and time.monotonic() - start < 120:  # first chunk
            time.sleep(0.05)
        job.cancel()
        wait_for_generate_threads_to_end()
    assert generate_threads() == []
    streamer = long_voice.last_streamer
    assert streamer.emitted > 0 and streamer.cancelled.is_set()
    one_chunk_later = streamer.first_play_steps + 2 * streamer.play_steps + streamer.context_frames
    assert streamer.collected <= one_chunk_later < long_voice.max_new_tokens / 4


# Start-up


def test_weights_that_do_not_load_stop_the_app_with_the_reason(tmp_path):
    weights = tmp_path / "no-such-weights"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": TOKEN}
    command = [sys.executable, "app.py", "--voice", "parler", "--tts-model", str(weights)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"Could not load the parler voice ({weights})" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
