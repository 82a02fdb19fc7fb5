"""The import pipeline: read → detect → parse → clean → write, one transaction per file.

Parsing and cleaning finish before the database is opened, so a malformed file never leaves a
trace and the database is held only for the write itself. Chunking, embedding and indexing
follow (``indexing.sync_index``), outside the import transaction: the index is derived.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from workbench.errors import ImportRejected
from workbench.text.clean import Cleaner
from workbench.records import ImportResult, ParsedFile
from workbench.store import Store
from workbench.store.imports import write_import

Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def ingest_file(
    store: Store,
    path: Path | str,
    workspace: str,
    format: str | None = None,
    progress: Progress = _quiet,
    redact: bool = False,
) -> ImportResult:
    """Import one file; raises ImportRejected (nothing written) when it cannot be imported."""
    # The parsers load here, on the first import: a search through the same door never needs them.
    from workbench import importers
    from workbench.importers import Source

    started, started_at = time.perf_counter(), datetime.now(timezone.utc)
    source = Source(path)
    if source.path.is_dir():
        raise ImportRejected(source.name, "is a folder; give the export files inside it")
    if not source.path.exists():
        raise ImportRejected(source.name, "no such file")
    progress("parse", 0, 1)
    parsed = importers.parse(source, format)
    progress("clean", 0, parsed.message_count)
    clean(parsed, Cleaner(redact=redact))
    progress("write", 0, parsed.message_count)
    sha256 = hashlib.sha256(source.raw).hexdigest()
    result = write_import(
        store, parsed, workspace, str(path), sha256, started, started_at
    )
    progress("write", parsed.message_count, parsed.message_count)
    return result


def clean(parsed: ParsedFile, cleaner: Cleaner) -> None:
    """Detect each message's language; with redaction, replace its content by the redacted text.

    Without redaction the stored content stays exactly as exported (normalisation happens when
    chunks are built), so an export round-trips.
    """
    messages = [m for c in parsed.conversations for m in c.messages]
    for start in range(0, len(messages), 2048):
        batch = messages[start : start + 2048]
        for message, cleaned in zip(batch, cleaner.clean([m.content for m in batch])):
            message.language = cleaned.language
            if cleaner.redact:
                message.content = cleaned.text
                if cleaned.pii:
                    message.metadata = {**message.metadata, "pii": cleaned.pii}


def ingest_paths(
    store: Store,
    paths: Iterable[Path | str],
    workspace: str,
    format: str | None = None,
    progress: Progress = _quiet,
    redact: bool = False,
) -> list[ImportResult]:
    """Import each file on its own; a rejected file is reported and the others still land."""
    results = []
    for path in paths:
        try:
            results.append(ingest_file(store, path, workspace, format, progress, redact))
        except ImportRejected as exc:
            results.append(
                ImportResult(
                    path=str(path), format=format or "?", sha256="", status="rejected",
                    error=str(exc),
                )
            )
    return results
