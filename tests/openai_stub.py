"""A loopback OpenAI-compatible server for the tests: ``POST /v1/chat/completions``, plain and
streamed (server-sent events), reporting usage the way OpenAI does — ``prompt_tokens_details.
cached_tokens`` and ``completion_tokens_details.reasoning_tokens`` included, and with
``stream_options.include_usage`` a final chunk that carries only the usage."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["OpenAIStub", "openai_stub"]


class OpenAIStub:
    """The server and the requests it received. ``base_url`` ends in ``/v1``."""

    def __init__(
        self,
        reply: str = "Ship it: all checks passed.",
        prompt_tokens: int = 42,
        completion_tokens: int = 7,
        cached_tokens: int = 16,
        reasoning_tokens: int = 2,
        first_token_delay_s: float = 0.05,
        report_usage: bool = True,
    ) -> None:
        self.reply = reply
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.first_token_delay_s = first_token_delay_s
        self.report_usage = report_usage  #: False: answers carry no ``usage`` at all
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def usage(self) -> dict[str, Any] | None:
        if not self.report_usage:
            return None
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens,
                                          "audio_tokens": 0},
        }  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _send_json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with stub._lock:
                    stub.requests.append(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                model = body.get("model", "gpt-4o-mini")
                answered = f"{model}-2024-07-18" if model == "gpt-4o-mini" else model
                if body.get("stream"):
                    self._stream(answered, body)
                    return
                self._send_json(200, {
                    "id": "chatcmpl-stub-1", "object": "chat.completion",
                    "created": int(time.time()), "model": answered,
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": {"role": "assistant", "content": stub.reply}}],
                    "usage": stub.usage(),
                })  # fmt: skip

            def _chunk(self, data: dict[str, Any] | str) -> None:
                text = data if isinstance(data, str) else json.dumps(data)
                payload = f"data: {text}\n\n".encode()
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()

            def _stream(self, model: str, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                base = {"id": "chatcmpl-stub-2", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": model}  # fmt: skip
                time.sleep(stub.first_token_delay_s)
                words = stub.reply.split(" ")
                for i, word in enumerate(words):
                    delta: dict[str, Any] = {"content": word if i == 0 else " " + word}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._chunk({**base, "choices": [{"index": 0, "delta": delta,
                                                      "finish_reason": None}]})  # fmt: skip
                self._chunk({**base, "choices": [{"index": 0, "delta": {},
                                                  "finish_reason": "stop"}]})  # fmt: skip
                if (body.get("stream_options") or {}).get("include_usage") and stub.report_usage:
                    self._chunk({**base, "choices": [], "usage": stub.usage()})
                self._chunk("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler

    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub().start()
    yield stub
    stub.stop()
