"""Stream Parler-TTS audio while it is generated, decoding every codec frame about once.

A drop-in for `parler_tts.ParlerTTSStreamer` (constructor with `play_steps`, iterable, `put`/`end`)
that differs in three ways:
- it decodes only the frames that are new, plus `context_frames` of codec context on each side,
  so decoding grows linearly with the answer instead of quadratically, and the joined chunks
  equal one decode of all frames;
- its first chunk can be shorter (`first_play_steps`), so the first sound comes sooner, and each
  next chunk is twice as long until `play_steps`: the audio already queued in the player then
  lasts about as long as generating the next chunk takes, so playback does not stall after the
  short first chunk;
- `start` runs `generate` in a thread whose error is re-raised by the iterator instead of
  leaving it waiting forever, and `cancel` stops generation at the next step. That thread also
  skips the decode of the whole answer that `generate` does once it ends: it was already streamed.
"""

from queue import Empty, Queue
from threading import Event, Thread

import numpy as np
import torch
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer


class _Cancelled(StoppingCriteria):
    """Stops `generate` at the next step once the listener is gone."""

    def __init__(self, event: Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _StreamEnded(Exception):
    """Raised by `end` in the thread of `start`, so that `generate` does not decode the streamed answer again."""


class ParlerTTSStreamer(BaseStreamer):
    """Iterate over float32 audio chunks of a Parler-TTS generation as they become ready.

    `play_steps` and `first_play_steps` are chunk lengths in codec frames (86 frames per second): by default
    a first chunk of 0.25 s, then 0.5 s, 1 s, and chunks of 2 s from there on.
    """

    def __init__(
        self,
        model,
        device=None,
        play_steps: int = 172,
        first_play_steps: int = 22,
        context_frames: int = 16,
        timeout: float | None = None,
    ):
        self.audio_encoder = model.audio_encoder
        self.device = device if device is not None else model.device
        self.num_codebooks = model.decoder.num_codebooks
        self.codebook_size = model.audio_encoder.config.codebook_size
        self.use_4dim_audio_codes = model.use_4dim_audio_codes
        self.decode_kwargs = {"audio_scales": [None]} if model.use_audio_scales else {}
        config = model.audio_encoder.config
        self.hop_length = config.sampling_rate // config.frame_rate
        self.play_steps = play_steps
        self.first_play_steps = min(first_play_steps, play_steps)
        self.context_frames = context_frames
        self.timeout = timeout
        self.columns: list[torch.Tensor] = []
        self.frames: list[torch.Tensor] = []
        self.collected = 0
        self.emitted = 0
        self.chunks = 0
        self.decoded_frames = 0
        self.cancelled = Event()
        self.audio_queue: Queue = Queue()
        self.stop_signal = None
        self.owns_generate = False

    def start(self, model, **generate_kwargs) -> Thread:
        """Run `model.generate(streamer=self, ...)` in a daemon thread; its error ends the iteration."""

        stopping = StoppingCriteriaList([*generate_kwargs.pop("stopping_criteria", []), _Cancelled(self.cancelled)])

        def generate():
            try:
                model.generate(**generate_kwargs, streamer=self, stopping_criteria=stopping)
            except _StreamEnded:
                pass
            except BaseException as error:
                self.audio_queue.put(error)

        self.owns_generate = True
        thread = Thread(target=generate, daemon=True, name="parler-tts-generate")
        thread.start()
        return thread

    def cancel(self) -> None:
        """Stop generating at the next step and skip decoding what is left."""
        self.cancelled.set()

    def put(self, value: torch.Tensor) -> None:
        """Take the next column of tokens (one per codebook); decode a chunk when enough frames are complete."""
        if value.shape[0] // self.num_codebooks > 1:
            raise ValueError("ParlerTTSStreamer only supports batch size 1")
        self.columns.extend(value.reshape(self.num_codebooks, -1).T)
        self._collect_frames()
        chunk = min(self.first_play_steps * 2**self.chunks, self.play_steps)
        if len(self.frames) >= self.emitted + chunk + self.context_frames and not self.cancelled.is_set():
            self._emit(self.emitted + chunk)

    def end(self) -> None:
        """Decode the frames that are left and close the stream."""
        self._collect_frames()
        if len(self.frames) > self.emitted and not self.cancelled.is_set():
            self._emit(len(self.frames))
        self.audio_queue.put(self.stop_signal)
        if self.owns_generate:
            raise _StreamEnded

    def _collect_frames(self) -> None:
        # Parler delays codebook k by k + 1 steps: frame j is complete once column j + num_codebooks exists.
        complete = len(self.columns) - self.num_codebooks
        for j in range(self.collected, complete):
            frame = torch.stack([self.columns[j + k + 1][k] for k in range(self.num_codebooks)])
            if bool((frame < self.codebook_size).all()):
                self.frames.append(frame)
        self.collected = max(self.collected, complete)

    def _emit(self, end: int) -> None:
        start = max(0, self.emitted - self.context_frames)
        stop = min(len(self.frames), end + self.context_frames)
        audio = self.decode(torch.stack(self.frames[start:stop], dim=1))
        self.audio_queue.put(audio[(self.emitted - start) * self.hop_length : (end - start) * self.hop_length])
        self.decoded_frames += stop - start
        self.emitted = end
        self.chunks += 1

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> np.ndarray:
        """Decode codes of shape (num_codebooks, frames) to float32 audio."""
        codes = codes[None, None] if self.use_4dim_audio_codes else codes[None]
        audio = self.audio_encoder.decode(audio_codes=codes.to(self.device), **self.decode_kwargs).audio_values
        return audio.reshape(-1).float().cpu().numpy()

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        try:
            value = self.audio_queue.get(timeout=self.timeout)
        except Empty:
            raise TimeoutError(f"the voice produced no audio for {self.timeout} s") from None
        if isinstance(value, BaseException):
            raise value
        if value is self.stop_signal:
            raise StopIteration
        return value
