"""The interaction log: one row per chat turn with its model, tokens, timings and memories."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from workbench.store.connection import DuckDBFile


class DuckDBInteractions:
    """One row per chat turn, never changed once written; listed oldest first."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def log(self, row: dict[str, Any]) -> str:
        iid = str(uuid.uuid4())
        with self.db.transaction() as con:
            con.execute(
                "INSERT INTO interactions VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    iid, row["workspace"], row["conversation_id"], row["user_message_id"],
                    row.get("assistant_message_id"), row.get("model"), row.get("endpoint"),
                    row.get("tokens_in"), row.get("tokens_out"), row.get("usage_source"),
                    row.get("retrieval_ms"), row.get("ttft_ms"), row.get("total_ms"),
                    row.get("overhead_ms"), row.get("retrieved_ids", []),
                    row.get("cited_ids", []), row.get("error"), datetime.now(timezone.utc),
                ],
            )
        return iid

    def list(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE conversation_id = ?", [conversation_id]) if conversation_id \
            else ("", [])
        with self.db.connect() as con:
            cursor = con.execute(f"SELECT * FROM interactions {where} ORDER BY created_at", params)
            names = [d[0] for d in cursor.description]
            return [
                {n: (str(v) if isinstance(v, uuid.UUID) else v) for n, v in zip(names, row)}
                for row in cursor.fetchall()
            ]
