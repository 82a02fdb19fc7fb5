"""Importers: one module per export format, each pure (file → ``ParsedFile``), plus ``detect``.

``read`` gives a file's conversations one at a time (``Reading``): the formats whose exports
grow big (ChatGPT, Claude, Open WebUI) offer a ``read`` of their own that streams a big JSON
array item by item; the others are parsed whole and handed out from the list.

Formats are tried in registry order; the first whose ``sniff`` accepts the content wins, so the
more specific formats come first. Zip archives are opened here and their members parsed by the
format that recognises them (ChatGPT's 2026 export splits conversations over many JSON files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from workbench.records import ConversationRecord, ParsedFile, Reading
from workbench.importers import chatgpt, claude, generic, legacy, locomo, openwebui, sharegpt
from workbench.errors import ImportRejected
from workbench.importers.base import Source


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    sniff: Callable[[Source], bool]
    parse: Callable[[Source], ParsedFile]
    # Conversations one at a time, the file's warnings appended to the list as they are met.
    stream: Callable[[Source, list[str]], Iterator[ConversationRecord]] | None = None

    def read(self, source: Source, reading: Reading) -> Iterator[ConversationRecord]:
        """``source``'s conversations into ``reading``: streamed where the format can."""
        if self.stream is not None:
            yield from self.stream(source, reading.warnings)
            return
        parsed = self.parse(source)
        reading.warnings.extend(parsed.warnings)
        reading.workspace_metadata.update(parsed.workspace_metadata)
        yield from parsed.conversations


FORMATS: dict[str, Format] = {
    module.NAME: Format(module.NAME, module.DESCRIPTION, module.sniff, module.parse,
                        getattr(module, "read", None))
    for module in (chatgpt, claude, openwebui, locomo, sharegpt, legacy, generic)
}


def detect(source: Source) -> Format:
    """The format of ``source`` judged from its content; ImportRejected names what was tried."""
    if source.kind == "empty":
        raise ImportRejected(source.name, "file is empty")
    if source.kind == "zip":
        return _zip_format(source)[0]
    for fmt in FORMATS.values():
        if fmt.sniff(source):
            return fmt
    if source.kind == "json":
        _ = source.sample  # raises on a syntax error, the more useful message
    raise ImportRejected(
        source.name,
        f"unrecognised {_describe(source)}; tried formats: {', '.join(FORMATS)}",
    )


def parse(path: Path | str | Source, format: str | None = None) -> ParsedFile:
    """Parse one file completely, or raise ImportRejected before anything is written."""
    source = _opened(path, format)
    if source.kind == "zip":
        return _parse_zip(source, format)
    fmt = FORMATS[format] if format else detect(source)
    parsed = fmt.parse(source)
    if not parsed.conversations:
        raise ImportRejected(source.name, f"no conversations found ({fmt.name} format)")
    return parsed


def read(path: Path | str | Source, format: str | None = None) -> Reading:
    """The file's conversations one at a time (a zip's members one after the other).

    What the content makes fail is raised while ``conversations`` is read; the caller checks
    that there was at least one.
    """
    source = _opened(path, format)
    members = [source]
    if source.kind == "zip":
        fmt, members = _zip_format(source, format)
        members = sorted(members, key=lambda m: m.name)  # a later part wins, as in ``parse``
    else:
        fmt = FORMATS[format] if format else detect(source)
    reading = Reading(fmt.name, iter(()))
    reading.conversations = (record for member in members for record in fmt.read(member, reading))
    return reading


def _opened(path: Path | str | Source, format: str | None) -> Source:
    source = path if isinstance(path, Source) else Source(path)
    if format is not None and format not in FORMATS:
        raise ImportRejected(
            source.name, f"unknown format {format!r}; known: {', '.join(FORMATS)}"
        )
    if source.kind == "empty":
        raise ImportRejected(source.name, "file is empty")
    return source


def _zip_format(source: Source, wanted: str | None = None) -> tuple[Format, list[Source]]:
    members = source.members
    candidates = [FORMATS[wanted]] if wanted else list(FORMATS.values())
    for fmt in candidates:
        matching = [m for m in members if m.kind != "zip" and fmt.sniff(m)]
        if matching:
            return fmt, matching
    looked = ", ".join(m.name.rsplit("!", 1)[-1] for m in members[:5]) or "nothing"
    more = f" and {len(members) - 5} more" if len(members) > 5 else ""
    raise ImportRejected(
        source.name,
        f"zip archive holds no conversations in a known format (looked at {looked}{more}; "
        f"tried formats: {', '.join(c.name for c in candidates)})",
    )


def _parse_zip(source: Source, format: str | None) -> ParsedFile:
    reading = read(source, format)
    merged = {c.source_id: c for c in reading.conversations}  # a later part wins
    if not merged:
        raise ImportRejected(source.name, f"no conversations found ({reading.format} format)")
    return ParsedFile(reading.format, list(merged.values()), reading.warnings,
                      reading.workspace_metadata)


def _describe(source: Source) -> str:
    return {
        "binary": "binary content (not JSON, CSV, SQLite or zip)",
        "json": "JSON structure",
        "jsonl": "JSON lines",
        "csv": "text/CSV content",
        "sqlite": "SQLite database (no known chat tables)",
    }.get(source.kind, source.kind)


__all__ = ["FORMATS", "Format", "Reading", "Source", "detect", "parse", "read"]
