"""An in-memory mirror of one index table: a search's vector leg and its hits in milliseconds.

LanceDB stays the index of record: durable, shared between processes, and the full-text
index. But every LanceDB query has a fixed cost of a few milliseconds, and its HNSW search for
200 candidates took 12-15 ms at 100k rows on 2 cores. The mirror answers the same questions
from memory:

- the vectors in faiss with an fp16 scalar quantizer (distances to about 3 decimals), scanned
  whole while small and through inverted lists from ``IVF_FROM`` rows;
- the hit columns as one Arrow table, so a hit is a ``take`` rather than a query;
- the filter columns as integer codes and microseconds, so a scope is a numpy mask that faiss
  applies during the scan.

A mirror reflects one table version; ``Follower`` keeps it at the latest one (see its rule).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.search.protocol import best_first

IVF_FROM = 50_000  # rows from which the vectors go into inverted lists rather than one scan
# √rows inverted lists, 1/16 of them (at least 64) searched per query. Recall@10 against exact
# search on bench rows: 1M, 64 of 1000 lists: 0.997 in 2.5 ms (32: 0.948), built in 9 s with 10
# k-means rounds on 40 points a list; 100k, 64 of 316 lists: 0.981 in 0.9 ms (19: 0.90). A
# scope under SCAN_BELOW of the rows is scanned whole (exact): the lists near the query may
# hold none of its rows.
PROBE_SHARE = 1 / 16
MIN_PROBES = 64
TRAIN_POINTS = 40  # faiss asks for 39
SCAN_BELOW = 0.1
FILTER_COLUMNS = ("workspace", "conversation_id", "role")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SMALL_TABLE = 20_000  # rows whose mirror is built before the search that asks for it
RETRY_BUILD_S = 30.0  # after a failed build
CHECK_EVERY_S = 1.0  # how often a search asks for the table's version (0.5 ms a time)
log = logging.getLogger(__name__)


class _Codes:
    """A string column as integer codes (-1: null), growing as rows are added."""

    def __init__(self, column: pa.ChunkedArray):
        encoded = column.combine_chunks().dictionary_encode()
        self.lookup = {value: i for i, value in enumerate(encoded.dictionary.to_pylist())}
        self.codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)

    def extend(self, values: Sequence[str | None]) -> None:
        new = [-1 if v is None else self.lookup.setdefault(v, len(self.lookup)) for v in values]
        self.codes = np.concatenate([self.codes, np.asarray(new, dtype=np.int32)])


def _micros(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    micros = pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    return micros.astype(np.int64), valid


def _at(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1_000_000))


class Mirror:
    """Hit columns, filter codes and vectors of one table version, in memory.

    Rows keep their position for the mirror's life: a replaced or deleted chunk is only marked
    dead, so faiss ids (positions) never shift."""

    def __init__(self, data: pa.Table, version: int, dimension: int, ivf_from: int = IVF_FROM):
        import faiss

        self.version = version
        self.dimension = dimension
        # faiss must not scan lists that an add reallocates, and the arrays must agree in length
        self._lock = threading.RLock()
        vectors = _vectors(data, dimension)
        self._base = data.drop_columns(["vector"]).combine_chunks()
        self._untimed = self._base.drop_columns(["created_at"])
        self._extra: list[dict[str, Any]] = []  # rows added after the build, as dicts
        self._ids = {cid: i for i, cid in enumerate(self._base.column("chunk_id").to_pylist())}
        self._alive = np.ones(len(self._ids), dtype=bool)
        self._dead = len(self._base) - len(self._ids)  # duplicate ids: the last one stands
        if self._dead:
            self._alive[:] = False
            self._alive[list(self._ids.values())] = True
        self._codes = {name: _Codes(data.column(name)) for name in FILTER_COLUMNS}
        self._micros, self._timed = _micros(data.column("created_at"))
        rows = len(vectors)
        if rows >= ivf_from:
            lists = int(min(4096, math.sqrt(rows)))
            quantizer = faiss.IndexFlatIP(dimension)
            self._faiss = faiss.IndexIVFScalarQuantizer(
                quantizer, dimension, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
            self._faiss.cp.niter = 10
            sample = np.random.default_rng(0).permutation(rows)[: lists * TRAIN_POINTS]
            self._faiss.train(vectors[np.sort(sample)])
            self._lists = lists
        else:
            self._faiss = faiss.IndexScalarQuantizer(
                dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
            self._lists = 0
        self._faiss.add(vectors)
        self.built_rows = rows

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def size(self) -> int:
        """Positions in use, dead ones included."""
        return len(self._alive)

    # writes (the Follower calls these under its lock) -----------------------------------------
    def add(self, batch: pa.Table) -> None:
        """Add rows (a batch in the index schema); a chunk id already present is replaced."""
        rows = batch.select(self._base.column_names).to_pylist()
        vectors = _vectors(batch, self.dimension)
        micros, timed = _micros(batch.column("created_at"))
        with self._lock:
            start = self.size
            self._alive = np.concatenate([self._alive, np.ones(len(rows), dtype=bool)])
            for offset, row in enumerate(rows):
                old = self._ids.get(row["chunk_id"])
                if old is not None:
                    self._kill(old)
                self._ids[row["chunk_id"]] = start + offset
            self._extra.extend(rows)
            for name in FILTER_COLUMNS:
                self._codes[name].extend([r[name] for r in rows])
            self._micros = np.concatenate([self._micros, micros])
            self._timed = np.concatenate([self._timed, timed])
            self._faiss.add(vectors)

    def remove(self, chunk_ids: Sequence[str]) -> None:
        with self._lock:
            for chunk_id in chunk_ids:
                position = self._ids.pop(chunk_id, None)
                if position is not None:
                    self._kill(position)

    def _kill(self, position: int) -> None:
        if self._alive[position]:
            self._alive[position] = False
            self._dead += 1

    # reads ---------------------------------------------------------------------------------------
    def mask(self, filters) -> np.ndarray | None:
        """Positions in scope (None: every position)."""
        mask = self._alive if self._dead else None

        def narrow(part: np.ndarray) -> None:
            nonlocal mask
            mask = part if mask is None else mask & part

        for name in FILTER_COLUMNS:
            value = getattr(filters, name)
            if value:
                code = self._codes[name].lookup.get(value, -2)
                narrow(self._codes[name].codes == code)
        if filters.since is not None:
            narrow(self._timed & (self._micros >= _at(filters.since)))
        if filters.until is not None:
            narrow(self._timed & (self._micros < _at(filters.until)))
        return mask

    def search_vector(self, vector: np.ndarray, filters, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` nearest rows in scope, nearest first, with LanceDB's cosine
        ``_distance``."""
        import faiss

        with self._lock:
            return self._search_vector(faiss, vector, filters, limit)

    def _search_vector(self, faiss, vector: np.ndarray, filters, limit: int) -> list[dict[str, Any]]:
        mask = self.mask(filters)
        selected = self.size if mask is None else int(np.count_nonzero(mask))
        if selected == 0:
            return []
        parameters: dict[str, Any] = {}
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            parameters["sel"] = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        if self._lists:
            whole = selected < SCAN_BELOW * self.size
            probes = max(MIN_PROBES, int(self._lists * PROBE_SHARE))
            parameters["nprobe"] = self._lists if whole else min(self._lists, probes)
            params = faiss.SearchParametersIVF(**parameters)
        else:
            params = faiss.SearchParameters(**parameters)
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        scores, positions = self._faiss.search(query, min(limit, selected), params=params)
        found = [(int(p), float(s)) for p, s in zip(positions[0], scores[0]) if p >= 0]
        rows = self.rows([p for p, _ in found])
        for row, (_, score) in zip(rows, found):
            row["_distance"] = 1.0 - score
        # Ties would follow the positions, which differ between a mirror that took a chat's
        # appends and one loaded afresh.
        return best_first(rows, "_distance", descending=False)

    def known(self, chunk_ids: Sequence[str]) -> list[str]:
        """Which of these chunk ids are in the table."""
        with self._lock:
            return [c for c in chunk_ids if c in self._ids]

    def rows_of(self, chunk_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The rows of the given chunk ids, in their order; ids not (yet) here are skipped."""
        with self._lock:
            return self.rows([p for p in (self._ids.get(c) for c in chunk_ids) if p is not None])

    def rows(self, positions: Sequence[int]) -> list[dict[str, Any]]:
        """The hit columns of rows by position, as dicts (the shape of a LanceDB result)."""
        base = [p for p in positions if p < len(self._base)]
        found: dict[int, dict[str, Any]] = {}
        if base:
            # Arrow's conversion of zoned timestamps is most of a to_pylist: the times come
            # from the microseconds kept for filtering instead (200 rows: 0.95 → 0.5 ms).
            columns = self._untimed.take(pa.array(base, pa.int64()))
            values = [columns.column(name).to_pylist() for name in columns.column_names]
            values.append([
                _EPOCH + timedelta(microseconds=us) if timed else None
                for us, timed in zip(self._micros[base].tolist(), self._timed[base].tolist())
            ])
            names = columns.column_names + ["created_at"]
            found = dict(zip(base, (dict(zip(names, row)) for row in zip(*values))))
        return [
            found[p] if p < len(self._base) else dict(self._extra[p - len(self._base)])
            for p in positions
        ]


def _vectors(data: pa.Table, dimension: int) -> np.ndarray:
    flat = data.column("vector").combine_chunks().flatten()
    return np.ascontiguousarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(
        -1, dimension
    )


Change = Callable[[Mirror], None]


class Follower:
    """Keeps a mirror at the table's latest version, by one rule: a mirror at version v moves
    to a later version only through versions that this process committed (and applied to it
    as it committed them) or that changed no rows (a compaction or an index build, by anyone).
    Any other version, another process's write, makes it stale: searches go to LanceDB until a
    rebuild in the background lands (1 s at 100k rows, 20 s at 1M).

    ``snapshot`` reads every row as of one version; ``kept_rows(first, last)`` says whether
    those versions changed no rows. Own writes committed while a rebuild reads are kept and
    applied to the new mirror by the same rule."""

    def __init__(self, snapshot: Callable[[], tuple[pa.Table, int]],
                 kept_rows: Callable[[int, int], bool], dimension: int):
        self._snapshot = snapshot
        self._kept_rows = kept_rows
        self.dimension = dimension
        self.mirror: Mirror | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[int, Change]] | None = None  # own writes during a build
        self._builder: threading.Thread | None = None
        self._generation = 0  # bumped by drop: a build of the dropped table is discarded
        self._failed_at = -RETRY_BUILD_S
        self._checked_at = -CHECK_EVERY_S

    def _advance(self, mirror: Mirror, version: int, change: Change | None) -> bool:
        """Move ``mirror`` to ``version`` by the rule; False: it is stale."""
        if version <= mirror.version:
            return True  # a version it has (an own write that the snapshot already held)
        last_kept = version - 1 if change is not None else version
        if not self._kept_rows(mirror.version + 1, last_kept):
            return False
        if change is not None:
            change(mirror)
        mirror.version = version
        return True

    def committed(self, version: int, change: Change) -> None:
        """This process committed ``version`` with ``change``."""
        with self._lock:
            if self._pending is not None:
                self._pending.append((version, change))
            if self.mirror is not None and not self._advance(self.mirror, version, change):
                self.mirror = None

    def current(self, latest: Callable[[], int], recheck: bool = True) -> Mirror | None:
        """The mirror if it is at the ``latest()`` version or can move there by the rule, else
        None. Without ``recheck``, a mirror checked within CHECK_EVERY_S is taken as it is."""
        with self._lock:
            mirror = self.mirror
            if mirror is None:
                return None
            if not recheck and time.monotonic() - self._checked_at < CHECK_EVERY_S:
                return mirror
            if not self._advance(mirror, latest(), None):
                self.mirror = None
                return None
            self._checked_at = time.monotonic()
            if mirror.size > 2 * max(mirror.built_rows, SMALL_TABLE):
                self._start_build()  # grown by imports: lists fit for its size; this serves meanwhile
            return mirror

    def get(self, latest: Callable[[], int], rows: Callable[[], int], wait: bool) -> Mirror | None:
        """The current mirror; else None after starting a rebuild, which ``wait`` waits for
        (and so does a small table, built in under 0.1 s, so its searches stay on one engine)."""
        found = self.current(latest, recheck=wait)
        if found is not None:
            return found
        with self._lock:
            small = self._builder is None and rows() < SMALL_TABLE
            builder = self._start_build()
        if builder is not None and (wait or small):
            builder.join()
            return self.current(latest)
        return None

    def drop(self) -> None:
        with self._lock:
            self.mirror, self._pending, self._generation = None, None, self._generation + 1
            self._checked_at = -CHECK_EVERY_S

    def _start_build(self) -> threading.Thread | None:
        """The running build, or a new one (not within RETRY_BUILD_S of a failure)."""
        if self._builder is None and time.monotonic() - self._failed_at >= RETRY_BUILD_S:
            self._pending = []
            self._builder = threading.Thread(target=self._build, args=(self._generation,),
                                             name="mirror", daemon=True)
            self._builder.start()
        return self._builder

    def _build(self, generation: int) -> None:
        try:
            data, version = self._snapshot()
            mirror: Mirror | None = Mirror(data, version, self.dimension)
            del data
            # The build's buffers (vectors as float32: 1.5 GB at 1M rows) would otherwise stay
            # with Arrow's allocator: resident 5.2 → 3.8 GB at 1M.
            pa.default_memory_pool().release_unused()
        except Exception as error:  # noqa: BLE001 - the LanceDB path keeps answering
            log.warning("in-memory mirror not built: %s", error)
            mirror = None
        with self._lock:
            if mirror is None:
                self._failed_at = time.monotonic()
            elif generation == self._generation:
                if all(self._advance(mirror, v, change) for v, change in self._pending or ()):
                    self.mirror = mirror
                    self._checked_at = time.monotonic()
            self._pending, self._builder = None, None
