"""The talking Magic 8 Ball: ask a question out loud and hear a cryptic answer while it is generated."""

import spaces  # first: on ZeroGPU it must be imported before CUDA is touched

# isort: split
import functools
import html
import json
import logging
import math
import os
import sys
import time
import traceback
from contextlib import closing, contextmanager

import gradio as gr
import numpy as np
from huggingface_hub import InferenceClient, constants

import hls
import upkeep
from audio_utils import AacStream, StreamingAudio, adts_duration, numpy_to_mp3
from errors import UserError, redact
from listen import Ears, InferenceEars, LocalEars, hear
from oracle import ClassicOracle, LLMOracle, Oracle
from parler import ParlerVoice, gpu_present, hub_reachable, load_parler, parler_cached, tiny_random_voice
from settings import LOCAL_ASR, Settings, parse_settings
from turns import STATUS, Listener, Transcriptions, Turn, transcript
from voices import EspeakVoice, PiperVoice, Voice

settings = Settings()
oracle: Oracle = ClassicOracle()
ears: Ears | None = None
transcriptions: Transcriptions | None = None  # the hands-free listeners' transcriptions, `at_once` at a time
voice: Voice | None = None
voice_note = ""  # why the voice is not the one asked for, shown on the page
ears_note = ""  # why spoken questions are not transcribed, shown on the page
oracle_note = ""  # why the oracle is not the one asked for, shown on the page
logger = logging.getLogger("magic8")
VOICE_FAILED = "The voice failed while speaking this answer. Please ask again."
ANSWER_FAILED = "Something went wrong while answering. Please ask again."
QUEUE_PER_GPU_SLOT = 20  # users who may wait for each answer being spoken; more are told the queue is full
SPEECH_CHARS_PER_S = 12  # a slow speaker: 200 characters (the longest answer) in under 17 s
GPU_S_PER_SPEECH_S = 2.0  # ZeroGPU time reserved per second of speech: generation at half real time still fits
GPU_MARGIN_S = 10  # moving inputs, the first chunk's context, encoding
UPLOAD_BYTES_PER_S = 48_000 * 2 * 2 * 2  # a 48 kHz stereo 16-bit WAV, twice over: a recording is far smaller
PLAYER_START_S = 0.5  # from the first chunk of an answer on the server to its first sound in the page, and a margin
CHUNK_EVERY_S = 0.25  # the microphone's chunks reach the server this often
TRANSCRIPTIONS_AT_ONCE = os.cpu_count() or 1  # hands-free listeners' transcriptions, one thread each


def load_voice(settings: Settings) -> tuple[Voice | None, str]:
    """The voice the settings ask for, and for `auto` a note saying why when Parler-TTS does not speak.

    `auto`: Parler-TTS on a GPU if its weights load, else Piper, else espeak-ng, else text. Weights load here.
    """
    chunking = dict(first_chunk_s=settings.first_chunk_s, chunk_s=settings.chunk_s, max_speech_s=settings.max_speech_s)
    parler = dict(description=settings.voice_description, **chunking)
    if settings.voice == "none":
        return None, ""
    if settings.voice == "espeak":
        return EspeakVoice(settings.espeak_voice, **chunking), ""
    if settings.voice == "piper":
        return PiperVoice(**chunking), ""
    if settings.voice == "tiny-random":
        return tiny_random_voice(**parler), ""
    if settings.voice == "parler":
        return load_parler(settings.tts_model, settings.tts_tokenizer, **parler), ""
    if not gpu_present():
        reason = "There is no GPU for Parler-TTS (--voice parler runs it on the CPU, slower than real time)"
    else:
        reason = (
            f"Parler-TTS ({settings.tts_model}) is not in the local cache and the Hugging Face Hub cannot be reached"
        )
        try:
            if parler_cached(settings.tts_model):
                return load_parler(settings.tts_model, settings.tts_tokenizer, local_files_only=True, **parler), ""
            if hub_reachable():
                return load_parler(settings.tts_model, settings.tts_tokenizer, **parler), ""
        except Exception as error:
            reason = f"Parler-TTS ({settings.tts_model}) could not be loaded ({type(error).__name__})"
    try:
        return PiperVoice(**chunking), f"{reason}, so Piper speaks."
    except Exception as error:
        reason = f"{reason}, and Piper could not be loaded ({type(error).__name__})"
    try:
        return EspeakVoice(settings.espeak_voice, **chunking), f"{reason}, so espeak-ng speaks instead."
    except OSError:
        return None, f"{reason}, and espeak-ng is not installed, so answers are text only."


@functools.cache
def local_ears() -> LocalEars:
    """Whisper tiny.en on this machine, loaded once (about a second), whichever settings the app starts with."""
    return LocalEars(threads=1, workers=TRANSCRIPTIONS_AT_ONCE)


def load_ears(settings: Settings, client: InferenceClient) -> tuple[Ears | None, str]:
    """The Inference API's ears with a token (or an endpoint's URL), local ears otherwise, when asked for, or when
    HF_HUB_OFFLINE would refuse every call."""
    asr_is_url = settings.asr_model.startswith(("http://", "https://"))
    if settings.asr_model == LOCAL_ASR:
        return local_ears(), ""
    note = ""
    if not settings.offline and (settings.hf_token or asr_is_url):
        if not constants.HF_HUB_OFFLINE:
            return InferenceEars(client, settings.asr_model), ""
        note = f"HF_HUB_OFFLINE is set, so Whisper tiny.en on this machine hears instead of {settings.asr_model}."
        logger.warning(note)
    try:
        return local_ears(), note
    except Exception as error:
        return None, f"{note} The local speech recognition could not be loaded ({type(error).__name__}).".lstrip()


def start(new_settings: Settings, new_voice: Voice | None = None) -> None:
    """Choose the ears and the oracle and load the voice, once, when the app starts.

    Each Inference API task has its own client, so each has its own provider (`--asr-provider`, `--llm-provider`).
    """
    global settings, oracle, ears, ears_note, voice, voice_note, oracle_note, transcriptions
    settings = new_settings
    asr_client = InferenceClient(
        provider=settings.asr_provider, token=settings.hf_token, timeout=settings.inference_timeout_s
    )
    llm_client = InferenceClient(
        provider=settings.llm_provider, token=settings.hf_token, timeout=settings.inference_timeout_s
    )
    ears, ears_note = load_ears(settings, asr_client)
    transcriptions = Transcriptions(ears, at_once=TRANSCRIPTIONS_AT_ONCE) if ears else None
    llm_is_url = settings.llm_model.startswith(("http://", "https://"))
    wants_llm = not settings.offline and bool(settings.hf_token or llm_is_url)
    oracle_note = ""
    if wants_llm and constants.HF_HUB_OFFLINE:
        oracle_note = (
            f"HF_HUB_OFFLINE is set, so huggingface_hub refuses every Inference API call (even to a local server): "
            f"the classic toy answers instead of {settings.llm_model}. Unset HF_HUB_OFFLINE to use it."
        )
        logger.warning(oracle_note)
    oracle = LLMOracle(llm_client, settings.llm_model) if wants_llm and not oracle_note else ClassicOracle()
    voice, voice_note = (new_voice, "") if new_voice else load_voice(settings)


@contextmanager
def explained_failures(message: str):
    """Show what went wrong as a message: a UserError in its own words, anything else as `message`, logged
    without the token."""
    try:
        yield
    except gr.Error:
        raise
    except UserError as error:
        raise gr.Error(str(error), print_exception=False) from None
    except Exception:
        logger.error("%s\n%s", message, redact(traceback.format_exc(), settings.hf_token))
        raise gr.Error(message, print_exception=False) from None


def heard_question(audio: str | None) -> str:
    """The words of a recorded question (none when the app has no ears), or a UserError saying why there are none."""
    if ears is None:
        return ""
    gr.Info("Transcribing Audio", duration=2)  # short: on a phone the toast covers the ball
    return hear(ears, audio, settings.max_question_s)


def you_asked(question: str) -> str:
    """The line under the ball that shows what the app heard, so a wrong transcript is told from a wrong answer."""
    return f'<p class="heard">You asked: <q>{html.escape(question)}</q></p>' if question else ""


def in_the_window(answer: str | None) -> str:
    """The answer as the toy shows it: on the blue triangle in the ball's window (as text, escaped), in a size that
    fits its length and its longest word on a line."""
    text = answer or ""
    size = "short" if len(text) <= 24 else "medium" if len(text) <= 70 else "long"
    longest = max((len(word) for word in text.split()), default=1)
    font_cqw = min(FONT_CQW[size], WINDOW_LINE_CQW / longest)
    return (
        '<div class="ball"><div class="window"><div class="triangle"></div>'
        f'<p class="answer {size}" style="font-size: {font_cqw:.1f}cqw" aria-live="polite">{html.escape(text)}</p>'
        "</div></div>"
    )


def generate_response(audio: str | None) -> tuple[str, str]:
    """CPU step: hear the question and answer it; the answer, and the line that shows what was heard."""
    with explained_failures(ANSWER_FAILED):
        question = heard_question(audio)
        return oracle.answer(question), you_asked(question)


def gpu_seconds(answer: str | None) -> int:
    """ZeroGPU time to reserve for speaking `answer`: its likely length, at most `max_speech_s`, plus a margin."""
    speech_s = min(settings.max_speech_s, len(answer or "") / SPEECH_CHARS_PER_S)
    return math.ceil(speech_s * GPU_S_PER_SPEECH_S + GPU_MARGIN_S)


@spaces.GPU(duration=gpu_seconds)
def read_response(answer: str | None):
    """GPU step: speak the answer, yielding each chunk of one continuous AAC stream as it is ready.

    If the listener leaves, gradio closes this generator and the voice stops generating at its next step.
    """
    if voice is None or not answer:
        yield answer, None
        return
    stream = AacStream(voice.sampling_rate)
    yield gr.skip(), None  # the player gets the stream's address now, and sets itself up while the voice speaks
    with explained_failures(VOICE_FAILED), closing(voice.speak(answer)) as chunks:
        for chunk in chunks:
            if data := stream.encode(chunk):
                yield answer, data
    if data := stream.close():
        yield answer, data


def answer_text(question: str) -> str:
    """The oracle's answer to a typed question."""
    question = (question or "").strip()
    if not question:
        raise gr.Error("Type a question first.", print_exception=False)
    with explained_failures(ANSWER_FAILED):
        return oracle.answer(question)


def speak_to_the_page(answer: str, heard: str):
    """The GPU step's chunks for the page's outputs (Answer, Spoken Answer, what was heard, the ball): the answer
    shows in its box and in the ball with the first chunk of its voice."""
    for shown, data in read_response(answer):
        yield shown, data, heard, in_the_window(shown) if isinstance(shown, str) else gr.skip()


def respond_aloud(audio: str | None):
    """The page's spoken question, in one event: hear and answer it (CPU step), then speak it (GPU step).

    One event, not two chained: the page would wait for the first to end before asking for the second.
    """
    yield from speak_to_the_page(*generate_response(audio))


def respond_typed(question: str):
    """The page's typed question, in one event: answer it (CPU step), then speak it (GPU step)."""
    yield from speak_to_the_page(answer_text(question), you_asked((question or "").strip()))


def listen(chunk: tuple[int, np.ndarray] | None, listener: Listener | None):
    """Stream step, on the CPU: hear one chunk from the microphone. The listener, the status line when it changed, and
    the count of ended turns: the page answers each time it changes."""
    if listener is None:
        speculate = isinstance(ears, LocalEars)
        listener = Listener(transcriptions, settings.turn_pause_s, settings.max_question_s, speculate)
    if chunk is not None:
        listener.hear(*chunk)
    return listener, listener.news() or gr.skip(), listener.turns


def answer_turn(turn: Turn, listener: Listener, hands_free: bool):
    """Hear the question of a turn (mostly heard already), answer it and speak it; the listener listens again once
    the answer has played. Hands-free, a turn without words (a cough, a noise) gets no answer and no message."""
    spoken_s, first_chunk_at = 0.0, None
    try:
        with explained_failures(ANSWER_FAILED):
            if turn.too_long:
                gr.Warning(f"Your question ran over {settings.max_question_s:g} s: only its start was heard.")
            question = transcript(turn, transcriptions) if transcriptions else ""
            if ears and not question and not hands_free:
                raise UserError("No words could be made out in your recording. Speak a little closer and ask again.")
            if ears and not question:
                return
            answer = oracle.answer(question)
        for shown, data, heard, window in speak_to_the_page(answer, you_asked(question)):
            if data:
                first_chunk_at = first_chunk_at or time.monotonic()
                spoken_s += adts_duration(data)
            yield shown, data, heard, window
    finally:
        listener.listen_again(at=(first_chunk_at or time.monotonic()) + spoken_s + PLAYER_START_S)


def respond_turn(listener: Listener | None):
    """The page's hands-free question, in one event once the listener heard its end: hear, answer, speak it."""
    if listener is not None and (turn := listener.take_turn()) is not None:
        yield from answer_turn(turn, listener, hands_free=True)


def respond_stopped(listener: Listener | None):
    """The person pressed Stop: answer what they said since the last answer (its transcript is often ready)."""
    turn = listener.stop() if listener else None
    if turn is not None:
        yield from answer_turn(turn, listener, hands_free=False)
    elif listener is None or listener.turns == 0:
        raise gr.Error("I heard no question. Press Record, ask your question, then press Stop.", print_exception=False)


@spaces.GPU(duration=gpu_seconds)
def speak_whole(answer: str) -> bytes:
    """GPU step of /ask and /ask_aloud: the whole answer spoken, as MP3 bytes (gradio keeps them in its cache, which
    it cleans)."""
    with explained_failures(VOICE_FAILED):
        speech = np.concatenate([np.zeros(0, dtype=np.float32), *voice.speak(answer)])
    return numpy_to_mp3(speech, voice.sampling_rate)


def ask(question: str):
    """Ask the Magic 8 Ball a yes-or-no question; it answers as the toy does, in text and in speech.

    Args:
        question: the question, in plain words, e.g. "Will it rain tomorrow?"
    Returns:
        The answer text, then the answer spoken aloud as an MP3 file (its URL; none when the app has no voice).
    """
    answer = answer_text(question)
    return answer, (speak_whole(answer) if voice else None)


def ask_aloud(recording: str):
    """Ask the Magic 8 Ball a question out loud; it says what it heard and answers in text and in speech.

    Args:
        recording: the spoken question, a short audio file (WAV, MP3, OGG, WebM...)
    Returns:
        The question as heard, the answer text, then the answer spoken aloud as an MP3 file (none without a voice).
    """
    with explained_failures(ANSWER_FAILED):
        question = heard_question(recording)
        answer = oracle.answer(question)
    return question, answer, (speak_whole(answer) if voice else None)


def describe_backends() -> str:
    """A line for the page: which ears hear, which oracle answers, which voice speaks, and why when that is not
    what was asked."""
    spoken_by = f"spoken by the {voice.name} voice" if voice else "not spoken (text only)"
    heard_by = f"Heard by {ears.name}, answered" if ears else "Answered"
    lines = [f"{heard_by} by {oracle.name}, {spoken_by}."]
    if ears is None:
        lines.append("It does not listen: a spoken question is not transcribed, it just gets an answer.")
    elif not oracle.listens:
        lines.append("Like the toy, it shows what it heard and answers whatever the question.")
    lines += [note for note in (ears_note, oracle_note, voice_note) if note]
    return " ".join(lines)


BALL_CSS = """
.ball { container-type: inline-size; width: min(300px, 60vw); aspect-ratio: 1; margin: 8px auto 0;
  border-radius: 50%; background: radial-gradient(circle at 34% 28%, #6e6e6e 0, #1d1d1d 36%, #000 72%);
  box-shadow: 0 10px 28px rgba(0, 0, 0, 0.35); display: grid; place-items: center; }
.window { position: relative; width: 64%; aspect-ratio: 1; border-radius: 50%; border: 5px solid #2b2b2b;
  background: radial-gradient(circle, #0e2a6b 0, #04102b 60%, #01040c 100%); }
.triangle { position: absolute; left: 7%; top: 12%; width: 86%; height: 74.5%;
  clip-path: polygon(0 0, 100% 0, 50% 100%); background: linear-gradient(#2f6fe4, #1642b0); }
.answer { position: absolute; left: 19%; right: 19%; top: 19%; margin: 0; color: #fff; text-align: center;
  font-family: system-ui, sans-serif; font-weight: 700; text-transform: uppercase; line-height: 1.15;
  overflow-wrap: break-word; }
.long { left: 12%; right: 12%; top: 15%; text-transform: none; }
"""
FONT_CQW = {"short": 6.4, "medium": 4.8, "long": 3.6}  # of the ball's width, by the answer's length
WINDOW_LINE_CQW = 50  # a word of n capitals fits on the window's top line at up to 50 / n of the ball's width
HEARD_CSS = ".heard { text-align: center; font-size: 1.1rem; margin: 6px 0; } .heard q { font-style: italic; }"

with gr.Blocks(title="Magic 8 Ball", delete_cache=(300, 600)) as demo:
    gr.HTML(
        """
        <h1 style='text-align: center;'> Magic 8 Ball 🎱 </h1>
        <h3 style='text-align: center;'> Ask a question and receive wisdom </h3>
        <p style='text-align: center;'> Powered by <a href="https://github.com/huggingface/parler-tts">Parler-TTS</a>,
        <a href="https://github.com/OHF-Voice/piper1-gpl">Piper</a> and
        <a href="https://github.com/SYSTRAN/faster-whisper">Whisper</a></p>
        """
    )
    backends = gr.Markdown()
    ball = gr.HTML(in_the_window(None), css_template=BALL_CSS, js_on_load=None)
    heard = gr.HTML(css_template=HEARD_CSS, js_on_load=None)
    with gr.Group():
        with gr.Row(equal_height=True):
            audio_out = StreamingAudio(label="Spoken Answer", streaming=True, autoplay=True, min_width=320)
            answer = gr.Textbox(label="Answer", min_width=320)
        with gr.Row():
            audio_in = gr.Audio(label="Speak your question", sources=["microphone"], type="numpy", streaming=True)
        listening = gr.HTML(STATUS["idle"], elem_classes="listening")
        with gr.Row(equal_height=True):
            question = gr.Textbox(label="Or type your question", placeholder="Will it rain tomorrow?", scale=4)
            ask_button = gr.Button("Ask", variant="primary", scale=0, min_width=80)
    listener = gr.State()
    turns_ended = gr.Number(visible=False)
    with gr.Column(visible=False):  # the /ask endpoint's own components: for the API and MCP, not for the page
        api_question = gr.Textbox(label="Question")
        api_answer = gr.Textbox(label="Answer")
        api_audio = gr.Audio(label="Spoken answer", type="filepath")
        api_recording = gr.Audio(label="Recording", sources=["upload"], type="filepath")
        api_heard = gr.Textbox(label="Question heard")
        recording = gr.Audio(label="Recording", sources=["upload"], type="filepath")  # the page event /respond_aloud

    demo.load(describe_backends, None, backends, api_visibility="private")
    # The page's own events are callable (the tests drive them) but undocumented, so /ask is the one public endpoint
    # and the one MCP tool. Every event that speaks shares the "voice" group. Progress shows on the Answer box alone:
    # redrawing the other outputs as pending would hold up the player in the browser.
    page_step = dict(api_visibility="undocumented", concurrency_id="voice", show_progress_on=answer)
    answered = [answer, audio_out, heard, ball]
    audio_in.stream(
        listen,
        [audio_in, listener],
        [listener, listening, turns_ended],
        stream_every=CHUNK_EVERY_S,
        concurrency_limit=None,  # light (the VAD on a second of audio); transcriptions have their own bound
        api_visibility="undocumented",
        show_progress="hidden",
    )
    turns_ended.change(respond_turn, listener, answered, **page_step)
    recording.upload(respond_aloud, recording, answered, **page_step)
    audio_in.stop_recording(respond_stopped, listener, answered, **page_step)
    audio_in.stop_recording(None, None, listening, js=f"() => {json.dumps(STATUS['idle'])}")
    gr.on([question.submit, ask_button.click], respond_typed, question, answered, **page_step)
    api_question.submit(ask, api_question, [api_answer, api_audio], api_name="ask", concurrency_id="voice")
    api_recording.upload(
        ask_aloud, api_recording, [api_heard, api_answer, api_audio], api_name="ask_aloud", concurrency_id="voice"
    )


def spread_mcp_tool_outputs() -> None:
    """Fix gradio 6.17.3's MCP server, which returns a queued tool's outputs as one text (their list's repr).

    Its other paths (non-queued tools, clients that ask for progress) already return one content item per output.
    """
    from anyio.to_thread import run_sync
    from gradio.mcp import GradioMCPServer

    async def tool_outputs(self, job) -> list:
        result = await run_sync(job.result)
        return list(result) if isinstance(result, tuple) else [result]

    GradioMCPServer._execute_tool_without_progress = tool_outputs


def upload_limit_bytes(settings: Settings) -> int:
    """The largest upload accepted: far more than a recording of `max_question_s` takes."""
    return max(1_000_000, int(settings.max_question_s * UPLOAD_BYTES_PER_S))


def configure_queue(settings: Settings) -> gr.Blocks:
    """Queue every event: Parler-TTS speaks `gpu_concurrency` answers at once, the others wait their turn.

    CPU voices (Piper, espeak-ng) hold no GPU and speak on one thread each, so they speak one answer per CPU core at
    once. The page's events hear, answer and speak in one event each, so a question waits for one of these slots
    before it is heard.
    Files in gradio's cache (uploads, answers) and answers kept in memory are deleted `cache_max_age_s` after they
    were made, checked every `cache_max_age_s / 2`.
    """
    demo.delete_cache = (max(1, settings.cache_max_age_s // 2), settings.cache_max_age_s)
    upkeep.keep_forgetting_streams(demo, settings.cache_max_age_s)
    speaking_at_once = settings.gpu_concurrency if isinstance(voice, ParlerVoice) else os.cpu_count() or 1
    return demo.queue(default_concurrency_limit=speaking_at_once, max_size=QUEUE_PER_GPU_SLOT * speaking_at_once)


def main(argv: list[str] | None = None) -> None:
    """Load the models, then serve the app."""
    settings = parse_settings(argv)
    try:
        start(settings)
    except Exception as error:
        if ears is None and settings.asr_model == LOCAL_ASR:  # start() loads the ears first
            sys.exit(f"Could not load the local speech recognition (faster-whisper tiny.en): {error}")
        weights = f" ({settings.tts_model})" if settings.voice == "parler" else ""
        sys.exit(f"Could not load the {settings.voice} voice{weights}: {error}")
    print(describe_backends())
    if settings.mcp:
        spread_mcp_tool_outputs()
    hls.install()
    configure_queue(settings).launch(
        share=settings.share,
        server_name=settings.host,
        server_port=settings.port,
        mcp_server=settings.mcp,
        max_file_size=upload_limit_bytes(settings),
    )


if __name__ == "__main__":
    main()
