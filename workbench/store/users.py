"""Users, their API keys and the client chats they keep as conversations (DuckDB and PostgreSQL).

Passwords and keys arrive here already hashed: this module stores and finds rows, the door
decides what a hash is and who may see what.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from workbench.errors import InvalidInput, NotFound
from workbench.records import ApiKey, User
from workbench.store.connection import DuckDBFile

_USER_COLUMNS = "id::VARCHAR, name, workspaces, disabled, created_at"
_KEY_COLUMNS = "id::VARCHAR, user_id::VARCHAR, name, prefix, created_at, last_used_at, revoked_at"


def _user(row: tuple) -> User:
    return User(row[0], row[1], list(row[2]), bool(row[3]), row[4])


class DuckDBUsers:
    """One row per user (unique name) and per API key (unique prefix); a revoked key keeps its
    row, so its name and last use stay visible."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def add(self, name: str, password_hash: str, workspaces: list[str]) -> User:
        uid = str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        with self.db.transaction() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
                raise InvalidInput(f"user {name!r} exists already")
            con.execute("INSERT INTO users VALUES (?, ?, ?, ?, FALSE, ?, ?)",
                        [uid, name, password_hash, workspaces, now, now])
        return User(uid, name, list(workspaces), False, now)

    def get(self, name_or_id: str) -> User:
        with self.db.connect() as con:
            row = con.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE name = ? OR id::VARCHAR = ?",
                [name_or_id, name_or_id],
            ).fetchone()
        if row is None:
            raise NotFound(f"user {name_or_id!r} does not exist")
        return _user(row)

    def password_hash(self, name: str) -> tuple[User, str] | None:
        with self.db.connect() as con:
            row = con.execute(f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE name = ?",
                              [name]).fetchone()
        return (_user(row), row[5]) if row else None

    def list(self) -> list[User]:
        with self.db.connect() as con:
            rows = con.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
        return [_user(r) for r in rows]

    def count(self) -> int:
        with self.db.connect() as con:
            return con.execute("SELECT count(*) FROM users").fetchone()[0]

    def update(self, name: str, password_hash: str | None = None,
               disabled: bool | None = None) -> User:
        user = self.get(name)
        with self.db.transaction() as con:
            if password_hash is not None:
                con.execute("UPDATE users SET password_hash = ?, updated_at = now() WHERE id = ?",
                            [password_hash, user.id])
            if disabled is not None:
                con.execute("UPDATE users SET disabled = ?, updated_at = now() WHERE id = ?",
                            [disabled, user.id])
        return self.get(user.id)

    # -- API keys -------------------------------------------------------------------------------
    def add_key(self, user_id: str, name: str, prefix: str, key_hash: str) -> ApiKey:
        kid = str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        with self.db.transaction() as con:
            con.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                        [kid, user_id, name, prefix, key_hash, now])
        return ApiKey(kid, user_id, name, prefix, now)

    def keys(self, user_id: str) -> list[ApiKey]:
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE user_id = ? ORDER BY created_at",
                [user_id],
            ).fetchall()
        return [ApiKey(*r) for r in rows]

    def key_by_prefix(self, prefix: str) -> tuple[ApiKey, str] | None:
        """The key with this prefix and its stored hash, revoked or not."""
        with self.db.connect() as con:
            row = con.execute(f"SELECT {_KEY_COLUMNS}, key_hash FROM api_keys WHERE prefix = ?",
                              [prefix]).fetchone()
        return (ApiKey(*row[:7]), row[7]) if row else None

    def revoke_key(self, user_id: str, key_id: str) -> ApiKey:
        with self.db.transaction() as con:
            found = con.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE id::VARCHAR = ? AND user_id = ? RETURNING id",
                [key_id, user_id],
            ).fetchall()
        if not found:
            raise NotFound(f"API key {key_id!r} does not exist")
        return next(k for k in self.keys(user_id) if k.id == key_id)

    def touch_key(self, key_id: str) -> None:
        with self.db.transaction() as con:
            con.execute("UPDATE api_keys SET last_used_at = now() WHERE id = ?", [key_id])

    # -- client chats ---------------------------------------------------------------------------
    def client_chat(self, user_id: str, client_key: str) -> str | None:
        """The conversation kept for this client chat, if it still exists."""
        with self.db.connect() as con:
            row = con.execute(
                """SELECT k.conversation_id::VARCHAR FROM client_chats k
                   JOIN conversations c ON c.id = k.conversation_id
                   WHERE k.user_id = ? AND k.client_key = ?""",
                [user_id, client_key],
            ).fetchone()
        return row[0] if row else None

    def link_client_chat(self, user_id: str, client_key: str, conversation_id: str) -> None:
        with self.db.transaction() as con:
            con.execute(
                # Standard SQL, so the PostgreSQL store shares it.
                """INSERT INTO client_chats VALUES (?, ?, ?, ?) ON CONFLICT (user_id, client_key)
                   DO UPDATE SET conversation_id = excluded.conversation_id,
                                 created_at = excluded.created_at""",
                [user_id, client_key, conversation_id, datetime.now(timezone.utc)],
            )
