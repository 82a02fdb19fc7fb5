"""Index upkeep: folding appended rows into the indexes, and the vector index kept in few pieces.

Two moments, both synchronous:

- ``fold`` (every ``FOLD_EVERY`` chat appends, in the turn's background indexing): compaction
  merges the small fragments each append leaves, which every full-text search would otherwise
  scan outside its index, and the indexes take in the new rows. The vector index takes them
  as one more small piece beside the main one.
- ``maintain`` (the end of an import's indexing, ``workbench maintain``, the scheduled
  evaluation): builds missing indexes, folds, and rebuilds the vector index in one piece once it
  has more than ``pieces_limit`` pieces, since every LanceDB vector search reads them all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from workbench.search.table import LanceTable

FOLD_EVERY = 8
VECTOR_INDEXES_AT_MOST = 16
# A larger table allows more pieces (one per ROWS_PER_PIECE rows), so that what a rebuild
# costs per appended row stays about the same.
ROWS_PER_PIECE = 25_000


@dataclass
class Upkeep:
    """What one ``maintain`` did."""

    rows: int = 0
    built: list[str] | None = None  # indexes that did not exist before
    pieces_before: int = 0
    pieces_after: int = 0
    rebuilt: bool = False
    events_filled: bool = False  # a table made before the events column got it
    seconds: float = 0.0
    chunks_indexed: int = 0  # what the store held that the index lacked, indexed first

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def pieces_limit(rows: int, at_most: int = VECTOR_INDEXES_AT_MOST) -> int:
    return max(at_most, rows // ROWS_PER_PIECE)


def fold(table: LanceTable) -> None:
    """Compact the fragments and add unindexed rows to the existing indexes, then load the
    rewritten indexes now rather than in the next search."""
    table.handle.optimize()
    table.forget_stats()
    names = table.index_names()
    for name in ("vector_idx", "search_text_idx", "workspace_idx"):
        if name in names:
            table.handle.prewarm_index(name)


def build_missing(table: LanceTable, rows: int) -> list[str]:
    """Create the indexes the table lacks; the names of those created."""
    from lancedb.index import FTS, Bitmap, BTree

    existing = table.index_names()
    wanted = {"search_text_idx": ("search_text", FTS()), "chunk_id_idx": ("chunk_id", BTree()),
              # Every search prefilters by workspace: a bitmap answers that without a scan.
              "workspace_idx": ("workspace", Bitmap()), "role_idx": ("role", Bitmap())}
    if rows >= table.ann_threshold:
        wanted["vector_idx"] = ("vector", _vector_index())
    built = []
    for name, (column, config) in wanted.items():
        if name not in existing:
            table.handle.create_index(column, config=config, replace=True)
            built.append(name)
    table.forget_stats()
    return built


def rebuild_vector_index(table: LanceTable) -> None:
    """The vector index in one piece (30 s at 100k rows on two cores; LanceDB's Python API
    offers no cheaper merge of its pieces)."""
    table.handle.create_index("vector", config=_vector_index(), replace=True)
    table.forget_stats()


def maintain(table: LanceTable, at_most: int = VECTOR_INDEXES_AT_MOST) -> Upkeep:
    started = time.perf_counter()
    report = Upkeep(rows=table.count())
    if report.rows == 0:
        return report
    report.events_filled = table.fill_events()
    report.built = build_missing(table, report.rows)
    if "vector_idx" not in report.built:  # a fresh vector index holds every row already
        table.handle.optimize()
        table.forget_stats()
    report.pieces_before = table.vector_pieces()
    if report.pieces_before > pieces_limit(report.rows, at_most):
        rebuild_vector_index(table)
        report.rebuilt = True
    report.pieces_after = table.vector_pieces()
    report.seconds = time.perf_counter() - started
    return report


def _vector_index():
    from lancedb.index import IvfHnswSq

    return IvfHnswSq(distance_type="cosine")
