"""The original project's SQLite database (``nosso_projeto.db``): conversations and messages.

Years of hand-made rows mean damaged data is expected: invalid metadata JSON is kept raw, NULL
titles stay NULL, any timestamp format is read, and messages whose conversation row is gone are
imported into untitled conversations of their own rather than dropped.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Any

from workbench.importers.reading import Limits, loads
from workbench.errors import ImportRejected
from workbench.store import sqlite_source
from workbench.records import ConversationRecord, MessageRecord, ParsedFile
from workbench.importers.base import (
    Source,
    message_source_id,
    normalise_role,
    parse_timestamp,
)

NAME = "legacy"
DESCRIPTION = "the original project's SQLite database (nosso_projeto.db)"

CONVERSATION_COLUMNS = {"id", "title", "metadata", "created_at", "updated_at"}
MESSAGE_COLUMNS = {"id", "conversation_id", "role", "content", "metadata", "created_at"}
LAST = datetime.max.replace(tzinfo=timezone.utc)


def sniff(source: Source) -> bool:
    """True iff the source is SQLite with the legacy conversations and messages tables."""
    try:
        if source.kind != "sqlite":
            return False
        tables = source.sqlite_tables()
    except Exception:  # a sniffer only answers yes or no
        return False
    return CONVERSATION_COLUMNS <= tables.get("conversations", set()) and (
        MESSAGE_COLUMNS <= tables.get("messages", set())
    )


def parse(source: Source) -> ParsedFile:
    """Every conversation and every message of the database, orphans included.

    Problems with single rows become warnings; ImportRejected only when the tables are unreadable.
    """
    con = source.sqlite()
    try:
        conversation_rows = sqlite_source.rows(con, "conversations", with_rowid=True)
        message_rows = sqlite_source.rows(con, "messages", with_rowid=True)
    except sqlite3.DatabaseError as exc:
        raise ImportRejected(source.name, f"cannot read the legacy tables ({exc})") from exc
    finally:
        con.close()
    warnings: list[str] = []
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in message_rows:
        grouped.setdefault(_key(row["conversation_id"]), []).append(row)
    conversations = [
        _conversation(row, grouped.pop(_key(row["id"]), []), warnings) for row in conversation_rows
    ]
    orphans = sum(len(rows) for rows in grouped.values())
    if orphans:
        warnings.append(
            f"{orphans} orphan messages belong to {len(grouped)} conversations missing from the "
            f"conversations table ({', '.join(sorted(grouped))}); imported untitled"
        )
    for cid, rows in grouped.items():
        stub = {"id": cid, "title": None}
        conversations.append(_conversation(stub, rows, warnings, orphaned=True))
    return ParsedFile(NAME, conversations, warnings)


def _key(value: Any) -> str:
    return "(no conversation id)" if value is None or value == "" else str(value)


def _conversation(
    row: dict[str, Any], rows: list[dict[str, Any]], warnings: list[str], orphaned: bool = False
) -> ConversationRecord:
    cid = _key(row["id"])
    label = f"conversation {row.get('title')!r} ({cid})"
    if orphaned:
        metadata: dict[str, Any] = {"orphaned": True}
    else:
        metadata = _metadata(row, CONVERSATION_COLUMNS, label, warnings)
    created = _timestamp(row, "created_at", metadata, label, warnings)
    updated = _timestamp(row, "updated_at", metadata, label, warnings)
    messages = _messages(rows, cid, warnings)
    if orphaned and messages:
        times = [m.created_at for m in messages if m.created_at is not None]
        created, updated = (min(times), max(times)) if times else (None, None)
    return ConversationRecord(
        source_id=cid,
        title=row.get("title"),
        messages=messages,
        created_at=created,
        updated_at=updated,
        metadata=metadata,
    )


def _messages(rows: list[dict[str, Any]], cid: str, warnings: list[str]) -> list[MessageRecord]:
    """Messages ordered by created_at then rowid, chained linearly."""
    prepared = []
    for row in rows:
        label = f"message {row['id']} of conversation {cid}"
        metadata = _metadata(row, MESSAGE_COLUMNS, label, warnings)
        created = _timestamp(row, "created_at", metadata, label, warnings)
        prepared.append((created or LAST, row["_rowid"], row, metadata, created))
    prepared.sort(key=lambda entry: entry[:2])
    records: list[MessageRecord] = []
    for index, (_, _, row, metadata, created) in enumerate(prepared):
        role = normalise_role(row["role"])
        content = "" if row["content"] is None else str(row["content"])
        records.append(
            MessageRecord(
                source_id=message_source_id(row["id"], index, role, content),
                role=role,
                content=content,
                created_at=created,
                parent_source_id=records[-1].source_id if records else None,
                metadata=metadata,
            )
        )
    return records


def _metadata(
    row: dict[str, Any], known: set[str], label: str, warnings: list[str]
) -> dict[str, Any]:
    """The row's metadata JSON (raw text when invalid) plus any columns beyond the known ones."""
    raw = row.get("metadata")
    metadata: dict[str, Any] = {}
    if raw not in (None, ""):
        try:
            value = loads(raw, Limits())
            metadata = value if isinstance(value, dict) else {"metadata": value}
        except (TypeError, ValueError, RecursionError):
            metadata = {"raw_metadata": raw if isinstance(raw, str) else repr(raw)}
            warnings.append(f"{label}: invalid metadata JSON kept as raw text")
    if row.get("role") is not None and normalise_role(row["role"]) != row["role"]:
        metadata["source_role"] = row["role"]
    extra = {k: v for k, v in row.items() if k not in known and k != "_rowid"}
    if extra:
        metadata["source_columns"] = extra
    return metadata


def _timestamp(
    row: dict[str, Any], column: str, metadata: dict[str, Any], label: str, warnings: list[str]
) -> datetime | None:
    """The column as aware UTC; the original value is kept in metadata unless it was ISO text."""
    raw = row.get(column)
    moment = parse_timestamp(raw)
    if raw is not None and not _is_iso(raw):
        metadata[f"source_{column}"] = raw
    if raw not in (None, "") and moment is None:
        warnings.append(f"{label}: unreadable {column} {raw!r} kept in metadata")
    return moment


def _is_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return True
    except ValueError:
        return False
