"""A scripted OpenAI-compatible endpoint on 127.0.0.1: the LLM boundary of the server tests.

It answers every chat completion with the same script (citing memory [1] and echoing the
question), streamed as OpenAI chunks with usage, and keeps every request it received so a test
can read the prompt the workbench built.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "scripted-1"


def script(messages: list[dict[str, Any]]) -> str:
    question = str(messages[-1].get("content", ""))
    return f"From your history [1]: you asked about {' '.join(question.split()[:6])}."


class ScriptedLLM:
    """``base_url`` to point the workbench at; ``requests`` holds the JSON bodies received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._json({"object": "list", "data": [{"id": MODEL, "object": "model",
                                                        "created": 0, "owned_by": "test"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                text = script(body["messages"])
                usage = {"prompt_tokens": 40, "completion_tokens": len(text.split()),
                         "total_tokens": 40 + len(text.split())}
                if not body.get("stream"):
                    self._json({"id": "x", "object": "chat.completion", "created": 0,
                                "model": MODEL, "usage": usage, "choices": [{
                                    "index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text}}]})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = text.split(" ")
                for n, word in enumerate(words):
                    piece = word if n == 0 else " " + word
                    self._event({"choices": [{"index": 0, "delta": {"content": piece},
                                              "finish_reason": None}]})
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                self._event({"choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, payload: dict[str, Any]) -> None:
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0,
                         "model": MODEL, **payload}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            def _json(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedLLM":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
