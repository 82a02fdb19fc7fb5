"""Generic message tables: JSON lines, CSV, or a JSON array of objects — one message per row.

Columns (CSV header or JSON keys):

``conversation_id`` (required)
    Groups rows into conversations, in file order.
``role`` (required)
    ``user``, ``assistant``, ``system`` or ``tool`` (aliases such as ``human``/``gpt`` accepted).
``content`` (required)
    The message text.
``timestamp`` (optional)
    ISO 8601, a common date string, or epoch seconds/milliseconds; naive times are UTC.
``message_id`` (optional)
    The message's id, unique within its conversation; otherwise one is derived.
``parent_id`` (optional)
    The ``message_id`` this message answers; otherwise the previous row of the conversation.
``title`` (optional)
    The conversation title (the first non-empty one counts).
``speaker`` (optional)
    A speaker name, e.g. for multi-party dialogue.
``content_type`` (optional)
    Defaults to ``text``.

Any other column is kept in the message's metadata. A row without a required value rejects the
whole file, naming its line (or, in a JSON array, its item number).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterator

from workbench.errors import ImportRejected
from workbench.records import ConversationRecord, MessageRecord, ParsedFile
from workbench.importers.base import (
    Source,
    iter_dicts,
    json_or_none,
    message_source_id,
    normalise_role,
    parse_timestamp,
)

NAME = "generic"
DESCRIPTION = "generic message table (JSON lines, CSV or JSON array; see the module docstring)"

REQUIRED = ("conversation_id", "role", "content")
OPTIONAL = ("timestamp", "message_id", "parent_id", "title", "speaker", "content_type")

Row = tuple[str, dict[str, Any]]  # (where, e.g. "line 7", the row)


def sniff(source: Source) -> bool:
    """True iff the first row (or CSV header) of a table has every required column."""
    try:
        first = _first_columns(source)
    except Exception:  # a sniffer only answers yes or no
        return False
    return first is not None and all(column in first for column in REQUIRED)


def parse(source: Source) -> ParsedFile:
    """Conversations grouped by ``conversation_id`` in file order, each a tree (linear by default).

    Raises ImportRejected naming the first row that lacks a required value.
    """
    grouped: dict[str, list[Row]] = {}
    for where, row in _rows(source):
        for column in REQUIRED:
            if _blank(row.get(column)):
                raise ImportRejected(source.name, f"{where}: missing {column!r}")
        grouped.setdefault(str(row["conversation_id"]), []).append((where, row))
    warnings: list[str] = []
    conversations = [_conversation(cid, rows, warnings) for cid, rows in grouped.items()]
    return ParsedFile(NAME, conversations, warnings)


def _first_columns(source: Source) -> set[str] | None:
    if source.kind == "csv":
        header = next(csv.reader(io.StringIO(source.text or "")), None)
        return {h.strip() for h in header} if header else None
    if source.kind == "jsonl":
        line = next(line for line in (source.text or "").splitlines() if line.strip())
        row = source.load(line)
        return set(row) if isinstance(row, dict) else None
    data = json_or_none(source)
    first = next(iter_dicts(data if isinstance(data, list) else [data]), None)
    return set(first) if first is not None else None


def _rows(source: Source) -> Iterator[Row]:
    if source.kind == "csv":
        yield from _csv_rows(source)
    elif source.kind == "jsonl":
        for number, row in source.json_lines:  # rejects invalid JSON, naming the line
            yield f"line {number}", row
    elif source.kind == "json":
        data = source.data
        items = data if isinstance(data, list) else [data]
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ImportRejected(source.name, f"item {number}: not a JSON object")
            yield f"item {number}", item
    else:
        raise ImportRejected(source.name, f"not a generic table: {source.kind} content")


def _csv_rows(source: Source) -> Iterator[Row]:
    """Rows with the line each starts on (quoted cells may span lines; blank lines are skipped)."""
    # strict: a quote left open would otherwise swallow every later row into one cell.
    reader = csv.reader(io.StringIO(source.text or ""), strict=True)
    start = 1
    try:
        header = [column.strip() for column in next(reader, [])]
        start = reader.line_num + 1
        for cells in reader:
            if cells:
                row: dict[str, Any] = dict(zip(header, cells))
                if len(cells) > len(header):
                    row["extra_fields"] = cells[len(header):]
                yield f"line {start}", row
            start = reader.line_num + 1
    except csv.Error as exc:
        problem = f"invalid CSV in the row starting on line {start}: {exc}"
        raise ImportRejected(source.name, problem) from exc


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _optional(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    return None if _blank(value) else _text(value)


def _conversation(cid: str, rows: list[Row], warnings: list[str]) -> ConversationRecord:
    messages = [_message(i, where, row, warnings) for i, (where, row) in enumerate(rows)]
    _link(messages, [_optional(row, "parent_id") for _, row in rows])
    _mark_active(messages)
    titles = [_optional(row, "title") for _, row in rows]
    title = next((t for t in titles if t is not None), None)
    for message, own in zip(messages, titles):
        if own is not None and own != title:
            message.metadata["title"] = own  # a differing later title would otherwise be lost
    times = [m.created_at for m in messages if m.created_at is not None]
    return ConversationRecord(
        source_id=cid,
        title=title,
        messages=messages,
        created_at=min(times) if times else None,
        updated_at=max(times) if times else None,
    )


def _message(index: int, where: str, row: dict[str, Any], warnings: list[str]) -> MessageRecord:
    """One row as a message (parent linked later); unknown columns go to its metadata."""
    role = normalise_role(_text(row["role"]))
    content = _text(row["content"])
    raw_time = _optional(row, "timestamp")
    created = parse_timestamp(raw_time)
    metadata = {
        k: v
        for k, v in row.items()
        if k not in REQUIRED and k not in OPTIONAL and not (isinstance(v, str) and v == "")
    }
    if raw_time is not None and created is None:
        metadata["timestamp"] = raw_time
        warnings.append(
            f"conversation {row['conversation_id']}, {where}: unreadable timestamp {raw_time!r}"
        )
    if role != str(row["role"]):
        metadata["source_role"] = row["role"]
    return MessageRecord(
        source_id=message_source_id(_optional(row, "message_id"), index, role, content),
        role=role,
        content=content,
        content_type=_optional(row, "content_type") or "text",
        speaker=_optional(row, "speaker"),
        created_at=created,
        metadata=metadata,
    )


def _link(messages: list[MessageRecord], parents: list[str | None]) -> None:
    """Parent = the given parent_id when it names an earlier message, else the previous message."""
    earlier: set[str] = set()
    for index, (message, parent) in enumerate(zip(messages, parents)):
        if parent is not None and parent in earlier:
            message.parent_source_id = parent
        else:
            message.parent_source_id = messages[index - 1].source_id if index else None
            if parent is not None:
                message.metadata["parent_id"] = parent  # names no earlier message: kept, not linked
        earlier.add(message.source_id)


def _mark_active(messages: list[MessageRecord]) -> None:
    """With branches, the active branch is the path to the last message of the file."""
    parents = [m.parent_source_id for m in messages if m.parent_source_id is not None]
    if len(parents) == len(set(parents)):
        return
    by_id = {m.source_id: m for m in messages}
    on_path, node = set(), messages[-1].source_id
    while node is not None and node not in on_path:
        on_path.add(node)
        node = by_id[node].parent_source_id if node in by_id else None
    for message in messages:
        message.active = message.source_id in on_path
