"""Hands-free listening: each listener's microphone chunks, the pauses found with the Silero VAD that faster-whisper
bundles, the end of a spoken question decided from the pause, the sound and the words (`endpoint.TurnEnd`), and the
question transcribed (and its answer prepared) while the pause is still being confirmed.

The app calls `Listener.hear` with every chunk the page streams. At the first silence after speech the listener asks
for an answer (`asked` changes); the page then starts the answer's event, which waits for the turn to end
(`wait_for_turn`) and answers it.
"""

import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import av
import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from endpoint import HEARD_SILENCE_S, SmartTurn, TurnEnd
from hear import ASR_SAMPLING_RATE, Ears, to_wav

RATE = ASR_SAMPLING_RATE  # the VAD and Whisper both work at 16 kHz
IDLE_S = 1.0  # before the first word, only this much audio is kept and looked at
PRE_ROLL_S = 0.3  # audio kept before the first word, so that Whisper hears its onset
LOOK_BACK_S = 1.0  # once speaking, the VAD looks at the last `max_pause_s` plus this much audio
SPECULATE_AFTER_S = 0.05  # silence after a word after which the question so far is transcribed, before the pause ends
# (and, hands-free, after which the page starts the answer's event, which waits for the turn to end)
STOP_GRACE_S = 0.5  # a chunk this soon after Stop is the end of that recording, not a new one
SAME_END_S = 0.1  # a speculative transcript still holds when the speech ends at most this much after what it covered
# Silero's own thresholds; segments of speech shorter than 250 ms (a click, most coughs) are not speech here.
VAD = VadOptions(threshold=0.5, min_speech_duration_ms=250, min_silence_duration_ms=100, speech_pad_ms=30)

STATUS = {  # phase: what the page says
    "idle": "Press <b>Record</b> and ask your question: I answer when you stop talking.",
    "waiting": "🎙️ Listening: ask your question.",
    "speaking": "🎙️ Listening…",
    "ended": "✋ Heard the end of your question: thinking…",
    "answering": "🔊 Answering: I listen again when the answer ends.",
    "too long": "✋ Your question ran over {max_question_s:g} s: answering what I heard so far…",
    "lost": "⚠️ Your microphone's sound did not reach me ({reason}). Check your connection, then press <b>Stop</b> "
    "and <b>Record</b> again.",  # shown by the page itself (app.SOUND_LOST_JS): the server hears nothing then
}


@dataclass
class Heard:
    """The words of a turn, and the answer prepared from them ahead of the turn's end (when the app prepares one)."""

    words: str
    answer: str | None = None


@dataclass
class Turn:
    """One spoken question: its audio (16 kHz mono float32), and what was heard of it when that started early."""

    audio: np.ndarray
    guess: Future | None = None  # of a Heard
    too_long: bool = False


class Transcriptions:
    """Transcriptions for every listener, at most `at_once` running at a time; the others wait their turn."""

    def __init__(self, ears: Ears, at_once: int):
        self.ears, self.at_once = ears, at_once
        self.pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="transcribe")
        self.queued = 0
        self.lock = threading.Lock()

    def start(
        self,
        audio: np.ndarray,
        prepare: Callable[[str], str | None] | None = None,
        on_words: Callable[[str], None] | None = None,
    ) -> Future:
        """What is heard in `audio` (a Heard), transcribed in the background; `on_words` is told the words as soon as
        they are heard; then, when given, `prepare` makes the answer to them (or None)."""
        with self.lock:
            self.queued += 1
        heard = self.pool.submit(self._transcribe, audio, prepare, on_words)
        heard.add_done_callback(self._done)  # also when cancelled before it started
        return heard

    def busy(self) -> bool:
        """Whether questions wait for a core: then nothing else should take one from them."""
        return self.queued > self.at_once

    def _transcribe(self, audio: np.ndarray, prepare, on_words) -> Heard:
        words = self.ears.transcribe(to_wav(audio)).strip()
        if on_words:
            on_words(words)
        others_wait = self.busy()  # then preparing an answer ahead would hold up their questions
        return Heard(words, prepare(words) if prepare and words and not others_wait else None)

    def _done(self, _: Future) -> None:
        with self.lock:
            self.queued -= 1


def speech_spans(audio: np.ndarray) -> list[dict]:
    """Where Silero hears speech in 16 kHz audio: [{"start", "end"}] in samples."""
    return get_speech_timestamps(audio, VAD, sampling_rate=RATE) if len(audio) >= 512 else []


class Listener:
    """One person's microphone, hands-free: the current turn's audio at 16 kHz, and what was heard of it.

    A pause after speech ends a turn, as long as `ending` says for the words so far and for the sound of the turn
    (`smart_turn`'s probability that it is complete). At the start of each pause, the question so far is judged by
    `smart_turn` and transcribed (`speculate`, for ears that cost nothing per call), and the answer prepared from it
    (`prepare`, by an oracle and a voice that cost nothing either), so that little is left when the turn ends.
    """

    def __init__(
        self,
        transcriptions: Transcriptions,
        ending: TurnEnd,
        max_question_s: float,
        speculate: bool,
        prepare: Callable[[str], str | None] | None = None,
        smart_turn: SmartTurn | None = None,
    ):
        self.transcriptions, self.ending, self.max_question_s = transcriptions, ending, max_question_s
        self.speculate, self.prepare, self.smart_turn = speculate, prepare, smart_turn
        self.guesses = 0  # speculative transcriptions started so far: only the latest one prepares an answer
        self.lock = threading.RLock()  # a judgement done at once calls back into the listener that holds it
        self.changed = threading.Condition(self.lock)  # a turn ended, or the person pressed Stop
        self.phase = "idle"
        self.turn: Turn | None = None  # the ended turn, until it is answered
        self.asked = 0  # answers asked for so far: the page starts an answer's event each time this changes
        self.waiting = 0  # answer events waiting for the turn to end
        self.shown = "idle"  # the phase the page shows
        self.ended_as = "ended"  # how the last turn ended: "ended", or "too long"
        self.deaf_until = 0.0  # while an answer plays, the microphone hears it: it is not listened to
        self.stopped_at = -STOP_GRACE_S
        self._reset()

    def _reset(self) -> None:
        self.audio = np.zeros(0, np.float32)
        self.resampler: av.AudioResampler | None = None
        self.rate = 0
        self.speaking = False
        self.guess: Future | None = None
        self.guess_end = 0  # the sample where speech ended in the audio `guess` transcribes and `judgement` judges
        self.words: str | None = None  # what `guess` heard, as soon as it is heard (before its answer is prepared)
        self.judgement: Future | None = None  # of Smart Turn's probability that the turn is complete, at `guess_end`
        self.speech_end = 0  # the sample where speech last ended
        self.silence_s = 0.0  # after it, up to the last chunk
        self.answer_asked = False  # whether this turn's answer was asked for

    def news(self) -> str | None:
        """The status line for the page, when it changed since the last time it was asked for. The end of a turn is
        always said, first: its answer can start between two chunks (an answer made ahead)."""
        if self.phase == self.shown:
            return None
        said_the_end = self.shown in ("ended", "too long")
        self.shown = self.ended_as if self.phase == "answering" and not said_the_end else self.phase
        return STATUS[self.shown].format(max_question_s=self.max_question_s)

    def hear(self, rate: int, chunk: np.ndarray) -> str:
        """Take one chunk from the microphone; the phase after it (`ended` or `too long` once a turn ends)."""
        with self.lock:
            if self.phase == "answering" and time.monotonic() >= self.deaf_until:
                self.phase = "waiting"
                self._reset()
            if self.phase in ("ended", "too long", "answering"):
                return self.phase  # the person waits for the answer; the microphone hears it, and is not listened to
            if self.phase == "idle" and time.monotonic() < self.stopped_at + STOP_GRACE_S:
                return self.phase  # the last chunk of the recording just stopped
            if self.phase == "idle" or rate != self.rate:
                self._reset()
                self.phase = "waiting"
            self._add(rate, chunk)
            if not self.speaking:
                spans = speech_spans(self.audio)
                if not spans:
                    self.audio = self.audio[-int(IDLE_S * RATE) :]
                    return self.phase
                self.speaking, self.phase = True, "speaking"
                self.audio = self.audio[max(0, spans[0]["start"] - int(PRE_ROLL_S * RATE)) :]
            look_back = int((self.ending.max_pause_s + LOOK_BACK_S) * RATE)
            tail = self.audio[-look_back:]
            spans = speech_spans(tail)
            speech_end = len(self.audio) - len(tail) + (spans[-1]["end"] if spans else 0)
            self.silence_s, self.speech_end = (len(self.audio) - speech_end) / RATE, speech_end
            hands_free = self.ending.pause_s > 0
            if hands_free and self.silence_s >= SPECULATE_AFTER_S:
                self._ask_for_answer()  # its event sets up the player while the pause is confirmed
            if len(self.audio) >= self.max_question_s * RATE:
                return self._end(too_long=True)
            if self.silence_s >= SPECULATE_AFTER_S and speech_end > self.guess_end + SAME_END_S * RATE:
                self._look_at_the_pause()
            if hands_free and self._turn_over():
                return self._end()
            return self.phase

    def _look_at_the_pause(self) -> None:
        """A pause began: transcribe the question so far (and prepare its answer), and judge its sound, in the
        background; each decides again whether the turn is over when it is done."""
        if self.speculate:
            if self.guess is not None:
                self.guess.cancel()  # the person went on talking: a guess still waiting to start is not wanted
            self.guesses, self.words = self.guesses + 1, None
            on_words = functools.partial(self._heard_words, self.guesses)
            self.guess = self.transcriptions.start(self.audio.copy(), self._prepare(self.guesses), on_words)
        self.judgement = None  # when questions wait for a core, the words and the pauses decide alone
        if self.smart_turn is not None and self.ending.pause_s > 0 and not self.transcriptions.busy():
            end = self.speech_end + int(HEARD_SILENCE_S * RATE)  # the silence not heard yet is taken as silence
            self.judgement = self.smart_turn.start(np.pad(self.audio[:end], (0, end - min(end, len(self.audio)))))
        self.guess_end = self.speech_end
        for future in (self.guess, self.judgement):
            if future is not None and self.ending.pause_s > 0:
                future.add_done_callback(self._done_looking)

    def _heard_words(self, guess: int, words: str) -> None:
        with self.lock:
            if guess == self.guesses and self.guess is not None:
                self.words = words
                self._done_looking(self.guess)

    def _done_looking(self, future: Future) -> None:
        with self.lock:
            if future in (self.guess, self.judgement) and self.phase == "speaking" and self._turn_over():
                self._end()

    def _turn_over(self) -> bool:
        """Whether the pause so far ends the turn (see `endpoint.TurnEnd`); not before the words and the sound of the
        question so far are judged, unless the pause is the longest."""
        if self.silence_s < self.ending.pause_s:
            return False
        if self.silence_s >= self.ending.max_pause_s:
            return True
        hearing = self.guess is not None and self.words is None and not self.guess.done()
        judging = self.judgement is not None and not self.judgement.done()
        if self.speech_end > self.guess_end + SAME_END_S * RATE or hearing or judging:
            return False
        complete = None if self.judgement is None or self.judgement.exception() else self.judgement.result()
        return self.silence_s >= self.ending.pause_for(self.words, complete)

    def stop(self) -> Turn | None:
        """The person pressed Stop: the turn as it is, if they said something and no answer event waits for it (that
        one answers it then), and the microphone is idle."""
        with self.lock:
            turn = self.turn or (self._ended_turn() if self.speaking else None)
            self.turn, self.phase, self.shown, self.stopped_at = None, "idle", "idle", time.monotonic()
            self._reset()
            if self.waiting and turn is not None:
                self.turn, turn = turn, None
            self.changed.notify_all()
            return turn

    def take_turn(self) -> Turn | None:
        """The turn that just ended, for the answer; the listener stays deaf until `listen_again`."""
        with self.lock:
            return self._take_turn()

    def wait_for_turn(self, timeout_s: float) -> Turn | None:
        """The turn once it ends, for the answer (as `take_turn`); None if the person pressed Stop (that answers it)
        or nothing ended within `timeout_s` (the page went away)."""
        with self.changed:
            self.waiting += 1
            try:
                self.changed.wait_for(lambda: self.turn is not None or self.phase == "idle", timeout_s)
            finally:
                self.waiting -= 1
            return self._take_turn()

    def _take_turn(self) -> Turn | None:
        turn, self.turn = self.turn, None
        if turn is not None:
            self.phase, self.deaf_until = "answering", math.inf
        return turn

    def _ask_for_answer(self) -> None:
        if not self.answer_asked:
            self.asked, self.answer_asked = self.asked + 1, True

    def listen_again(self, at: float) -> None:
        """The answer will have played at `at` (time.monotonic()): listen for the next question from then on."""
        with self.lock:
            self.deaf_until = at

    def _prepare(self, guess: int) -> Callable[[str], str | None] | None:
        """What prepares the answer to the words of speculative transcription number `guess`: nothing once the
        person has gone on talking."""
        if self.prepare is None:
            return None
        return lambda words: self.prepare(words) if self.guesses == guess else None

    def _add(self, rate: int, chunk: np.ndarray) -> None:
        """Append a chunk (int16 or float, mono or not) to the turn's audio at 16 kHz."""
        if self.resampler is None:
            self.rate, self.resampler = rate, av.AudioResampler(format="flt", layout="mono", rate=RATE)
        samples = chunk.astype(np.float32) / (32768 if chunk.dtype == np.int16 else 1)
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples)[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        resampled = [f.to_ndarray()[0] for f in self.resampler.resample(frame)]
        self.audio = np.concatenate([self.audio, *resampled])

    def _ended_turn(self, too_long: bool = False) -> Turn:
        speech = self.audio[: int(self.max_question_s * RATE)]
        holds = self.guess is not None and self.speech_end <= self.guess_end + SAME_END_S * RATE
        return Turn(speech, self.guess if holds and not too_long else None, too_long)

    def _end(self, too_long: bool = False) -> str:
        self._ask_for_answer()
        self.turn = self._ended_turn(too_long)
        self.phase = self.ended_as = "too long" if too_long else "ended"
        self._reset()
        self.changed.notify_all()
        return self.phase


def transcript(turn: Turn, transcriptions: Transcriptions) -> Heard:
    """What was heard of a turn: its speculative transcript (and answer) when it covers the whole question, else the
    words transcribed now."""
    return (turn.guess or transcriptions.start(turn.audio)).result()
