"""What ``workbench doctor`` asks the database: rows that lost their parent, index marks."""

from __future__ import annotations

from workbench.store.connection import DuckDBFile

# Each query counts rows whose parent row is gone; a healthy store answers 0 to all.
ORPHANS = {
    "messages without their conversation":
        "SELECT count(*) FROM messages WHERE conversation_id NOT IN (SELECT id FROM conversations)",
    "conversations without their workspace":
        "SELECT count(*) FROM conversations WHERE workspace_id NOT IN (SELECT id FROM workspaces)",
    "chunks without their message":
        "SELECT count(*) FROM chunks WHERE message_id NOT IN (SELECT id FROM messages)",
}


def orphans(db: DuckDBFile) -> dict[str, int]:
    with db.connect(read_only=False) as con:
        return {name: con.execute(sql).fetchone()[0] for name, sql in ORPHANS.items()}


def marked_ids(db: DuckDBFile, index: str) -> list[str]:
    """The chunk ids the ledger says ``index`` holds."""
    with db.connect() as con:
        return [r[0] for r in con.execute(
            "SELECT chunk_id FROM indexed_chunks WHERE index_name = ?", [index]).fetchall()]
