"""The Hugging Face Hub and its Inference Providers router, on 127.0.0.1, for the app's default model ids.

`HubServer` answers huggingface_hub 2.4 as huggingface.co and router.huggingface.co do (routes and payloads read
from huggingface_hub/inference/_providers): the Hub's model info, `GET /api/models/{id}` (with
`expand=inferenceProviderMapping` when the provider is "auto"), whose token it is (`GET /api/whoami-v2`, which
gradio's mocked sign-in asks), the router's own choice of provider for a chat with "auto" (`POST /v1/chat/completions`:
the first provider in the model's mapping, or 400 "... is not supported by any provider you have enabled."), and
behind `/{provider}` each provider's own route:

| provider | speech recognition | chat |
|---|---|---|
| hf-inference | `POST /hf-inference/models/{id}`, the audio as the body | `.../models/{id}/v1/chat/completions` |
| fal-ai | `POST /fal-ai/{provider id}`, JSON `{"audio_url": "data:audio/mpeg;base64,..."}` | - |
| together | - | `POST /together/v1/chat/completions`, JSON with `"model": provider id` |
| novita | - | `POST /novita/v3/openai/chat/completions`, the same |

A route is served only for a provider in the model's mapping, with the provider id the mapping gives; anything else
is a 404, as the router answers a model it does not serve.
"""

import base64
import json
from urllib.parse import parse_qs, urlsplit

from huggingface_hub import constants, hf_api
from huggingface_hub.inference._providers import CONVERSATIONAL_AUTO_ROUTER, PROVIDERS
from huggingface_hub.inference._providers._common import _fetch_inference_provider_mapping
from huggingface_hub.inference._providers.hf_inference import _check_supported_task
from inference_server import InferenceServer

from settings import Settings

WHISPER = Settings.asr_model
MISTRAL = Settings.llm_model


def provider(provider_id: str, task: str) -> dict:
    return {"providerId": provider_id, "task": task, "status": "live"}


def default_models() -> dict[str, dict]:
    """The Hub's view of the default models. Mappings are in the account's order: "auto" takes the first."""
    asr, chat = "automatic-speech-recognition", "conversational"
    return {
        WHISPER: {
            "pipeline_tag": asr,
            "tags": ["transformers", "audio", asr],
            # together is listed for speech recognition, which huggingface_hub 0.36.2 cannot call: "auto" fails
            "inferenceProviderMapping": {
                "together": provider(WHISPER, asr),
                "fal-ai": provider("fal-ai/whisper", asr),
                "hf-inference": provider(WHISPER, asr),
            },
        },
        MISTRAL: {
            "pipeline_tag": "text-generation",
            "tags": ["transformers", "text-generation", chat],
            # not hf-inference: it stopped serving chat models
            "inferenceProviderMapping": {
                "together": provider(MISTRAL, chat),
                "novita": provider("mistralai/mistral-7b-instruct", chat),
            },
        },
    }


class HubServer(InferenceServer):
    """The Hub's model info and the router's provider routes; `requests` records the router's, `hub_requests` the
    Hub's. Edit `models` to change what the Hub says (an empty mapping, another order)."""

    def __init__(self):
        super().__init__()
        self.models = default_models()
        self.hub_requests: list[str] = []
        self.user = {"type": "user", "name": "visitor", "fullname": "A Visitor", "avatarUrl": "/avatars/visitor.png"}

    def respond_to_get(self, path: str) -> tuple:
        url = urlsplit(path)
        self.hub_requests.append(path)
        if url.path == "/api/whoami-v2":  # whose token it is: what gradio's mocked sign-in asks
            return 200, json.dumps(self.user).encode()
        model_id = url.path.removeprefix("/api/models/")
        if not url.path.startswith("/api/models/") or model_id not in self.models:
            return 404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}
        model = self.models[model_id]
        if "inferenceProviderMapping" in parse_qs(url.query).get("expand", []):
            info = {"id": model_id, "inferenceProviderMapping": model["inferenceProviderMapping"]}
        else:
            info = {"id": model_id, "pipeline_tag": model["pipeline_tag"], "tags": model["tags"]}
        return 200, json.dumps(info).encode()

    def respond(self, path: str, body: bytes) -> tuple:
        if path == "/v1/chat/completions":  # the router chooses the provider ("auto")
            payload = json.loads(body)
            mapping = self.models.get(payload["model"], {}).get("inferenceProviderMapping", {})
            if not mapping:
                error = f"The requested model '{payload['model']}' is not supported by any provider you have enabled."
                return 400, json.dumps({"error": error}).encode()
            return 200, self.complete(payload)
        for model_id, model in self.models.items():
            for name, mapping in model["inferenceProviderMapping"].items():
                target = mapping["providerId"]
                if mapping["task"] == "automatic-speech-recognition":
                    if name == "hf-inference" and path == f"/hf-inference/models/{model_id}":
                        return 200, json.dumps({"text": self.transcribe(body)}).encode()
                    if name == "fal-ai" and path == f"/fal-ai/{target}":
                        audio = base64.b64decode(json.loads(body)["audio_url"].split("base64,", 1)[1])
                        return 200, json.dumps({"text": self.transcribe(audio)}).encode()
                routes = {
                    "hf-inference": f"/hf-inference/models/{model_id}/v1/chat/completions",
                    "together": "/together/v1/chat/completions",
                    "novita": "/novita/v3/openai/chat/completions",
                }
                if mapping["task"] == "conversational" and path == routes.get(name):
                    payload = json.loads(body)
                    if payload["model"] == target:
                        return 200, self.complete(payload)
        return 404, json.dumps({"error": f"Not Found: {path}"}).encode()


def point_huggingface_hub_at(server: HubServer, monkeypatch) -> None:
    """Make huggingface_hub call `server` as the Hub (HF_ENDPOINT) and as the router (INFERENCE_PROXY_TEMPLATE).

    huggingface_hub reads both once, at import, and copies the router's address into every hf-inference helper and
    its chat auto-router; it caches what the Hub says about a model for the life of the process, so the caches are
    emptied before and after.
    """
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(hf_api.api, "endpoint", server.url)  # huggingface_hub.whoami's, also read at import
    monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", f"{server.url}/{{provider}}")
    for helper in PROVIDERS["hf-inference"].values():
        monkeypatch.setattr(helper, "base_url", f"{server.url}/hf-inference")
    monkeypatch.setattr(CONVERSATIONAL_AUTO_ROUTER, "base_url", server.url)
    forget_what_the_hub_said()


def forget_what_the_hub_said() -> None:
    _fetch_inference_provider_mapping.cache_clear()
    _check_supported_task.cache_clear()
