"""One logging setup for every entry point: human lines on the terminal, JSON lines in the home.

Entry points (the CLI, the app, notebook kernels, a server) call :func:`configure_logging`
once; library code only uses ``logging.getLogger(__name__)``. Records go to stderr as short
human lines (warnings and worse, unless ``WORKBENCH_LOG_LEVEL`` says otherwise) and to
``<home>/logs/workbench.log`` as one JSON object per line, rotated at 10 MiB (5 kept).

Logs never hold what people wrote: log calls pass shapes (counts, lengths, names of
operations, ids) in ``extra`` fields, never message text, queries or titles. A chat turn sets a
turn id (:func:`turn_scope`) that every record made while it runs carries, in any thread that
was handed the turn's context.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

LOG_FILE = "workbench.log"
ROTATE_BYTES = 10 << 20
ROTATE_KEEP = 5
SLOW_MS = 500.0
# Fields a record may carry into the JSON line; anything else passed in ``extra`` is dropped,
# so a careless ``extra={"query": ...}`` cannot put text on disk.
FIELDS = ("event", "op", "duration_ms", "shape", "turn_id", "path", "bytes", "rows", "count",
          "lock_s", "database_s", "index_s", "total_s", "status", "code")

_turn: contextvars.ContextVar[str | None] = contextvars.ContextVar("workbench_turn", default=None)
_configured: dict[str, Any] = {}
log = logging.getLogger("workbench.timing")


class _TurnFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "turn_id", None) is None:
            record.turn_id = _turn.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the allowed fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False, default=str)


class _Terminal(logging.StreamHandler):
    """stderr as it is when a record comes (a test runner or a CLI runner swaps it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


class _HomeFile(logging.handlers.RotatingFileHandler):
    """Rotating file whose folder is made on the first record, not when logging is set up."""

    def _open(self):  # noqa: ANN202 - the base class's signature
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        # A home a reader may not write to (read-only) keeps no log: the record is dropped
        # rather than printed to stderr with a traceback after every slow operation.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


def configure_logging(home: Path | str | None, terminal_level: str | None = None,
                      slow_ms: float | None = None, rotate_bytes: int = ROTATE_BYTES,
                      force: bool = False) -> None:
    """Set up the ``workbench`` logger once per process (again only with ``force``):
    operations slower than ``slow_ms`` are logged with their shape."""
    if _configured and not force:
        return
    _configured["slow_ms"] = SLOW_MS if slow_ms is None else slow_ms
    root = logging.getLogger("workbench")
    for handler in list(root.handlers):
        if getattr(handler, "_workbench", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG)
    root.propagate = False
    level = (terminal_level or os.environ.get("WORKBENCH_LOG_LEVEL") or "WARNING").upper()
    terminal = _Terminal()
    terminal.setLevel(level)
    terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [terminal]
    if home is not None:
        path = Path(home) / "logs" / LOG_FILE
        file = _HomeFile(path, maxBytes=rotate_bytes, backupCount=ROTATE_KEEP, delay=True,
                         encoding="utf-8")
        file.setLevel(logging.INFO)
        file.setFormatter(JsonLines())
        handlers.append(file)
        _configured["file"] = path
    for handler in handlers:
        handler._workbench = True  # type: ignore[attr-defined]
        handler.addFilter(_TurnFilter())
        root.addHandler(handler)
    _configured["home"] = home


def log_path() -> Path | None:
    """The JSON log file this process writes, if logging was configured with a home."""
    return _configured.get("file")


def new_turn_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def turn_scope(turn_id: str | None = None) -> Iterator[str]:
    """Every record made inside carries this turn id (a new one by default)."""
    token = _turn.set(turn_id or new_turn_id())
    try:
        yield _turn.get()  # type: ignore[misc]
    finally:
        _turn.reset(token)


def current_turn() -> str | None:
    return _turn.get()


@contextmanager
def timed(op: str, **shape: Any) -> Iterator[dict[str, Any]]:
    """Time the block; over the slow threshold (500 ms unless configured) it is logged as a
    slow operation with its ``shape`` (sizes, flags and names: never text). The yielded dict
    can take more shape fields."""
    started = time.perf_counter()
    try:
        yield shape
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        if elapsed >= _configured.get("slow_ms", SLOW_MS):
            log.info("slow %s: %.0f ms", op, elapsed,
                        extra={"event": "slow", "op": op, "duration_ms": round(elapsed, 1),
                               "shape": shape})
