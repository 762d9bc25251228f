"""Turn what went wrong into words a user understands, and retry the Inference API when waiting helps."""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests

logger = logging.getLogger("magic8")

T = TypeVar("T")
RETRY_STATUSES = (502, 503, 504)  # the model is loading, or the server is briefly unavailable


class UserError(Exception):
    """Something the user should be told, in words they understand; its message is shown as it is."""


def call_api(call: Callable[[], T], service: str, attempts: int = 3, backoff_s: float = 0.5) -> T:
    """Call an Inference API, retrying a loading model or a timeout, then explaining the failure as a UserError."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (requests.RequestException, TimeoutError) as error:
            logger.warning("%s failed (attempt %d of %d): %s", service, attempt, attempts, describe(error))
            if attempt == attempts or not is_transient(error):
                raise UserError(explain(error, service)) from None
            time.sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def status_of(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def is_transient(error: Exception) -> bool:
    """Whether trying again soon may work: a model that is loading, a gateway hiccup, or a timeout."""
    return isinstance(error, (requests.Timeout, TimeoutError)) or status_of(error) in RETRY_STATUSES


def describe(error: Exception) -> str:
    """A short, token-free description for the logs: the kind of error and its HTTP status."""
    status = status_of(error)
    return f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")


def explain(error: Exception, service: str) -> str:
    """What happened and what to do, for the person using the app."""
    status = status_of(error)
    if status in (401, 403):
        return (
            f"The {service} service refused the app's Hugging Face token (error {status}). "
            "The owner of this app should set a valid HF_TOKEN secret in the Space settings."
        )
    if status == 429:
        return f"The {service} service has too many requests right now. Please wait a minute and ask again."
    if status in RETRY_STATUSES:
        return f"The {service} model is loading or unavailable (error {status}). Please try again in a minute."
    if isinstance(error, (requests.Timeout, TimeoutError)):
        return f"The {service} service took too long to answer. Please try again in a moment."
    if isinstance(error, requests.ConnectionError):
        return f"Could not reach the {service} service. Check the network or the endpoint address, then try again."
    if status:
        return f"The {service} service failed (error {status}). Please try again."
    return f"The {service} service failed. Please try again."


def redact(text: str, secret: str | None) -> str:
    """The text with the secret (the HF token) blanked out, for anything that may be logged."""
    return text.replace(secret, "hf_***") if secret else text
