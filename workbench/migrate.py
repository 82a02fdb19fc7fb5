"""``workbench migrate --to postgresql://...``: an embedded home moved to PostgreSQL, verified.

Every store table is copied with its ids, then every LanceDB table with its vectors (nothing is
embedded again), then each side is counted and hashed table by table. A run interrupted
part-way (a lost connection, a kill) is started again with the same command: tables recorded
as copied are skipped, an index table resumes after its last committed batch.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from workbench.config import Settings
from workbench.errors import InvalidInput
from workbench.search.protocol import HIT_COLUMNS

Progress = Callable[[str, int, int], None]
INDEX_BATCH = 5000


@dataclass
class TableCheck:
    """One table on both sides: rows and content digests, and whether this run copied it."""

    name: str
    source_rows: int
    target_rows: int
    source_digest: str
    target_digest: str
    copied: bool

    @property
    def same(self) -> bool:
        return (self.source_rows, self.source_digest) == (self.target_rows, self.target_digest)


@dataclass
class MigrationReport:
    target: str
    tables: list[TableCheck] = field(default_factory=list)
    rows_copied: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.same for t in self.tables)

    def to_dict(self) -> dict:
        return {"target": self.target, "ok": self.ok, "rows_copied": self.rows_copied,
                "seconds": round(self.seconds, 3),
                "tables": [{**asdict(t), "same": t.same} for t in self.tables]}


def migrate_home(settings: Settings, url: str,
                 progress: Progress = lambda stage, done, total: None) -> MigrationReport:
    """Copy the home of ``settings`` (its DuckDB file and LanceDB tables) into the PostgreSQL
    database at ``url`` and compare every table; safe to run again after an interruption."""
    from workbench.search.table import LanceTable
    from workbench.store import DuckDBStore
    from workbench.store.postgres import SCHEMES, PostgresStore, is_postgres_url, redacted
    from workbench.store.transfer import (STORE_TABLES, DuckDBSource, copied, copy_table,
                                          duckdb_digest, pg_digest)

    if not is_postgres_url(url):
        raise InvalidInput(f"{url}: the target must be a URL starting with {' or '.join(SCHEMES)}")
    if not settings.duckdb_path.exists():
        raise InvalidInput(f"{settings.duckdb_path}: no embedded home to migrate")
    started = time.perf_counter()
    DuckDBStore(settings.duckdb_path).release()  # brought to the latest schema first
    target = PostgresStore(url)
    source = DuckDBSource(settings.duckdb_path)
    key = str(settings.duckdb_path.resolve())
    report = MigrationReport(redacted(url))
    try:
        done = copied(target, key)
        for step, table in enumerate(STORE_TABLES):
            progress("copy", step, len(STORE_TABLES))
            if table not in done:
                report.rows_copied += copy_table(target, key, table, source.columns(table),
                                                 source.rows(table))
            rows, digest = duckdb_digest(source, table)
            target_rows, target_digest = pg_digest(target, table, source.columns(table))
            report.tables.append(TableCheck(table, rows, target_rows, digest, target_digest,
                                            table not in done))
        lance = LanceTable(settings.lancedb_path, "_", 1) if settings.lancedb_path.exists() else None
        for name in (lance.table_names() if lance else []):
            check, rows = _copy_index(settings, target, key, name, f"index:{name}" not in done)
            report.tables.append(check)
            report.rows_copied += rows
    finally:
        source.close()
        target.release()
    report.seconds = time.perf_counter() - started
    return report


def _copy_index(settings: Settings, target, key: str, name: str,
                wanted: bool) -> tuple[TableCheck, int]:
    """Copy one LanceDB table into its pgvector twin (rows already there are kept) and compare."""
    from workbench.search.table import LanceTable
    from workbench.store.postgres.index import PgIndex
    from workbench.store.transfer import Digest, pg_digest, record_copy

    data, _ = LanceTable(settings.lancedb_path, name, 1).snapshot(extra=["search_text"])
    dimension = data.schema.field("vector").type.list_size
    vectors = (data.column("vector").combine_chunks().flatten().to_numpy()
               .astype(np.float32).reshape(-1, dimension))
    rows = data.drop_columns(["vector"]).to_pylist()
    index = PgIndex(target, name, dimension, settings.ann_threshold)
    copied_rows = 0
    if wanted:
        for start in range(0, len(rows), INDEX_BATCH):
            index.append(rows[start:start + INDEX_BATCH], vectors[start:start + INDEX_BATCH])
            copied_rows += len(rows[start:start + INDEX_BATCH])
        index.maintain()
        record_copy(target, key, f"index:{name}", len(rows))
    columns = HIT_COLUMNS + ["search_text"]
    digest = Digest(columns + ["vector"])
    for row, vector in zip(rows, vectors):
        digest.add([row[c] for c in columns] + [vector])
    target_rows, target_digest = pg_digest(target, index.table, columns + ["embedding"])
    return TableCheck(index.table, len(rows), target_rows, digest.hexdigest(), target_digest,
                      wanted), copied_rows



def migrate_to_home(settings: Settings, home: Path,
                    progress: Progress = lambda stage, done, total: None) -> MigrationReport:
    """Copy the PostgreSQL database of ``settings`` into a new embedded home at ``home`` (ids
    kept, every pgvector table into LanceDB with its vectors, nothing re-embedded) and compare
    every table. Each table is one transaction: run it again after an interruption and the
    tables already there are kept."""
    from workbench.store import DuckDBStore
    from workbench.store.postgres import PostgresStore, is_postgres_url
    from workbench.store.transfer import (STORE_TABLES, DuckDBSource, PgSource, copy_into_duckdb,
                                          duckdb_digest, pg_digest)

    if not is_postgres_url(settings.database_url):
        raise InvalidInput(f"{home}: copying into a home needs WORKBENCH_DATABASE_URL="
                           "postgresql://... (the database to copy)")
    target = settings.model_copy(update={"home": Path(home), "database_url": None})
    started = time.perf_counter()
    source = PostgresStore(settings.database_url)
    reader = PgSource(source)
    report = MigrationReport(str(home))
    try:
        duck = DuckDBStore(target.duckdb_path)
        copied = {}
        for step, table in enumerate(STORE_TABLES):
            progress("copy", step, len(STORE_TABLES))
            copied[table] = copy_into_duckdb(duck, table, reader)
            report.rows_copied += copied[table] or 0
        duck.release()
        check = DuckDBSource(target.duckdb_path)
        try:
            for table in STORE_TABLES:
                rows, digest = duckdb_digest(check, table)
                there_rows, there_digest = pg_digest(source, table, check.columns(table))
                report.tables.append(TableCheck(table, there_rows, rows, there_digest, digest,
                                                copied[table] is not None))
        finally:
            check.close()
        for name, dimension in reader.index_tables().items():
            progress("index", 0, 1)
            table_check, rows = _index_into_home(target, reader, name, dimension)
            report.tables.append(table_check)
            report.rows_copied += rows
    finally:
        source.release()
    report.seconds = time.perf_counter() - started
    return report


def _index_into_home(target: Settings, reader, name: str,
                     dimension: int) -> tuple[TableCheck, int]:
    """One pgvector table into its LanceDB twin in the new home (kept if already there)."""
    from workbench.search.lancedb_index import LanceIndex
    from workbench.search.table import LanceTable
    from workbench.store.transfer import Digest, pg_digest

    columns = HIT_COLUMNS + ["search_text"]
    index = LanceIndex(target.lancedb_path, name, dimension, target.ann_threshold)
    wanted = index.count() == 0
    copied_rows = 0
    if wanted:
        for batch in reader.rows(f"index_{name}", columns + ["embedding"]):
            rows = [dict(zip(columns, row[:-1])) for row in batch]
            vectors = np.stack([np.asarray(row[-1].to_numpy(), np.float32) for row in batch])
            index.append(rows, vectors)
            copied_rows += len(rows)
        index.maintain()
    data, _ = LanceTable(target.lancedb_path, name, 1).snapshot(extra=["search_text"])
    vectors = (data.column("vector").combine_chunks().flatten().to_numpy()
               .astype(np.float32).reshape(-1, dimension))
    digest = Digest(columns + ["vector"])
    for row, vector in zip(data.drop_columns(["vector"]).to_pylist(), vectors):
        digest.add([row[c] for c in columns] + [vector])
    there_rows, there_digest = pg_digest(reader.store, f"index_{name}", columns + ["embedding"])
    return TableCheck(f"index_{name}", there_rows, len(vectors), there_digest, digest.hexdigest(),
                      wanted), copied_rows
