"""The import pipeline: read → detect → parse → write, one transaction per file.

Parsing finishes before the database is opened, so a malformed file never leaves a trace and the
database is held only for the write itself.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from . import importers
from .importers import ImportRejected, Source
from .records import ImportResult
from .store import Store
from .store.imports import write_import

Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def ingest_file(
    store: Store,
    path: Path | str,
    workspace: str,
    format: str | None = None,
    progress: Progress = _quiet,
) -> ImportResult:
    """Import one file; raises ImportRejected (nothing written) when it cannot be imported."""
    started, started_at = time.perf_counter(), datetime.now(timezone.utc)
    source = Source(path)
    if source.path.is_dir():
        raise ImportRejected(source.name, "is a folder; give the export files inside it")
    if not source.path.exists():
        raise ImportRejected(source.name, "no such file")
    progress("parse", 0, 1)
    parsed = importers.parse(source, format)
    progress("write", 0, parsed.message_count)
    sha256 = hashlib.sha256(source.raw).hexdigest()
    result = write_import(
        store, parsed, workspace, str(path), sha256, started, started_at
    )
    progress("write", parsed.message_count, parsed.message_count)
    return result


def ingest_paths(
    store: Store,
    paths: Iterable[Path | str],
    workspace: str,
    format: str | None = None,
    progress: Progress = _quiet,
) -> list[ImportResult]:
    """Import each file on its own; a rejected file is reported and the others still land."""
    results = []
    for path in paths:
        try:
            results.append(ingest_file(store, path, workspace, format, progress))
        except ImportRejected as exc:
            results.append(
                ImportResult(
                    path=str(path), format=format or "?", sha256="", status="rejected",
                    error=str(exc),
                )
            )
    return results
