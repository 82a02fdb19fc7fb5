"""The ``Store`` on a PostgreSQL server (with pgvector for the index): the backend a team shares.

Chosen by ``WORKBENCH_DATABASE_URL=postgresql://...``; the embedded DuckDB home stays the
default. Its schema has its own migrations (``migrations.PG_MIGRATIONS``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import quote

from workbench.store.postgres.connection import PgDatabase, redacted
from workbench.store.answers import DuckDBAnswerRuns
from workbench.store.users import DuckDBUsers
from workbench.store.postgres.history import PgHistory
from workbench.store.postgres.ledger import PgChunks, PgImports
from workbench.store.postgres.repositories import (PgConversations, PgEvalBatches, PgEvalRuns,
                                                   PgEvalSets, PgInteractions, PgMessages)

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.startswith(SCHEMES)


@dataclass(frozen=True)
class PgEvals:
    sets: PgEvalSets
    runs: PgEvalRuns
    batches: PgEvalBatches


class PostgresStore(PgDatabase):
    """The ``Store`` in one PostgreSQL database at the latest schema version; any number of
    processes and machines read and write it at once."""

    def __init__(self, url: str):
        super().__init__(url)
        self.conversations = PgConversations(self)
        self.messages = PgMessages(self)
        self.imports = PgImports(self)
        self.chunks = PgChunks(self)
        self.interactions = PgInteractions(self)
        self.evals = PgEvals(PgEvalSets(self), PgEvalRuns(self), PgEvalBatches(self))
        self.history = PgHistory(self)
        self.users = DuckDBUsers(self)  # its SQL is standard
        self.answer_runs = DuckDBAnswerRuns(self)  # so is this

    def __repr__(self) -> str:
        return f"PostgresStore({redacted(self.url)!r})"




@contextmanager
def scratch_schema(url: str, name: str) -> Iterator[str]:
    """A URL whose tables land in a new schema ``name`` of the database at ``url`` (pgvector's
    types still found in ``public``), dropped with everything in it when the block ends: a
    benchmark's own empty store on a server it may not create databases on."""
    import psycopg

    quoted = '"' + name.replace('"', '""') + '"'
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")
        con.execute(f"CREATE SCHEMA {quoted}")
    options = quote(f"-c search_path={name},public")
    try:
        yield url + ("&" if "?" in url else "?") + f"options={options}"
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")


__all__ = ["PostgresStore", "is_postgres_url", "scratch_schema"]
