"""The pgvector implementation of ``Index``: one PostgreSQL table of chunks per (model, chunker).

The table carries every hit column (as LanceDB's does), a ``vector(dimension)`` column with an
HNSW index (cosine) built once the table passes ``ann_threshold`` rows, and a stored tsvector
(English configuration, as LanceDB's full-text index stems English) with a GIN index.

pgvector 0.6 has no iterative index scans: an HNSW search returns ``hnsw.ef_search``
candidates (at most 1,000) and only then applies the scope, so a scope that holds a small
share of the rows loses results. A scoped search therefore asks the planner how many rows the
scope holds: a small scope (or one that would need more than 1,000 candidates) is searched
exactly, through its B-tree indexes; a wide one raises ``ef_search`` to cover it; and a search
that still comes back short is repeated exactly.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
from psycopg.types.range import Range

from workbench.search.protocol import HIT_COLUMNS, Filters, best_first
from workbench.text.events import event_dates
from workbench.store.postgres import fulltext, hnsw, packs
from workbench.store.postgres.connection import PgConnection, PgDatabase

TEXT_CONFIG = "english"
# ``events``: the windows a message's relative time phrases name (``text.events``), read once
# as it is written, as LanceDB's table keeps them; NULL in rows written before the column.
_COLUMNS = HIT_COLUMNS + ["search_text", "events"]
# A row (a 1.5 kB vector, its texts and their tsvector) passes PostgreSQL's 2 kB, past which the
# largest value, the vector, went out of line: every distance computed on the table read a TOAST
# entry (10k rows: 47k buffers and 24 ms for one exact search, 2.5k and 8 ms inline). Rows stay
# whole up to 4 kB, and past it the texts leave before the vector (its storage is MAIN).
TOAST_TARGET = 4080


@dataclass
class PgUpkeep:
    """What one ``maintain`` did (the fields of LanceDB's report; the HNSW index is one piece)."""

    rows: int = 0
    built: list[str] = field(default_factory=list)
    pieces_before: int = 0
    pieces_after: int = 0
    rebuilt: bool = False
    seconds: float = 0.0
    chunks_indexed: int = 0  # what the store held that the index lacked, indexed first

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _where(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = ["TRUE"], []
    for column in ("workspace", "conversation_id", "role"):
        value = getattr(filters, column)
        if value:
            clauses.append(f"{column} = %s")
            params.append(value)
    if filters.since:
        clauses.append("created_at >= %s")
        params.append(filters.since)
    if filters.until:
        clauses.append("created_at < %s")
        params.append(filters.until)
    if filters.exclude_message_ids:
        clauses.append("NOT (message_id = ANY(%s))")
        params.append(list(filters.exclude_message_ids))
    return " AND ".join(clauses), params


def _schema(t: str, ix, dimension: int) -> str:
    """The index table, its indexes and its full-text tables, made when missing."""
    return f"""
        CREATE TABLE IF NOT EXISTS {t} (
            chunk_id TEXT PRIMARY KEY,
            message_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            workspace TEXT NOT NULL,
            source_id TEXT,
            title TEXT,
            role TEXT,
            speaker TEXT,
            created_at TIMESTAMPTZ,
            position INTEGER,
            text TEXT NOT NULL,
            search_text TEXT NOT NULL,
            events TSTZRANGE[],
            tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('{TEXT_CONFIG}', search_text)) STORED,
            embedding VECTOR({int(dimension)}) NOT NULL
        ) WITH (toast_tuple_target = {TOAST_TARGET});
        CREATE INDEX IF NOT EXISTS {ix('tsv')} ON {t} USING gin (tsv);
        CREATE INDEX IF NOT EXISTS {ix('scope')} ON {t} (workspace, created_at);
        CREATE INDEX IF NOT EXISTS {ix('conversation')} ON {t} (conversation_id);
        CREATE TABLE IF NOT EXISTS {ix('terms')} (word TEXT PRIMARY KEY, ndoc INTEGER);
        CREATE TABLE IF NOT EXISTS {ix('meta')} (n BIGINT, avgdl DOUBLE PRECISION);
        CREATE TABLE IF NOT EXISTS {ix('postings')} (
            word TEXT NOT NULL, workspace TEXT NOT NULL, impact DOUBLE PRECISION NOT NULL,
            chunk_id TEXT NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY (chunk_id, word));
        CREATE INDEX IF NOT EXISTS {ix('postings_doc')} ON {ix('postings')}
            (word, doc) INCLUDE (workspace, impact);
        {packs.TABLES.format(**{suffix: ix(suffix) for suffix in packs.SUFFIXES})}
    """


class PgIndex:
    """A table of chunks with full-text and vector search in the store's PostgreSQL database.

    Writes of any process land in the table at once (no fold, no mirror); ``upsert`` replaces
    rows by chunk id and ``append`` skips ids already present, both in one statement."""

    mirror_enabled = False
    # Off, a scoped search is what pgvector 0.6 does alone (ef_search candidates, then the
    # scope): the search benchmark measures what the guard saves.
    scope_guard = True
    # Postings of the query's terms past which BM25's candidates come from them (``fulltext``).
    postings_from = fulltext.POSTINGS_FROM

    def __init__(self, db: PgDatabase, name: str, dimension: int, ann_threshold: int = 20000):
        self.db = db
        self.name = name
        self.dimension = dimension
        self.ann_threshold = ann_threshold
        self.last_fold_ms: float | None = None
        self._upgraded = False
        self._scopes = hnsw.ScopeEstimates()
        # Apart from the store's own tables (the ledger is called "chunks" too).
        self.table = f"index_{name}"
        self._t = '"' + self.table.replace('"', '""') + '"'

    @contextmanager
    def _connect(self) -> Iterator[PgConnection]:
        with self.db.connect() as con:
            if not getattr(con, "vectors", False):
                from pgvector.psycopg import register_vector

                register_vector(con.raw)
                con.vectors = True
            if not self._upgraded:
                self._upgraded = _add_events_column(con, self._t, self._ix("unfilled"))
                if self._upgraded and _outdated(con, self._ix("docs"), self._ix("pending")):
                    if self._create(con):  # numbers the rows, as full-text search reads them
                        self.pack()
            yield con

    def _ix(self, suffix: str) -> str:
        return '"' + f"{self.table}_{suffix}"[:63].replace('"', '""') + '"'

    # the table ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        with self.db.connect() as con:
            return con.raw.execute("SELECT to_regclass(%s) IS NOT NULL", [self._t]).fetchone()[0]

    def _create(self, con: PgConnection) -> bool:
        """Make the table, or bring one made by an older version up to date; True when its
        rows were numbered (then they want packing, which cannot run inside this transaction)."""
        with con.raw.transaction():
            # Two processes creating the table at once would clash on the catalog.
            con.raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.table])
            exists = con.raw.execute("SELECT to_regclass(%s) IS NOT NULL", [self._t]).fetchone()[0]
            numbered = _made(con, self._ix("docs"))
            if exists and not numbered:  # made before rows had numbers: its postings lack them
                con.raw.execute(f"DROP TABLE IF EXISTS {self._ix('postings')}")
            if numbered and not _made(con, self._ix("pending")):
                packs.unkey_gone(con.raw, self._ix("gone"))
            con.raw.execute(_schema(self._t, self._ix, self.dimension))
            if not exists:  # (a catalog change, so once: it takes the table's strongest lock)
                con.raw.execute(f"ALTER TABLE {self._t} ALTER COLUMN embedding SET STORAGE MAIN")
            if not numbered:
                con.raw.execute(packs.STORAGE.format(**self._names()))
            if exists and not numbered:
                con.raw.execute(packs.NUMBER.format(**self._names(), rows="TRUE"))
                con.raw.execute(self._postings_sql("TRUE"))
        return exists and not numbered

    def _names(self) -> dict[str, str]:
        return dict(table=self._t, postings=self._ix("postings"),
                    **{suffix: self._ix(suffix) for suffix in packs.SUFFIXES})

    def drop(self) -> None:
        with self.db.connect() as con:
            tables = [self._t, *(self._ix(s) for s in ("terms", "meta", "postings", *packs.SUFFIXES))]
            con.raw.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")

    def count(self) -> int:
        if not self.exists():
            return 0
        with self.db.connect() as con:
            return con.raw.execute(f"SELECT count(*) FROM {self._t}").fetchone()[0]

    def chunk_ids(self) -> pa.Array:
        if not self.exists():
            return pa.array([], pa.string())
        with self.db.connect() as con:
            rows = con.raw.execute(f"SELECT chunk_id FROM {self._t}").fetchall()
        return pa.array([r[0] for r in rows], pa.string())

    # writes ------------------------------------------------------------------------------------
    def upsert(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:] + ["embedding"])
        self._write(rows, vectors, f"ON CONFLICT (chunk_id) DO UPDATE SET {updates}")

    def append(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        self._write(rows, vectors, "ON CONFLICT (chunk_id) DO NOTHING")

    def _write(self, rows: list[dict[str, Any]], vectors: np.ndarray, conflict: str) -> None:
        if not rows:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._connect() as con:
            if not self.exists():
                # Its lock is held to the end of a transaction the write may join (an indexer's
                # claim): taken only when there is something to create.
                self._create(con)
            with con.raw.transaction():
                con.raw.execute(f"CREATE TEMP TABLE incoming_chunks ON COMMIT DROP AS "
                                f"SELECT {', '.join(_COLUMNS)}, embedding FROM {self._t} WITH NO DATA")
                with con.raw.cursor() as cursor:
                    with cursor.copy(f"COPY incoming_chunks ({', '.join(_COLUMNS)}, embedding) "
                                     "FROM STDIN WITH (FORMAT BINARY)") as copy:
                        copy.set_types(["text"] * 8 + ["timestamptz", "int4", "text", "text",
                                                       "tstzrange[]", "vector"])
                        for row, vector in zip(rows, vectors):
                            copy.write_row([row[c] for c in _COLUMNS[:-1]]
                                           + [_event_ranges(row), vector])
                con.raw.execute(f"INSERT INTO {self._t} ({', '.join(_COLUMNS)}, embedding) "
                                f"SELECT * FROM incoming_chunks {conflict}")
                con.raw.execute(packs.NUMBER.format(**self._names(), rows="i.chunk_id IN (SELECT "
                                                    "chunk_id FROM incoming_chunks)"))
                # After the rows: their locks order two writers of one chunk, and the key
                # keeps a posting once when both add it.
                incoming = "chunk_id IN (SELECT chunk_id FROM incoming_chunks)"
                con.raw.execute(packs.GONE.format(**self._names(), rows=f"d.{incoming}"))
                con.raw.execute(f"DELETE FROM {self._ix('postings')} WHERE {incoming}")
                con.raw.execute(self._postings_sql(f"c.{incoming}"))
                con.raw.execute("DROP TABLE incoming_chunks")  # the transaction may go on

    def fold_if_due(self) -> bool:
        return False  # PostgreSQL's indexes take each row as it is written

    def delete(self, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids or not self.exists():
            return
        with self.db.connect() as con:
            with con.raw.transaction():
                # The rows first: a packing waits for this transaction, so the watermark that
                # chooses the gone rows is the one the packs it leaves were made with.
                con.raw.execute(f"DELETE FROM {self._t} WHERE chunk_id = ANY(%s)", [list(chunk_ids)])
                con.raw.execute(packs.GONE.format(**self._names(), rows="d.chunk_id = ANY(%s)"),
                                [list(chunk_ids)])
                for table in (self._ix("postings"), self._ix("docs")):
                    con.raw.execute(f"DELETE FROM {table} WHERE chunk_id = ANY(%s)",
                                    [list(chunk_ids)])

    def maintain(self) -> PgUpkeep:
        """Build the HNSW index once the table has ``ann_threshold`` rows, fill in the event
        windows of rows written before they were kept, and refresh the planner's statistics
        (which the scoped vector search reads)."""
        started = time.perf_counter()
        report = PgUpkeep(rows=self.count())
        if not self.exists():
            return report
        report.pieces_before = report.pieces_after = int(self.has_ann())
        with self.db.connect() as con, self._maintaining(con):
            self._create(con)
            if report.rows >= self.ann_threshold and not self.has_ann():
                con.raw.execute(f"SET maintenance_work_mem = '{hnsw.build_memory_mb(report.rows)}MB'")
                con.raw.execute(f"CREATE INDEX IF NOT EXISTS {self._ix('hnsw')} ON {self._t} "
                                f"USING hnsw (embedding vector_cosine_ops) WITH ({hnsw.OPTIONS})")
                con.raw.execute("RESET maintenance_work_mem")
                report.built = ["hnsw"]
                report.pieces_after = 1
            _add_events_column(con, self._t, self._ix("unfilled"))
            _fill_events(con, self._t, self._ix("unfilled"))
            con.raw.execute(f"ANALYZE {self._t}")
            self._count_terms(con)
            if not con.raw.execute(f"SELECT EXISTS (SELECT FROM {self._ix('postings')})").fetchone()[0]:
                con.raw.execute(self._postings_sql("TRUE"))  # a table written before postings
            if packs.due(*con.raw.execute(packs.DUE.format(**self._names())).fetchone()):
                self.pack()
            con.raw.execute(f"VACUUM ANALYZE {self._ix('postings')}")  # index-only scans
        report.seconds = time.perf_counter() - started
        return report

    def pack(self) -> None:
        """Pack every posting for full-text search (``packs``); ``maintain`` does it when due."""
        with self.db.connect() as con:
            packs.pack(con.raw, self.table, self._names())

    @contextmanager
    def _maintaining(self, con: PgConnection) -> Iterator[None]:
        """One process at a time: two would rebuild the term counts over each other (a key
        conflict) and race on creating the HNSW index."""
        key = f"{self.table}:maintain"
        con.raw.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
        try:
            yield
        finally:
            con.raw.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])

    def _count_terms(self, con: PgConnection) -> None:
        """Refresh the document frequencies and mean length that BM25 reads."""
        source = f"SELECT tsv FROM {self._t}".replace("'", "''")
        with con.raw.transaction():
            # DELETE, not TRUNCATE: its ACCESS EXCLUSIVE lock would wait for every reader (a
            # backup's snapshot) and queue the readers behind it.
            con.raw.execute(f"DELETE FROM {self._ix('terms')}")
            con.raw.execute(f"DELETE FROM {self._ix('meta')}")
            con.raw.execute(f"INSERT INTO {self._ix('terms')} SELECT word, ndoc "
                            f"FROM ts_stat('{source}')")
            con.raw.execute(f"INSERT INTO {self._ix('meta')} SELECT count(*), avg(length(tsv)) "
                            f"FROM {self._t}")

    def _postings_sql(self, rows: str) -> str:
        return fulltext.WRITE_POSTINGS.format(**self._names(), meta=self._ix("meta"), rows=rows)

    # searches ----------------------------------------------------------------------------------
    def _has_index(self, suffix: str) -> bool:
        with self.db.connect() as con:
            return con.raw.execute("SELECT to_regclass(%s) IS NOT NULL",
                                   [self._ix(suffix)]).fetchone()[0]

    def has_full_text(self) -> bool:
        return self._has_index("tsv")

    def has_ann(self) -> bool:
        return self._has_index("hnsw")

    def _columns(self, vectors: bool) -> str:
        return ", ".join(HIT_COLUMNS + ["events"] + (["embedding AS vector"] if vectors else []))

    def search_text(self, query: str, filters: Filters, limit: int,
                    vectors: bool = False) -> list[dict[str, Any]]:
        rows = self._text_matches(query, filters, limit, vectors)
        for row in rows:
            row.pop("_score")
        return rows

    def search_text_scores(self, query: str, filters: Filters, limit: int) -> list[tuple[str, float]]:
        return [(r["chunk_id"], r["_score"]) for r in self._text_matches(query, filters, limit, False)]

    def _text_matches(self, query: str, filters: Filters, limit: int,
                      vectors: bool) -> list[dict[str, Any]]:
        if not query.strip():
            return []
        where, params = _where(filters)
        columns = ", ".join(f"c.{c}" for c in HIT_COLUMNS + ["events"])
        columns += ", c.embedding AS vector" if vectors else ""
        names = dict(self._names(), columns=columns, where=where)
        with self._connect() as con:
            terms = fulltext.terms_of(con, query, TEXT_CONFIG, self._ix("meta"),
                                      self._ix("terms"), self.exists)
            if not terms:
                return []
            rows, avgdl = terms[0][3], terms[0][4]
            weights = fulltext.weights_params([(t, df, idf) for t, df, idf, _, _ in terms])
            found = None
            if sum(t[1] for t in terms) >= self.postings_from:
                docs = packs.best_docs(packs.read(con, names, weights, filters.workspace or None),
                                        2 * limit)
                found = _dicts(con.raw.execute(fulltext.FROM_DOCS.format(**names), [
                    *weights, avgdl, docs, *params, limit]))
            # A scope narrower than the candidates' may have left too few of them.
            narrower = where.count(" AND ") > (1 if filters.workspace else 0)
            if found is None or len(found) < limit and narrower:
                chosen = fulltext.rarer_terms([(t, df) for t, df, *_ in terms], rows)
                found = _dicts(con.raw.execute(fulltext.EXACT.format(**names), [
                    *weights, avgdl, fulltext.tsquery(chosen), *params, limit]))
        return found

    def search_vector(
        self, vector: np.ndarray, filters: Filters, limit: int, exact: bool = False,
        ef: int = 100, refine_factor: int | None = None, vectors: bool = False,
    ) -> list[dict[str, Any]]:
        where, params = _where(filters)
        query = np.asarray(vector, dtype=np.float32)
        sql = (f"SELECT {self._columns(vectors)}, embedding <=> %s AS _distance FROM {self._t} "
               f"WHERE {where} ORDER BY embedding <=> %s LIMIT %s")
        args = [query, *params, query, limit]
        with self._connect() as con:
            exists, has_ann, total = hnsw.catalog(con, self._t, self._ix("hnsw"))
            if not exists:
                return []
            if exact or not has_ann:
                ef_search = None
            else:  # without the guard, a scope is searched as if there were none
                guarded = self.scope_guard and where != "TRUE"
                scoped = self._scopes.rows(con, self._t, where, params) if guarded else None
                ef_search = hnsw.ef_search(ef, limit, scoped, total)
            found = _dicts(hnsw.run(con, sql, args, ef_search))
            if self.scope_guard and ef_search is not None and where != "TRUE" and len(found) < limit:
                found = _dicts(hnsw.run(con, sql, args, None))  # the scope lost rows: exact
        return best_first(found, "_distance", descending=False)

    def mirror(self, wait: bool = False) -> None:
        return None  # the server answers every search; a process keeps no copy


def _add_events_column(con: PgConnection, table: str, unfilled: str) -> bool:
    """A table made before ``events`` gets the column (its rows' windows are read from their
    text until ``maintain`` fills them in), and an index of the rows still to fill, ``unfilled``,
    which ``_fill_events`` drops once they are: a table that has none is never scanned for
    them (at 1M rows a scan took 3 s of every import's upkeep). False: no table yet."""
    exists, missing = con.raw.execute(
        "SELECT to_regclass(%s) IS NOT NULL, NOT EXISTS (SELECT FROM pg_attribute WHERE "
        "attrelid = to_regclass(%s) AND attname = 'events' AND NOT attisdropped)",
        [table, table]).fetchone()
    if exists and missing:
        with con.raw.transaction():
            con.raw.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS events TSTZRANGE[]")
            con.raw.execute(f"CREATE INDEX IF NOT EXISTS {unfilled} ON {table} (chunk_id) "
                            "WHERE events IS NULL")
    return exists


def _made(con: PgConnection, table: str) -> bool:
    return con.raw.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]


def _outdated(con: PgConnection, docs: str, pending: str) -> bool:
    """Whether the table's full-text tables are an older version's: rows without numbers, or
    gone rows marked once by key (packing then locked writers out)."""
    return not (_made(con, docs) and _made(con, pending))


def _fill_events(con: PgConnection, table: str, unfilled: str, batch: int = 5000) -> None:
    while con.raw.execute("SELECT to_regclass(%s) IS NOT NULL", [unfilled]).fetchone()[0]:
        rows = con.raw.execute(f"SELECT chunk_id, text, created_at FROM {table} "
                               f"WHERE events IS NULL LIMIT {batch}").fetchall()
        if not rows:
            con.raw.execute(f"DROP INDEX IF EXISTS {unfilled}")
            return
        with con.raw.transaction(), con.raw.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET events = %s WHERE chunk_id = %s", [
                (_event_ranges({"text": text, "created_at": created}), chunk_id)
                for chunk_id, text, created in rows])


def _event_ranges(row: dict[str, Any]) -> list[Range]:
    return [Range(e.since, e.until, "[)")
            for e in event_dates(row.get("text") or "", row.get("created_at"))]


def _dicts(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    for row in rows:
        if "events" in row:  # as LanceDB gives them; a row written before they were kept: none
            events = row.pop("events")
            if events is not None:
                row["events"] = [{"since": e.lower, "until": e.upper} for e in events]
        vector = row.get("vector")
        if vector is not None:  # pgvector's Vector, as the other backends give it
            row["vector"] = np.asarray(getattr(vector, "to_numpy", lambda: vector)(), np.float32)
    return rows
