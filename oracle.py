"""Oracles answer a question the way a Magic 8 Ball would; which one answers (`load_oracle`)."""

import logging
import random
import re
from typing import Protocol

from huggingface_hub import InferenceClient, constants

from errors import Route, call_api
from settings import Settings

logger = logging.getLogger("magic8")

SYSTEM_PROMPT = (
    "You are a magic 8 ball."
    "Someone will present to you a situation or question and your job "
    "is to answer with a cryptic adage or proverb such as "
    "'curiosity killed the cat' or 'The early bird gets the worm'."
    "Keep your answers short and do not include the phrase 'Magic 8 Ball' in your response. "
    "If the question does not make sense or is off-topic, say 'Foolish questions get foolish answers.'"
    "For example, 'Magic 8 Ball, should I get a dog?', 'A dog is ready for you but are you ready for the dog?'"
)

CLASSIC_ANSWERS = (
    "It is certain.",
    "It is decidedly so.",
    "Without a doubt.",
    "Yes definitely.",
    "You may rely on it.",
    "As I see it, yes.",
    "Most likely.",
    "Outlook good.",
    "Yes.",
    "Signs point to yes.",
    "Reply hazy, try again.",
    "Ask again later.",
    "Better not tell you now.",
    "Cannot predict now.",
    "Concentrate and ask again.",
    "Don't count on it.",
    "My reply is no.",
    "My sources say no.",
    "Outlook not so good.",
    "Very doubtful.",
)
UNCLEAR_ANSWER = "Reply hazy, try again."  # what the toy says when the LLM says nothing
MAX_ANSWER_CHARS = 200  # about 12 s of speech: one answer cannot hold the voice for long


class Oracle(Protocol):
    name: str
    listens: bool  # whether the answer depends on the question (and a spoken one must be transcribed)
    spends_quota: bool  # whether answering is paid from the token's Inference quota
    answers: tuple[str, ...]  # every answer it can give, when they are known ahead (a voice can learn them)

    def answer(self, question: str) -> str: ...

    def with_token(self, token: str) -> "Oracle":
        """The same oracle, calling on another account's token (a signed-in visitor's)."""
        ...


class ClassicOracle:
    """The toy itself: one of its twenty answers, at random, whatever the question."""

    name = "the classic Magic 8 Ball (twenty answers, offline)"
    listens = False
    spends_quota = False
    answers = CLASSIC_ANSWERS

    def answer(self, question: str) -> str:
        return random.choice(CLASSIC_ANSWERS)

    def with_token(self, token: str) -> "ClassicOracle":
        return self


class LLMOracle:
    """An LLM through `InferenceClient.chat_completion`, prompted to answer with a cryptic proverb.

    The client's `provider` (auto, together, novita...) routes a model id; a URL goes straight to its server.
    """

    listens = True
    spends_quota = True
    answers = ()

    def __init__(self, client: InferenceClient, model: str, visitor: bool = False):
        self.client = client
        self.model = model
        self.route = Route(model, client.provider or "auto", "llm", visitor)
        self.name = f"an LLM ({model})"

    def with_token(self, token: str) -> "LLMOracle":
        """This oracle with a client of its own for a signed-in visitor's `token`, made for one question."""
        client = InferenceClient(provider=self.client.provider, token=token, timeout=self.client.timeout)
        return LLMOracle(client, self.model, visitor=True)

    def answer(self, question: str) -> str:
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Magic 8 Ball please answer this question -  {question}"},
        ]
        seed = random.randint(1, 5000)
        chat = lambda: self.client.chat_completion(messages, max_tokens=64, seed=seed, model=self.model)  # noqa: E731
        response = call_api(chat, "language model", self.route)
        return clean_answer(response.choices[0].message.content or "")


def clean_answer(text: str, max_chars: int = MAX_ANSWER_CHARS) -> str:
    """Strip "Magic 8 Ball" and colons as the guide does, keep whole sentences up to `max_chars`, never say nothing."""
    text = " ".join(text.replace("Magic 8 Ball", "").replace(":", "").split())
    if len(text) > max_chars:
        text = first_sentences(text, max_chars)
    return text or UNCLEAR_ANSWER


def first_sentences(text: str, max_chars: int) -> str:
    """As many whole sentences as fit in `max_chars`; the first sentence cut at a word if none fits."""
    kept = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > max_chars:
            break
        kept = candidate
    return kept or text[: max_chars - 3].rsplit(" ", 1)[0] + "..."


def load_oracle(settings: Settings) -> tuple[Oracle, str]:
    """The LLM with a token (or a server's URL) unless offline, else the classic toy; and a note saying why the toy
    answers when an LLM was asked for."""
    is_url = settings.llm_model.startswith(("http://", "https://"))
    if settings.offline or not (settings.hf_token or is_url):
        return ClassicOracle(), ""
    if constants.HF_HUB_OFFLINE:
        note = (
            f"HF_HUB_OFFLINE is set, so huggingface_hub refuses every Inference API call (even to a local server): "
            f"the classic toy answers instead of {settings.llm_model}. Unset HF_HUB_OFFLINE to use it."
        )
        logger.warning(note)
        return ClassicOracle(), note
    client = InferenceClient(
        provider=settings.llm_provider, token=settings.hf_token, timeout=settings.inference_timeout_s
    )
    return LLMOracle(client, settings.llm_model), ""
