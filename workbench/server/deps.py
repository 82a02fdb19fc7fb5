"""What every route depends on: the workbench, the caller, and the readings of shared params."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Callable

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from workbench.api import Workbench
from workbench.errors import InvalidInput
from workbench.server.security import Caller
from workbench.server.schemas import ErrorResponse
from workbench.text.timeparse import parse_now, parse_time_range

bearer = HTTPBearer(auto_error=False, description="A token from /api/v1/auth/token or an API key")

ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 409, 413, 422, 429)}


# The dependencies are coroutines and the routes run in one worker thread (``in_worker``):
# FastAPI gives each plain dependency, a plain route and the validation of its answer a worker
# thread each, four hand-offs between the event loop and the threads for every request.
async def get_wb(request: Request) -> Workbench:
    return request.app.state.wb


async def get_caller(request: Request,
                     credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
    guard = request.app.state.guard
    credential = credentials.credentials if credentials else None
    caller = guard.trusted(credential)
    return caller if caller is not None else await run_in_threadpool(guard.identify, credential)


WB = Annotated[Workbench, Depends(get_wb)]
Who = Annotated[Caller, Depends(get_caller)]


def in_worker(route: Callable[..., Any]) -> Callable[..., Any]:
    """``route``, a plain function that may block (the store, the index, the model), served as
    a coroutine that runs it in a worker thread; its answer is validated on the event loop."""

    @functools.wraps(route)  # FastAPI reads the parameters through ``__wrapped__``
    async def served(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(route, *args, **kwargs)

    return served


def moment(value: str | None, end: bool, name: str) -> datetime | None:
    """An ISO date/time or a phrase ("last March"), as ``workbench search`` reads them: a bare
    date as the end of a range includes that day."""
    if not value:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        found_range = parse_time_range(value, datetime.now(timezone.utc))
        if found_range is None:
            raise InvalidInput(f"{name}: cannot read the date {value!r} (use YYYY-MM-DD or a "
                               "phrase like 'last March')") from None
        return found_range.until if end else found_range.since
    found = found if found.tzinfo else found.replace(tzinfo=timezone.utc)
    return found + timedelta(days=1) if end and len(value) <= 10 else found


def asked_on(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_now(value)
    except ValueError:
        raise InvalidInput(f"now: must be an ISO date (YYYY-MM-DD), not {value!r}") from None
