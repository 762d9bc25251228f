"""Every setting of the app in one place: each is a command-line flag with an environment variable."""

import argparse
import os
from dataclasses import dataclass, fields
from typing import get_args

from patches import PROVIDER_NAMES

DESCRIPTION = (
    "Jenny speaks at an average pace with a calm delivery in a very confined sounding environment "
    "with clear audio quality."
)


@dataclass(frozen=True)
class Settings:
    hf_token: str | None = None
    offline: bool = False
    voice: str = "auto"
    asr_model: str = "openai/whisper-large-v3"
    llm_model: str = "mistralai/Mistral-7B-Instruct-v0.3"
    asr_provider: str = "hf-inference"
    llm_provider: str = "auto"
    tts_model: str = "ylacombe/parler-tts-mini-jenny-30H"
    tts_tokenizer: str = "parler-tts/parler_tts_mini_v0.1"
    voice_description: str = DESCRIPTION
    espeak_voice: str = "en-us"
    first_chunk_s: float = 0.28  # the first segment must hold 0.2 s (audio_utils.FIRST_SEGMENT_S) at 22,050 Hz too
    chunk_s: float = 0.3  # at 1.5x real time the second chunk is there before the first 0.28 s has played
    max_speech_s: float = 20.0
    max_question_s: float = 30.0
    max_question_chars: int = 300
    questions_per_minute: int = 5
    owner_calls_per_day: int = 500
    sign_in: bool = False
    turn_pause_s: float = 0.2  # docs/listening.md: how these four were chosen
    turn_unsure_pause_s: float = 0.6
    turn_max_pause_s: float = 2.0
    turn_complete_p: float = 0.5
    inference_timeout_s: float = 20.0
    gpu_concurrency: int = 1
    share: bool = False
    host: str | None = None
    port: int | None = None
    mcp: bool = False
    cache_max_age_s: int = 600


# field: (environment variable, help)
OPTIONS = {
    "offline": ("MAGIC8_OFFLINE", "answer as the classic toy, with no Inference API; the default without HF_TOKEN"),
    "voice": (
        "MAGIC8_VOICE",
        "parler, hibari, piper, espeak, tiny-random, none, or auto: parler on a GPU if it loads, else hibari, else "
        "piper, else espeak",
    ),
    "asr_model": (
        "MAGIC8_ASR_MODEL",
        "speech recognition model id, the URL of an endpoint, or local (faster-whisper tiny.en on this machine, "
        "what the app uses without HF_TOKEN)",
    ),
    "llm_model": ("MAGIC8_LLM_MODEL", "chat model id, or the URL of an OpenAI-compatible server"),
    "asr_provider": ("MAGIC8_ASR_PROVIDER", "Inference Provider for speech recognition (hf-inference, fal-ai) or auto"),
    "llm_provider": ("MAGIC8_LLM_PROVIDER", "Inference Provider for the LLM, or auto: the account's first"),
    "tts_model": ("MAGIC8_TTS_MODEL", "Parler-TTS weights"),
    "tts_tokenizer": ("MAGIC8_TTS_TOKENIZER", "Parler-TTS tokenizer"),
    "voice_description": ("MAGIC8_VOICE_DESCRIPTION", "how the Parler-TTS voice should sound"),
    "espeak_voice": ("MAGIC8_ESPEAK_VOICE", "espeak-ng voice (language), see espeak-ng --voices"),
    "first_chunk_s": ("MAGIC8_FIRST_CHUNK_S", "seconds of audio in the first streamed chunk"),
    "chunk_s": ("MAGIC8_CHUNK_S", "seconds of audio in each later chunk"),
    "max_speech_s": ("MAGIC8_MAX_SPEECH_S", "longest spoken answer, in seconds"),
    "max_question_s": ("MAGIC8_MAX_QUESTION_S", "longest question sent to speech recognition, in seconds"),
    "max_question_chars": ("MAGIC8_MAX_QUESTION_CHARS", "longest typed question, in characters"),
    "questions_per_minute": (
        "MAGIC8_QUESTIONS_PER_MINUTE",
        "questions per minute on the app's HF_TOKEN for each visitor not signed in; then the toy answers",
    ),
    "owner_calls_per_day": (
        "MAGIC8_OWNER_CALLS_PER_DAY",
        "Inference API calls per day (UTC) on the app's HF_TOKEN for all visitors who are not signed in",
    ),
    "sign_in": (
        "MAGIC8_SIGN_IN",
        "offer Sign in with Hugging Face off a Space too (gradio's mocked sign-in: needs HF_TOKEN and the Hub); "
        "on a Space it is offered when the README sets hf_oauth: true",
    ),
    "turn_pause_s": (
        "MAGIC8_TURN_PAUSE_S",
        "seconds of silence that end a spoken question that sounds and reads finished (hands-free); 0: only Stop "
        "sends it",
    ),
    "turn_unsure_pause_s": (
        "MAGIC8_TURN_UNSURE_PAUSE_S",
        "seconds of silence that end a spoken question that reads finished but does not sound it",
    ),
    "turn_max_pause_s": (
        "MAGIC8_TURN_MAX_PAUSE_S",
        "seconds of silence that end any spoken question, even one that reads unfinished (Should I ...)",
    ),
    "turn_complete_p": (
        "MAGIC8_TURN_COMPLETE_P",
        "Smart Turn's probability from which a question sounds finished",
    ),
    "inference_timeout_s": ("MAGIC8_INFERENCE_TIMEOUT_S", "seconds to wait for one Inference API call"),
    "gpu_concurrency": ("MAGIC8_GPU_CONCURRENCY", "answers spoken at once"),
    "share": ("MAGIC8_SHARE", "create a public gradio share link"),
    "host": ("GRADIO_SERVER_NAME", "address to listen on"),
    "port": ("GRADIO_SERVER_PORT", "port to listen on"),
    "mcp": ("MAGIC8_MCP", "also serve /ask and /ask_aloud as MCP tools, at /gradio_api/mcp/"),
    "cache_max_age_s": ("MAGIC8_CACHE_MAX_AGE_S", "seconds gradio keeps an answer's audio and an upload in its cache"),
}
LOCAL_ASR = "local"  # the --asr-model that transcribes on this machine, with faster-whisper tiny.en
VOICES = ("auto", "parler", "hibari", "piper", "espeak", "tiny-random", "none")
PROVIDERS = ("auto", *get_args(PROVIDER_NAMES))  # what huggingface_hub 2.4.0 can call
CHOICES = {"voice": VOICES, "asr_provider": PROVIDERS, "llm_provider": PROVIDERS}


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_settings(argv: list[str] | None = None, environ=os.environ) -> Settings:
    """Read the settings from flags, falling back to environment variables, then to the defaults."""
    parser = argparse.ArgumentParser(
        description="The talking Magic 8 Ball. HF_TOKEN (env only) enables the Inference API; without it the "
        "classic toy answers."
    )
    for field in fields(Settings):
        if field.name not in OPTIONS:
            continue
        env, help_text = OPTIONS[field.name]
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        if env in environ:
            default = _flag(environ[env]) if field.type is bool else environ[env]
        if field.type is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=f"{help_text} (env {env})"
            )
        else:
            kind = int if field.type in (int, int | None) else float if field.type is float else str
            choices = CHOICES.get(field.name)
            shown = "gradio's" if default is None else default
            metavar = "PROVIDER" if field.name.endswith("_provider") else None
            parser.add_argument(
                flag,
                type=kind,
                default=default,
                choices=choices,
                metavar=metavar,
                help=f"{help_text} (env {env}; default {shown})",
            )
    args = parser.parse_args(argv)
    for name, choices in CHOICES.items():
        if getattr(args, name) not in choices:
            parser.error(f"{OPTIONS[name][0]} must be one of {', '.join(choices)}, not {getattr(args, name)!r}")
    token = environ.get("HF_TOKEN") or None
    return Settings(hf_token=token, **vars(args))
