"""What every importer shares: the opened source file, the rejection error, small parsers.

A ``Source`` reads a file once and offers it as JSON, JSON lines, CSV rows, zip members or a
read-only SQLite connection, so format detection and parsing never read a file twice.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import math
import sqlite3
import tempfile
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

from dateutil import parser as dateparser

from workbench.importers.reading import Limits, Refused, check_file, loads, stream_items, extract_zip
from workbench.errors import ImportRejected
from workbench.store import sqlite_source

SQLITE_MAGIC = b"SQLite format 3\x00"
ZIP_MAGIC = b"PK\x03\x04"
HEAD_BYTES = 1 << 20

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
    """An import file opened for sniffing and parsing; every view is read lazily and once.

    Nothing is read before the file is known to be a regular file within ``limits``; a JSON
    array past ``limits.stream_json_bytes`` is never loaded whole (see ``items``).
    """

    def __init__(
        self, path: Path | str, raw: bytes | None = None, name: str | None = None,
        limits: Limits | None = None, scratch: Path | None = None,
    ):
        self.path = Path(path)
        self.name = name or str(path)
        self.limits = limits or Limits()
        self.scratch = scratch  # where copies of members go (None: the system's temp folder)
        self._raw = raw
        self._spill: tempfile._TemporaryFileWrapper | None = None
        self._folder: tempfile.TemporaryDirectory | None = None

    def refuse(self, problem: str) -> ImportRejected:
        return ImportRejected(self.name, problem)

    @cached_property
    def size(self) -> int:
        if self._raw is not None:
            return len(self._raw)
        try:
            return check_file(self.path, self.limits)
        except Refused as exc:
            raise self.refuse(str(exc)) from None

    @cached_property
    def head(self) -> bytes:
        """The first MiB, enough to tell the kind of any file."""
        if self._raw is not None or self.size <= HEAD_BYTES:
            return self.raw[:HEAD_BYTES]
        with open(self.path, "rb") as handle:
            return handle.read(HEAD_BYTES)

    @cached_property
    def raw(self) -> bytes:
        if self._raw is not None:
            return self._raw
        _ = self.size
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise self.refuse(f"cannot read file ({exc.strerror or exc})") from exc

    @cached_property
    def sha256(self) -> str:
        if self._raw is not None:
            return hashlib.sha256(self._raw).hexdigest()
        _ = self.size
        with open(self.path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()

    @cached_property
    def streams(self) -> bool:
        """True for a big JSON array, read item by item rather than loaded whole."""
        return (self._raw is None and self.size > self.limits.stream_json_bytes
                and self.kind == "json" and self.head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[")

    @cached_property
    def kind(self) -> str:
        """One of zip, sqlite, json, jsonl, csv, empty, binary — judged from content, not name."""
        head = self.head
        whole = len(head) >= self.size
        if not head.strip() and whole:
            return "empty"
        if head.startswith(ZIP_MAGIC):
            return "zip"
        if head.startswith(SQLITE_MAGIC):
            return "sqlite"
        text = _decode_head(head, whole)
        if text is None or "\x00" in text:
            return "binary"
        stripped = text.lstrip()
        if stripped[:1] in "[{":
            first, newline, rest = stripped.partition("\n")
            if first.startswith("{") and newline and rest.strip() and _is_json_object(first.strip()):
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

    def load(self, text: str | bytes) -> Any:
        """One JSON document within the limits; a refusal names this file."""
        try:
            return loads(text, self.limits)
        except json.JSONDecodeError as exc:
            raise self.refuse(
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        except Refused as exc:
            raise self.refuse(str(exc)) from None

    @cached_property
    def data(self) -> Any:
        """The file as one JSON document."""
        return self.load(self.text or "")

    def items(self) -> Iterator[Any]:
        """The items of a top-level JSON array: streamed for a big file, else from ``data``."""
        if not self.streams:
            data = self.data
            yield from data if isinstance(data, list) else [data]
            return
        try:
            yield from stream_items(self.path, self.limits)
        except Refused as exc:
            raise self.refuse(str(exc)) from None

    @cached_property
    def sample(self) -> Any:
        """What a sniffer may look at: the document, or a big array's first five items."""
        if not self.streams:
            return self.data
        return list(itertools.islice(self.items(), 5))

    @cached_property
    def json_lines(self) -> list[tuple[int, dict[str, Any]]]:
        """``(line number, object)`` per non-blank line."""
        rows = []
        for number, line in enumerate((self.text or "").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = loads(line, self.limits)
            except json.JSONDecodeError as exc:
                raise self.refuse(f"invalid JSON on line {number}: {exc.msg}") from None
            except Refused as exc:
                raise self.refuse(f"line {number}: {exc}") from None
            if not isinstance(row, dict):
                raise self.refuse(f"line {number} is not a JSON object")
            rows.append((number, row))
        return rows

    @cached_property
    def csv_rows(self) -> list[dict[str, str]]:
        try:
            return list(csv.DictReader(io.StringIO(self.text or ""), strict=True))
        except csv.Error as exc:
            raise self.refuse(f"invalid CSV: {exc}") from exc

    @cached_property
    def members(self) -> list[Source]:
        """The files inside a zip, as sources of their own, copied out within the limits."""
        self._folder = tempfile.TemporaryDirectory(prefix="workbench-zip-", dir=self.scratch)
        archive = self.path
        if self._raw is not None:
            archive = Path(self._folder.name) / "archive.zip"
            archive.write_bytes(self._raw)
        _ = self.size
        try:
            copies = extract_zip(archive, Path(self._folder.name), self.limits)
        except Refused as exc:
            raise self.refuse(str(exc)) from None
        return [Source(copy, name=f"{self.name}!{inner}", limits=self.limits,
                       scratch=self.scratch) for inner, copy in copies]

    def close(self) -> None:
        """Remove what reading made on disk (a zip's copied members, a spilled database)."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def sqlite(self) -> sqlite3.Connection:
        """A read-only connection; the source file is never modified."""
        path = self.path
        if self._raw is not None:
            # A database inside a zip: SQLite reads files, so give it one for our lifetime.
            if self._spill is None:
                self._spill = tempfile.NamedTemporaryFile(suffix=".db", dir=self.scratch)
                self._spill.write(self._raw)
                self._spill.flush()
            path = Path(self._spill.name)
        try:
            return sqlite_source.connect_readonly(path)
        except sqlite3.DatabaseError as exc:
            raise self.refuse(f"unreadable SQLite database ({exc})") from exc

    def sqlite_tables(self) -> dict[str, set[str]]:
        con = self.sqlite()
        try:
            return sqlite_source.tables(con)
        finally:
            con.close()


def _decode_head(head: bytes, whole: bool) -> str | None:
    """The head as text; a multi-byte character cut at the end of a partial head is fine."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        return decoder.decode(head, final=whole)
    except UnicodeDecodeError:
        return None


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def json_or_none(source: Source) -> Any:
    """The JSON document, or None when the source is not valid JSON (for sniffing only)."""
    if source.kind != "json":
        return None
    try:
        return source.sample
    except ImportRejected:
        return None


def content_hash(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode("utf-8", "surrogatepass"))  # scrubbed later, hashed now
        digest.update(b"\x1f")
    return digest.hexdigest()


def normalise_role(value: object, default: str = "user") -> str:
    if value is None:
        return default
    return ROLE_ALIASES.get(str(value).strip().lower(), str(value).strip().lower() or default)


# Epoch magnitude bands: seconds up to 9999-12-31, then ms, µs and ns from 2000-01-01 to
# 9999-12-31. Between two bands a number fits no unit plausibly (milliseconds before 2000 are
# older than any chat), so it is no date rather than a guess: 9999 in seconds never becomes 1978.
_SECONDS_BELOW = 253402300800.0  # 10000-01-01: the seconds band ends where datetime does
_EPOCH_BANDS = ((9.466848e11, 2.534023e14, 1e3), (9.466848e14, 2.534023e17, 1e6),
                (9.466848e17, 2.534023e20, 1e9))


def epoch_seconds(value: float) -> float | None:
    """Seconds since the epoch of a number in seconds, ms, µs or ns; None when no unit fits."""
    if not math.isfinite(value):
        return None
    if abs(value) < _SECONDS_BELOW:
        return value
    for low, high, per_second in _EPOCH_BANDS:
        if low <= value <= high:
            return value / per_second
    return None


def parse_timestamp(value: object) -> datetime | None:
    """Epoch seconds/ms/µs/ns, ISO 8601 or common date strings → aware UTC datetime, or None.

    Naive values are taken as UTC, the convention of every export we know. None for what no
    calendar holds (out of range, impossible, unreadable); callers keep the raw value.
    """
    if value is None or value == "":
        return None
    try:
        return _moment(value)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = epoch_seconds(float(value))
        return None if seconds is None else datetime.fromtimestamp(seconds, tz=timezone.utc)
    else:
        text = str(value).strip()
        if len(text) > 64:
            return None
        try:
            return _moment(float(text))
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = dateparser.parse(text, dayfirst=_day_first(text))
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
