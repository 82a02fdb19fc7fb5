"""The MCP tools over streamable HTTP (official ``mcp`` SDK), under the REST API's auth.

``workbench mcp --http`` serves ``/mcp``. Every request must carry ``Authorization: Bearer``
with an API key (or a token from ``/api/v1/auth/token``); the same ``Guard`` as the REST API
names the caller and counts it against the rate limit, and each tool acts as that caller.
"""

from __future__ import annotations

import json
from typing import Any

import anyio

from workbench.api import Workbench
from workbench.errors import RateLimited, WorkbenchError
from workbench.server.security import Guard, Tokens, load_secret


def mcp_http_app(wb: Workbench, host: str = "127.0.0.1") -> Any:
    """The ASGI app: the SDK's streamable HTTP app behind the guard."""
    from workbench.server.mcp_tools import build_mcp

    settings = wb.settings
    tokens = Tokens(load_secret(settings), settings.jwt_access_s, settings.jwt_refresh_s)
    inner = build_mcp(wb, None).streamable_http_app(host=host)
    return Guarded(inner, Guard(wb.users, tokens, settings))


class Guarded:
    """Answers a request without valid credentials with the REST API's JSON error (401, or 429
    past the rate limit); puts the caller on the request (``request.state.caller``) else."""

    def __init__(self, app: Any, guard: Guard):
        self.app = app
        self.guard = guard

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # the lifespan runs the SDK's session manager
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, credential = header.partition(" ")
        try:  # an API key is looked up in the store: off the event loop
            caller = await anyio.to_thread.run_sync(
                self.guard.identify, credential.strip() if scheme.lower() == "bearer" else None)
        except WorkbenchError as exc:
            await _refuse(send, exc)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


async def _refuse(send: Any, exc: WorkbenchError) -> None:
    from workbench.server.app import error_body

    body = json.dumps(error_body(exc.code, str(exc).strip("'\""))).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if isinstance(exc, RateLimited):
        headers.append((b"retry-after", str(exc.retry_after_s).encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
