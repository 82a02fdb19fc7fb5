"""What the rest of the workbench asks of a search index, whatever stores it.

Sync writes chunks into it, retrieval and the chat search it, the benchmarks measure it. The
LanceDB table (``workbench.search.lancedb_index``) is today's implementation; a pgvector one
can be added beside it and must pass the same contract tests (tests/contract/).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Sequence

import numpy as np

# The columns of a hit, as every search returns them (a vector search adds ``_distance``).
HIT_COLUMNS = ["chunk_id", "message_id", "conversation_id", "workspace", "source_id", "title",
               "role", "speaker", "created_at", "position", "text"]


@dataclass
class Filters:
    """Scope of a search; every field optional. Times are half-open [since, until)."""

    workspace: str | None = None
    conversation_id: str | None = None
    role: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    exclude_message_ids: Sequence[str] = ()


def best_first(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows by their ``key`` score; rows of equal score in the order of the history (time,
    place in the conversation, untimed last), then by chunk id. LanceDB's full-text search
    returns rows of equal score (one text imported into two workspaces) in an order that
    changes from process to process, and rank fusion turns that order into scores: one home,
    or its restored backup, would answer differently each time."""
    sign = -1.0 if descending else 1.0

    def order(row: dict[str, Any]) -> tuple:
        created = row.get("created_at")
        position = row.get("position")
        return (sign * row[key], created is None, created.timestamp() if created else 0.0,
                position is None, position or 0, row["chunk_id"])

    return sorted(rows, key=order)


def scored_rows(scored: Sequence[tuple[str, float]],
                rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (of the chunk ids in ``scored``, from a mirror) with their full-text ``_score``,
    in the order of ``best_first``: what ``search_text`` returns, from ``search_text_scores``."""
    score = dict(scored)
    for row in rows:
        row["_score"] = score[row["chunk_id"]]
    return best_first(rows, "_score", descending=True)


class MirrorView(Protocol):
    """An in-memory copy that answers a search's vector leg and hit rows faster than the index."""

    def search_vector(self, vector: np.ndarray, filters: Filters, limit: int) -> list[dict[str, Any]]: ...

    def rows_of(self, chunk_ids: Sequence[str]) -> list[dict[str, Any]]: ...


class Index(Protocol):
    """A table of chunks with full-text and vector search, derived from the store.

    Rows are dicts with the ``HIT_COLUMNS`` and ``search_text``; vectors are unit-length float32
    rows. ``upsert`` replaces by chunk id; ``append`` skips ids already present. Searches
    return the best first, and rows of equal score in one order (see ``best_first``)."""

    name: str
    dimension: int
    mirror_enabled: bool

    def exists(self) -> bool: ...

    def drop(self) -> None: ...

    def count(self) -> int: ...

    def chunk_ids(self) -> Any: ...  # an Arrow array of strings

    def upsert(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None: ...

    def append(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None: ...

    def fold_if_due(self) -> bool: ...  # after appends: bring the indexes up to date if due

    def delete(self, chunk_ids: Sequence[str]) -> None: ...

    def maintain(self) -> Any: ...  # an upkeep report; results stay the same

    def has_full_text(self) -> bool: ...

    def has_ann(self) -> bool: ...

    def search_text(self, query: str, filters: Filters, limit: int,
                    vectors: bool = False) -> list[dict[str, Any]]: ...

    # The chunk ids and scores of ``search_text``, ties in no set order (see ``scored_rows``).
    def search_text_scores(self, query: str, filters: Filters,
                           limit: int) -> list[tuple[str, float]]: ...

    def search_vector(self, vector: np.ndarray, filters: Filters, limit: int, exact: bool = False,
                      ef: int = 100, refine_factor: int | None = None,
                      vectors: bool = False) -> list[dict[str, Any]]: ...

    def mirror(self, wait: bool = False) -> MirrorView | None: ...
