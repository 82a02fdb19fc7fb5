"""Writing a parsed import file: the whole file in one transaction, or nothing; the import log.

Rows are built a batch of conversations at a time, handed to DuckDB as Arrow tables and merged
with anti-joins, so a re-import of known data inserts nothing and a newer export inserts only
its new messages.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from workbench.records import ConversationRecord, ImportResult, ParsedFile
from workbench.store import ids
from workbench.store.connection import DuckDBFile
from workbench.store.rows import dumps

TS = pa.timestamp("us", tz="UTC")
# Rows reach DuckDB this many messages at a time, inside the file's one transaction, so only one
# batch's records and their Python and Arrow copies are in memory at once.
WRITE_BATCH_MESSAGES = 20_000

CONVERSATION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("workspace_id", pa.string()),
        ("title", pa.string()),
        ("source_format", pa.string()),
        ("source_id", pa.string()),
        ("metadata", pa.string()),
        ("created_at", TS),
        ("updated_at", TS),
    ]
)
MESSAGE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("conversation_id", pa.string()),
        ("parent_id", pa.string()),
        ("role", pa.string()),
        ("speaker", pa.string()),
        ("content", pa.string()),
        ("content_type", pa.string()),
        ("created_at", TS),
        ("source_id", pa.string()),
        ("metadata", pa.string()),
        ("on_active_branch", pa.bool_()),
        ("content_hash", pa.string()),
        ("position", pa.int32()),
        ("language", pa.string()),
    ]
)


def build_rows(records: list[ConversationRecord], source_format: str,
               workspace: str) -> tuple[dict, dict, list[str]]:
    """Column dicts for conversations and messages, with ids derived from the source."""
    conversations: dict[str, list] = {name: [] for name in CONVERSATION_SCHEMA.names}
    messages: dict[str, list] = {name: [] for name in MESSAGE_SCHEMA.names}
    warnings: list[str] = []
    for record in records:
        space = record.workspace or workspace
        cid = ids.conversation_id(space, source_format, record.source_id)
        for key, value in (
            ("id", cid),
            ("workspace_id", ids.workspace_id(space)),
            ("title", record.title),
            ("source_format", source_format),
            ("source_id", record.source_id),
            ("metadata", dumps(record.metadata)),
            ("created_at", record.created_at),
            ("updated_at", record.updated_at),
        ):
            conversations[key].append(value)
        seen: set[str] = set()
        for position, message in enumerate(record.messages):
            if message.source_id in seen:
                warnings.append(
                    f"{record.title!r} ({record.source_id}): duplicate message id "
                    f"{message.source_id!r} ignored"
                )
                continue
            seen.add(message.source_id)
            parent = message.parent_source_id
            for key, value in (
                ("id", ids.message_id(cid, message.source_id)),
                ("conversation_id", cid),
                ("parent_id", ids.message_id(cid, parent) if parent is not None else None),
                ("role", message.role),
                ("speaker", message.speaker),
                ("content", message.content),
                ("content_type", message.content_type),
                ("created_at", message.created_at),
                ("source_id", message.source_id),
                ("metadata", dumps(message.metadata)),
                ("on_active_branch", message.active),
                ("content_hash", ids.message_hash(message.role, message.content)),
                ("position", position),
                ("language", message.language),
            ):
                messages[key].append(value)
    return conversations, messages, warnings


class DuckDBImports:
    """Imports merged into the store: a file is written whole or not at all, and writing the
    same file again adds nothing (ids are derived from the source). Each import is logged."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def write(self, parsed: ParsedFile, workspace: str, path: str, sha256: str,
              started: float, started_at: datetime) -> ImportResult:
        """Merge ``parsed`` into the store and log the import, all in one transaction."""
        counts: Counter[str] = Counter()
        warnings: list[str] = []
        with self.db.transaction() as con:
            _write_workspaces(con, parsed.workspaces(workspace), parsed.workspace_metadata)
            for batch in parsed.batches(WRITE_BATCH_MESSAGES):
                conv_cols, msg_cols, found = build_rows(batch, parsed.format, workspace)
                warnings += found
                _merge_batch(con, conv_cols, msg_cols, counts)
            result = ImportResult(
                path=path, format=parsed.format, sha256=sha256, status="done",
                conversations_added=counts["added_c"], conversations_updated=counts["updated_c"],
                conversations_skipped=counts["seen_c"] - counts["added_c"] - counts["updated_c"],
                messages_added=counts["added_m"], messages_skipped=counts["seen_m"] - counts["added_m"],
                warnings=parsed.warnings + warnings, seconds=time.perf_counter() - started,
            )
            _log_import(con, result, workspace, started_at)
        return result

    def list(self, workspace: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The import log, newest first: one row per file imported (or found already imported)."""
        where, params = ("WHERE workspace = ?", [workspace]) if workspace else ("", [])
        with self.db.connect() as con:
            cursor = con.execute(
                f"""SELECT id::VARCHAR AS id, path, sha256, format, workspace, status,
                          conversations_added, conversations_updated, messages_added,
                          messages_skipped, warnings::VARCHAR AS warnings, started_at, finished_at,
                          seconds
                   FROM imports {where} ORDER BY started_at DESC, id DESC LIMIT ?""",
                params + [limit if limit is not None else 2**62],
            )
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        for row in rows:
            row["warnings"] = json.loads(row["warnings"]) if row["warnings"] else []
        return rows


def _merge_batch(con: duckdb.DuckDBPyConnection, conv_cols: dict, msg_cols: dict,
                 counts: Counter[str]) -> None:
    incoming_c = pa.Table.from_pydict(conv_cols, schema=CONVERSATION_SCHEMA)
    incoming_m = pa.Table.from_pydict(msg_cols, schema=MESSAGE_SCHEMA)
    con.register("incoming_c", incoming_c)
    con.register("incoming_m", incoming_m)
    added_c, updated_c = _merge_conversations(con)
    counts.update(added_c=added_c, updated_c=updated_c, seen_c=incoming_c.num_rows,
                  added_m=_merge_messages(con), seen_m=incoming_m.num_rows)
    con.unregister("incoming_c")
    con.unregister("incoming_m")


def _write_workspaces(con: duckdb.DuckDBPyConnection, spaces: set[str],
                      metadata: dict[str, dict[str, Any]]) -> None:
    for name in sorted(spaces):
        con.execute(
            "INSERT INTO workspaces VALUES (?, ?, ?::JSON, now()) ON CONFLICT DO NOTHING",
            [ids.workspace_id(name), name, dumps({})],
        )
    for name, extra in metadata.items():
        con.execute(
            "UPDATE workspaces SET metadata = ?::JSON WHERE id = ?",
            [dumps(extra), ids.workspace_id(name)],
        )


def _merge_conversations(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(added, updated): new conversations, and known ones whose title or time changed."""
    added = con.execute(
        """
        INSERT INTO conversations
        SELECT id::UUID, workspace_id::UUID, title, source_format, source_id,
               metadata::JSON, created_at, updated_at
        FROM incoming_c WHERE id::UUID NOT IN (SELECT id FROM conversations)
        RETURNING 1
        """
    ).fetchall()
    updated = con.execute(
        """
        UPDATE conversations SET title = i.title, updated_at = i.updated_at,
               metadata = i.metadata::JSON
        FROM incoming_c AS i
        WHERE conversations.id = i.id::UUID
          AND (conversations.title IS DISTINCT FROM i.title
               OR conversations.updated_at IS DISTINCT FROM i.updated_at)
        RETURNING 1
        """
    ).fetchall()
    return len(added), len(updated)


def _merge_messages(con: duckdb.DuckDBPyConnection) -> int:
    """New messages (how many), and the active branch as the newer export has it."""
    added = con.execute(
        """
        INSERT INTO messages (id, conversation_id, parent_id, role, speaker, content,
                              content_type, created_at, source_id, metadata, on_active_branch,
                              content_hash, position, language)
        SELECT id::UUID, conversation_id::UUID, parent_id::UUID, role, speaker, content,
               content_type, created_at, source_id, metadata::JSON, on_active_branch,
               content_hash, position, language
        FROM incoming_m WHERE id::UUID NOT IN (SELECT id FROM messages)
        RETURNING 1
        """
    ).fetchall()
    # A newer export may move the active branch (an edit, a regeneration).
    con.execute(
        """
        UPDATE messages SET on_active_branch = i.on_active_branch, position = i.position
        FROM incoming_m AS i
        WHERE messages.id = i.id::UUID
          AND (messages.on_active_branch <> i.on_active_branch
               OR messages.position IS DISTINCT FROM i.position)
        """
    )
    return len(added)


def _log_import(con: duckdb.DuckDBPyConnection, result: ImportResult, workspace: str,
                started_at: datetime) -> None:
    con.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, 'done', ?, ?, ?, ?, ?::JSON, ?, ?, ?)",
        [
            str(uuid.uuid4()), result.path, result.sha256, result.format, workspace,
            result.conversations_added, result.conversations_updated, result.messages_added,
            result.messages_skipped, dumps(result.warnings), started_at,
            datetime.now(timezone.utc), result.seconds,
        ],
    )
