"""Moving an embedded home's tables to PostgreSQL: rows read from DuckDB, copied, compared.

Each table is copied in one transaction (COPY into a temporary table, then ``INSERT ... ON
CONFLICT DO NOTHING``, so ids stay as they are and a repeated copy adds nothing) and recorded in
the target's ``_copies``; a run after an interruption skips the recorded tables. A table's
digest hashes every row in a form both backends give alike (UUIDs and times as text, JSON
parsed, vectors as float32 bytes), sorted, so row order and collation do not matter.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

# Every table of the store, parents before children; the index tables are copied after them.
STORE_TABLES = ["workspaces", "conversations", "messages", "imports", "chunks", "chunk_state",
                "indexed_chunks", "interactions", "eval_sets", "eval_queries", "eval_batches",
                "eval_runs", "eval_results", "users", "api_keys", "client_chats", "answer_runs",
                "answer_results"]
JSON_COLUMNS = {"metadata", "warnings", "params", "gate", "metrics", "per_category"}
BATCH_ROWS = 5000


def _normal(value: Any, json_column: bool = False) -> Any:
    if json_column and value is not None:
        return json.loads(value) if isinstance(value, str) else value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "to_numpy"):  # pgvector's Vector
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        return np.asarray(value, dtype=np.float32).tobytes().hex()
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    return value


class Digest:
    """Rows counted and hashed one at a time; ``hexdigest`` does not depend on their order."""

    def __init__(self, columns: Sequence[str]):
        self.json = [c in JSON_COLUMNS for c in columns]
        self.rows: list[bytes] = []

    def add(self, row: Sequence[Any]) -> None:
        normal = [_normal(v, j) for v, j in zip(row, self.json)]
        text = json.dumps(normal, sort_keys=True, ensure_ascii=False, default=str)
        self.rows.append(hashlib.sha256(text.encode()).digest())

    def hexdigest(self) -> str:
        return hashlib.sha256(b"".join(sorted(self.rows))).hexdigest()


class DuckDBSource:
    """The embedded home's DuckDB file, read-only (no other process may write it meanwhile)."""

    def __init__(self, path: Path):
        import duckdb

        self.path = path
        self.con = duckdb.connect(str(path), read_only=True)
        self.con.execute("SET TimeZone = 'UTC'")

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.con.execute(f"DESCRIBE {table}").fetchall()]

    def rows(self, table: str) -> Iterator[list[tuple]]:
        cursor = self.con.execute(f"SELECT {', '.join(self.columns(table))} FROM {table}")
        while batch := cursor.fetchmany(BATCH_ROWS):
            yield batch

    def close(self) -> None:
        self.con.close()


def copied(store, source: str) -> dict[str, int]:
    """The tables (and index tables) already copied from ``source``, with their row counts."""
    with store.connect() as con:
        return dict(con.execute("SELECT name, rows FROM _copies WHERE source = ?",
                                [source]).fetchall())


def record_copy(store, source: str, name: str, rows: int) -> None:
    with store.connect() as con:
        con.execute("INSERT INTO _copies VALUES (?, ?, ?, now()) ON CONFLICT (source, name) "
                    "DO UPDATE SET rows = excluded.rows, copied_at = excluded.copied_at",
                    [source, name, rows])


def copy_table(store, source: str, table: str, columns: Sequence[str],
               batches: Iterable[list[tuple]]) -> int:
    """Copy one table's rows in one transaction and record it; returns the rows read."""
    from workbench.store.postgres.repositories import copy_rows

    read = 0
    with store.transaction() as con:
        con.execute(f"CREATE TEMP TABLE incoming ON COMMIT DROP AS SELECT {', '.join(columns)} "
                    f"FROM {table} WITH NO DATA")
        for batch in batches:
            copy_rows(con, "incoming", columns, batch)
            read += len(batch)
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM incoming "
                    "ON CONFLICT DO NOTHING")
        con.execute("INSERT INTO _copies VALUES (?, ?, ?, now()) ON CONFLICT (source, name) "
                    "DO UPDATE SET rows = excluded.rows, copied_at = excluded.copied_at",
                    [source, table, read])
    return read


def pg_digest(store, table: str, columns: Sequence[str]) -> tuple[int, str]:
    """(rows, digest) of a PostgreSQL table over ``columns`` (JSON read as its text)."""
    digest = Digest(columns)
    select = ", ".join(f"{c}::TEXT" if c in JSON_COLUMNS else c for c in columns)
    with store.connect() as con:
        if not getattr(con, "vectors", False) and "embedding" in columns:
            from pgvector.psycopg import register_vector

            register_vector(con.raw)
            con.vectors = True
        with con.raw.transaction():
            with con.raw.cursor(name="digest") as cursor:  # server-side: rows streamed
                cursor.execute(f'SELECT {select} FROM "{table}"')
                while batch := cursor.fetchmany(BATCH_ROWS):
                    for row in batch:
                        digest.add(row)
    return len(digest.rows), digest.hexdigest()


def duckdb_digest(source: DuckDBSource, table: str) -> tuple[int, str]:
    columns = source.columns(table)
    digest = Digest(columns)
    for batch in source.rows(table):
        for row in batch:
            digest.add(row)
    return len(digest.rows), digest.hexdigest()


def _cell(value: Any) -> Any:
    if isinstance(value, list):  # UUID[] columns
        return [_cell(v) for v in value]
    return str(value) if isinstance(value, uuid.UUID) else value


class PgSource:
    """A PostgreSQL store's tables read in batches (server-side cursors), JSON as its text."""

    def __init__(self, store):
        self.store = store

    def rows(self, table: str, columns: Sequence[str]) -> Iterator[list[tuple]]:
        select = ", ".join(f"{c}::TEXT" if c in JSON_COLUMNS else c for c in columns)
        with self.store.connect() as con:
            if not getattr(con, "vectors", False) and "embedding" in columns:
                from pgvector.psycopg import register_vector

                register_vector(con.raw)
                con.vectors = True
            with con.raw.transaction():
                with con.raw.cursor(name=f"read_{table}") as cursor:
                    cursor.execute(f'SELECT {select} FROM "{table}"')
                    while batch := cursor.fetchmany(BATCH_ROWS):
                        yield batch

    def index_tables(self) -> dict[str, int]:
        """The pgvector index tables (name without ``index_``) and their dimensions."""
        with self.store.connect() as con:
            found = con.execute(
                "SELECT c.relname, a.atttypmod FROM pg_attribute a JOIN pg_class c "
                "ON c.oid = a.attrelid WHERE a.attname = 'embedding' AND c.relkind = 'r' "
                "AND c.relnamespace = current_schema()::regnamespace "
                "AND c.relname LIKE 'index\\_%' ORDER BY 1").fetchall()
        return {name[len("index_"):]: dimension for name, dimension in found}


def copy_into_duckdb(duck, table: str, reader: PgSource) -> int | None:
    """One table into the DuckDB store ``duck`` in one transaction, or None when the table
    has rows already (an earlier run copied it): returns the rows copied."""
    import pyarrow as pa

    with duck.transaction() as con:
        if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
            return None
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        names = ", ".join(columns)
        copied_rows = 0
        for batch in reader.rows(table, columns):
            con.register("incoming_rows", pa.table(
                {c: [_cell(row[i]) for row in batch] for i, c in enumerate(columns)}))
            con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM incoming_rows")
            con.unregister("incoming_rows")
            copied_rows += len(batch)
    return copied_rows
