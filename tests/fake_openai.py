"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1: the LLM boundary, faked over HTTP.

Tests that exercise everything but the model point the workbench (or a CLI subprocess) at
``base_url``. It answers ``/v1/models`` and ``/v1/chat/completions``, whole or streamed as
OpenAI chunks (word deltas, the finish reason, then a usage chunk), and keeps every request body
so a test can read the prompt the workbench built.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[list[dict[str, Any]]], str]


class FakeOpenAI:
    """``reply``: the answer, or a function of the request's messages that returns it."""

    def __init__(self, reply: Reply = "Noted.", finish_reason: str = "stop",
                 model: str = "fake-model"):
        self.reply, self.finish_reason, self.model = reply, finish_reason, model
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, messages: list[dict[str, Any]]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # the test reads its own output
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                if not self.path.rstrip("/").endswith("/models"):
                    self.send_error(404)
                    return
                self._json({"object": "list", "data": [
                    {"id": fake.model, "object": "model", "created": 0, "owned_by": "test"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(body)
                text = fake.answer(body.get("messages") or [])
                words = text.split(" ")
                usage = {"prompt_tokens": 40, "completion_tokens": len(words),
                         "total_tokens": 40 + len(words)}
                if not body.get("stream"):
                    self._json({"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                                "model": fake.model, "usage": usage, "choices": [{
                                    "index": 0, "finish_reason": fake.finish_reason,
                                    "message": {"role": "assistant", "content": text}}]})
                    return
                events = [self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}])]
                events += [self._chunk([{"index": 0, "delta": {"content": (" " if n else "") + w},
                                         "finish_reason": None}]) for n, w in enumerate(words)]
                events.append(self._chunk([{"index": 0, "delta": {},
                                            "finish_reason": fake.finish_reason}]))
                events.append(self._chunk([], usage=usage))
                stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                self._send("text/event-stream", stream.encode())

            def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
                return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                        "model": fake.model, "choices": choices, **extra}

            def _json(self, payload: dict[str, Any]) -> None:
                self._send("application/json", json.dumps(payload).encode())

            def _send(self, kind: str, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def cite_first_memory(messages: list[dict[str, Any]]) -> str:
    """Answers from memory [1] of the workbench's prompt, as a grounded model would."""
    prompt = str(messages[0].get("content", "")) if messages else ""
    memory = next((line.split(": ", 1)[-1] for line in prompt.splitlines()
                   if line.startswith("[1] ")), "nothing")
    return f"From your history [1]: {memory}"


if __name__ == "__main__":
    # A process of its own for `make bench-server` and the Open WebUI run: prints its base URL,
    # then serves until it is terminated.
    import signal

    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # the server's thread inherits the mask
    with FakeOpenAI(cite_first_memory, model="scripted-1") as served:
        print(served.base_url, flush=True)
        signal.sigwait(stop)
