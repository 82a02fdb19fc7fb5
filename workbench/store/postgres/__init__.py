"""The ``Store`` on a PostgreSQL server (with pgvector for the index): the backend a team shares.

Chosen by ``WORKBENCH_DATABASE_URL=postgresql://...``; the embedded DuckDB home stays the
default. Its schema has its own migrations (``migrations.PG_MIGRATIONS``).
"""

from __future__ import annotations

from dataclasses import dataclass

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


__all__ = ["PostgresStore", "is_postgres_url"]
