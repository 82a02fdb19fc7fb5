"""The import pipeline: read → detect → parse → clean → write, one transaction per file.

Parsing and cleaning finish before the database is opened, so a malformed file never leaves a
trace and the database is held only for the write itself. They go a batch of conversations at a
time into a spool on disk, which the store reads back a batch at a time: a big export is never
held whole. Chunking, embedding and indexing follow (``search.sync.sync_index``), outside the
import transaction: the index is derived.
"""

from __future__ import annotations

import csv
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from workbench import importers
from workbench.errors import ImportRejected
from workbench.importers import Source
from workbench.importers.reading import Limits, Refused
from workbench.importers.scrub import Scrubber
from workbench.importers.spool import SpooledFile
from workbench.text.clean import Cleaner, detect_language, normalise
from workbench.records import ConversationRecord, ImportResult, Reading, batched
from workbench.store import Store

Progress = Callable[[str, int, int], None]
# Records are parsed, scrubbed and cleaned this many messages at a time on their way to the
# spool: one batch of records in memory, whatever the size of the file.
READ_BATCH_MESSAGES = 5_000


def no_progress(stage: str, done: int, total: int) -> None:
    pass


# What input can make the parsers raise: each is the file's fault, so one error line, not a
# traceback. RecursionError: nesting past the stack; ValueError: Python's int digit limit,
# dates; UnicodeError: undecodable text; MemoryError: a file larger than it claims to be.
INPUT_ERRORS = (RecursionError, ValueError, UnicodeError, OverflowError, MemoryError, csv.Error,
                zipfile.BadZipFile, EOFError)


def ingest_file(
    store: Store,
    path: Path | str,
    workspace: str,
    format: str | None = None,
    progress: Progress = no_progress,
    redact: bool = False,
    limits: Limits | None = None,
    scratch: Path | None = None,
) -> ImportResult:
    """Import one file; raises ImportRejected (nothing written) when it cannot be imported.
    ``scratch``: the folder for the temporary copies that hold the file's text (a zip's
    members, the spool); None is the system's temporary folder."""
    started, started_at = time.perf_counter(), datetime.now(timezone.utc)
    source = Source(path, limits=limits, scratch=scratch)
    try:
        spooled = _read(source, format, redact, progress)
        sha256 = source.sha256
    finally:
        source.close()
    with spooled:
        progress("write", 0, spooled.message_count)
        result = store.imports.write(spooled, workspace, str(path), sha256, started, started_at)
        progress("write", spooled.message_count, spooled.message_count)
    return result


def _read(source: Source, format: str | None, redact: bool, progress: Progress) -> SpooledFile:
    """Parse, scrub and clean ``source``; whatever its content makes fail is ImportRejected."""
    try:
        _ = source.size  # refuses folders, special files and huge files before any read
        progress("parse", 0, 1)
        reading = importers.read(source, format)
        spooled = SpooledFile(reading.format, source.scratch)
        try:
            _spool(reading, spooled, source, Cleaner(redact=redact), progress)
        except BaseException:
            spooled.close()
            raise
        return spooled
    except ImportRejected:
        raise
    except Refused as exc:
        raise ImportRejected(source.name, str(exc)) from None
    except INPUT_ERRORS as exc:
        reason = " ".join(str(exc).split())[:300] or "no detail"
        raise ImportRejected(source.name, f"unreadable input ({type(exc).__name__}: {reason})") from exc


def _spool(reading: Reading, spooled: SpooledFile, source: Source, cleaner: Cleaner,
           progress: Progress) -> None:
    """The conversations, scrubbed and cleaned a batch at a time, into ``spooled``."""
    scrubber = Scrubber(source.limits)
    for batch in batched(reading.conversations, READ_BATCH_MESSAGES):
        scrubber.conversations(batch)
        clean(batch, cleaner)
        spooled.add(batch)
        progress("clean", spooled.message_count, 0)
    if not spooled.conversation_count:
        raise ImportRejected(source.name, f"no conversations found ({reading.format} format)")
    spooled.warnings = reading.warnings
    spooled.workspace_metadata = reading.workspace_metadata
    scrubber.finish(spooled)
    if cleaner.redact:
        done = _redacted(_strings(list(spooled.workspace_metadata.values())), cleaner)
        spooled.workspace_metadata = {
            name: _replace(value, done) for name, value in spooled.workspace_metadata.items()
        }
        spooled.warnings = cleaner.redact_fields(spooled.warnings)  # they quote titles


def clean(conversations: list[ConversationRecord], cleaner: Cleaner) -> None:
    """Detect each message's language; with redaction, replace its content by the redacted text.

    Without redaction the stored content stays exactly as exported (normalisation happens when
    chunks are built), so an export round-trips. With it, every other text of the records that
    is stored or indexed is redacted too (see ``redact_fields``).
    """
    messages = [m for c in conversations for m in c.messages]
    if not cleaner.redact:
        # The language is all an import keeps without redaction: spaCy's sentences are for
        # chunking, which reads the stored text later, so spaCy need not load (0.3 GB) here.
        for message in messages:
            message.language = detect_language(normalise(message.content))
        return
    for start in range(0, len(messages), 2048):
        batch = messages[start : start + 2048]
        for message, cleaned in zip(batch, cleaner.clean([m.content for m in batch])):
            message.language = cleaned.language
            message.content = cleaned.text
            if cleaned.pii:
                message.metadata = {**message.metadata, "pii": cleaned.pii}
    redact_fields(conversations, cleaner)


def redact_fields(conversations: list[ConversationRecord], cleaner: Cleaner) -> None:
    """Redact titles, speakers and every string of every metadata (keys too) in place.

    Metadata holds raw copies of content (ChatGPT code and multimodal parts, Claude blocks) and
    extra source columns, all of which land in the store; each distinct string is redacted
    once. A human speaker's name is a name by definition, so it becomes ``[PERSON]``.
    """
    texts: set[str] = set()
    for conversation in conversations:
        texts.update(_strings([conversation.title, conversation.metadata]))
        for m in conversation.messages:
            texts.update(_strings(m.metadata))
            if m.speaker is not None and m.role == "tool":
                texts.add(m.speaker)
    done = _redacted(texts, cleaner)
    for conversation in conversations:
        conversation.title = _replace(conversation.title, done)
        conversation.metadata = _replace(conversation.metadata, done)
        for m in conversation.messages:
            m.metadata = _replace(m.metadata, done)
            if m.speaker is not None:
                m.speaker = done[m.speaker] if m.role == "tool" else "[PERSON]"


def _redacted(texts: Iterable[str], cleaner: Cleaner) -> dict[str, str]:
    ordered = sorted(set(texts))
    return dict(zip(ordered, cleaner.redact_fields(ordered)))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _replace(value: Any, done: dict[str, str]) -> Any:
    if isinstance(value, str):
        return done.get(value, value)
    if isinstance(value, dict):
        return {done.get(str(k), str(k)): _replace(v, done) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace(v, done) for v in value]
    return value


def ingest_paths(
    store: Store,
    paths: Iterable[Path | str],
    workspace: str,
    format: str | None = None,
    progress: Progress = no_progress,
    redact: bool = False,
    limits: Limits | None = None,
    scratch: Path | None = None,
) -> list[ImportResult]:
    """Import each file on its own; a rejected file is reported and the others still land."""
    results = []
    for path in paths:
        try:
            results.append(ingest_file(store, path, workspace, format, progress, redact, limits,
                                       scratch))
        except ImportRejected as exc:
            results.append(
                ImportResult(
                    path=str(path), format=format or "?", sha256="", status="rejected",
                    error=str(exc),
                )
            )
    return results
