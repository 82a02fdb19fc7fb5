"""Messages in DuckDB: appended on the active branch, listed in source order, looked around.

A message's ``position`` orders its conversation (parents before children for trees); a new
message goes after the last one and hangs from the last active one unless told otherwise.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from workbench.records import Message, TextMessage
from workbench.store import ids
from workbench.store.connection import DuckDBFile
from workbench.errors import InvalidInput, NotFound
from workbench.store.conversations import resolve_conversation_id
from workbench.store.rows import dumps, loads

_MESSAGE_COLUMNS = """
    id::VARCHAR, conversation_id::VARCHAR, parent_id::VARCHAR, role, speaker, content,
    content_type, created_at, source_id, metadata::VARCHAR, on_active_branch, content_hash,
    position, generated
"""


def _message(row: tuple) -> Message:
    values = list(row)
    values[9] = loads(values[9])
    values[12] = values[12] if values[12] is not None else 0
    values[13] = bool(values[13])
    return Message(*values)


class DuckDBMessages:
    """The messages of conversations; an added message is on its conversation's active branch
    and touches the conversation's ``updated_at``."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def add(self, conversation: str, role: str, content: str, speaker: str | None = None,
            parent_id: str | None = None, metadata: dict[str, Any] | None = None,
            created_at: datetime | None = None, content_type: str = "text",
            message_id: str | None = None, generated: bool = False) -> Message:
        """Append a message on the active branch (after its last message unless ``parent_id``);
        ``message_id`` is a new UUID the caller chose (to start work on the message before it
        is stored); ``generated``: the workbench's own model wrote it."""
        mid = message_id or str(uuid.uuid4())
        created_at = created_at or datetime.now(timezone.utc)
        # As the store hands it back (TIMESTAMPTZ read in UTC), since the message is not re-read.
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=timezone.utc)
        created_at = created_at.astimezone(timezone.utc)
        with self.db.transaction() as con:
            cid = resolve_conversation_id(con, conversation)
            last, position = self._tail(con, cid)
            parent = parent_id if parent_id is not None else last
            if parent_id is not None and not con.execute(
                    "SELECT count(*) FROM messages WHERE id::VARCHAR = ? AND conversation_id = ?",
                    [parent_id, cid]).fetchone()[0]:
                raise InvalidInput(f"parent_id: {parent_id!r} is not a message of this conversation")
            stored_metadata = dumps(metadata or {})
            message = Message(
                mid, cid, parent, role, speaker, content, content_type, created_at, mid,
                loads(stored_metadata), True, ids.message_hash(role, content), position,
                generated,
            )
            con.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS.replace('::VARCHAR', '')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::JSON, TRUE, ?, ?, ?)",
                [
                    mid, cid, parent, role, speaker, content, content_type, created_at, mid,
                    stored_metadata, message.content_hash, position, generated,
                ],
            )
            con.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", [created_at, cid])
        return message

    def _tail(self, con, cid: str) -> tuple[str | None, int]:
        """(the last active message, the next position) of a conversation."""
        return con.execute(
            """SELECT arg_max(id::VARCHAR, position) FILTER (WHERE on_active_branch),
                      coalesce(max(position) + 1, 0)
               FROM messages WHERE conversation_id = ?""",
            [cid],
        ).fetchone()

    def branch_off(self, message_id: str) -> int:
        """Take a message and every active message after it off the active branch (an edit or
        a regeneration starts a new branch from its parent); returns how many moved."""
        with self.db.transaction() as con:
            row = con.execute(
                "SELECT conversation_id::VARCHAR, position FROM messages WHERE id = ?",
                [message_id],
            ).fetchone()
            if row is None:
                raise NotFound(f"message {message_id!r} does not exist")
            moved = con.execute(
                """SELECT count(*) FROM messages
                   WHERE conversation_id = ? AND on_active_branch AND position >= ?""",
                list(row),
            ).fetchone()[0]
            con.execute(
                """UPDATE messages SET on_active_branch = FALSE
                   WHERE conversation_id = ? AND on_active_branch AND position >= ?""",
                list(row),
            )
        return int(moved)

    def questions(self, workspace: str, limit: int = 4, max_chars: int = 120) -> list[str]:
        """The workspace's most recent short questions the user asked (their own words, not
        generated), newest first and without repeats: examples to ask again."""
        with self.db.connect() as con:
            rows = con.execute(
                """SELECT m.content, max(m.created_at) AS latest
                   FROM messages m JOIN conversations c ON m.conversation_id = c.id
                   JOIN workspaces w ON c.workspace_id = w.id
                   WHERE w.name = ? AND m.role = 'user' AND NOT m.generated
                     AND m.content_type = 'text' AND m.content LIKE ?
                     AND length(m.content) BETWEEN 12 AND ?
                   GROUP BY m.content
                   ORDER BY latest DESC NULLS LAST, m.content
                   LIMIT ?""",
                [workspace, "%?", max_chars, limit],
            ).fetchall()
        return [r[0] for r in rows]

    def get(self, message_id: str) -> Message:
        with self.db.connect() as con:
            row = con.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", [message_id]
            ).fetchone()
        if row is None:
            raise NotFound(f"message {message_id!r} does not exist")
        return _message(row)

    def list(self, ref: str, active_only: bool = False) -> list[Message]:
        """Messages in source order (parents before children for trees)."""
        with self.db.connect() as con:
            cid = resolve_conversation_id(con, ref)
            rows = con.execute(
                f"""SELECT {_MESSAGE_COLUMNS} FROM messages
                    WHERE conversation_id = ? {'AND on_active_branch' if active_only else ''}
                    ORDER BY position, created_at NULLS FIRST, source_id""",
                [cid],
            ).fetchall()
        return [_message(r) for r in rows]

    def neighbours(self, message_id: str, n: int) -> list[Message]:
        """Up to ``n`` active turns before and after a message, in order, the message included."""
        with self.db.connect() as con:
            rows = con.execute(
                f"""
                WITH target AS (SELECT conversation_id, position FROM messages WHERE id = ?)
                SELECT {_MESSAGE_COLUMNS} FROM messages
                WHERE conversation_id = (SELECT conversation_id FROM target) AND on_active_branch
                  AND position BETWEEN (SELECT position FROM target) - ?
                                   AND (SELECT position FROM target) + ?
                ORDER BY position
                """,
                [message_id, n * 3, n * 3],
            ).fetchall()
        messages = [_message(r) for r in rows]
        at = next((i for i, m in enumerate(messages) if m.id == message_id), None)
        if at is None:
            return []
        return messages[max(0, at - n) : at + n + 1]

    def texts(self, workspace: str) -> list[TextMessage]:
        """The workspace's active-branch user/assistant text messages, sorted by id (so a
        seeded sample depends on the store's content only, never on the order rows come back
        in); NotFound when the workspace does not exist."""
        with self.db.connect() as con:
            if con.execute("SELECT 1 FROM workspaces WHERE name = ?", [workspace]).fetchone() is None:
                raise NotFound(f"workspace {workspace!r} does not exist")
            rows = con.execute(
                """SELECT m.id::VARCHAR, m.role, m.content, m.conversation_id::VARCHAR, m.language
                   FROM messages m JOIN conversations c ON m.conversation_id = c.id
                   JOIN workspaces w ON c.workspace_id = w.id
                   WHERE w.name = ? AND m.on_active_branch AND m.role IN ('user', 'assistant')
                     AND m.content_type = 'text'
                   ORDER BY m.id""",
                [workspace],
            ).fetchall()
        return [TextMessage(*r) for r in rows]

    def ids_for(self, workspace: str, wanted: Sequence[str]) -> list[tuple[str, str]]:
        """(message id, source id) of the workspace's messages whose message id (any case) or
        source id is in ``wanted``, by message id."""
        if not wanted:
            return []
        with self.db.connect() as con:
            return con.execute(
                """WITH wanted AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS ref)
                   SELECT m.id::VARCHAR, m.source_id
                   FROM messages m JOIN conversations c ON m.conversation_id = c.id
                   JOIN workspaces w ON c.workspace_id = w.id
                   WHERE w.name = ? AND (m.source_id IN (SELECT ref FROM wanted)
                                         OR m.id::VARCHAR IN (SELECT lower(ref) FROM wanted))
                   ORDER BY m.id""",
                [list(wanted), workspace],
            ).fetchall()

    def generated_among(self, message_ids: Sequence[str]) -> set[str]:
        """Which of ``message_ids`` the workbench's own model wrote."""
        if not message_ids:
            return set()
        with self.db.connect() as con:
            return {r[0] for r in con.execute(
                "SELECT id::VARCHAR FROM messages WHERE generated AND id IN (SELECT unnest(?::UUID[]))",
                [list(message_ids)],
            ).fetchall()}
