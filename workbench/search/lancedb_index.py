"""The LanceDB implementation of ``Index``: the table, its upkeep and the in-memory mirror.

Searches go to the mirror when it is current (see ``Follower``) and to LanceDB otherwise.
Writes of this process run one at a time, under one lock, so that each reaches the mirror as
it commits; a chat append folds the appends into the indexes every ``fold_every`` of them.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from workbench.search import maintenance
from workbench.search.mirror import Follower, Mirror
from workbench.search.protocol import Filters
from workbench.search.table import LanceTable

log = logging.getLogger(__name__)


class LanceIndex:
    """A LanceDB table of chunks with its vector and full-text indexes, kept searchable fast.

    Invariant: every write of this process holds ``_writes`` from its commit until the mirror
    has it, so a search that finds the lock free sees no own version the mirror lacks."""

    def __init__(self, path: Path, name: str, dimension: int, ann_threshold: int = 20000,
                 mirror: bool = False):
        self.lance = LanceTable(path, name, dimension, ann_threshold)
        self.name = name
        self.dimension = dimension
        self.mirror_enabled = mirror
        self.fold_every = maintenance.FOLD_EVERY
        self.max_vector_indexes = maintenance.VECTOR_INDEXES_AT_MOST
        self.last_fold_ms: float | None = None
        self._appends = 0  # since the last fold
        self._writes = threading.Lock()
        self._follower = Follower(self.lance.snapshot, self.lance.kept_rows, dimension)

    @property
    def table(self):
        """The LanceDB table itself (created if missing), for inspection."""
        return self.lance.handle

    def exists(self) -> bool:
        return self.lance.exists()

    def drop(self) -> None:
        with self._writes:
            self.lance.drop()
            self._follower.drop()
            self._appends = 0

    def count(self) -> int:
        return self.lance.count()

    def chunk_ids(self) -> pa.Array:
        return self.lance.chunk_ids()

    # writes ------------------------------------------------------------------------------------
    def upsert(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        """Insert or replace rows by chunk id (a resumed run may repeat its last batch)."""
        if not rows:
            return
        batch = self.lance.batch(rows, vectors)
        with self._writes:
            version = self.lance.upsert(batch)
            self._follower.committed(version, lambda mirror: mirror.add(batch))

    def append(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        """Add rows the ledger says are new: a few ms where a merge scans every chunk id.

        The ledger can lag the table (another process indexing the same turns at this moment,
        or a crash before the ledger's write), so ids already present are skipped: a current
        mirror knows them, else LanceDB is asked."""
        if not rows:
            return
        batch = self.lance.batch(rows, vectors)
        ids = [r["chunk_id"] for r in rows]
        with self._writes:
            mirror = self._follower.current(self.lance.version) if self.mirror_enabled else None
            present = set(mirror.known(ids)) if mirror is not None else self.lance.present(ids)
            keep = [i for i, chunk_id in enumerate(ids) if chunk_id not in present]
            if not keep:
                return
            if len(keep) < len(ids):
                batch = batch.take(pa.array(keep, pa.int64()))
            version = self.lance.add(batch)
            self._follower.committed(version, lambda mirror: mirror.add(batch))
            self._appends += 1

    def fold_if_due(self) -> bool:
        """Fold the appended rows into the indexes once ``fold_every`` appends wait (each is a
        fragment that full-text search scans outside its index). A chat calls this after a
        turn's own work is done, so the fold is never part of what the turn waits for."""
        with self._writes:
            if self._appends < self.fold_every:
                return False
            started = time.perf_counter()
            try:
                maintenance.fold(self.lance)
            except (RuntimeError, OSError) as error:  # a concurrent writer won: the next one retries
                log.warning("index compaction of %s deferred: %s", self.name, error)
                return False
            self._appends = 0
            self.last_fold_ms = (time.perf_counter() - started) * 1000
            return True

    def delete(self, chunk_ids: Sequence[str]) -> None:
        with self._writes:
            for start in range(0, len(chunk_ids), 1000):
                part = list(chunk_ids[start : start + 1000])
                version = self.lance.delete(part)
                self._follower.committed(version, lambda mirror, part=part: mirror.remove(part))

    def maintain(self) -> maintenance.Upkeep:
        """Build missing indexes, fold appended rows in, and rebuild the vector index in one
        piece once it has too many; the rows, and so the mirror, stay as they are."""
        with self._writes:
            report = maintenance.maintain(self.lance, self.max_vector_indexes)
            self._appends = 0
            if report.events_filled:  # a new column: the mirror's rows lack it
                self._follower.drop()
        return report

    def vector_indexes(self) -> int:
        """How many pieces the vector index is in (1 after a build or a rebuild)."""
        return self.lance.vector_pieces()

    # searches ----------------------------------------------------------------------------------
    def has_full_text(self) -> bool:
        return self.lance.has_full_text()

    def has_ann(self) -> bool:
        return self.lance.has_ann()

    def refine_factor(self) -> int:
        return self.lance.refine_factor()

    def search_text(self, query: str, filters: Filters, limit: int,
                    vectors: bool = False) -> list[dict[str, Any]]:
        return self.lance.search_text(query, filters, limit, vectors)

    def search_text_scores(self, query: str, filters: Filters, limit: int) -> list[tuple[str, float]]:
        return self.lance.search_text_scores(query, filters, limit)

    def search_vector(
        self, vector: np.ndarray, filters: Filters, limit: int, exact: bool = False,
        ef: int = 100, refine_factor: int | None = None, vectors: bool = False,
    ) -> list[dict[str, Any]]:
        return self.lance.search_vector(vector, filters, limit, exact, ef, refine_factor, vectors)

    def mirror(self, wait: bool = False) -> Mirror | None:
        """The in-memory mirror if it reflects the table as it is now, else None (the caller
        searches LanceDB) after starting a rebuild in the background; ``wait`` waits for it.
        Another process's write is seen within a second plus LanceDB's own 2 s."""
        if not self.mirror_enabled or not self.lance.exists():
            return None
        if not self._writes.acquire(blocking=wait):
            # An own write is landing, or maintenance runs: the mirror gets it as it commits.
            return self._follower.mirror
        try:
            return self._follower.get(self.lance.version, self.lance.count, wait)
        finally:
            self._writes.release()
