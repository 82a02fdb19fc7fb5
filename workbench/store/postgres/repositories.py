"""The PostgreSQL repositories that share the DuckDB ones' SQL, with what differs written here.

Most of the store's SQL is standard and runs on both backends through the ``?``-placeholder
connection; a repository here subclasses its DuckDB twin and replaces only the statements that
use DuckDB's own features (``arg_max``, registered Arrow tables, ``INSERT OR IGNORE``). The
contract suite runs both, so a DuckDB-only change to the shared SQL fails there.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from workbench.store.batches import DuckDBEvalBatches
from workbench.store.conversations import DuckDBConversations
from workbench.store.evalsets import DuckDBEvalSets
from workbench.store.interactions import DuckDBInteractions
from workbench.store.messages import DuckDBMessages
from workbench.store.runs import DuckDBEvalRuns


def copy_rows(con: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Rows into ``table`` through COPY: the fast path for thousands of rows."""
    with con.raw.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class PgConversations(DuckDBConversations):
    """Conversations and workspaces (the shared SQL as it is)."""


class PgMessages(DuckDBMessages):
    """Messages; two writers appending to one conversation take turns on its row, so each
    message gets its own position."""

    def _tail(self, con, cid: str) -> tuple[str | None, int]:
        con.execute("SELECT 1 FROM conversations WHERE id = ? FOR UPDATE", [cid])
        return con.execute(
            """SELECT (array_agg(id::TEXT ORDER BY position DESC)
                         FILTER (WHERE on_active_branch))[1],
                      coalesce(max(position) + 1, 0)
               FROM messages WHERE conversation_id = ?""",
            [cid],
        ).fetchone()


class PgInteractions(DuckDBInteractions):
    """The interaction log (the shared SQL as it is)."""


class PgEvalSets(DuckDBEvalSets):
    def _insert_queries(self, con, set_id: str, rows: list[dict[str, Any]]) -> None:
        copy_rows(con, "eval_queries", ["set_id", "query_id", "position", "text", "relevant",
                                        "workspace", "category", "metadata"],
                  ((set_id, r["query_id"], r["position"], r["text"], r["relevant"],
                    r["workspace"], r["category"], r["metadata"]) for r in rows))


class PgEvalRuns(DuckDBEvalRuns):
    def _insert_results(self, con, run_id: str, rows: list[dict[str, Any]]) -> None:
        copy_rows(con, "eval_results", ["run_id", "query_id", "ranking", "metrics", "search_ms"],
                  ((run_id, r["query_id"], r["ranking"], r["metrics"], r["search_ms"])
                   for r in rows))


class PgEvalBatches(DuckDBEvalBatches):
    """Notebook batches (the shared SQL as it is)."""
