"""Turn what went wrong into words a user understands, and retry the Inference API when waiting helps.

huggingface_hub 2 calls the Inference API with httpx2: its HTTP errors (`HfHubHTTPError`) and timeouts
(`InferenceTimeoutError`) are `httpx2.HTTPError`s, as is a refused connection (`httpx2.ConnectError`).
"""

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx2
from huggingface_hub.errors import OfflineModeIsEnabled, RepositoryNotFoundError

from patches import LACKS_TASK, NOT_SERVED, PROVIDER_TASKS, UNKNOWN_PROVIDER, WRONG_TASK

logger = logging.getLogger("magic8")

T = TypeVar("T")
RETRY_STATUSES = (502, 503, 504)  # the model is loading, or the server is briefly unavailable
ROUTER_SERVES_NONE = re.compile(r"is not supported by any provider")  # the router's 400 for a chat with "auto"


HUB_TASKS = {"speech recognition": "automatic-speech-recognition", "language model": "conversational"}
PROVIDER_SETTINGS = "https://hf.co/settings/inference-providers"


class UserError(Exception):
    """Something the user should be told, in words they understand; its message is shown as it is."""


class StartupError(Exception):
    """Why the app cannot start, in words for whoever started it."""


@dataclass(frozen=True)
class Route:
    """Where an Inference API call goes and which settings choose it, so that a message can say what to change."""

    model: str
    provider: str  # "auto" (the first provider in the account's order) or a provider's name; a URL ignores it
    setting: str  # "asr" or "llm": the flags --asr-model and --asr-provider, the variables MAGIC8_ASR_...
    visitor: bool = False  # on a signed-in visitor's token, not the app's

    @property
    def provider_name(self) -> str:
        auto = "provider chosen by auto (the first in the account's order)"
        return auto if self.provider == "auto" else f"{self.provider} provider"

    def flag(self, what: str) -> str:
        return f"--{self.setting}-{what} (MAGIC8_{self.setting.upper()}_{what.upper()})"

    @property
    def is_url(self) -> bool:
        return self.model.startswith(("http://", "https://"))


def call_api(
    call: Callable[[], T], service: str, route: Route | None = None, attempts: int = 3, backoff_s: float = 0.5
) -> T:
    """Call an Inference API, retrying a loading model or a timeout, then explaining the failure as a UserError.

    Besides HTTP faults this explains what huggingface_hub raises before any request: a provider that lacks the
    task or does not serve the model (ValueError), an empty provider mapping (a bare StopIteration) and
    HF_HUB_OFFLINE (OfflineModeIsEnabled).
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (httpx2.HTTPError, TimeoutError, OfflineModeIsEnabled) as error:
            logger.warning("%s failed (attempt %d of %d): %s", service, attempt, attempts, describe(error))
            if attempt == attempts or not is_transient(error):
                message = explain(error, service, route)
                logger.warning("%s: %s", service, message)
                raise UserError(message) from None
            time.sleep(backoff_s * 2 ** (attempt - 1))
        except (ValueError, StopIteration) as error:
            message = explain_routing(error, service, route)
            if message is None:
                raise
            logger.warning("%s could not be routed (%s: %s): %s", service, type(error).__name__, error, message)
            raise UserError(message) from None
    raise AssertionError("unreachable")


def status_of(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def is_transient(error: Exception) -> bool:
    """Whether trying again soon may work: a model that is loading, a gateway hiccup, or a timeout."""
    return isinstance(error, (httpx2.TimeoutException, TimeoutError)) or status_of(error) in RETRY_STATUSES


def describe(error: Exception) -> str:
    """A short, token-free description for the logs: the kind of error and its HTTP status."""
    status = status_of(error)
    return f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")


def explain(error: Exception, service: str, route: Route | None = None) -> str:
    """What happened and what to do, for the person using the app."""
    status = status_of(error)
    if isinstance(error, OfflineModeIsEnabled):
        return (
            f"HF_HUB_OFFLINE is set, so huggingface_hub refuses to call the {service} service (even a local one). "
            "The owner of this app should unset HF_HUB_OFFLINE."
        )
    if route and isinstance(error, RepositoryNotFoundError):
        return (
            f"The {service} model {route.model} was not found on the Hugging Face Hub. "
            f"The owner of this app should check {route.flag('model')}."
        )
    if route and route.visitor and status in (401, 402, 403):
        return (
            f"The {service} service refused your Hugging Face sign-in (error {status}): "
            + ("your account has used up its Inference Providers credits. " if status == 402 else "")
            + "Sign in again, or sign out to ask on this app's account."
        )
    if status == 402:
        return (
            f"The {service} service refused the call (error 402): the app's Hugging Face account has used up its "
            "Inference Providers credits. The owner of this app should add credits or a PRO plan at "
            "https://hf.co/settings/billing."
        )
    if route and status == 400 and ROUTER_SERVES_NONE.search(getattr(error.response, "text", "")):
        return no_provider_serves(route, service)
    if route and status == 404 and not route.is_url:
        return (
            f"The {route.provider_name} does not serve {route.model} (error 404). The owner of this app should "
            f"set {route.flag('provider')} to a provider that serves it, or {route.flag('model')} to another model."
        )
    if status in (401, 403):
        return (
            f"The {service} service refused the app's Hugging Face token (error {status}). "
            "The owner of this app should set a valid HF_TOKEN secret in the Space settings."
        )
    if status == 429:
        return f"The {service} service has too many requests right now. Please wait a minute and ask again."
    if status in RETRY_STATUSES:
        return f"The {service} model is loading or unavailable (error {status}). Please try again in a minute."
    if isinstance(error, (httpx2.TimeoutException, TimeoutError)):
        return f"The {service} service took too long to answer. Please try again in a moment."
    if isinstance(error, httpx2.TransportError):
        return f"Could not reach the {service} service. Check the network or the endpoint address, then try again."
    if status:
        return f"The {service} service failed (error {status}). Please try again."
    return f"The {service} service failed. Please try again."


def providers_able_to(service: str, otherwise: str = "a provider that can") -> str:
    """The providers huggingface_hub can call for `service`, in words for a message (`otherwise` if over four)."""
    able = [name for name, tasks in PROVIDER_TASKS.items() if HUB_TASKS.get(service) in tasks]
    if not able or len(able) > 4:
        return otherwise
    return " or ".join(filter(None, [", ".join(able[:-1]), able[-1]]))


def no_provider_serves(route: Route, service: str) -> str:
    """The message for a model that the route's provider, or with "auto" every provider, does not serve."""
    who = "No Inference Provider" if route.provider == "auto" else f"The {route.provider_name} does not"
    serves = "serves" if route.provider == "auto" else "serve"
    return (
        f"{who} {serves} {route.model} for the app's Hugging Face account. The owner of this app should set "
        f"{route.flag('model')} to a model that one serves, or {route.flag('provider')} to "
        f"{providers_able_to(service, otherwise='a provider that serves it')} "
        f"(and enable it at {PROVIDER_SETTINGS})."
    )


def explain_routing(error: Exception, service: str, route: Route | None) -> str | None:
    """What huggingface_hub's refusal to route a call means and which setting to change; None if it is not one."""
    if route is None:
        return None
    text = str(error)
    chosen = "chosen by auto, the first in the account's order, " if route.provider == "auto" else ""
    if isinstance(error, StopIteration) or NOT_SERVED.search(text):
        return no_provider_serves(route, service)
    if match := LACKS_TASK.search(text) or UNKNOWN_PROVIDER.search(text):
        return (
            f"The {match.group(1)} provider, {chosen}cannot do {service} in this app. "
            f"The owner of this app should set {route.flag('provider')} to {providers_able_to(service)}."
        )
    if WRONG_TASK.search(text):
        return (
            f"{route.model} is not a {service} model. The owner of this app should set {route.flag('model')} "
            f"to a {service} model."
        )
    return None


def redact(text: str, secret: str | None) -> str:
    """The text with the secret (the HF token) blanked out, for anything that may be logged."""
    return text.replace(secret, "hf_***") if secret else text
