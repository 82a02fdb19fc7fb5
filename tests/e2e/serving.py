"""A real uvicorn serving a workbench on 127.0.0.1, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from workbench.api import Workbench
from workbench.server.app import create_app


class Served:
    """``url`` of a running server over ``wb`` (the API's app, or ``app``); ``client(token)``
    an httpx client for it."""

    def __init__(self, wb: Workbench, auth: bool = True, app: Any = None):
        self.wb = wb
        self.app = app if app is not None else create_app(wb, auth=auth)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> "Served":
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def login(self, name: str, password: str) -> dict[str, Any]:
        with self.client() as anonymous:
            answer = anonymous.post("/api/v1/auth/token",
                                    data={"username": name, "password": password})
        answer.raise_for_status()
        return answer.json()
