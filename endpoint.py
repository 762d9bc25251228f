"""When has the person finished their question: how long a pause ends a turn, from the sound of the turn (Smart
Turn v3.2, the end-of-turn model in the pipecat-ai wheel) and the words heard so far (one that reads unfinished waits).
"""

import functools
import importlib.util
import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger("magic8")

RATE = 16000  # Smart Turn hears 16 kHz audio
WINDOW_S = 8  # the last 8 s of a turn, zero-padded in front
FRAMES = 800  # Whisper log-mel frames in the window
HEARD_SILENCE_S = 0.2  # Smart Turn hears the turn up to this much silence after its speech, as pipecat asks it
MODEL_FILE = "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"  # inside the pipecat package

AUXILIARIES = set(
    "am is are was were be been do does did have has had will would shall should can could may might must "
    "won't wouldn't shouldn't can't couldn't isn't aren't wasn't don't doesn't didn't".split()
)
DETERMINERS = set("a an the my your our their".split())
WILL_MISHEARD = {"well", "we'll"}  # how Whisper tiny.en now and then writes "Will" before a pause: "Well my sister."
# A question ending in one of these goes on: an auxiliary, a preposition, an article, a conjunction, "to" (which
# Whisper writes "too" before a pause), or one of the verbs people ask the ball about that need an object ("Should I
# get").
OPEN_ENDS = (
    AUXILIARIES
    | DETERMINERS
    | set("to too of at for with about from into than and or but if because whether when while unless".split())
    | set("get take buy make tell give bring find choose".split())
)


def unfinished(words: str) -> bool:
    """Whether the words so far read as a question that is not finished yet: "Should I", "Will my sister", "Is it a
    good idea to", "Should I get" (it ends in a word that needs more after it, or is an auxiliary and a bare
    subject)."""
    tokens = re.findall(r"[a-z']+", words.lower())
    if not tokens:
        return False
    if len(tokens) >= 3 and tokens[-3] in ("than", "as") and tokens[-1] in AUXILIARIES:
        return False  # "… more respectable than he was", "as it is": the verb is left out, not to come
    if tokens[-1] in OPEN_ENDS:
        return True
    bare_subject = len(tokens) == 2 or (len(tokens) == 3 and tokens[1] in DETERMINERS)  # "Will it", "Is the sky"
    return tokens[0] in AUXILIARIES | WILL_MISHEARD and bare_subject


@dataclass(frozen=True)
class TurnEnd:
    """The silence that ends a turn: `pause_s` when it sounds finished (Smart Turn's probability at least
    `complete_p`) and reads finished; `unsure_pause_s` when it reads finished but does not sound it (or nothing judged
    its sound); `max_pause_s` when it reads unfinished. `pause_s` 0: only Stop ends a turn."""

    pause_s: float
    unsure_pause_s: float
    max_pause_s: float
    complete_p: float

    def pause_for(self, words: str | None, complete: float | None) -> float:
        """The silence that ends a turn of these words so far (None: not transcribed) whose sound is complete with
        probability `complete` (None: not judged)."""
        if words is not None and unfinished(words):
            return self.max_pause_s
        if complete is not None and complete >= self.complete_p:
            return self.pause_s
        return max(self.pause_s, self.unsure_pause_s)


class SmartTurn:
    """Smart Turn v3.2 (int8 ONNX, BSD-2-Clause) on one CPU thread, one call at a time (the transcriptions keep the
    other cores): the probability that a turn is complete, from its sound (about 55 ms)."""

    def __init__(self, path: Path):
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.features = FeatureExtractor(chunk_length=WINDOW_S)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smart-turn")

    def complete(self, audio: np.ndarray) -> float:
        """The probability that the turn in `audio` (16 kHz mono float, ending in its silence) is complete."""
        window = np.pad(audio[-WINDOW_S * RATE :], (max(0, WINDOW_S * RATE - len(audio)), 0))
        window = (window - window.mean()) / np.sqrt(window.var() + 1e-7)  # Smart Turn hears normalised audio
        features = self.features(window)[None, :, :FRAMES].astype(np.float32)
        return float(self.session.run(None, {"input_features": features})[0][0, 0])

    def start(self, audio: np.ndarray) -> Future:
        """`complete(audio)`, in the background."""
        return self.pool.submit(self.complete, audio)


def model_path() -> Path | None:
    """Where pip put Smart Turn v3.2, found without importing pipecat (importing it replaces asyncio.wait_for)."""
    spec = importlib.util.find_spec("pipecat")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE if spec else None
    return path if path and path.exists() else None


@functools.cache
def load_smart_turn() -> SmartTurn | None:
    """Smart Turn, loaded once (about 50 ms); None when pipecat-ai is not installed (then the words and the pauses
    decide alone)."""
    path = model_path()
    if path is None:
        logger.warning(
            "Smart Turn (pipecat-ai) is not installed: a turn that reads finished ends after the unsure pause"
        )
        return None
    return SmartTurn(path)
