"""Read-only summaries of a history in DuckDB, as pandas tables for charts and notebooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from workbench.store.connection import DuckDBFile

if TYPE_CHECKING:
    import pandas as pd

_SCOPE = """
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id
    JOIN workspaces w ON w.id = c.workspace_id
    WHERE (?::VARCHAR IS NULL OR w.name = ?::VARCHAR)
"""


class DuckDBHistory:
    """Queries over messages of one workspace (all when None); each reads through one short
    connection and changes nothing."""

    def __init__(self, db: DuckDBFile):
        self.db = db

    def _frame(self, sql: str, workspace: str | None, *params: Any) -> "pd.DataFrame":
        with self.db.connect() as con:
            return con.execute(sql, [workspace, workspace, *params]).df()

    def overview(self, workspace: str | None = None) -> "pd.DataFrame":
        """One row: conversations, messages, dated messages, first and last message time."""
        return self._frame(f"""
            SELECT count(DISTINCT c.id) AS conversations, count(*) AS messages,
                   count(m.created_at) AS dated, min(m.created_at) AS first,
                   max(m.created_at) AS last
            {_SCOPE}""", workspace)

    def messages_per_week(self, workspace: str | None = None) -> "pd.DataFrame":
        """Messages per ISO week (Monday) and role; undated messages are left out."""
        return self._frame(f"""
            SELECT date_trunc('week', m.created_at)::DATE AS week, m.role, count(*) AS messages
            {_SCOPE} AND m.created_at IS NOT NULL
            GROUP BY ALL ORDER BY week, m.role""", workspace)

    def conversation_lengths(self, workspace: str | None = None) -> "pd.DataFrame":
        """Messages on each conversation's active branch, longest first."""
        return self._frame(f"""
            SELECT c.id::VARCHAR AS conversation_id, coalesce(c.title, '(untitled)') AS title,
                   w.name AS workspace, count(*) AS messages,
                   sum(length(m.content)) AS characters
            {_SCOPE} AND m.on_active_branch
            GROUP BY ALL ORDER BY messages DESC, title""", workspace)

    def roles(self, workspace: str | None = None) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT m.role, count(*) AS messages,
                   round(count(*) / sum(count(*)) OVER (), 4) AS share
            {_SCOPE} GROUP BY ALL ORDER BY messages DESC, m.role""", workspace)

    def languages(self, workspace: str | None = None) -> "pd.DataFrame":
        """Languages detected when messages were cleaned ("unknown": too short or unsure)."""
        return self._frame(f"""
            SELECT coalesce(m.language, 'unknown') AS language, count(*) AS messages
            {_SCOPE} GROUP BY ALL ORDER BY messages DESC, language""", workspace)

    def duplicates(self, workspace: str | None = None, top: int = 20) -> "pd.DataFrame":
        """Texts stored more than once (same content hash): copies, conversations, a preview."""
        return self._frame(f"""
            SELECT m.content_hash, count(*) AS copies, count(DISTINCT c.id) AS conversations,
                   left(regexp_replace(any_value(m.content), '\\s+', ' ', 'g'), 120) AS text
            {_SCOPE} AND trim(m.content) <> ''
            GROUP BY m.content_hash HAVING count(*) > 1
            ORDER BY copies DESC, text LIMIT ?""", workspace, top)

    def sample(self, workspace: str | None = None, n: int = 300,
               seed: int = 0) -> "pd.DataFrame":
        """``n`` non-empty messages chosen by a hash of their id and ``seed`` (stable across
        runs)."""
        return self._frame(f"""
            SELECT m.id::VARCHAR AS message_id, m.content, m.language
            {_SCOPE} AND trim(m.content) <> ''
            ORDER BY md5(m.id::VARCHAR || ?::VARCHAR) LIMIT ?""", workspace, str(seed), n)

    def chunk_sizes(self, chunkers: Sequence[str]) -> "pd.DataFrame":
        """Chunks per chunker and their length in words (what the embedder sees)."""
        names = list(chunkers)
        with self.db.connect() as con:
            return con.execute("""
                SELECT chunker, count(*) AS chunks, count(DISTINCT message_id) AS messages,
                       round(avg(len(string_split(text, ' '))), 1) AS mean_words,
                       quantile_cont(len(string_split(text, ' ')), 0.95) AS p95_words
                FROM chunks WHERE list_contains(?::VARCHAR[], chunker)
                GROUP BY chunker ORDER BY list_position(?::VARCHAR[], chunker)""",
                [names, names]).df()
