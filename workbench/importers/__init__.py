"""Importers: one module per export format, each pure (file → ``ParsedFile``), plus ``detect``.

Formats are tried in registry order; the first whose ``sniff`` accepts the content wins, so the
more specific formats come first. Zip archives are opened here and their members parsed by the
format that recognises them (ChatGPT's 2026 export splits conversations over many JSON files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from workbench.records import ConversationRecord, ParsedFile
from workbench.importers import chatgpt, claude, generic, legacy, locomo, openwebui, sharegpt
from workbench.errors import ImportRejected
from workbench.importers.base import Source


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    sniff: Callable[[Source], bool]
    parse: Callable[[Source], ParsedFile]


FORMATS: dict[str, Format] = {
    module.NAME: Format(module.NAME, module.DESCRIPTION, module.sniff, module.parse)
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
    source = path if isinstance(path, Source) else Source(path)
    if format is not None and format not in FORMATS:
        raise ImportRejected(
            source.name, f"unknown format {format!r}; known: {', '.join(FORMATS)}"
        )
    if source.kind == "empty":
        raise ImportRejected(source.name, "file is empty")
    if source.kind == "zip":
        return _parse_zip(source, format)
    fmt = FORMATS[format] if format else detect(source)
    parsed = fmt.parse(source)
    if not parsed.conversations:
        raise ImportRejected(source.name, f"no conversations found ({fmt.name} format)")
    return parsed


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
    fmt, members = _zip_format(source, format)
    merged: dict[str, ConversationRecord] = {}
    warnings: list[str] = []
    workspace_metadata: dict = {}
    for member in sorted(members, key=lambda m: m.name):
        parsed = fmt.parse(member)
        warnings.extend(parsed.warnings)
        workspace_metadata.update(parsed.workspace_metadata)
        for conversation in parsed.conversations:
            merged[conversation.source_id] = conversation  # a later part wins
    if not merged:
        raise ImportRejected(source.name, f"no conversations found ({fmt.name} format)")
    return ParsedFile(fmt.name, list(merged.values()), warnings, workspace_metadata)


def _describe(source: Source) -> str:
    return {
        "binary": "binary content (not JSON, CSV, SQLite or zip)",
        "json": "JSON structure",
        "jsonl": "JSON lines",
        "csv": "text/CSV content",
        "sqlite": "SQLite database (no known chat tables)",
    }.get(source.kind, source.kind)


__all__ = ["FORMATS", "Format", "Source", "detect", "parse"]
