"""The LanceDB table of chunks: one per (embedding model, chunker), derived from DuckDB.

Rows carry everything a search hit shows (message id, source id, conversation title, speaker,
time, text), so a query never has to open DuckDB. Full-text search is LanceDB's own inverted
index; vector search is exact while the table is small and uses an IVF-HNSW-SQ index past
``ann_threshold`` rows. This module holds the primitives only: every write returns the table
version it committed, so that the caller can tell its own versions from anyone else's.
"""

from __future__ import annotations

import logging

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from workbench.search.lance_import import import_lancedb
from workbench.search.protocol import HIT_COLUMNS, Filters, best_first
from workbench.text.events import event_dates

log = logging.getLogger(__name__)
TS = pa.timestamp("us", tz="UTC")
LARGE_TABLE = 500_000  # rows from which vector search re-ranks more candidates
# The windows a chunk's own time phrases point to ("yesterday" in a turn of 8 May: 7 May), read
# once as the chunk is indexed so that a search only compares dates (reading them per candidate
# took 300 µs a text). The mark says every row's value was computed: a table made before the
# column has it added and filled by ``fill_events``; until then searches read the texts.
EVENTS = "events"
EVENT_TYPE = pa.list_(pa.struct([("since", TS), ("until", TS)]))
_FILLED = {"workbench:events": "filled"}


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
            pa.field(EVENTS, EVENT_TYPE, metadata=_FILLED),
            ("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


def events_of(rows: list[dict[str, Any]]) -> pa.Array:
    """The ``events`` column of index rows: each row's event windows, from its text and time."""
    return pa.array([[{"since": e.since, "until": e.until}
                      for e in event_dates(r.get("text") or "", r.get("created_at"))]
                     for r in rows], EVENT_TYPE)


def where(filters: Filters) -> str | None:
    """The scope as a LanceDB filter expression (None: everything)."""
    clauses = []
    for column in ("workspace", "conversation_id", "role"):
        value = getattr(filters, column)
        if value:
            clauses.append(f"{column} = {_quote(value)}")
    if filters.since:
        clauses.append(f"created_at >= {_timestamp(filters.since)}")
    if filters.until:
        clauses.append(f"created_at < {_timestamp(filters.until)}")
    if filters.exclude_message_ids:
        ids = ", ".join(_quote(i) for i in filters.exclude_message_ids)
        clauses.append(f"message_id NOT IN ({ids})")
    return " AND ".join(clauses) or None


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _timestamp(moment: datetime) -> str:
    return f"timestamp '{moment.astimezone().strftime('%Y-%m-%d %H:%M:%S.%f%z')}'"


class LanceTable:
    """One LanceDB table, created on first write. Holds no state beyond cached statistics
    (whether a vector index exists, the row count that picks the refine factor), which
    ``forget_stats`` clears after an index change."""

    def __init__(self, path: Path, name: str, dimension: int, ann_threshold: int = 20000):
        lancedb = import_lancedb()
        self.path = Path(path)
        self.name = name
        self.dimension = dimension
        self.ann_threshold = ann_threshold
        # Another process (a CLI import beside the running app) may have written: look again at
        # most every 2 s rather than on every query.
        self._db = lancedb.connect(str(self.path), read_consistency_interval=timedelta(seconds=2))
        self._handle = None
        self._ann: bool | None = None
        self._rows: int | None = None
        self._events: bool | None = None

    @property
    def handle(self):
        """The LanceDB table, created if missing."""
        if self._handle is None:
            if self.exists():
                self._handle = self._db.open_table(self.name)
            else:
                self._handle = self._db.create_table(self.name, schema=schema(self.dimension))
        return self._handle

    def existing(self):
        """The LanceDB table if it exists (without creating it)."""
        return self.handle if self._handle is not None or self.exists() else None

    def exists(self) -> bool:
        if self._handle is not None:
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
        if self.exists():
            self._db.drop_table(self.name)
        self._handle = None
        self.forget_stats()

    def forget_stats(self) -> None:
        self._ann = None
        self._rows = None
        self._events = None

    def has_events_column(self) -> bool:
        table = self.existing()
        return table is not None and EVENTS in table.schema.names

    def events_filled(self) -> bool:
        """Whether every row's event windows are stored (else a search reads them from texts)."""
        if self._events is None:
            table = self.existing()
            if table is None:
                return True  # a table made now has the column from its first row
            names = table.schema.names
            field = table.schema.field(EVENTS) if EVENTS in names else None
            self._events = field is not None and (field.metadata or {}).get(
                b"workbench:events") == b"filled"
        return self._events

    def hit_columns(self) -> list[str]:
        return HIT_COLUMNS + [EVENTS] if self.events_filled() else HIT_COLUMNS

    def version(self) -> int:
        """The latest version this handle knows (0: no table)."""
        table = self.existing()
        return table.version if table is not None else 0

    def kept_rows(self, first: int, last: int) -> bool:
        """Whether versions ``first`` to ``last`` changed no rows: each has the rows of the
        version before it and wrote none (a compaction or an index build does that; an append,
        a delete or an update does not)."""
        if last < first:
            return True
        versions = {v["version"]: v["metadata"] for v in self.handle.list_versions()}
        for version in range(first, last + 1):
            before, after = versions.get(version - 1), versions.get(version)
            if before is None or after is None:
                return False
            if (int(after["total_rows"]) != int(before["total_rows"])
                    or int(after["total_data_file_rows"]) > int(before["total_data_file_rows"])):
                return False
        return True

    def snapshot(self, extra: Sequence[str] = ()) -> tuple[pa.Table, int]:
        """Every row with its vector (and the ``extra`` columns), as of one version, and that
        version."""
        handle = self._db.open_table(self.name)
        version = handle.version
        handle.checkout(version)  # writes during the read are not in it
        columns = list(dict.fromkeys(self.hit_columns() + list(extra))) + ["vector"]
        return handle.search().select(columns).limit(None).to_arrow(), version

    def table_names(self) -> list[str]:
        """Every table of this LanceDB folder (one per embedding model and chunker)."""
        names, token = [], None
        while True:
            page = self._db.list_tables(page_token=token)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return names

    def count(self) -> int:
        return self.handle.count_rows() if self.exists() else 0

    def chunk_ids(self) -> pa.Array:
        """Every chunk id in the table (one column scan)."""
        if not self.exists():
            return pa.array([], pa.string())
        data = self.handle.search().select(["chunk_id"]).limit(None).to_arrow()
        return data.column("chunk_id").combine_chunks()

    def batch(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> pa.Table:
        """Rows and their vectors in the table's schema (a table made before the ``events``
        column gets none until ``fill_events`` adds it)."""
        full = schema(self.dimension)
        columns: dict[str, Any] = {name: [r[name] for r in rows] for name in full.names[:-2]}
        columns[EVENTS] = events_of(rows)
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
        columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, self.dimension)
        batch = pa.table(columns, schema=full)
        if self.exists() and not self.has_events_column():
            batch = batch.drop_columns([EVENTS])
        return batch

    def fill_events(self) -> bool:
        """Add and fill the ``events`` column of a table made before it; False: nothing to do.
        Only the rows whose texts name events are written (a few in a hundred); the mark comes
        last, so an interrupted fill is done again."""
        if not self.exists() or self.events_filled():
            return False
        if not self.has_events_column():
            self.handle.add_columns(pa.field(EVENTS, EVENT_TYPE))
        data = self.handle.search().select(["chunk_id", "text", "created_at"]).limit(None).to_arrow()
        rows = data.to_pylist()
        events = events_of(rows)
        dated = [i for i, found in enumerate(events.to_pylist()) if found]
        if dated:
            picked = pa.array(dated, pa.int64())
            update = pa.table({"chunk_id": data.column("chunk_id").take(picked),
                               EVENTS: events.take(picked)})
            self.handle.merge_insert("chunk_id").when_matched_update_all().execute(update)
        self.handle.update_field_metadata({"path": EVENTS, "metadata": _FILLED})
        self.forget_stats()
        return True

    # writes: each returns the version it committed ------------------------------------------
    def upsert(self, batch: pa.Table) -> int:
        return (self.handle.merge_insert("chunk_id").when_matched_update_all()
                .when_not_matched_insert_all().execute(batch).version)

    def add(self, batch: pa.Table) -> int:
        return self.handle.add(batch).version

    def delete(self, chunk_ids: Sequence[str]) -> int:
        return self.handle.delete(f"chunk_id IN ({', '.join(_quote(i) for i in chunk_ids)})").version

    def present(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of these chunk ids are in the table (about 11 ms at 100k rows)."""
        ids = ", ".join(_quote(i) for i in chunk_ids)
        found = (self.handle.search().where(f"chunk_id IN ({ids})").select(["chunk_id"])
                 .limit(len(chunk_ids)).to_list())
        return {r["chunk_id"] for r in found}

    # indexes ---------------------------------------------------------------------------------
    def index_names(self) -> set[str]:
        table = self.existing()
        return {ix.name for ix in table.list_indices()} if table is not None else set()

    def has_full_text(self) -> bool:
        return "search_text_idx" in self.index_names()

    def has_ann(self) -> bool:
        if self._ann is None:
            self._ann = "vector_idx" in self.index_names()
        return self._ann

    def vector_pieces(self) -> int:
        """How many pieces the vector index is in (1 after a build; 0 without one)."""
        return self.handle.index_stats("vector_idx").num_indices if self.has_ann() else 0

    def refine_factor(self) -> int:
        """How many SQ candidates per result are re-ranked on exact distances: a large table
        needs more (1M rows, 200 candidates: recall@10 vs exact 0.89 with 2, 0.96 with 5,
        0.99 with 10, for about 17 ms more a query than with 2)."""
        if self._rows is None:
            self._rows = self.count()
        return 10 if self._rows >= LARGE_TABLE else 2

    # searches --------------------------------------------------------------------------------
    def _text_search(self, query: str, filters: Filters):
        table = self.existing()
        if not query.strip() or table is None:
            return None
        search = table.search(query, query_type="fts", fts_columns="search_text")
        scope = where(filters)
        return search.where(scope, prefilter=True) if scope else search

    def search_text(self, query: str, filters: Filters, limit: int,
                    vectors: bool = False) -> list[dict[str, Any]]:
        search = self._text_search(query, filters)
        if search is None:
            return []
        try:
            columns = self.hit_columns() + ["_score"] + (["vector"] if vectors else [])
            rows = search.select(columns).limit(limit).to_list()
        except (ValueError, RuntimeError, OSError):
            return []  # no full-text index yet, or a query of stop words only
        return best_first(rows, "_score", descending=True)

    def search_text_scores(self, query: str, filters: Filters, limit: int) -> list[tuple[str, float]]:
        """Chunk ids and scores of the best full-text matches, ties in no set order: selecting
        more columns (the hit columns, or only the time and position that order ties) costs
        LanceDB several ms at 100k rows, and a mirror has them (see ``scored_rows``)."""
        search = self._text_search(query, filters)
        if search is None:
            return []
        try:
            found = search.select(["chunk_id", "_score"]).limit(limit).to_arrow()
        except (ValueError, RuntimeError, OSError):
            return []
        return list(zip(found.column("chunk_id").to_pylist(), found.column("_score").to_pylist()))

    def search_vector(
        self, vector: np.ndarray, filters: Filters, limit: int, exact: bool = False,
        ef: int = 100, refine_factor: int | None = None, vectors: bool = False,
    ) -> list[dict[str, Any]]:
        table = self.existing()
        if table is None:
            return []
        search = table.search(vector.astype(np.float32), vector_column_name="vector")
        search = search.distance_type("cosine")
        scope = where(filters)
        if scope:
            search = search.where(scope, prefilter=True)
        if exact:
            search = search.bypass_vector_index()
        elif self.has_ann():
            refine_factor = refine_factor or self.refine_factor()
            # HNSW needs ef ≥ the rows it returns, which the refine step multiplies.
            search = search.ef(max(ef, limit * refine_factor)).refine_factor(refine_factor)
        columns = self.hit_columns() + ["_distance"] + (["vector"] if vectors else [])
        return best_first(search.select(columns).limit(limit).to_list(), "_distance",
                          descending=False)
