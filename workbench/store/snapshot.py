"""A consistent copy of the DuckDB file, and per-table counts and content hashes.

The copy is made by DuckDB itself (``COPY FROM DATABASE`` into an attached file) inside one
transaction, and the digests of the source are read in that same transaction: they describe
exactly what the copy holds, even while this process's other threads write. The file lock that
every workbench process takes (see ``connection``) keeps other processes out meanwhile; they
wait for it as they wait for any other writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from workbench.store.connection import DuckDBFile

_TABLES = """
    SELECT table_name FROM duckdb_tables()
    WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary
    ORDER BY table_name
"""


@dataclass(frozen=True)
class TableDigest:
    """How many rows a table holds and an order-independent hash of their contents."""

    rows: int
    hash: str

    def to_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "hash": self.hash}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def digests(con: duckdb.DuckDBPyConnection) -> dict[str, TableDigest]:
    """Counts and content hashes of every table of the connection's current database.

    A row's hash covers every column (DuckDB's ``hash`` of the row as a struct); the table's
    is their sum, so it does not depend on the order rows are stored in, and a changed, added or
    removed row changes it. The hash function is DuckDB's: compare digests made by one version.
    """
    found = {}
    for (name,) in con.execute(_TABLES).fetchall():
        rows, total = con.execute(
            f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {_quote(name)} t"
        ).fetchone()
        found[name] = TableDigest(int(rows), str(total))
    return found


def copy_database(db: DuckDBFile, target: Path) -> dict[str, TableDigest]:
    """Copy the database into ``target`` (a new file); the source's digests at that moment."""
    target = Path(target)
    if target.exists():
        raise FileExistsError(target)
    with db.session() as con:
        source = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ATTACH {_literal(str(target))} AS workbench_snapshot")
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"COPY FROM DATABASE {_quote(source)} TO workbench_snapshot")
                found = digests(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.execute("DETACH workbench_snapshot")
        return found


def file_digests(path: Path) -> dict[str, TableDigest]:
    """Digests of a database file nobody else has open (a backup's copy, a restored home)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return digests(con)
    finally:
        con.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
