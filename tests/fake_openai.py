"""A scripted OpenAI-compatible chat server on 127.0.0.1: the LLM boundary, faked over HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    """Answers ``/v1/models`` and streaming ``/v1/chat/completions`` with ``reply`` (split in
    word deltas) and ``finish_reason``; ``requests`` keeps the bodies it was sent."""

    def __init__(self, reply: str, finish_reason: str = "stop", model: str = "scripted"):
        self.reply, self.finish_reason, self.model = reply, finish_reason, model
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                body = json.dumps({"object": "list", "data": [
                    {"id": fake.model, "object": "model", "created": 0, "owned_by": "test"}]})
                self._send(200, "application/json", body.encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                words = fake.reply.split(" ")
                events = [self._chunk({"role": "assistant", "content": ""}, None)]
                events += [self._chunk({"content": (" " if i else "") + w}, None)
                           for i, w in enumerate(words)]
                events.append(self._chunk({}, fake.finish_reason))
                stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                self._send(200, "text/event-stream", stream.encode())

            def _chunk(self, delta: dict, finish: str | None) -> dict:
                return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                        "model": fake.model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
