"""The server: one FastAPI app over one ``Workbench``, its errors and limits.

``create_app`` wires the routers (REST under ``/api/v1``, the OpenAI-compatible ``/v1``), the
guard that says who is asking, the body-size limit and the metrics. Every ``WorkbenchError`` a
route raises becomes one JSON error with the status the error carries.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from workbench.api import Workbench
from workbench.errors import RateLimited, TooLarge, WorkbenchError
from workbench.server.metrics import Metrics
from workbench.server.security import Guard, Tokens, load_secret

log = logging.getLogger(__name__)
UPLOAD_PATH = "/api/v1/ingest"


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def create_app(wb: Workbench, auth: bool = True) -> FastAPI:
    """The app serving ``wb``; with ``auth`` False every request is the local user's (only
    ``workbench api --no-auth`` on a loopback address does that)."""
    from workbench import __version__
    from workbench.server import compat, ingest, rest, sessions

    app = FastAPI(
        title="workbench",
        version=__version__,
        description="Conversation memory over every imported chat: REST under /api/v1, an "
        "OpenAI-compatible model with memory under /v1. Authenticate with a bearer token from "
        "/api/v1/auth/token or an API key.",
    )
    settings = wb.settings
    tokens = Tokens(load_secret(settings), settings.jwt_access_s, settings.jwt_refresh_s)
    app.state.wb = wb
    app.state.tokens = tokens
    app.state.guard = Guard(wb.users, tokens, settings, auth)
    app.state.jobs = ingest.Jobs(wb)
    app.state.metrics = Metrics()
    for router in (rest.router, sessions.router, ingest.router, compat.router):
        app.include_router(router)
    _handle_errors(app)
    app.add_middleware(BodyLimit, default=settings.max_request_bytes,
                       upload=settings.max_upload_bytes)
    app.state.metrics.install(app)
    app.router.add_event_handler("shutdown", app.state.jobs.close)
    if wb.imports.scratch is not None:
        _temporaries_in(app, wb.imports.scratch)
    return app


def _temporaries_in(app: FastAPI, folder: Path) -> None:
    """Keep the process's temporary files in ``folder`` while the app serves: Starlette spools
    an upload past 1 MiB into the system's temporary folder, which for an encrypted home is
    plain disk. A server process serves one home, so the process-wide setting is its own."""
    previous: list[str | None] = []

    def start() -> None:
        previous.append(tempfile.tempdir)
        tempfile.tempdir = str(folder)

    def stop() -> None:
        if previous:
            tempfile.tempdir = previous.pop()

    app.router.add_event_handler("startup", start)
    app.router.add_event_handler("shutdown", stop)


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(WorkbenchError)
    async def workbench_error(request: Request, exc: WorkbenchError) -> JSONResponse:
        if exc.status >= 500 and exc.status != 503:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(error_body(exc.code, str(exc).strip("'\"")), exc.status, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse(error_body("invalid_input", f"{where}: {first.get('msg', 'invalid')}"),
                            422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, WorkbenchError):  # a body that failed while being read
            return await workbench_error(request, exc.__cause__)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code,
                            getattr(exc, "headers", None))


class BodyLimit:
    """Refuses a body larger than the limit with 413: at once when ``Content-Length`` says so,
    else as soon as the bytes received pass it (a chunked upload), never after reading it all.
    Uploads (``/api/v1/ingest``) have their own, larger limit."""

    def __init__(self, app: Any, default: int, upload: int):
        self.app = app
        self.default = default
        self.upload = upload

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload if scope["path"].startswith(UPLOAD_PATH) else self.default
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        started = False

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(f"the request body is larger than {limit} bytes")
            return message

        async def watched(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLarge:
            if started:
                raise
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Any, limit: int) -> None:
        body = json.dumps(error_body(TooLarge.code, f"the request body is larger than {limit} "
                                     "bytes")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
