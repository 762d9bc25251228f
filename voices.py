"""Voices speak an answer as a stream of float32 audio chunks; the app does not care which one it has.

The CPU voices live here; Parler-TTS (a GPU voice, and its tiny random-weight stand-in) lives in `parler.py`.
"""

import shutil
import subprocess
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np


class Voice(Protocol):
    name: str
    sampling_rate: int

    def speak(self, text: str) -> Iterator[np.ndarray]:
        """Yield the spoken text as float32 chunks in [-1, 1], the first as soon as it is ready."""
        ...


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
        self.first_frames = max(1, round(first_chunk_s * self.sampling_rate))
        self.chunk_frames = max(1, round(chunk_s * self.sampling_rate))
        self.max_frames = round(max_speech_s * self.sampling_rate)

    def speak(self, text: str) -> Iterator[np.ndarray]:
        with espeak_wav(self.command, text) as wav:
            frames, spoken = self.first_frames, 0
            while spoken < self.max_frames and (data := wav.readframes(min(frames, self.max_frames - spoken))):
                chunk = np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768
                spoken += len(chunk)
                yield chunk
                frames = self.chunk_frames


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
