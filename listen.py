"""Hear the question: speech recognition through the Inference API."""

from huggingface_hub import InferenceClient


def transcribe(client: InferenceClient, audio_path: str, model: str) -> str:
    """The text of a recorded question."""
    return client.automatic_speech_recognition(audio_path, model=model).text.strip()
