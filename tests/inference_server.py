"""A real HTTP server on 127.0.0.1 that speaks the Inference API: speech recognition and chat completions."""

import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydub import AudioSegment


class InferenceServer:
    """Answers `InferenceClient` like the Inference API does, records every request, and can fail on demand.

    Speech recognition: the transcript of a clip is looked up by its duration in tenths of a second
    (`transcripts`), so each test question can be a clip of its own length; `default_transcript` otherwise.
    Chat: the answer is `answer_for(question)`, where the question is what follows the prompt's dash.
    """

    def __init__(self):
        self.transcripts: dict[float, str] = {}
        self.default_transcript = "Should I get a dog?"
        self.answer_for = lambda question: f"Magic 8 Ball: A dog is ready for you, but are you ready for {question}"
        self.requests: list[dict] = []
        self.faults: list[tuple[int, str]] = []  # (status, body) returned before serving normally
        self.chat_faults: list[tuple[int, str]] = []  # the same, for chat completions only
        self.delay_s = 0.0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> "InferenceServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def chat_requests(self) -> list[dict]:
        return [r["json"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def asr_requests(self) -> list[dict]:
        return [r for r in self.requests if not r["path"].endswith("/chat/completions")]

    def tokens(self) -> list[str]:
        """The token each request was sent with, in order."""
        return [r["headers"].get("authorization", "").removeprefix("Bearer ") for r in self.requests]

    def longest_prompt(self) -> int:
        """The most characters of messages one chat completion was sent (0 when none was)."""
        return max((sum(len(m["content"]) for m in chat["messages"]) for chat in self.chat_requests()), default=0)

    def transcribe(self, audio: bytes) -> str:
        seconds = round(len(AudioSegment.from_file(io.BytesIO(audio))) / 1000, 1)
        return self.transcripts.get(seconds, self.default_transcript)

    def respond(self, path: str, body: bytes) -> tuple[int, bytes]:
        """The answer to a POST: a chat completion, or else the transcript of the audio in the body."""
        if path.endswith("/chat/completions"):
            return 200, self.complete(json.loads(body))
        return 200, json.dumps({"text": self.transcribe(body)}).encode()

    def respond_to_get(self, path: str) -> tuple[int, bytes]:
        return 404, b'{"error": "Not Found"}'

    def complete(self, payload: dict) -> bytes:
        question = payload["messages"][-1]["content"].split(" -  ", 1)[-1]
        return json.dumps(_completion(self.answer_for(question))).encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                is_chat = self.path.endswith("/chat/completions")
                with server.lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "json": json.loads(body) if is_chat else None,
                            "size": len(body),
                        }
                    )
                    faults = server.chat_faults if is_chat and server.chat_faults else server.faults
                    fault = faults.pop(0) if faults else None
                time.sleep(server.delay_s)
                if fault:
                    return self._send(fault[0], fault[1].encode())
                return self._send(*server.respond(self.path, body))

            def do_GET(self):
                return self._send(*server.respond_to_get(self.path))

            def _send(self, status: int, data: bytes, headers: dict | None = None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped waiting (a timeout test)

        return Handler


def refused_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _completion(content: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "test",
        "system_fingerprint": "test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
