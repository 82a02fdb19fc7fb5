"""Conversations and workspaces in DuckDB: create, list, look up by id prefix, rename, delete.

Conversations created here (by the chat or by hand) have ``source_format`` ``workbench`` and
random UUIDs; imported ones keep their derived ids. Deleting a conversation deletes its messages
in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import duckdb

from workbench.errors import Ambiguous, NotFound
from workbench.records import Conversation
from workbench.store import ids
from workbench.store.connection import DuckDBFile
from workbench.store.rows import dumps, loads

NATIVE_FORMAT = "workbench"

_CONVERSATION_FIELDS = """
    c.id::VARCHAR, w.name, c.title, c.source_format, c.source_id, c.metadata::VARCHAR,
    c.created_at, c.updated_at"""
_CONVERSATION_COLUMNS = (
    _CONVERSATION_FIELDS + ", (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"
)


def _conversation(row: tuple) -> Conversation:
    return Conversation(*row[:5], loads(row[5]), row[6], row[7], int(row[8]))


def ensure_workspace(con: duckdb.DuckDBPyConnection, name: str) -> str:
    wid = ids.workspace_id(name)
    # Looked up first: an insert that may conflict costs ≈ 4 ms (a merge over the table).
    if con.execute("SELECT 1 FROM workspaces WHERE id = ?", [wid]).fetchone() is None:
        con.execute(
            "INSERT INTO workspaces VALUES (?, ?, '{}'::JSON, now()) ON CONFLICT DO NOTHING",
            [wid, name],
        )
    return wid


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


class DuckDBConversations:
    """Conversations and their workspaces; a conversation is found by its id or a unique
    prefix of at least 4 characters, and goes with all its messages."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def workspaces(self) -> list[dict[str, Any]]:
        with self.db.connect() as con:
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

    def workspace_names(self) -> set[str]:
        with self.db.connect() as con:
            return {r[0] for r in con.execute("SELECT name FROM workspaces").fetchall()}

    def create(self, workspace: str, title: str | None = None,
               metadata: dict[str, Any] | None = None) -> Conversation:
        cid = str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        with self.db.transaction() as con:
            wid = ensure_workspace(con, workspace)
            con.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?::JSON, ?, ?)",
                [cid, wid, title, NATIVE_FORMAT, cid, dumps(metadata or {}), now, now],
            )
        return Conversation(cid, workspace, title, NATIVE_FORMAT, cid,
                            loads(dumps(metadata or {})), now, now, 0)

    def list(self, workspace: str | None = None, title_contains: str | None = None,
             limit: int | None = None) -> list[Conversation]:
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
        with self.db.connect() as con:
            return [_conversation(r) for r in con.execute(sql, params).fetchall()]

    def get(self, ref: str) -> Conversation:
        with self.db.connect() as con:
            cid = resolve_conversation_id(con, ref)
            # The message count for one known id is an index lookup, where the correlated
            # count of the listing query scans every message.
            row = con.execute(
                f"""SELECT {_CONVERSATION_FIELDS},
                           (SELECT count(*) FROM messages WHERE conversation_id = ?::UUID)
                    FROM conversations c JOIN workspaces w ON c.workspace_id = w.id
                    WHERE c.id = ?::UUID""",
                [cid, cid],
            ).fetchone()
        return _conversation(row)

    def rename(self, ref: str, title: str) -> Conversation:
        with self.db.transaction() as con:
            cid = resolve_conversation_id(con, ref)
            con.execute(
                "UPDATE conversations SET title = ?, updated_at = now() WHERE id = ?", [title, cid]
            )
        return self.get(cid)

    def delete(self, ref: str) -> int:
        """Delete the conversation and its messages; returns how many messages went with it."""
        with self.db.transaction() as con:
            cid = resolve_conversation_id(con, ref)
            deleted = con.execute(
                "DELETE FROM messages WHERE conversation_id = ? RETURNING 1", [cid]
            ).fetchall()
            con.execute("DELETE FROM conversations WHERE id = ?", [cid])
        return len(deleted)

    def counts(self, workspace: str | None = None) -> dict[str, int]:
        params: list[Any] = []
        scope = ""
        if workspace is not None:
            scope = "WHERE workspace_id = ?"
            params = [ids.workspace_id(workspace)]
        with self.db.connect() as con:
            def one(sql: str, args: list[Any]) -> int:
                return con.execute(sql, args).fetchone()[0]

            return {
                "workspaces": one("SELECT count(*) FROM workspaces"
                                  + (" WHERE id = ?" if workspace else ""), params),
                "conversations": one(f"SELECT count(*) FROM conversations {scope}", params),
                "messages": one(f"""SELECT count(*) FROM messages WHERE conversation_id IN
                                    (SELECT id FROM conversations {scope})""", params),
                "imports": one("SELECT count(*) FROM imports WHERE status = 'done'"
                               + (" AND workspace = ?" if workspace else ""),
                               [workspace] if workspace else []),
            }
