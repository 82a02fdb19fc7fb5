"""Conversation and message CRUD over the store.

Conversations created here (by the chat or by hand) have ``source_format`` ``workbench`` and
random UUIDs; imported ones keep their derived ids. Deleting a conversation deletes its messages
in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import duckdb

from workbench.errors import Ambiguous, NotFound
from workbench.records import Conversation, Message
from workbench.store import ids
from workbench.store.database import Store
from workbench.store.imports import dumps

NATIVE_FORMAT = "workbench"

_CONVERSATION_FIELDS = """
    c.id::VARCHAR, w.name, c.title, c.source_format, c.source_id, c.metadata::VARCHAR,
    c.created_at, c.updated_at"""
_CONVERSATION_COLUMNS = (
    _CONVERSATION_FIELDS + ", (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"
)
_MESSAGE_COLUMNS = """
    id::VARCHAR, conversation_id::VARCHAR, parent_id::VARCHAR, role, speaker, content,
    content_type, created_at, source_id, metadata::VARCHAR, on_active_branch, content_hash,
    position
"""


def _loads(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


def _conversation(row: tuple) -> Conversation:
    return Conversation(*row[:5], _loads(row[5]), row[6], row[7], int(row[8]))


def _message(row: tuple) -> Message:
    values = list(row)
    values[9] = _loads(values[9])
    values[12] = values[12] if values[12] is not None else 0
    return Message(*values)


def ensure_workspace(con: duckdb.DuckDBPyConnection, name: str) -> str:
    wid = ids.workspace_id(name)
    # Looked up first: an insert that may conflict costs ≈ 4 ms (a merge over the table).
    if con.execute("SELECT 1 FROM workspaces WHERE id = ?", [wid]).fetchone() is None:
        con.execute(
            "INSERT INTO workspaces VALUES (?, ?, '{}'::JSON, now()) ON CONFLICT DO NOTHING",
            [wid, name],
        )
    return wid


def list_workspaces(store: Store) -> list[dict[str, Any]]:
    with store.connect() as con:
        rows = con.execute(
            """
            SELECT w.name, w.created_at, count(DISTINCT c.id),
                   (SELECT count(*) FROM messages m JOIN conversations c2
                      ON m.conversation_id = c2.id WHERE c2.workspace_id = w.id)
            FROM workspaces w LEFT JOIN conversations c ON c.workspace_id = w.id
            GROUP BY w.id, w.name, w.created_at ORDER BY w.name
            """
        ).fetchall()
    return [
        {"name": r[0], "created_at": r[1].isoformat(), "conversations": r[2], "messages": r[3]}
        for r in rows
    ]


def create_conversation(
    store: Store,
    workspace: str,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Conversation:
    cid = str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    with store.transaction() as con:
        wid = ensure_workspace(con, workspace)
        con.execute(
            "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?::JSON, ?, ?)",
            [cid, wid, title, NATIVE_FORMAT, cid, dumps(metadata or {}), now, now],
        )
    return Conversation(cid, workspace, title, NATIVE_FORMAT, cid, _loads(dumps(metadata or {})),
                        now, now, 0)


def list_conversations(
    store: Store,
    workspace: str | None = None,
    title_contains: str | None = None,
    limit: int | None = None,
) -> list[Conversation]:
    """Newest first (by last update, then creation)."""
    where, params = ["TRUE"], []
    if workspace is not None:
        where.append("w.name = ?")
        params.append(workspace)
    if title_contains:
        where.append("c.title ILIKE ?")
        params.append(f"%{title_contains}%")
    sql = f"""
        SELECT {_CONVERSATION_COLUMNS}
        FROM conversations c JOIN workspaces w ON c.workspace_id = w.id
        WHERE {' AND '.join(where)}
        ORDER BY coalesce(c.updated_at, c.created_at) DESC NULLS LAST, c.title, c.id
    """
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.connect() as con:
        return [_conversation(r) for r in con.execute(sql, params).fetchall()]


def resolve_conversation_id(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    """A full id, or a unique prefix of one (what a person types from `conversations list`)."""
    ref = ref.strip().lower()
    try:  # a whole id (the chat's case) is a primary-key lookup, not a scan
        exact = uuid.UUID(ref) if len(ref) == 36 else None
    except ValueError:
        exact = None
    if exact is not None:
        rows = con.execute("SELECT id::VARCHAR FROM conversations WHERE id = ?", [exact]).fetchall()
    else:
        rows = con.execute(
            "SELECT id::VARCHAR FROM conversations WHERE id::VARCHAR LIKE ? LIMIT 2", [ref + "%"]
        ).fetchall()
    if len(rows) != 1 or len(ref) < 4:
        if len(rows) > 1:
            raise Ambiguous(f"conversation {ref!r} is ambiguous")
        raise NotFound(f"conversation {ref!r} does not exist")
    return rows[0][0]


def get_conversation(store: Store, ref: str) -> Conversation:
    with store.connect() as con:
        cid = resolve_conversation_id(con, ref)
        # The message count for one known id: an index lookup, where the correlated count of
        # the listing query scans every message (a chat turn's lookup: 5 → 2.7 ms at 100k).
        row = con.execute(
            f"""SELECT {_CONVERSATION_FIELDS},
                       (SELECT count(*) FROM messages WHERE conversation_id = ?::UUID)
                FROM conversations c JOIN workspaces w ON c.workspace_id = w.id
                WHERE c.id = ?::UUID""",
            [cid, cid],
        ).fetchone()
    return _conversation(row)


def rename_conversation(store: Store, ref: str, title: str) -> Conversation:
    with store.transaction() as con:
        cid = resolve_conversation_id(con, ref)
        con.execute(
            "UPDATE conversations SET title = ?, updated_at = now() WHERE id = ?", [title, cid]
        )
    return get_conversation(store, cid)


def delete_conversation(store: Store, ref: str) -> int:
    """Delete the conversation and its messages; returns how many messages went with it."""
    with store.transaction() as con:
        cid = resolve_conversation_id(con, ref)
        deleted = con.execute(
            "DELETE FROM messages WHERE conversation_id = ? RETURNING 1", [cid]
        ).fetchall()
        con.execute("DELETE FROM conversations WHERE id = ?", [cid])
    return len(deleted)


def add_message(
    store: Store,
    conversation: str,
    role: str,
    content: str,
    speaker: str | None = None,
    parent_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    content_type: str = "text",
    message_id: str | None = None,
) -> Message:
    """Append a message on the active branch (after its last message unless ``parent_id``);
    ``message_id`` is a new UUID the caller chose (to start work on the message before it is
    stored)."""
    mid = message_id or str(uuid.uuid4())
    created_at = created_at or datetime.now(timezone.utc)
    # As the store hands it back (TIMESTAMPTZ read in UTC), since the message is not re-read.
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=timezone.utc)
    created_at = created_at.astimezone(timezone.utc)
    with store.transaction() as con:
        cid = resolve_conversation_id(con, conversation)
        last, position = con.execute(
            """SELECT arg_max(id::VARCHAR, position) FILTER (WHERE on_active_branch),
                      coalesce(max(position) + 1, 0)
               FROM messages WHERE conversation_id = ?""",
            [cid],
        ).fetchone()
        parent = parent_id if parent_id is not None else last
        stored_metadata = dumps(metadata or {})
        message = Message(
            mid, cid, parent, role, speaker, content, content_type, created_at, mid,
            _loads(stored_metadata), True, ids.message_hash(role, content), position,
        )
        con.execute(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS.replace('::VARCHAR', '')}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::JSON, TRUE, ?, ?)",
            [
                mid, cid, parent, role, speaker, content, content_type, created_at, mid,
                stored_metadata, message.content_hash, position,
            ],
        )
        con.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", [created_at, cid])
    return message


def get_message(store: Store, message_id: str) -> Message:
    with store.connect() as con:
        row = con.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", [message_id]
        ).fetchone()
    if row is None:
        raise NotFound(f"message {message_id!r} does not exist")
    return _message(row)


def list_messages(store: Store, ref: str, active_only: bool = False) -> list[Message]:
    """Messages in source order (parents before children for trees)."""
    with store.connect() as con:
        cid = resolve_conversation_id(con, ref)
        rows = con.execute(
            f"""SELECT {_MESSAGE_COLUMNS} FROM messages
                WHERE conversation_id = ? {'AND on_active_branch' if active_only else ''}
                ORDER BY position, created_at NULLS FIRST, source_id""",
            [cid],
        ).fetchall()
    return [_message(r) for r in rows]


def counts(store: Store, workspace: str | None = None) -> dict[str, int]:
    params: list[Any] = []
    scope = ""
    if workspace is not None:
        scope = "WHERE workspace_id = ?"
        params = [ids.workspace_id(workspace)]
    with store.connect() as con:
        conversations = con.execute(
            f"SELECT count(*) FROM conversations {scope}", params
        ).fetchone()[0]
        messages = con.execute(
            f"""SELECT count(*) FROM messages WHERE conversation_id IN
                (SELECT id FROM conversations {scope})""",
            params,
        ).fetchone()[0]
        workspaces = con.execute(
            "SELECT count(*) FROM workspaces" + (" WHERE id = ?" if workspace else ""), params
        ).fetchone()[0]
        imports = con.execute(
            "SELECT count(*) FROM imports WHERE status = 'done'"
            + (" AND workspace = ?" if workspace else ""),
            [workspace] if workspace else [],
        ).fetchone()[0]
    return {
        "workspaces": workspaces,
        "conversations": conversations,
        "messages": messages,
        "imports": imports,
    }


def neighbours(store: Store, message_id: str, n: int) -> list[Message]:
    """Up to ``n`` active turns before and after a message, in order, the message included."""
    with store.connect() as con:
        rows = con.execute(
            f"""
            WITH target AS (SELECT conversation_id, position FROM messages WHERE id = ?)
            SELECT {_MESSAGE_COLUMNS} FROM messages
            WHERE conversation_id = (SELECT conversation_id FROM target) AND on_active_branch
              AND position BETWEEN (SELECT position FROM target) - ? AND (SELECT position FROM target) + ?
            ORDER BY position
            """,
            [message_id, n * 3, n * 3],
        ).fetchall()
    messages = [_message(r) for r in rows]
    at = next((i for i, m in enumerate(messages) if m.id == message_id), None)
    if at is None:
        return []
    return messages[max(0, at - n) : at + n + 1]
