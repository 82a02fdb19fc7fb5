"""What a ``pg_dump`` backup of the PostgreSQL store needs from the database itself.

The dump and the per-table counts and content hashes must describe the same moment while other
sessions keep writing: ``Snapshot`` opens a repeatable-read transaction, exports its snapshot
for ``pg_dump --snapshot`` and reads the digests in it. A restore goes into an empty database
(or one cleared with ``clear``), and never into one another session is using.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from workbench.errors import StoreUnavailable
from workbench.store.postgres.connection import redacted
from workbench.store.snapshot import TableDigest

_TABLES = """
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
    ORDER BY table_name
"""


def _connect(url: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailable(f"{redacted(url)}: cannot connect: {first}") from exc


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def digests(con: Any) -> dict[str, TableDigest]:
    """Counts and order-independent content hashes of every table of the current schema.

    A row's hash is the first 60 bits of the MD5 of its text form (every column), the table's
    their sum: a changed, added or removed row changes it, whatever order rows are stored in.
    """
    found = {}
    for (name,) in con.execute(_TABLES).fetchall():
        rows, total = con.execute(
            "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)"
            f"::bigint::numeric), 0)::text FROM {_quote(name)} t"
        ).fetchone()
        found[name] = TableDigest(int(rows), str(total))
    return found


@contextmanager
def snapshot(url: str) -> Iterator[tuple[str, dict[str, TableDigest], int]]:
    """A snapshot id for ``pg_dump --snapshot``, the digests at it and the server's major
    version, valid while the block runs (the exporting transaction stays open until then)."""
    with _connect(url) as con:
        con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            snapshot_id = con.execute("SELECT pg_export_snapshot()").fetchone()[0]
            found = digests(con)
            version = int(con.execute("SHOW server_version_num").fetchone()[0]) // 10000
            yield snapshot_id, found, version
        finally:
            con.execute("ROLLBACK")


def file_digests(url: str) -> dict[str, TableDigest]:
    """Digests of a database nobody writes (a restored one)."""
    with _connect(url) as con:
        return digests(con)


def server_major(url: str) -> int:
    with _connect(url) as con:
        return int(con.execute("SHOW server_version_num").fetchone()[0]) // 10000


def database_bytes(url: str) -> int:
    """The database's size on the server's disk (tables, indexes, TOAST)."""
    with _connect(url) as con:
        return int(con.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def occupancy(url: str) -> tuple[int, int]:
    """How many tables the current schema holds, and how many other sessions use the database."""
    with _connect(url) as con:
        tables = len(con.execute(_TABLES).fetchall())
        others = con.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchone()[0]
    return tables, int(others)


def clear(url: str) -> None:
    """Drop every table, sequence and type of the current schema (a forced restore's start)."""
    with _connect(url) as con:
        schema = con.execute("SELECT current_schema()").fetchone()[0]
        con.execute(f"DROP SCHEMA {_quote(schema)} CASCADE")
        con.execute(f"CREATE SCHEMA {_quote(schema)}")


@contextmanager
def scratch_database(url: str, name: str) -> Iterator[str]:
    """A new empty database ``name`` on the server of ``url`` (a postgresql:// URL) for the
    block (a backup's verification, the restore drill), dropped afterwards; its URL."""
    from urllib.parse import urlsplit, urlunsplit

    with _connect(url) as con:
        con.execute(f"CREATE DATABASE {_quote(name)}")
    # A URL like the one given (the store takes only URLs), naming the new database.
    target = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    try:
        yield target
    finally:
        with _connect(url) as con:
            con.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
