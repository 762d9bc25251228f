"""Sign in with Hugging Face: who a visitor is, and the token a signed-in visitor's questions are paid with."""

import os

import gradio as gr
from gradio.utils import get_space
from huggingface_hub import get_token

MOCK_TOKEN = "mock-oauth-token-for-local-dev"  # what gradio 6.31's mocked sign-in puts in the session (oauth.py)


def offered(sign_in: bool) -> bool:
    """Whether the page offers Sign in with Hugging Face: on a Space whose README sets `hf_oauth: true` (the Space
    then has OAUTH_CLIENT_ID), elsewhere when `--sign-in` asks for gradio's mocked sign-in."""
    if get_space():  # what gradio checks to choose between Hugging Face's sign-in and its mock
        return bool(os.environ.get("OAUTH_CLIENT_ID"))
    return sign_in


def visitor_token(signed_in: gr.OAuthToken | None) -> str | None:
    """The token a signed-in visitor's questions are paid with; None for a visitor who is not signed in.

    gradio's mocked sign-in (off a Space) stands for the person logged in on this machine, so their token is the
    machine's (`hf auth login` or HF_TOKEN), not the mock's placeholder.
    """
    if signed_in is None:
        return None
    return get_token() if signed_in.token == MOCK_TOKEN else signed_in.token


def visitor_of(request: gr.Request | None) -> str:
    """Who is asking, as gradio sees the client: its address (uvicorn takes it from X-Forwarded-For when the
    connection comes from a proxy in FORWARDED_ALLOW_IPS), else its session."""
    client = getattr(request, "client", None) if request else None
    host = getattr(client, "host", None)
    return host or getattr(request, "session_hash", None) or "unknown"
