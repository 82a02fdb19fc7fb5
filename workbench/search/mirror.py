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

A mirror reflects one table version. ``Index`` applies its own writes to it and rebuilds it
in the background when another process has written (see ``Index.mirror``).
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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

    # writes (the owning Index calls these under its lock) --------------------------------------
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
        return rows

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
