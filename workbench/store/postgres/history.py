"""Read-only summaries of a history on PostgreSQL, as pandas tables (the DuckDB ones' twins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import pandas as pd

_SCOPE = """
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id
    JOIN workspaces w ON w.id = c.workspace_id
    WHERE (?::TEXT IS NULL OR w.name = ?::TEXT)
"""


class PgHistory:
    """Queries over messages of one workspace (all when None); each reads through one
    borrowed connection and changes nothing."""

    def __init__(self, db):
        self.db = db

    def _frame(self, sql: str, params: list[Any]) -> "pd.DataFrame":
        import pandas as pd

        with self.db.connect() as con:
            cursor = con.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names)

    def overview(self, workspace: str | None = None) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT count(DISTINCT c.id) AS conversations, count(*) AS messages,
                   count(m.created_at) AS dated, min(m.created_at) AS first,
                   max(m.created_at) AS last
            {_SCOPE}""", [workspace, workspace])

    def messages_per_week(self, workspace: str | None = None) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT date_trunc('week', m.created_at)::DATE AS week, m.role, count(*) AS messages
            {_SCOPE} AND m.created_at IS NOT NULL
            GROUP BY 1, 2 ORDER BY week, m.role""", [workspace, workspace])

    def conversation_lengths(self, workspace: str | None = None) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT c.id::TEXT AS conversation_id, coalesce(c.title, '(untitled)') AS title,
                   w.name AS workspace, count(*) AS messages,
                   sum(length(m.content)) AS characters
            {_SCOPE} AND m.on_active_branch
            GROUP BY c.id, c.title, w.name ORDER BY messages DESC, title""", [workspace, workspace])

    def roles(self, workspace: str | None = None) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT m.role, count(*) AS messages,
                   round(count(*)::NUMERIC / sum(count(*)) OVER (), 4)::DOUBLE PRECISION AS share
            {_SCOPE} GROUP BY m.role ORDER BY messages DESC, m.role""", [workspace, workspace])

    def languages(self, workspace: str | None = None) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT coalesce(m.language, 'unknown') AS language, count(*) AS messages
            {_SCOPE} GROUP BY 1 ORDER BY messages DESC, language""", [workspace, workspace])

    def duplicates(self, workspace: str | None = None, top: int = 20) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT m.content_hash, count(*) AS copies, count(DISTINCT c.id) AS conversations,
                   left(regexp_replace(min(m.content), '\\s+', ' ', 'g'), 120) AS text
            {_SCOPE} AND trim(m.content) <> ''
            GROUP BY m.content_hash HAVING count(*) > 1
            ORDER BY copies DESC, text LIMIT ?""", [workspace, workspace, top])

    def sample(self, workspace: str | None = None, n: int = 300,
               seed: int = 0) -> "pd.DataFrame":
        return self._frame(f"""
            SELECT m.id::TEXT AS message_id, m.content, m.language
            {_SCOPE} AND trim(m.content) <> ''
            ORDER BY md5(m.id::TEXT || ?::TEXT) LIMIT ?""", [workspace, workspace, str(seed), n])

    def chunk_sizes(self, chunkers: Sequence[str]) -> "pd.DataFrame":
        names = list(chunkers)
        return self._frame("""
            SELECT chunker, count(*) AS chunks, count(DISTINCT message_id) AS messages,
                   round(avg(cardinality(string_to_array(text, ' '))), 1)::DOUBLE PRECISION
                     AS mean_words,
                   percentile_cont(0.95) WITHIN GROUP
                     (ORDER BY cardinality(string_to_array(text, ' '))) AS p95_words
            FROM chunks WHERE chunker = ANY(?::TEXT[])
            GROUP BY chunker ORDER BY array_position(?::TEXT[], chunker)""", [names, names])
