"""The PostgreSQL database: pooled connections, one transaction per unit of work, migrations on open.

PostgreSQL takes many writers at once, so nothing here waits on other processes: each unit of
work borrows an idle connection (or opens one) and gives it back. Connections run in
autocommit; ``transaction()`` opens a real transaction on the connection lent to this thread,
and a ``transaction()`` inside another one joins it (a savepoint), so several store calls commit
together.

The connection handed to repositories takes DuckDB-style ``?`` placeholders, so the SQL the two
backends share is written once; what differs is written per backend.
"""

from __future__ import annotations

import re
import threading
import weakref
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from workbench.errors import StoreUnavailable

_PLACEHOLDER = re.compile(r"\?")
IDLE_AT_MOST = 8


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class PgConnection:
    """A psycopg connection that reads ``?`` as a parameter (``raw`` is the connection itself)."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | None = None):
        if params is None:
            return self.raw.execute(sql)
        return self.raw.execute(_PLACEHOLDER.sub("%s", sql.replace("%", "%%")), list(params))

    def cursor(self):
        return self.raw.cursor()


def _close_all(idle: list) -> None:
    while idle:
        try:
            idle.pop().raw.close()
        except Exception:  # noqa: BLE001 - closing at exit: the server may be gone already
            pass


class PgDatabase:
    """A PostgreSQL database kept at the latest schema version (``migrations.PG_MIGRATIONS``).

    Every public operation borrows a connection for its unit of work; ``session()`` lends one
    to every call of this thread inside the block. Idle connections are kept (up to
    ``IDLE_AT_MOST``) until ``release()`` or until the store is garbage collected."""

    def __init__(self, url: str):
        from workbench.store.postgres.migrations import migrate

        self.url = url
        self._local = threading.local()
        self._idle: list[PgConnection] = []
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_all, self._idle)
        with self.connect() as con:
            self.migrated: list[str] = migrate(con)

    def _open(self) -> PgConnection:
        import psycopg

        try:
            raw = psycopg.connect(self.url, autocommit=True)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"{redacted(self.url)}: cannot connect: {first}") from exc
        raw.execute("SET TimeZone = 'UTC'")
        return PgConnection(raw)

    def _take(self) -> PgConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _give(self, con: PgConnection) -> None:
        from psycopg.pq import TransactionStatus

        if con.raw.closed or con.raw.info.transaction_status != TransactionStatus.IDLE:
            con.raw.close()
            return
        with self._lock:
            if len(self._idle) < IDLE_AT_MOST:
                self._idle.append(con)
                return
        con.raw.close()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[PgConnection]:
        shared = getattr(self._local, "con", None)
        if shared is not None:
            yield shared
            return
        con = self._take()
        try:
            yield con
        finally:
            self._give(con)

    @contextmanager
    def session(self) -> Iterator[PgConnection]:
        """One connection for every ``connect``/``transaction`` of this thread inside the block."""
        shared = getattr(self._local, "con", None)
        if shared is not None:
            yield shared
            return
        con = self._take()
        self._local.con = con
        try:
            yield con
        finally:
            self._local.con = None
            self._give(con)

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """One transaction: committed when the block ends, rolled back on error; a block
        inside another one joins it."""
        with self.session() as con:
            with con.raw.transaction():
                yield con

    # A chat turn holds the DuckDB file open between its steps; pooled connections stay open
    # anyway, so these have nothing to do here.
    def hold(self, seconds: float) -> None:
        pass

    def let_go(self) -> None:
        pass

    def release(self) -> None:
        """Close the idle connections (those lent out close when given back)."""
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _close_all(idle)
