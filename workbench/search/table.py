"""The LanceDB index: one table per (embedding model, chunker), derived from DuckDB.

Rows carry everything a search hit shows (message id, source id, conversation title, speaker,
time, text), so a query never has to open DuckDB. Full-text search is LanceDB's own inverted
index; vector search is exact while the table is small and uses an IVF-HNSW-SQ index past
``ann_threshold`` rows.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from workbench.search.mirror import Mirror

log = logging.getLogger(__name__)
TS = pa.timestamp("us", tz="UTC")
# Chat turns append one small fragment each, which every full-text search scans outside the
# index. Compaction folds them in (≈ 0.15 s at 100k rows, plus reloading the indexes) once
# COMPACT_EVERY appends are waiting and no append came for COMPACT_IDLE_S: maintenance runs
# while the person reads, not in a turn's indexing. Past COMPACT_AT_MOST it runs at once.
COMPACT_EVERY = 8
COMPACT_IDLE_S = 5.0
COMPACT_AT_MOST = 64
# Each compaction indexes the appended rows as one more small vector index beside the main one,
# and every LanceDB vector search reads them all (measured at 30k rows: 4.5 ms, then 12.9 ms
# after 32 compactions). Past this many, the index is rebuilt in one piece in the background
# (9 s at 30k rows, 30 s at 100k on two cores; LanceDB's Python API offers no cheaper merge).
# A larger table allows more pieces (one per ROWS_PER_PIECE), so that the rebuilds' cost per
# appended row stays about the same.
VECTOR_INDEXES_AT_MOST = 16
ROWS_PER_PIECE = 25_000
# The rebuild pauses while the index is in use and goes on after this long without a search or
# an append: a chat turn and its model then have the cores (during a rebuild, turns measured
# 100-160 ms instead of 60, and the first token came 1 s later, however low its priority).
QUIET_S = 10.0
LARGE_TABLE = 500_000  # rows from which vector search re-ranks more candidates
RETRY_BUILD_S = 30.0  # after a failed mirror build
CHECK_EVERY_S = 1.0  # how often a search asks LanceDB for the table version (0.5 ms a time)
SMALL_TABLE = 20_000  # rows whose mirror is built before the search that asks for it


def schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            ("chunk_id", pa.string()),
            ("message_id", pa.string()),
            ("conversation_id", pa.string()),
            ("workspace", pa.string()),
            ("source_id", pa.string()),
            ("title", pa.string()),
            ("role", pa.string()),
            ("speaker", pa.string()),
            ("created_at", TS),
            ("position", pa.int32()),
            ("text", pa.string()),
            ("search_text", pa.string()),
            ("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


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

    def where(self) -> str | None:
        clauses = []
        for column in ("workspace", "conversation_id", "role"):
            value = getattr(self, column)
            if value:
                clauses.append(f"{column} = {_quote(value)}")
        if self.since:
            clauses.append(f"created_at >= {_timestamp(self.since)}")
        if self.until:
            clauses.append(f"created_at < {_timestamp(self.until)}")
        if self.exclude_message_ids:
            ids = ", ".join(_quote(i) for i in self.exclude_message_ids)
            clauses.append(f"message_id NOT IN ({ids})")
        return " AND ".join(clauses) or None


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _timestamp(moment: datetime) -> str:
    return f"timestamp '{moment.astimezone().strftime('%Y-%m-%d %H:%M:%S.%f%z')}'"


class Index:
    """A LanceDB table of chunks with its vector and full-text indexes."""

    def __init__(
        self, path: Path, name: str, dimension: int, ann_threshold: int = 20000,
        mirror: bool = False,
    ):
        import lancedb

        self.path = Path(path)
        self.name = name
        self.dimension = dimension
        self.ann_threshold = ann_threshold
        # Another process (a CLI import beside the running app) may have written: look again at
        # most every 2 s rather than on every query.
        self._db = lancedb.connect(str(self.path), read_consistency_interval=timedelta(seconds=2))
        self._table = None
        self._ann: bool | None = None
        self._rows: int | None = None  # as of the last index change; picks the refine factor
        self._lock = threading.Lock()
        self._appends = 0
        self.compact_idle_s = COMPACT_IDLE_S
        self._compaction: threading.Timer | None = None
        self._write_lock = threading.Lock()  # an append waits for a running compaction
        self.last_compaction_ms: float | None = None
        self.max_vector_indexes = VECTOR_INDEXES_AT_MOST
        self._rebuild: threading.Thread | None = None
        self.last_rebuild_s: float | None = None
        self._child: subprocess.Popen | None = None  # the rebuild's process while it runs
        self._child_stopped = False
        self._busy_until = 0.0
        self._hurry = False
        # The in-memory mirror (see ``mirror``) and what keeps it in step with the table.
        self.mirror_enabled = mirror
        self._mirror: Mirror | None = None
        self._mirror_lock = threading.Lock()
        self._own: set[int] = set()  # table versions this process committed and applied
        self._writing = 0  # writes in flight: their versions are not in _own yet
        self._journal: list[tuple[int, Callable[[Mirror], None]]] | None = None  # during a build
        self._builder: threading.Thread | None = None
        self._generation = 0  # bumped by drop: a build of the dropped table is discarded
        self._failed_at = -RETRY_BUILD_S
        self._checked_at = -CHECK_EVERY_S

    @property
    def table(self):
        if self._table is None:
            with self._lock:
                if self._table is None:
                    if self.exists():
                        self._table = self._db.open_table(self.name)
                    else:
                        self._table = self._db.create_table(self.name, schema=schema(self.dimension))
        return self._table

    def _existing(self):
        """The table if it exists (without creating it); cached once opened."""
        if self._table is None and not self.exists():
            return None
        return self.table

    def exists(self) -> bool:
        if self._table is not None:
            return True
        token = None
        while True:
            page = self._db.list_tables(page_token=token)
            if self.name in page.tables:
                return True
            token = page.page_token
            if not token:
                return False

    def drop(self) -> None:
        if self._compaction is not None:
            self._compaction.cancel()
        self.wait_for_rebuild()
        if self.exists():
            self._db.drop_table(self.name)
        self._table = None
        self._ann = None
        self._rows = None
        with self._mirror_lock:
            self._mirror, self._own, self._generation = None, set(), self._generation + 1
            self._checked_at = -CHECK_EVERY_S

    def count(self) -> int:
        return self.table.count_rows() if self.exists() else 0

    def chunk_ids(self) -> pa.Array:
        """Every chunk id in the table (one column scan)."""
        if not self.exists():
            return pa.array([], pa.string())
        data = self.table.search().select(["chunk_id"]).limit(None).to_arrow()
        return data.column("chunk_id").combine_chunks()

    def arrow_batch(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> pa.Table:
        columns = {name: [r[name] for r in rows] for name in schema(self.dimension).names[:-1]}
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
        columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, self.dimension)
        return pa.table(columns, schema=schema(self.dimension))

    def upsert(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        """Insert or replace rows by chunk id (a resumed run may repeat its last batch)."""
        if not rows:
            return
        batch = self.arrow_batch(rows, vectors)
        with self._writes() as wrote:
            result = (
                self.table.merge_insert("chunk_id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(batch)
            )
            wrote(result.version, lambda mirror: mirror.add(batch))

    def append(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        """Add rows the ledger says are new: a few ms where a merge scans every chunk id.

        The ledger can lag the table (another process indexing the same turns at this moment,
        or a crash before the ledger's write), so ids already present are skipped. A current
        mirror knows them; LanceDB's lookup costs about 11 ms at 100k rows."""
        if not rows:
            return
        self._in_use()
        mirror = self._current_mirror()
        if mirror is not None:
            present = set(mirror.known([r["chunk_id"] for r in rows]))
        else:
            ids = ", ".join(_quote(r["chunk_id"]) for r in rows)
            present = {r["chunk_id"] for r in self.table.search().where(f"chunk_id IN ({ids})")
                       .select(["chunk_id"]).limit(len(rows)).to_list()}
        keep = [i for i, r in enumerate(rows) if r["chunk_id"] not in present]
        if keep:
            batch = self.arrow_batch([rows[i] for i in keep], vectors[keep])
            with self._write_lock, self._writes() as wrote:
                result = self.table.add(batch)
                wrote(result.version, lambda mirror: mirror.add(batch))
                self._appends += 1
            if self._appends >= COMPACT_AT_MOST:
                self.compact()
            elif self._appends >= COMPACT_EVERY:
                self._compact_when_idle()

    def _compact_when_idle(self) -> None:
        if self._compaction is not None:
            self._compaction.cancel()
        self._compaction = threading.Timer(self.compact_idle_s, self.compact)
        self._compaction.daemon = True
        self._compaction.start()

    def settle(self) -> None:
        """Run a compaction that waits for idleness now, and let a vector index rebuild finish
        (tests, benchmarks, before exit)."""
        self.wait_for_rebuild()
        if self._compaction is not None:
            self.compact()
        self.wait_for_rebuild()

    def wait_for_rebuild(self) -> None:
        rebuild = self._rebuild
        if rebuild is not None and rebuild.is_alive():
            self._hurry = True  # no more pauses: someone waits for it
            rebuild.join()

    def _in_use(self) -> None:
        """A search or an append: a running rebuild pauses until the index is quiet again."""
        self._busy_until = time.monotonic() + QUIET_S
        with self._lock:
            if self._child is not None and not self._child_stopped and not self._hurry:
                self._child.send_signal(signal.SIGSTOP)  # not sent once it has ended
                self._child_stopped = True

    def compact(self) -> None:
        """Merge small fragments and add unindexed rows to the existing indexes (no rebuild)."""
        started = time.perf_counter()
        timer, self._compaction = self._compaction, None
        if timer is not None:
            timer.cancel()  # this is the compaction it was waiting to run
        if self._rebuilding():
            # Its rewrite of the fragments would conflict with the rebuild's commit. Appends
            # pile up meanwhile (each a fragment that full-text search scans): past
            # COMPACT_AT_MOST the rebuild stops pausing.
            if self._appends >= COMPACT_AT_MOST:
                self._hurry = True
            self._compact_when_idle()
            return
        try:
            with self._write_lock:
                self._appends = 0
                self._rows = None
                with self._unchanged():
                    self.table.optimize()
            self.prewarm()
            self.last_compaction_ms = (time.perf_counter() - started) * 1000
        except (RuntimeError, OSError) as error:  # a concurrent writer won: the next one retries
            log.warning("index compaction of %s deferred: %s", self.name, error)
            return
        if self._fragmented():
            self._hurry = False
            self._rebuild = threading.Thread(target=self._rebuild_vectors, name="vector-index",
                                             daemon=True)
            self._rebuild.start()

    def _fragmented(self) -> bool:
        limit = max(self.max_vector_indexes, self.table.count_rows() // ROWS_PER_PIECE)
        return self.has_ann() and self.vector_indexes() > limit

    def vector_indexes(self) -> int:
        """How many pieces the vector index is in (1 after a build or a rebuild)."""
        return self.table.index_stats("vector_idx").num_indices

    def _rebuilding(self) -> bool:
        return self._rebuild is not None and self._rebuild.is_alive()

    def _rebuild_vectors(self) -> None:
        """The vector index in one piece again. Appends go on meanwhile (their rows are searched
        outside the index until the next compaction); compactions wait.

        The build runs in a child process, paused while the index is in use (``_in_use``): in
        this one it would occupy LanceDB's worker threads, and every search and append would
        wait for it to end (measured: a chat turn's indexing waited 37 s at 100k rows)."""
        started = time.perf_counter()
        command = [sys.executable, "-m", "workbench.search.table", str(self.path), self.name]
        try:
            # A file, not a pipe: a child writing more than a pipe holds would block unread.
            with tempfile.TemporaryFile("w+") as errors, self._index_commit() as built:
                child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
                self._watch(child)
                if child.returncode == 0:
                    built()
                errors.seek(0)
                lines = errors.read().strip().splitlines() or ["no error output"]
        except (OSError, RuntimeError, ValueError) as error:
            log.warning("vector index of %s not rebuilt: %s", self.name, error)
            return
        if child.returncode != 0:
            log.warning("vector index of %s not rebuilt: %s", self.name, lines[-1])
            return
        self.table.prewarm_index("vector_idx")
        self.last_rebuild_s = time.perf_counter() - started

    def _watch(self, child: subprocess.Popen) -> None:
        """Until the child ends: stopped while the index is in use, resumed once it is quiet."""
        with self._lock:
            self._child = child if _CAN_PAUSE else None
        try:
            while child.poll() is None:
                with self._lock:
                    if self._child_stopped and (
                            self._hurry or time.monotonic() >= self._busy_until):
                        child.send_signal(signal.SIGCONT)
                        self._child_stopped = False
                time.sleep(0.2)
        finally:
            with self._lock:
                if self._child_stopped:
                    child.send_signal(signal.SIGCONT)
                self._child, self._child_stopped = None, False

    def prewarm(self) -> None:
        """Load the rewritten indexes now, not in the next search (≈ 130 ms at 100k rows)."""
        names = {ix.name for ix in self.table.list_indices()}
        for name in ("vector_idx", "search_text_idx", "workspace_idx"):
            if name in names:
                self.table.prewarm_index(name)

    def delete(self, chunk_ids: Sequence[str]) -> None:
        for start in range(0, len(chunk_ids), 1000):
            part = list(chunk_ids[start : start + 1000])
            with self._writes() as wrote:
                result = self.table.delete(f"chunk_id IN ({', '.join(_quote(i) for i in part)})")
                wrote(result.version, lambda mirror, part=part: mirror.remove(part))

    def optimize(self) -> None:
        """Bring the full-text and vector indexes up to date with the rows."""
        self.wait_for_rebuild()
        table = self.table
        indexed = {ix.name: ix for ix in table.list_indices()}
        rows = table.count_rows()
        if rows == 0:
            return
        with self._unchanged():
            self._build_indexes(table, indexed, rows)
        self._ann = None
        self._rows = None
        if self._fragmented():  # an import waits for it: a one-shot command would not finish it
            self._hurry = False
            self._rebuild_vectors()

    def _build_indexes(self, table, indexed: dict, rows: int) -> None:
        from lancedb.index import FTS, Bitmap, BTree

        if "search_text_idx" not in indexed:
            table.create_index("search_text", config=FTS(), replace=True)
        if "chunk_id_idx" not in indexed:
            table.create_index("chunk_id", config=BTree(), replace=True)
        # Every search prefilters by workspace: a bitmap answers that without a column scan
        # (full-text 9 → 4 ms at 100k rows).
        for column in ("workspace", "role"):
            if f"{column}_idx" not in indexed:
                table.create_index(column, config=Bitmap(), replace=True)
        if rows >= self.ann_threshold and "vector_idx" not in indexed:
            table.create_index("vector", config=_vector_index(), replace=True)
        else:
            table.optimize()

    # the in-memory mirror ----------------------------------------------------------------------
    def mirror(self, wait: bool = False) -> Mirror | None:
        """The in-memory mirror if it reflects the table as it is now, else None (the caller
        searches LanceDB) after starting a rebuild in the background; ``wait`` waits for it,
        and so does a small table (built in under 0.1 s), so that its searches stay on one
        engine.

        The mirror is current when every table version after its own was committed by this
        process, which applied the same change to it. Another process's write (an import
        beside the running app) is seen within ``CHECK_EVERY_S`` plus LanceDB's own 2 s, and
        makes the mirror stale until the rebuild lands: 1 s at 100k rows, 20 s at 1M."""
        if not self.mirror_enabled:
            return None
        self._in_use()
        table = self._existing()
        if table is None:
            return None
        now = time.monotonic()
        if self._mirror is not None and not wait and now - self._checked_at < CHECK_EVERY_S:
            return self._mirror
        version = table.version
        with self._mirror_lock:
            mirror = self._mirror
            if mirror is not None and self._explained(mirror, version):
                self._checked_at = now
                if mirror.size > 2 * max(mirror.built_rows, SMALL_TABLE):
                    self._start_build()  # grown by imports: lists fit for its size; this serves meanwhile
                return mirror
            if self._writing and mirror is not None and version > mirror.version:
                return mirror  # our own write is landing; its rows follow in a moment
            small = self._builder is None and table.count_rows() < SMALL_TABLE
            builder = self._start_build()
        if builder is not None and (wait or small):
            builder.join()
            with self._mirror_lock:
                if self._mirror is not None and self._explained(self._mirror, table.version):
                    self._checked_at = time.monotonic()
                    return self._mirror
        return None

    def _current_mirror(self) -> Mirror | None:
        """The mirror if it reflects the latest table version (asked now, not rate-limited)."""
        if self._mirror is None:
            return None
        version = self.table.version
        with self._mirror_lock:
            mirror = self._mirror
            return mirror if mirror is not None and self._explained(mirror, version) else None

    def _start_build(self) -> threading.Thread | None:
        """The running build, or a new one (not within RETRY_BUILD_S of a failure)."""
        if self._builder is None and time.monotonic() - self._failed_at >= RETRY_BUILD_S:
            self._journal = []
            self._builder = threading.Thread(
                target=self._build_mirror, args=(self._generation,), name="mirror", daemon=True
            )
            self._builder.start()
        return self._builder

    def _explained(self, mirror: Mirror, version: int) -> bool:
        if version < mirror.version:
            return False  # dropped and created again
        if all(v in self._own for v in range(mirror.version + 1, version + 1)):
            mirror.version = version
            self._own = {v for v in self._own if v > version}
            return True
        return False

    def _build_mirror(self, generation: int) -> None:
        from workbench.search.mirror import Mirror

        try:
            handle = self._db.open_table(self.name)
            version = handle.version
            handle.checkout(version)  # a snapshot: writes during the build come from the journal
            data = handle.search().select(HIT_COLUMNS + ["vector"]).limit(None).to_arrow()
            mirror: Mirror | None = Mirror(data, version, self.dimension)
            del data
            # The build's buffers (vectors as float32: 1.5 GB at 1M rows) would otherwise stay
            # with Arrow's allocator: resident 5.2 → 3.8 GB at 1M.
            pa.default_memory_pool().release_unused()
        except Exception as error:  # noqa: BLE001 - the LanceDB path keeps answering
            log.warning("in-memory mirror of %s not built: %s", self.name, error)
            mirror = None
        with self._mirror_lock:
            if mirror is None:
                self._failed_at = time.monotonic()
            elif generation == self._generation:
                for committed, apply in self._journal or ():
                    if committed > mirror.version:
                        apply(mirror)
                self._mirror = mirror
            self._journal, self._builder = None, None

    @contextmanager
    def _writes(self) -> Iterator[Callable[[int, Callable[[Mirror], None]], None]]:
        """Around one commit: ``wrote(version, apply)`` applies the change to the mirror."""
        with self._mirror_lock:
            self._writing += 1

        def wrote(version: int, apply: Callable[[Mirror], None]) -> None:
            with self._mirror_lock:
                self._own.add(version)
                if self._mirror is not None:
                    apply(self._mirror)
                if self._journal is not None:
                    self._journal.append((version, apply))

        try:
            yield wrote
        finally:
            with self._mirror_lock:
                self._writing -= 1

    @contextmanager
    def _unchanged(self) -> Iterator[None]:
        """Around commits that keep the rows (compaction, index builds): their versions are
        ours if the row count held (a concurrent import would change it)."""
        table = self.table
        with self._mirror_lock:
            self._writing += 1
        try:
            before, rows = table.version, table.count_rows()
            yield
            after, held = table.version, table.count_rows() == rows
            with self._mirror_lock:
                if held:
                    self._own.update(range(before + 1, after + 1))
        finally:
            with self._mirror_lock:
                self._writing -= 1

    @contextmanager
    def _index_commit(self) -> Iterator[Callable[[], None]]:
        """Around a child process's index build, which appends may interleave with. The mirror
        is kept as it is meanwhile (as during any own write). ``built()``, once the child has
        committed, claims its one commit: the one version in the window that no own write
        explains. With more than one, another process wrote too, and the mirror is rebuilt.
        (Reading each version's row count instead costs ≈ 0.9 ms per version of the table.)"""
        table = self.table
        with self._mirror_lock:
            self._writing += 1
        before = table.version

        def built() -> None:
            table.checkout_latest()  # the child's commit, without the 2 s consistency wait
            with self._mirror_lock:
                # Versions the mirror has caught up with were explained (and forgotten) already.
                seen = max(before, self._mirror.version if self._mirror is not None else before)
                unknown = set(range(seen + 1, table.version + 1)) - self._own
                if len(unknown) == 1:
                    self._own |= unknown

        try:
            yield built
        finally:
            with self._mirror_lock:
                self._writing -= 1

    def has_ann(self) -> bool:
        if self._ann is None:
            table = self._existing()
            self._ann = table is not None and any(
                ix.name == "vector_idx" for ix in table.list_indices()
            )
        return self._ann

    # search primitives -------------------------------------------------------------------------
    def _text_search(self, query: str, filters: Filters):
        self._in_use()
        table = self._existing()
        if not query.strip() or table is None:
            return None
        search = table.search(query, query_type="fts", fts_columns="search_text")
        where = filters.where()
        return search.where(where, prefilter=True) if where else search

    def search_text(
        self, query: str, filters: Filters, limit: int, vectors: bool = False
    ) -> list[dict[str, Any]]:
        search = self._text_search(query, filters)
        if search is None:
            return []
        try:
            columns = HIT_COLUMNS + (["vector"] if vectors else [])
            return search.select(columns).limit(limit).to_list()
        except (ValueError, RuntimeError, OSError):
            return []  # no full-text index yet, or a query of stop words only

    def search_text_ids(self, query: str, filters: Filters, limit: int) -> list[str]:
        """Chunk ids of the best full-text matches: the hits themselves come from the mirror
        (selecting the hit columns too costs LanceDB several ms more)."""
        search = self._text_search(query, filters)
        if search is None:
            return []
        try:
            return search.select(["chunk_id"]).limit(limit).to_arrow().column("chunk_id").to_pylist()
        except (ValueError, RuntimeError, OSError):
            return []

    def refine_factor(self) -> int:
        """How many SQ candidates per result are re-ranked on exact distances: a large table
        needs more (1M rows, 200 candidates: recall@10 vs exact 0.89 with 2, 0.96 with 5,
        0.99 with 10, for about 17 ms more a query than with 2)."""
        if self._rows is None:
            table = self._existing()
            self._rows = table.count_rows() if table is not None else 0
        return 10 if self._rows >= LARGE_TABLE else 2

    def search_vector(
        self, vector: np.ndarray, filters: Filters, limit: int, exact: bool = False,
        ef: int = 100, refine_factor: int | None = None, vectors: bool = False,
    ) -> list[dict[str, Any]]:
        self._in_use()
        table = self._existing()
        if table is None:
            return []
        search = table.search(vector.astype(np.float32), vector_column_name="vector")
        search = search.distance_type("cosine")
        where = filters.where()
        if where:
            search = search.where(where, prefilter=True)
        if exact:
            search = search.bypass_vector_index()
        elif self.has_ann():
            refine_factor = refine_factor or self.refine_factor()
            # HNSW needs ef ≥ the rows it returns, which the refine step multiplies.
            search = search.ef(max(ef, limit * refine_factor)).refine_factor(refine_factor)
        columns = HIT_COLUMNS + ["_distance"] + (["vector"] if vectors else [])
        return search.select(columns).limit(limit).to_list()


def _vector_index():
    from lancedb.index import IvfHnswSq

    return IvfHnswSq(distance_type="cosine")


# Pausing needs SIGSTOP, and a way to end a paused child whose parent died (Linux's prctl).
_CAN_PAUSE = sys.platform == "linux"


def _rebuild_vector_index(path: str, name: str) -> None:
    """The child process of ``Index._rebuild_vectors``."""
    import lancedb

    os.nice(10)
    if _CAN_PAUSE:  # a paused child must not outlive its parent
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    table = lancedb.connect(path).open_table(name)
    table.create_index("vector", config=_vector_index(), replace=True)


if __name__ == "__main__":
    _rebuild_vector_index(sys.argv[1], sys.argv[2])
