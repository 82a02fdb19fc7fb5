"""The DuckDB store: one database file and a repository per group of tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.store.answers import DuckDBAnswerRuns
from workbench.store.batches import DuckDBEvalBatches
from workbench.store.chunks import DuckDBChunks
from workbench.store.connection import DuckDBFile
from workbench.store.conversations import DuckDBConversations
from workbench.store.evalsets import DuckDBEvalSets
from workbench.store.history import DuckDBHistory
from workbench.store.imports import DuckDBImports
from workbench.store.interactions import DuckDBInteractions
from workbench.store.messages import DuckDBMessages
from workbench.store.runs import DuckDBEvalRuns
from workbench.store.users import DuckDBUsers


@dataclass(frozen=True)
class DuckDBEvals:
    """The evaluation tables: sets and their queries, runs and their results, batches."""

    sets: DuckDBEvalSets
    runs: DuckDBEvalRuns
    batches: DuckDBEvalBatches


class DuckDBStore(DuckDBFile):
    """The ``Store`` kept in one DuckDB file at the latest schema version.

    Every repository works through this file's short-lived connections, so a write made inside
    ``transaction()`` by any of them joins the same transaction."""

    def __init__(self, path: Path | str, lock_timeout_s: float = 30.0, linger_s: float = 0.0,
                 read_only: bool = False):
        super().__init__(path, lock_timeout_s, linger_s, read_only)
        self.conversations = DuckDBConversations(self)
        self.messages = DuckDBMessages(self)
        self.imports = DuckDBImports(self)
        self.chunks = DuckDBChunks(self)
        self.interactions = DuckDBInteractions(self)
        self.evals = DuckDBEvals(DuckDBEvalSets(self), DuckDBEvalRuns(self),
                                 DuckDBEvalBatches(self))
        self.history = DuckDBHistory(self)
        self.users = DuckDBUsers(self)
        self.answer_runs = DuckDBAnswerRuns(self)
