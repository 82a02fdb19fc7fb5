"""An OpenAI-compatible chat server on 127.0.0.1 that streams a fixed answer: the LLM boundary of
tests that exercise everything but the model."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "fake-model"


class _Handler(BaseHTTPRequestHandler):
    answer = "Noted."

    def log_message(self, *args) -> None:  # quiet: the test reads its own output
        pass

    def _send_json(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if self.path.rstrip("/").endswith("/models"):
            self._send_json({"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "test"}]})
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(request)  # type: ignore[attr-defined]
        if not request.get("stream"):
            self._send_json({"id": "c", "object": "chat.completion", "created": int(time.time()),
                             "model": MODEL, "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": self.answer}}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        base = {"id": "c", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": word},
                                        "finish_reason": None}]}
                  for word in self.answer.split(" ")]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                                        "total_tokens": 3}})
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class FakeLLM:
    """``with FakeLLM() as llm:`` serves on ``llm.base_url`` until the block ends."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict]:
        return self.server.requests  # type: ignore[attr-defined]

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
