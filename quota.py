"""Who pays for a question: a signed-in visitor with their own token, or the app's owner within the limits they set."""

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from errors import logger
from oracle import ClassicOracle

MINUTE_S = 60.0
DAY_S = 86_400.0
MAX_VISITORS = 10_000  # remembered at once: a flood of new addresses forgets the quietest first
SIGN_IN = " Sign in with Hugging Face (the button at the top) to ask on your own Inference quota."


class Quota:
    """Owner-paid questions per visitor in any minute, and owner-paid Inference API calls per UTC day for everyone.

    `clock` gives seconds since the epoch (tests pass their own). A visitor quiet for a minute is forgotten, and at
    most MAX_VISITORS are remembered, so memory stays bounded however many visitors come.
    """

    def __init__(
        self,
        questions_per_minute: int,
        calls_per_day: int,
        sign_in: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self.questions_per_minute = questions_per_minute
        self.calls_per_day = calls_per_day
        self.sign_in = SIGN_IN if sign_in else ""  # how to ask on one's own quota, when the page offers it
        self.clock = clock
        self.asked: OrderedDict[str, deque[float]] = OrderedDict()  # owner-paid questions' times, quietest first
        self.day = -1
        self.calls_today = 0
        self.lock = threading.Lock()

    def refusal(self, visitor: str, calls: int) -> str | None:
        """None when the owner pays for this question and its `calls` (then counted), else why not, for the page."""
        with self.lock:
            now = self.clock()
            self.forget_quiet_visitors(now)
            if int(now // DAY_S) != self.day:
                self.day, self.calls_today = int(now // DAY_S), 0
            times = self.asked.get(visitor, deque())
            while times and times[0] <= now - MINUTE_S:
                times.popleft()
            if len(times) >= self.questions_per_minute:
                wait_s = max(1, round(times[0] + MINUTE_S - now)) if times else 60
                questions = "1 question" if self.questions_per_minute == 1 else f"{self.questions_per_minute} questions"
                return (
                    f"The classic toy answered, offline: visitors who are not signed in may ask {questions} a "
                    f"minute on this app's account.{self.sign_in} Or ask again in {wait_s} s."
                )
            if self.calls_today + calls > self.calls_per_day:
                return (
                    "The classic toy answered, offline: this app's account has spent what its owner allows for "
                    f"visitors who are not signed in today.{self.sign_in} Or ask again tomorrow (UTC)."
                )
            times.append(now)
            self.asked[visitor] = times
            self.asked.move_to_end(visitor)
            self.calls_today += calls
            while len(self.asked) > MAX_VISITORS:
                self.asked.popitem(last=False)
            return None

    def forget_quiet_visitors(self, now: float) -> None:
        """Forget the visitors who asked nothing on the owner's account in the last minute (the quietest come first)."""
        while self.asked and next(iter(self.asked.values()))[-1] <= now - MINUTE_S:
            self.asked.popitem(last=False)


@dataclass(frozen=True)
class Answerers:
    """The ears and the oracle for one question, the signed-in visitor's token they call with (kept for this
    question only), and the line that says why the classic toy answers (or "")."""

    ears: Any
    oracle: Any
    note: str = ""
    token: str | None = None


def answerers(
    ears, oracle, token: str | None, visitor: str, quota: Quota, spoken: bool, offline_ears: Callable[[], Any]
) -> Answerers:
    """Who answers this question: the app's ears and oracle bound to a signed-in visitor's `token`, or the app's own
    within the quota, or else the local ears and the classic toy (offline), with the reason."""
    if token:
        return Answerers(ears and ears.with_token(token), oracle.with_token(token), token=token)
    calls = int(bool(spoken and ears and ears.spends_quota)) + int(oracle.spends_quota)
    if calls == 0:
        return Answerers(ears, oracle)
    if (why := quota.refusal(visitor, calls)) is None:
        return Answerers(ears, oracle)
    heard_by = None
    if spoken and ears:
        try:
            heard_by = offline_ears()
        except Exception as error:  # the toy answers whatever the question: it need not be heard
            logger.warning("The local speech recognition could not be loaded (%s)", type(error).__name__)
    return Answerers(heard_by, ClassicOracle(), why)
