"""What every importer shares: the opened source file, the rejection error, small parsers.

A ``Source`` reads a file once and offers it as JSON, JSON lines, CSV rows, zip members or a
read-only SQLite connection, so format detection and parsing never read a file twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import tempfile
import zipfile
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

from dateutil import parser as dateparser

from workbench.errors import ImportRejected

SQLITE_MAGIC = b"SQLite format 3\x00"
ZIP_MAGIC = b"PK\x03\x04"

ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
}


class Source:
    """An import file opened for sniffing and parsing; every view is read lazily and once."""

    def __init__(self, path: Path | str, raw: bytes | None = None, name: str | None = None):
        self.path = Path(path)
        self.name = name or str(path)
        self._raw = raw
        self._spill: tempfile._TemporaryFileWrapper | None = None

    @cached_property
    def raw(self) -> bytes:
        if self._raw is not None:
            return self._raw
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise ImportRejected(self.name, f"cannot read file ({exc.strerror or exc})") from exc

    @cached_property
    def kind(self) -> str:
        """One of zip, sqlite, json, jsonl, csv, empty, binary — judged from content, not name."""
        raw = self.raw
        if not raw.strip():
            return "empty"
        if raw.startswith(ZIP_MAGIC):
            return "zip"
        if raw.startswith(SQLITE_MAGIC):
            return "sqlite"
        text = self.text
        if text is None:
            return "binary"
        stripped = text.lstrip()
        if stripped[:1] in "[{":
            first = stripped.split("\n", 1)[0].strip()
            if first.startswith("{") and "\n" in stripped.strip() and _is_json_object(first):
                return "jsonl"
            return "json"
        return "csv"

    @cached_property
    def text(self) -> str | None:
        try:
            text = self.raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
        if "\x00" in text:
            return None
        return text

    @cached_property
    def data(self) -> Any:
        """The file as one JSON document."""
        try:
            return json.loads(self.text or "")
        except json.JSONDecodeError as exc:
            raise ImportRejected(
                self.name, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from exc

    @cached_property
    def json_lines(self) -> list[dict[str, Any]]:
        rows = []
        for number, line in enumerate((self.text or "").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportRejected(self.name, f"invalid JSON on line {number}: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise ImportRejected(self.name, f"line {number} is not a JSON object")
            rows.append(row)
        return rows

    @cached_property
    def csv_rows(self) -> list[dict[str, str]]:
        try:
            return list(csv.DictReader(io.StringIO(self.text or "")))
        except csv.Error as exc:
            raise ImportRejected(self.name, f"invalid CSV: {exc}") from exc

    @cached_property
    def members(self) -> list[Source]:
        """The files inside a zip, as sources of their own (folders and macOS debris skipped)."""
        try:
            with zipfile.ZipFile(io.BytesIO(self.raw)) as archive:
                return [
                    Source(self.path, archive.read(info), name=f"{self.name}!{info.filename}")
                    for info in archive.infolist()
                    if not info.is_dir() and "__MACOSX" not in info.filename
                ]
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise ImportRejected(self.name, f"damaged zip archive ({exc})") from exc

    def sqlite(self) -> sqlite3.Connection:
        """A read-only connection; the source file is never modified."""
        path = self.path
        if self._raw is not None:
            # A database inside a zip: SQLite reads files, so give it one for our lifetime.
            if self._spill is None:
                self._spill = tempfile.NamedTemporaryFile(suffix=".db")
                self._spill.write(self._raw)
                self._spill.flush()
            path = Path(self._spill.name)
        try:
            con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
            con.row_factory = sqlite3.Row
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.DatabaseError as exc:
            raise ImportRejected(self.name, f"unreadable SQLite database ({exc})") from exc

    def sqlite_tables(self) -> dict[str, set[str]]:
        con = self.sqlite()
        try:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {n: {r[1] for r in con.execute(f'PRAGMA table_info("{n}")')} for n in names}
        finally:
            con.close()


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def json_or_none(source: Source) -> Any:
    """The JSON document, or None when the source is not valid JSON (for sniffing only)."""
    if source.kind != "json":
        return None
    try:
        return source.data
    except ImportRejected:
        return None


def content_hash(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def normalise_role(value: object, default: str = "user") -> str:
    if value is None:
        return default
    return ROLE_ALIASES.get(str(value).strip().lower(), str(value).strip().lower() or default)


def parse_timestamp(value: object) -> datetime | None:
    """Epoch seconds or milliseconds, ISO 8601 or common date strings → aware UTC datetime.

    Naive values are taken as UTC, the convention of every export we know.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if abs(seconds) > 1e11:  # milliseconds (Open WebUI mixes both)
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        text = str(value).strip()
        try:
            return parse_timestamp(float(text))
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = dateparser.parse(text, dayfirst=_day_first(text))
            except (ValueError, OverflowError):
                return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _day_first(text: str) -> bool:
    # "01/03/2024" in the original project's data is Brazilian day/month order.
    return "/" in text


Parser = Callable[[Source], Any]


def iter_dicts(items: object) -> Iterator[dict[str, Any]]:
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                yield item


def message_source_id(own_id: object, index: int, role: str, content: str) -> str:
    """The source's own message id when it has one, else ``"{index}:{hash16}"`` (stable)."""
    if own_id is not None and str(own_id) != "":
        return str(own_id)
    return f"{index}:{content_hash(role, content)[:16]}"


def conversation_source_id(own_id: object, title: str | None, messages: list[Any]) -> str:
    """The source's own conversation id when it has one, else a hash of title + first messages."""
    if own_id is not None and str(own_id) != "":
        return str(own_id)
    head = [f"{m.role}:{m.content}" for m in messages[:3]]
    return content_hash(title, *head)[:32]
